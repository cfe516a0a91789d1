"""faceio.read_meta_table: the schema of docs/table.md, values equal to read_image_meta_batch's
dicts, error rows, order across batches, the bytes-in reader, and the Parquet export."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import faceio
from faceio import _core
from tests.conftest import chunk, encode_png, insert_before_idat, itxt_rule, make_header

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from faceio import arrow  # noqa: E402 - needs pyarrow

DOCS = Path(__file__).resolve().parents[1] / "docs" / "table.md"


def _face_payload(rng: np.random.Generator, i: int) -> bytes:
    """A face header of varied shape: 0-3 masks, with or without identity and frame dims."""
    hdr = make_header(rng, n_masks=i % 4, n_landmarks=(68, 4, 51)[i % 3], identity_len=8 * (i % 2))
    d = hdr.to_dict()
    d["source"]["source_is_video"] = bool(i % 2)
    d["source"]["face_index"] = i
    if i % 5 == 4:
        d["source"]["source_frame_dims"] = None
    if i % 3 == 1:
        d["alignments"].pop("identity")
    return str(d).encode()


def _build_folder(folder: Path) -> dict[str, int | None]:
    """Faces and damaged files; the payload length each file holds (None: no payload)."""
    rng = np.random.default_rng(5)
    lengths: dict[str, int | None] = {}

    def put(name: str, data: bytes, length: int | None) -> None:
        (folder / name).write_bytes(data)
        lengths[name] = length

    for i in range(7):
        payload = _face_payload(rng, i)
        put(
            f"face_{i}.png",
            insert_before_idat(encode_png(rng, 20 + i, 30), itxt_rule(payload)),
            len(payload),
        )
    good = insert_before_idat(encode_png(rng), itxt_rule(_face_payload(rng, 9)))
    put("no_header.png", encode_png(rng, 17, 23), None)
    put("not_a_face.png", insert_before_idat(encode_png(rng), itxt_rule(b"{'a': 1}")), 8)
    text = _face_payload(rng, 2).replace(b"'face_index': 2", b"'face_index': 'two'")
    put("str_index.png", insert_before_idat(encode_png(rng), itxt_rule(text)), len(text))
    put("syntax.png", insert_before_idat(encode_png(rng), itxt_rule(b"{'a': [1, 2}")), None)
    put("cut.png", good[: len(good) // 2], None)
    crc = bytearray(good)
    crc[60] ^= 0xFF
    put("crc.png", bytes(crc), None)
    put("text.png", b"hello, not a png", None)
    ok, jpg = cv2.imencode(".jpg", np.zeros((12, 34, 3), np.uint8))
    assert ok
    put("photo.jpg", jpg.tobytes(), None)
    # A tEXt chunk (compressed zTXt too) holding the header, as older tools wrote it.
    payload = _face_payload(rng, 3)
    ztxt = chunk(b"zTXt", b"faceswap\0\0" + zlib.compress(payload))
    put("ztxt.png", insert_before_idat(encode_png(rng), ztxt), len(payload))
    return lengths


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int | None]]:
    path = tmp_path_factory.mktemp("faces")
    return path, _build_folder(path)


def _f32(v: float) -> float:
    return float(np.float32(v))


def expected_row(path: str, meta: dict[str, Any] | Exception, length: int | None) -> dict[str, Any]:
    """The row docs/table.md gives for what read_image_meta_batch read."""
    row: dict[str, Any] = {f.name: None for f in arrow.meta_schema()}
    row["path"] = path
    if isinstance(meta, Exception):
        return {**row, "error_type": type(meta).__name__, "error": str(meta)}
    row.update(width=meta["width"], height=meta["height"])
    if "itxt" not in meta:
        return row
    row["header_bytes"] = length
    d = meta["itxt"]
    try:
        al, src = d["alignments"], d["source"]
        masks = al.get("mask") or {}
        dims = src["source_frame_dims"]
        assert isinstance(src["face_index"], int)
        row.update(
            x=al["x"],
            y=al["y"],
            w=al["w"],
            h=al["h"],
            landmarks_xy=[[_f32(x), _f32(y)] for x, y in al["landmarks_xy"]],
            mask_names=list(masks),
            mask_stored_sizes=[m["stored_size"] for m in masks.values()],
            mask_stored_centerings=[m["stored_centering"] for m in masks.values()],
            identity_names=list(al.get("identity") or {}),
            alignments_version=float(src["alignments_version"]),
            original_filename=src["original_filename"],
            face_index=src["face_index"],
            source_filename=src["source_filename"],
            source_is_video=src["source_is_video"],
            source_frame_dims=None if dims is None else list(dims),
        )
    except (KeyError, AssertionError):
        row["error_type"] = "HeaderSchemaError"
    return row


def _paths(folder: Path) -> list[str]:
    return [*sorted(str(p) for p in folder.iterdir()), str(folder / "missing.png")]


def test_schema_is_the_documented_one() -> None:
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)`", DOCS.read_text(), re.M)
    schema = arrow.meta_schema()
    # pyarrow names list items ("list<item: string>"); the docs leave the names out.
    assert [(f.name, str(f.type).replace("item: ", "")) for f in schema] == rows
    assert not schema.field("path").nullable
    assert all(f.nullable for f in schema if f.name != "path")


def test_every_header_field_has_a_column_or_is_left_out() -> None:
    columns = {f.name for f in arrow.meta_schema()}
    docs = DOCS.read_text()
    for role, _, fields in _core.HEADER_SCHEMA:
        for name, *_ in fields:
            if role in ("alignments", "source"):
                assert name in columns or any(c.startswith(f"{name}_") for c in columns), name
            elif role == "mask":
                left_out = docs.split("Left out")[1].split("\n\n")[0]
                assert f"mask_{name}s" in columns or f"`{name}`" in left_out, name


def test_rows_equal_the_batch_reader(folder: tuple[Path, dict[str, int | None]]) -> None:
    path, lengths = folder
    paths = _paths(path)
    table = faceio.read_meta_table(paths)
    table.validate(full=True)
    assert table.schema == arrow.meta_schema()
    got = table.to_pylist()
    metas = list(faceio.read_image_meta_batch(paths, errors="collect"))
    assert len(got) == len(metas) == len(paths)
    for row, (p, meta) in zip(got, metas, strict=True):
        want = expected_row(p, meta, lengths.get(os.path.basename(p)))
        if want["error_type"] == "HeaderSchemaError":
            assert row["error_type"] == "HeaderSchemaError", p
            assert row["error"].startswith(f"{p}: "), row["error"]
            kept = {"path", "width", "height", "header_bytes"}
            assert {k: row[k] for k in kept} == {k: want[k] for k in kept}
            assert all(row[k] is None for k in row if k not in kept | {"error_type", "error"})
        else:
            assert row == want, p
    paths_now = table.column("path").to_pylist()
    kinds = dict(zip(paths_now, table.column("error_type").to_pylist(), strict=True))
    # The damage each file was given is what its row says.
    assert kinds[str(path / "cut.png")] == "PngFormatError"
    assert kinds[str(path / "crc.png")] == "PngFormatError"
    assert kinds[str(path / "syntax.png")] == "MetadataSyntaxError"
    assert kinds[str(path / "not_a_face.png")] == "HeaderSchemaError"
    assert kinds[str(path / "str_index.png")] == "HeaderSchemaError"
    assert kinds[str(path / "missing.png")] == "FileNotFoundError"
    assert kinds[str(path / "no_header.png")] is None
    assert sum(k is None for k in kinds.values()) == 10  # 7 faces, zTXt, no header, JPEG


def _python_only_folder(folder: Path) -> dict[str, int | None]:
    """Faces whose payload holds values only Python builds (or refuses): ``\\N{...}`` names and
    ints of many digits, in columns and in fields the table leaves out."""
    rng = np.random.default_rng(8)
    huge = "7" * (sys.get_int_max_str_digits() + 1)
    bullet = ("'a.jpg'", "'\\N{BULLET} a.jpg'")
    changes = {
        "name_known.png": [bullet],
        "name_unknown_column.png": [("'face'", "'\\N{NO SUCH CHARACTER NAME}'")],
        "name_unknown_left_out.png": [("'interpolator': 3", "'interpolator': '\\N{NO SUCH}'")],
        "int_huge_column.png": [("'x': ", f"'x': {huge}, 'z': ")],
        "int_huge_left_out.png": [("'interpolator': 3", f"'interpolator': {huge}")],
        "int_big_left_out.png": [("'interpolator': 3", f"'interpolator': {'9' * 30}")],
        "int_big_column.png": [("'face_index': 0", f"'face_index': {'9' * 30}")],
        # No digit limit for hex, but too long for Python to print in decimal.
        "hex_huge_and_name.png": [("'interpolator': 3", f"'interpolator': 0x{'f' * 5000}"), bullet],
    }
    lengths: dict[str, int | None] = {}
    for name, edits in changes.items():
        hdr = make_header(rng, n_masks=2, identity_len=4).to_dict()
        hdr["source"].update(source_filename="a.jpg", face_index=0)
        for mask in hdr["alignments"]["mask"].values():
            mask.update(interpolator=3, stored_centering="face")
        payload = str(hdr)
        for old, text in edits:
            assert old in payload, name
            payload = payload.replace(old, text, 1)
        if name == "int_huge_column.png":  # x's own value goes, the key 'z' is refused
            payload = re.sub(r", 'z': -?\d+", "", payload)
        data = payload.encode()
        (folder / name).write_bytes(insert_before_idat(encode_png(rng), itxt_rule(data)))
        lengths[name] = len(data)
    return lengths


@pytest.mark.parametrize("digits", ["default", "unlimited"])
def test_payloads_only_python_builds_give_the_batch_readers_rows(
    tmp_path: Path, digits: str
) -> None:
    # Without Python, the core can neither resolve a \N{...} name nor know whether Python takes
    # an int of many digits: such payloads are built in Python, and their rows and errors are
    # the batch reader's, from the path and from the bytes alike, under the digit limit of the
    # moment.
    lengths = _python_only_folder(tmp_path)
    paths = sorted(str(p) for p in tmp_path.iterdir())
    limit = sys.get_int_max_str_digits()
    if digits == "unlimited":
        sys.set_int_max_str_digits(0)
    try:
        table = faceio.read_meta_table(paths)
        metas = list(faceio.read_image_meta_batch(paths, errors="collect"))
        blobs = [Path(p).read_bytes() for p in paths]
        from_bytes, needs = _bytes_table(paths, blobs, [True] * len(paths))
    finally:
        sys.set_int_max_str_digits(limit)
    assert needs == []
    assert from_bytes.equals(table)
    rows = dict(zip(paths, table.to_pylist(), strict=True))
    for p, meta in metas:
        want = expected_row(p, meta, lengths[os.path.basename(p)])
        row = rows[p]
        if row["error_type"] == "HeaderSchemaError":
            # Only an int64 column refuses what Python built: an int of more than 64 bits.
            assert isinstance(meta, dict), p
            assert os.path.basename(p) in ("int_big_column.png", "int_huge_column.png"), p
            assert "64 bits" in row["error"], row
        else:
            assert row == want, p
    kinds = dict(
        zip(map(os.path.basename, paths), table.column("error_type").to_pylist(), strict=True)
    )
    refused = "MetadataSyntaxError" if digits == "default" else None
    assert kinds == {
        "name_known.png": None,
        "name_unknown_column.png": "MetadataSyntaxError",
        "name_unknown_left_out.png": "MetadataSyntaxError",
        "int_huge_column.png": refused or "HeaderSchemaError",
        "int_huge_left_out.png": refused,
        "int_big_left_out.png": None,
        "int_big_column.png": "HeaderSchemaError",
        "hex_huge_and_name.png": None,
    }
    if digits == "default":
        # errors="raise" raises the batch reader's exception, Python's own error its cause.
        for name in ("name_unknown_left_out.png", "int_huge_column.png"):
            path = str(tmp_path / name)
            with pytest.raises(faceio.MetadataSyntaxError) as table_error:
                faceio.read_meta_table([path], errors="raise")
            with pytest.raises(faceio.MetadataSyntaxError) as batch_error:
                list(faceio.read_image_meta_batch([path]))
            assert str(table_error.value) == str(batch_error.value)
            cause = table_error.value.__cause__
            assert type(cause) is type(batch_error.value.__cause__), name
            assert isinstance(cause, (UnicodeDecodeError, ValueError)), cause
    for name in ("name_known.png", "hex_huge_and_name.png"):
        assert rows[str(tmp_path / name)]["source_filename"] == "\N{BULLET} a.jpg"


def test_order_and_paths_across_batches(
    folder: tuple[Path, dict[str, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = folder
    paths: list[Any] = list(reversed(_paths(path))) * 2
    paths[1] = Path(paths[1])  # a PathLike is kept as its string
    whole = faceio.read_meta_table(paths)
    monkeypatch.setattr(arrow, "_GROUP", 3)
    parts = faceio.read_meta_table(paths)
    assert len(parts.to_batches()) > 5
    assert parts.equals(whole)
    assert parts.column("path").to_pylist() == [os.fspath(p) for p in paths]


def test_folder_errors_and_cache(folder: tuple[Path, dict[str, int | None]]) -> None:
    path, _ = folder
    table = faceio.read_meta_table(path)
    names = sorted(p.name for p in path.iterdir() if p.suffix == ".png")
    assert table.column("path").to_pylist() == [str(path / n) for n in names]
    with pytest.raises(faceio.PngFormatError, match=r"crc\.png"):
        faceio.read_meta_table(path, errors="raise")
    faces = [str(path / f"face_{i}.png") for i in range(7)]
    assert faceio.read_meta_table(faces, errors="raise").num_rows == 7
    assert faceio.read_meta_table([]).num_rows == 0
    with pytest.raises(ValueError, match="needs a folder"):
        faceio.read_meta_table(faces, cache=True)  # the cache itself: tests/test_folder_cache.py
    with pytest.raises(ValueError, match="errors"):
        faceio.read_meta_table(path, errors="ignore")  # type: ignore[arg-type]


def test_raise_stops_at_the_first_failed_file_in_input_order(
    folder: tuple[Path, dict[str, int | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = folder
    faces = [str(path / f"face_{i}.png") for i in range(7)]
    bad = str(path / "crc.png")
    want = next(iter(faceio.read_image_meta_batch([bad], errors="collect")))[1]
    read: list[list[str]] = []
    real = _core.read_meta_columns

    def counting(group: list[str]) -> Any:
        read.append(list(group))
        return real(group)

    monkeypatch.setattr(arrow, "_GROUP", 2)
    monkeypatch.setattr(arrow._core, "read_meta_columns", counting)
    # The failure in the second group wins over the later one; the groups after it are not read.
    paths = [*faces[:3], bad, faces[3], bad, *faces[4:]]
    with pytest.raises(faceio.PngFormatError) as err:
        arrow.read_meta_table(paths, errors="raise")
    assert str(err.value) == str(want)
    assert read == [paths[0:2], paths[2:4]]


def test_raise_with_a_row_whose_file_reads_well_now(
    folder: tuple[Path, dict[str, int | None]],
) -> None:
    path, _ = folder
    face = str(path / "face_0.png")
    # The row of a file that failed, and was replaced by a good one before it is read again.
    table = arrow._read_files_table([str(path / "crc.png")]).set_column(
        0, "path", pa.array([face], pa.string())
    )
    message = table.column("error")[0].as_py()
    with pytest.raises(faceio.FaceioError, match="changed since") as err:
        arrow._raise_first(table, [face])
    assert message in str(err.value)


def test_import_faceio_does_not_load_pyarrow_or_dask() -> None:
    code = (
        "import sys, faceio\n"
        "from faceio import *\n"
        "print([m for m in ('pyarrow', 'dask', 'pandas') if m in sys.modules])\n"
        "print('read_meta_table' in dir(faceio), 'read_meta_table' in faceio.__all__)\n"
        "faceio.read_meta_table\n"
        "print('pyarrow' in sys.modules, 'dask' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "True False", "True False"]


def _bytes_table(names: list[str], blobs: list[bytes], whole: list[bool]) -> tuple[Any, Any]:
    result = _core.read_meta_columns_from_bytes(names, blobs, whole)
    return pa.Table.from_batches(arrow._to_batches(names, result), arrow.meta_schema()), result[2]


def test_bytes_reader_gives_the_path_readers_rows(
    folder: tuple[Path, dict[str, int | None]],
) -> None:
    path, _ = folder
    paths = _paths(path)[:-1]
    blobs = [Path(p).read_bytes() for p in paths]
    table, needs = _bytes_table(paths, blobs, [True] * len(paths))
    assert needs == []
    assert table.equals(faceio.read_meta_table(paths))


@pytest.mark.parametrize("cut", [0, 1, 8, 33, 60, 100, 1000, 5000])
def test_a_short_prefix_asks_for_more_never_fails(
    folder: tuple[Path, dict[str, int | None]], cut: int
) -> None:
    path, _ = folder
    paths = _paths(path)[:-1]
    blobs = [Path(p).read_bytes() for p in paths]
    want = faceio.read_meta_table(paths).to_pylist()
    table, needs = _bytes_table(paths, [b[:cut] for b in blobs], [False] * len(paths))
    asked = dict(needs)
    for i, row in enumerate(table.to_pylist()):
        if i not in asked:
            assert row == want[i], paths[i]
            continue
        assert all(row[k] is None for k in row if k != "path")
        # Fetch what is asked, as faceio.dask does, until the row comes: the path reader's.
        data, need, rounds = blobs[i][:cut], asked[i], 0
        while need:
            assert need > len(data), paths[i]
            if want[i]["error"] is None:
                assert need <= len(blobs[i]), paths[i]  # never past a good file's end
            data = blobs[i][:need]
            again, more = _bytes_table([paths[i]], [data], [need >= len(blobs[i])])
            need = more[0][1] if more else 0
            rounds += 1
            assert rounds < 10
        assert again.to_pylist()[0] == want[i], paths[i]
    if cut in (0, 1, 33):  # in the signature or IHDR: no file cut there has all it needs
        assert len(asked) == sum(len(b) > cut for b in blobs)


def test_bytes_reader_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="same length"):
        _core.read_meta_columns_from_bytes(["a.png"], [], [True])


def test_sizes_are_turned_as_the_batch_reader_turns_them(tmp_path: Path) -> None:
    """A photo whose EXIF Orientation is 6 has the turned size in its row, from a path and from
    bytes, whatever prefix of the file the bytes reader is first given."""
    from tests import test_orientation as t

    files = {
        "exif_before_sof.jpg": t.jpeg((t.app1_exif(t.oriented(6)),)),
        "exif_after_sof.jpg": t.jpeg(after_sof=(t.app1_exif(t.oriented(6, little=False)),)),
        "no_exif.jpg": t.jpeg(),
        "exif.webp": t.webp_with_exif(t.oriented(8)),
        "png_content.jpg": t.png_with_exif(t.oriented(5)),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    rows = faceio.read_meta_table(paths).to_pylist()
    for path, row in zip(paths, rows, strict=True):
        want = t.imread_size(Path(path))
        assert {"width": row["width"], "height": row["height"]} == want, path
        assert row["error"] is None
    assert [r["width"] for r in rows] == [t.HEIGHT, t.HEIGHT, t.WIDTH, t.HEIGHT, t.HEIGHT]
    for path, row in zip(paths, rows, strict=True):
        blob = Path(path).read_bytes()
        for cut in (0, 30, 200, len(blob) // 2):
            data, whole, rounds = blob[:cut], False, 0
            while True:
                table, needs = _bytes_table([path], [data], [whole])
                if not needs:
                    break
                need = needs[0][1]
                assert len(data) < need <= len(blob), (path, cut)
                data, whole, rounds = blob[:need], need >= len(blob), rounds + 1
                assert rounds < 20
            assert table.to_pylist() == [row], (path, cut)


# faceio export --format parquet ---------------------------------------------------------------


def _run(*args: Any, code: int) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "faceio", *map(str, args)], capture_output=True, text=True
    )
    assert proc.returncode == code, proc.stderr
    return proc


def test_export_parquet_reads_back(
    folder: tuple[Path, dict[str, int | None]], tmp_path: Path
) -> None:
    path, _ = folder
    out = tmp_path / "headers.parquet"
    proc = _run("export", "--format", "parquet", "-o", out, path, code=1)
    assert "exported 8 headers from 15 face files" in proc.stderr
    assert not Path(f"{out}.part").exists()
    back = pq.read_table(out)
    table = faceio.read_meta_table(path)
    names = [os.path.basename(p) for p in table.column("path").to_pylist()]
    expect = table.set_column(0, table.schema.field("path"), pa.array(names, pa.string()))
    assert back.equals(expect)
    polars = pytest.importorskip("polars")
    frame = polars.read_parquet(out)
    assert frame["path"].to_list() == names
    assert frame["landmarks_xy"].to_list() == expect.column("landmarks_xy").to_pylist()
    assert frame["error_type"].to_list() == expect.column("error_type").to_pylist()


def test_export_parquet_of_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """The name's undecodable byte is written escaped, as read_meta_table writes paths."""
    rng = np.random.default_rng(3)
    payload = _face_payload(rng, 0)
    good = insert_before_idat(encode_png(rng), itxt_rule(payload))
    folder = tmp_path / "names"
    folder.mkdir()
    (folder / "a.png").write_bytes(good)
    (folder / os.fsdecode(b"b\xff.png")).write_bytes(good)
    out = tmp_path / "names.parquet"
    _run("export", "--format", "parquet", "-o", out, folder, code=0)
    back = pq.read_table(out)
    assert back.column("path").to_pylist() == ["a.png", "b\\udcff.png"]
    assert back.column("header_bytes").to_pylist() == [len(payload)] * 2
    assert not Path(f"{out}.part").exists()


def test_export_parquet_needs_a_file(folder: tuple[Path, dict[str, int | None]]) -> None:
    proc = _run("export", "--format", "parquet", folder[0], code=2)
    assert "-o" in proc.stderr


# Layouts the review found faceio sizing otherwise than OpenCV: every reader gives OpenCV's size.


def _opencv_size(path: Path) -> dict[str, int]:
    """cv2.imread's shape, or cv2.imdecode's where imread refuses a turned TIFF."""
    image = cv2.imread(str(path))
    if image is None:
        image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, path
    return {"width": image.shape[1], "height": image.shape[0]}


def _all_readers_give_opencv_size(tmp_path: Path, name: str, data: bytes) -> dict[str, int]:
    path = tmp_path / name
    path.write_bytes(data)
    want = _opencv_size(path)
    single, batch = t_sizes(path)
    [row] = faceio.read_meta_table([str(path)]).to_pylist()
    assert row["error"] is None, row["error"]
    assert (single, batch, {"width": row["width"], "height": row["height"]}) == (want,) * 3
    return want


def t_sizes(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    from tests import test_orientation as t

    return t.sizes(path)


def _after_sof(extra: bytes) -> bytes:
    from tests import test_orientation as t

    return t.jpeg(after_sof=(extra,))


@pytest.mark.parametrize(
    "extra",
    [b"\x00\x12\x34", b"\xff\xfe\x00\x00", b"\xff\xfe\x00\x01", b"\xff\xff\x00\x77"],
    ids=["stray_bytes", "com_length_0", "com_length_1", "fill_stuffed_zero_stray"],
)
def test_jpeg_garbage_after_sof_is_skipped_as_libjpeg_skips_it(
    tmp_path: Path, extra: bytes
) -> None:
    """Stray bytes, or a segment whose length is below 2, after SOF: libjpeg skips them."""
    from tests import test_orientation as t

    assert _all_readers_give_opencv_size(tmp_path, "a.jpg", _after_sof(extra)) == t.STORED


@pytest.mark.parametrize("garbage", [b"\xff\x00", b"\x00\x12\x34", b"\xff\xff\xff\x00"])
def test_jpeg_exif_after_a_stuffed_zero_turns_the_size(tmp_path: Path, garbage: bytes) -> None:
    """An `FF 00` pair is garbage to libjpeg, not a marker: the Exif APP1 after it counts."""
    from tests import test_orientation as t

    data = _after_sof(garbage + t.app1_exif(t.oriented(6)))
    assert _all_readers_give_opencv_size(tmp_path, "a.jpg", data) == t.TURNED


def test_jpeg_that_ends_before_sos_is_not_sized(tmp_path: Path) -> None:
    """A walk that meets the end of the data before SOS (as a segment length that jumps past
    it does) gives an error, as OpenCV cannot read the file: never a size missing the Exif."""
    from tests import test_orientation as t

    whole = t.jpeg(after_sof=(t.segment(0xFE, b"x" * 10), t.app1_exif(t.oriented(6))))
    com = whole.index(b"\xff\xfe")
    # The comment's length now reaches past the end of the file.
    data = whole[: com + 2] + b"\xff\xf0" + whole[com + 4 :]
    path = tmp_path / "cut.jpg"
    path.write_bytes(data)
    assert cv2.imread(str(path)) is None
    [row] = faceio.read_meta_table([str(path)]).to_pylist()
    assert row["width"] is None and "before SOS" in row["error"]
    with pytest.raises(Exception):  # noqa: B017 - whatever read_image_meta raises for cv2's None
        faceio.read_image_meta(path)


@pytest.mark.parametrize("damage", ["cut before SOS", "EOI after SOF", "a second SOI"])
def test_jpeg_oriented_before_sof_and_broken_after_it_is_not_sized(
    tmp_path: Path, damage: str
) -> None:
    """A phone photo's Orientation comes before SOF; a file libjpeg gives up on after SOF is
    still an error (OpenCV cannot read it), as the same file without an Orientation is."""
    from tests import test_orientation as t

    whole = t.jpeg(before_sof=(t.app1_exif(t.oriented(6)),))
    sos = whole.index(b"\xff\xda")
    if damage == "cut before SOS":
        data = whole[:sos]
    else:
        data = (
            whole[:sos] + (b"\xff\xd9" if damage == "EOI after SOF" else b"\xff\xd8") + whole[sos:]
        )
    path = tmp_path / "broken.jpg"
    path.write_bytes(data)
    assert cv2.imread(str(path)) is None
    [row] = faceio.read_meta_table([str(path)]).to_pylist()
    assert row["width"] is None and row["error"]
    with pytest.raises(Exception):  # noqa: B017 - whatever read_image_meta raises for cv2's None
        faceio.read_image_meta(path)


def _jpeg_opencv_cannot_read(tmp_path: Path, data: bytes) -> str:
    """Check that OpenCV cannot read ``data`` and that no faceio reader sizes it; give the
    table's error."""
    path = tmp_path / "refused.jpg"
    path.write_bytes(data)
    assert cv2.imread(str(path)) is None
    [row] = faceio.read_meta_table([str(path)]).to_pylist()
    assert row["width"] is None and row["error"]
    with pytest.raises(faceio.UnsupportedFormatError):
        faceio.read_image_meta(path)
    with pytest.raises(faceio.UnsupportedFormatError):
        list(faceio.read_image_meta_batch([path]))
    return str(row["error"])


@pytest.mark.parametrize("marker", [0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF])
def test_hierarchical_jpeg_is_not_sized(tmp_path: Path, marker: int) -> None:
    """SOF5-7 and SOF13-15 (hierarchical JPEG): libjpeg gives up at the marker, so OpenCV
    cannot read the file, and faceio gives no size for it (it gave the SOF's size)."""
    from tests import test_orientation as t

    data = t.jpeg()
    sof = data.index(b"\xff\xc0")
    error = _jpeg_opencv_cannot_read(tmp_path, data[: sof + 1] + bytes([marker]) + data[sof + 2 :])
    assert "hierarchical" in error


@pytest.mark.parametrize("length", [2, 3, 5, 6])
@pytest.mark.parametrize("where", ["before_sof", "after_sof"])
def test_jpeg_dri_of_a_length_other_than_4_is_not_sized(
    tmp_path: Path, length: int, where: str
) -> None:
    """libjpeg fails on a DRI segment of any length but 4 (one 2-byte restart interval)."""
    from tests import test_orientation as t

    dri = t.segment(0xDD, bytes(length - 2))
    error = _jpeg_opencv_cannot_read(tmp_path, t.jpeg(**{where: (dri,)}))
    assert "DRI" in error


def test_jpeg_dri_of_length_4_is_sized(tmp_path: Path) -> None:
    from tests import test_orientation as t

    dri = t.segment(0xDD, b"\x00\x04")
    data = t.jpeg(before_sof=(dri,))
    assert _all_readers_give_opencv_size(tmp_path, "dri.jpg", data) == t.STORED


def _webp(flags: int, chunks: list[bytes]) -> bytes:
    import struct

    from tests import test_orientation as t

    def ch(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)

    ok, encoded = cv2.imencode(".webp", t._image(), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    image = encoded.tobytes()[12:]
    exif = ch(b"EXIF", t.oriented(6))
    parts = {b"IMAGE": image, b"EXIF": exif, b"ANIM": ch(b"ANIM", bytes(6))}
    parts[b"ALPH"] = ch(b"ALPH", bytes(4))
    # A 40 x 24 frame at (0, 0) holding the image.
    parts[b"ANMF"] = ch(
        b"ANMF",
        bytes(6) + (39).to_bytes(3, "little") + (23).to_bytes(3, "little") + bytes(4) + image,
    )
    vp8x = bytes([flags, 0, 0, 0]) + (t.WIDTH - 1).to_bytes(3, "little")
    vp8x += (t.HEIGHT - 1).to_bytes(3, "little")
    body = b"WEBP" + ch(b"VP8X", vp8x) + b"".join(parts[c] for c in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize(
    ("flags", "chunks", "turned"),
    [
        (0x09, [b"IMAGE", b"EXIF"], False),  # a reserved flag bit: the demuxer refuses it
        (0x88, [b"IMAGE", b"EXIF"], False),
        (0x08, [b"ANIM", b"IMAGE", b"EXIF"], False),  # ANIM before a still image
        (0x18, [b"ALPH", b"IMAGE", b"EXIF"], False),  # ALPH before VP8L
        (0x08, [b"ANMF", b"IMAGE", b"EXIF"], False),  # ANMF without ANIM
        (0x08, [b"IMAGE", b"ANIM", b"EXIF"], True),  # ANIM after the image: accepted
        (0x0A, [b"ANIM", b"ANMF", b"EXIF"], True),  # an animation: its first frame, turned
        (0x08, [b"IMAGE", b"EXIF"], True),
    ],
)
def test_webp_exif_counts_only_where_libwebps_demuxer_takes_the_file(
    tmp_path: Path, flags: int, chunks: list[bytes], turned: bool
) -> None:
    from tests import test_orientation as t

    want = t.TURNED if turned else t.STORED
    assert _all_readers_give_opencv_size(tmp_path, "a.webp", _webp(flags, chunks)) == want


@pytest.mark.parametrize("little", [True, False], ids=["II", "MM"])
@pytest.mark.parametrize(
    ("kind", "value", "turned"),
    [(16, 6, True), (17, 8, True), (16, 2, False), (16, 6 | 1 << 40, False), (17, -6, False)],
)
def test_tiff_orientation_of_type_long8_is_taken_as_libtiff_takes_it(
    tmp_path: Path, kind: int, value: int, turned: bool, little: bool
) -> None:
    """LONG8 and SLONG8 hold 8 bytes: in a classic TIFF, at the offset the entry gives."""
    import struct

    from tests import test_orientation as t

    e = "<" if little else ">"
    at = len(t.tiff_with_orientation((kind, 1, t.long(0, little)), little))
    data = t.tiff_with_orientation((kind, 1, t.long(at, little)), little)
    data += struct.pack(e + ("Q" if kind == 16 else "q"), value)
    want = t.TURNED if turned else t.STORED
    assert _all_readers_give_opencv_size(tmp_path, "a.tif", data) == want
