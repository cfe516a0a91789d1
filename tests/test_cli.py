"""The ``faceio`` command, run as a subprocess on generated face folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import faceio
from faceio import MaskAlignmentsFile, PNGAlignments, PNGHeader, PNGSource
from faceio.cli import header_record, restore_record, scan_folder

GOOD = ["clip_000001_0.png", "clip_000001_1.png", "clip_000002_0.png", "still_0.png"]
RENAMED = "000_sorted.png"  # a good face whose name is not its original_filename
BAD = {
    "truncated.png": "claims",
    "bad_crc.png": "CRC",
    "not_a_png.png": "signature",
    "no_header.png": "no faceswap header",
    "bad_syntax.png": "does not parse",
}


def make_header(rng: np.random.Generator, name: str, frame: str, video: bool) -> PNGHeader:
    masks = {
        key: MaskAlignmentsFile(
            mask=zlib.compress(np.where(rng.random((32, 32)) > fill, 255, 0).astype(np.uint8)),
            affine_matrix=rng.normal(size=(2, 3)).astype(np.float32),
            interpolator=3,
            stored_size=32,
            stored_centering="face",
        )
        for key, fill in (("components", 0.5), ("extended", 0.25))
    }
    return PNGHeader(
        alignments=PNGAlignments(
            x=10,
            y=20,
            w=100,
            h=110,
            landmarks_xy=(rng.random((68, 2)) * 100 + 10).astype(np.float32),
            mask=masks,
            identity={"vggface2": rng.normal(size=512).astype(np.float32)},
        ),
        source=PNGSource(
            alignments_version=2.3,
            original_filename=name,
            face_index=int(name.rsplit("_", 1)[1][0]),
            source_filename=frame,
            source_is_video=video,
            source_frame_dims=(720, 1280),
        ),
    )


def png(metadata: object = None, size: int = 32) -> bytes:
    image = np.full((size, size, 3), 128, dtype=np.uint8)
    return faceio.encode_image(image, ".png", metadata=metadata)


@pytest.fixture(scope="module")
def face_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four good faces, a renamed face, five bad files, a non-face payload, a text file."""
    folder = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(7)
    for name in GOOD:
        video = name.startswith("clip")
        frame = name.rsplit("_", 1)[0] + (".png" if video else ".jpg")
        (folder / name).write_bytes(png(make_header(rng, name, frame, video)))
    renamed = make_header(rng, "clip_000003_0.png", "clip_000003.png", True)
    (folder / RENAMED).write_bytes(png(renamed, size=48))
    good = png(make_header(rng, "x_0.png", "x.jpg", False))
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    crc = bytearray(good)
    crc[-20] ^= 0xFF  # inside the last IDAT's data: only the CRC can tell
    (folder / "bad_crc.png").write_bytes(bytes(crc))
    (folder / "not_a_png.png").write_bytes(b"GIF89a this is not a png")
    (folder / "no_header.png").write_bytes(png())
    (folder / "bad_syntax.png").write_bytes(png(b"{'alignments': [1, 2"))
    (folder / "patch.png").write_bytes(
        png({"matrix": (1.5, 2), "raw": b"\x00\xff", 3: float("nan")})
    )
    (folder / "notes.txt").write_text("not a face")
    return folder


def run(*args: str | os.PathLike[str], code: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m faceio ARGS``; check the exit status and that no traceback is shown."""
    proc = subprocess.run(
        [sys.executable, "-m", "faceio", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    if code is not None:
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def payloads(folder: Path) -> dict[str, bytes]:
    """The raw faceswap payload text of every PNG in a folder that has one."""
    out = {}
    for path in sorted(folder.glob("*.png")):
        try:
            value = faceio._core.png_read_meta(path.read_bytes())
        except ValueError:
            continue
        out[path.name] = str(value).encode()
    return out


# scan ----------------------------------------------------------------------------------------


def test_scan_json(face_dir: Path) -> None:
    proc = run("scan", face_dir, "--json", code=1)
    summary = json.loads(proc.stdout)
    assert summary["files"] == 11
    assert summary["other_files"] == 1
    # A bad CRC in pixel data is for verify: scan reads only up to the header.
    assert summary["with_header"] == 6
    assert summary["without_header"] == 1
    assert summary["other_metadata"] == 1
    assert summary["renamed"] == 2  # the renamed face and bad_crc.png (made as x_0.png)
    errors = {e["file"]: e["error"] for e in summary["errors"]}
    assert set(errors) == {"truncated.png", "not_a_png.png", "bad_syntax.png"}
    for name, error in errors.items():
        assert BAD[name] in error
    assert summary["sizes"] == {"32x32": 7, "48x48": 1}
    assert summary["videos"] == 1 and summary["images"] == 2 and summary["frames"] == 5
    assert summary["sources"] == [
        {"source": "clip", "video": True, "faces": 4, "frames": 3},
        {"source": "still.jpg", "video": False, "faces": 1, "frames": 1},
        {"source": "x.jpg", "video": False, "faces": 1, "frames": 1},
    ]
    assert summary["alignments_versions"] == {"2.3": 6}
    assert summary["masks"] == {"components": 6, "extended": 6}
    assert summary["identity"] == {"vggface2": 6}
    assert summary["landmarks"] == {"68": 6}


def test_scan_text(face_dir: Path) -> None:
    out = run("scan", face_dir, code=1).stdout
    lines = [line.split() for line in out.splitlines()]
    assert ["face", "files", "11", "(1", "other", "file", "ignored)"] in lines
    assert ["face", "headers", "6"] in lines
    assert ["without", "header", "1"] in lines
    assert ["unreadable", "3", "(listed", "below)"] in lines
    assert ["clip", "video", "4", "3"] in lines
    assert ["68", "points", "6"] in lines
    for name in ("truncated.png", "not_a_png.png", "bad_syntax.png"):
        assert f"    {name}: " in out


def test_scan_clean_folder_and_samples(tmp_path: Path, face_dir: Path) -> None:
    for name in GOOD:
        shutil.copy(face_dir / name, tmp_path / name)
    assert "unreadable      0" in run("scan", tmp_path, "-q", code=0).stdout
    samples = json.loads(run("scan", "--json", code=0).stdout)
    assert samples["files"] == samples["with_header"] >= 4
    assert samples["errors"] == [] and samples["without_header"] == 0
    assert samples["landmarks"] == {"68": samples["files"]}
    assert samples["identity"] and samples["masks"] and samples["videos"] >= 1


def test_scan_in_process_matches_cli_and_skips_cv2(face_dir: Path) -> None:
    code = (
        "import sys, json\n"
        "from faceio.cli import main\n"
        f"status = main(['scan', {str(face_dir)!r}, '--json', '-q'])\n"
        "assert 'cv2' not in sys.modules, 'scan imported cv2'\n"
        "sys.exit(status)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout) == scan_folder(face_dir)


# usage errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "{missing}"),
        ("verify", "{missing}"),
        ("export", "{missing}", "-o", "{tmp}/out.jsonl"),
        ("import", "{tmp}/nothing.jsonl", "{tmp}"),
        ("scan", "{tmp}/file.txt"),
    ],
)
def test_usage_errors_name_the_path(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "file.txt").write_text("x")
    missing = tmp_path / "no_such_folder"
    argv = [a.format(missing=missing, tmp=tmp_path) for a in args]
    proc = run(*argv, code=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(tmp_path) in lines[0]


@pytest.mark.parametrize("args", [(), ("frobnicate",), ("scan", "--nope"), ("show",)])
def test_bad_command_lines_exit_2(args: tuple[str, ...]) -> None:
    proc = run(*args, code=2)
    assert "usage: faceio" in proc.stderr


def test_help_and_version() -> None:
    assert "verify" in run("--help", code=0).stdout
    assert run("--version", code=0).stdout.startswith("faceio ")


# show ----------------------------------------------------------------------------------------


def test_show_text(face_dir: Path) -> None:
    out = run("show", face_dir / GOOD[0], face_dir / "patch.png", code=0).stdout
    assert out.startswith(f"{GOOD[0]}  (32x32 PNG)")
    assert "original_filename   clip_000001_0.png" in out
    assert "(video frame)" in out
    assert "68 points, x " in out
    assert "components  32x32, coverage" in out
    assert "vggface2  512 floats" in out
    assert "patch.png: faceswap metadata that is not a face header" in out


def test_show_json_restores_the_header(face_dir: Path) -> None:
    proc = run("show", "--json", face_dir / GOOD[0], face_dir / "patch.png", code=0)
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["file"] for r in records] == [GOOD[0], "patch.png"]
    assert isinstance(records[0]["header"]["alignments"]["mask"]["components"]["mask"], str)
    for record in records:
        _, payload = restore_record(record)
        stored = faceio._core.png_read_meta((face_dir / record["file"]).read_bytes())
        assert str(payload) == str(stored)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("not_a_png.png", "signature"), ("no_header.png", "no faceswap header")],
)
def test_show_bad_file(face_dir: Path, name: str, reason: str) -> None:
    proc = run("show", face_dir / name, code=1)
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert str(face_dir / name) in line and reason in line


def test_show_refuses_a_named_pipe_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "face.png"
    os.mkfifo(fifo)
    proc = run("show", fifo, code=1)  # run() times out after 60 s: a hang fails the test
    assert "named pipe" in proc.stderr and str(fifo) in proc.stderr


# verify --------------------------------------------------------------------------------------


def test_verify_reports_each_bad_file(face_dir: Path) -> None:
    proc = run("verify", face_dir, code=1)
    lines = proc.stdout.splitlines()
    bad = {Path(line.split(": ", 1)[0]).name: line for line in lines[:-1]}
    assert set(bad) == {*BAD, "patch.png"}
    for name, reason in BAD.items():
        assert reason in bad[name]
    assert "not a face header" in bad["patch.png"]
    assert lines[-1].startswith("verified 11 face files")
    assert "5 good, 6 bad" in lines[-1]
    assert "1 renamed" in lines[-1]


def test_verify_clean_folder_with_renamed_face(tmp_path: Path, face_dir: Path) -> None:
    for name in (*GOOD, RENAMED):
        shutil.copy(face_dir / name, tmp_path / name)
    out = run("verify", tmp_path, code=0).stdout
    assert "5 good, 0 bad; note: 1 renamed" in out


# export / import -----------------------------------------------------------------------------


def test_export_lines(tmp_path: Path, face_dir: Path) -> None:
    out = tmp_path / "out.jsonl"
    proc = run("export", face_dir, "-o", out, code=1)
    assert "exported 7 headers from 11 face files" in proc.stderr
    assert not (tmp_path / "out.jsonl.part").exists()
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["file"] for r in records] == sorted(p.name for p in face_dir.glob("*.png"))
    by_name = {r["file"]: r for r in records}
    assert by_name["no_header.png"] == {"file": "no_header.png", "header": None}
    assert "signature" in by_name["not_a_png.png"]["error"]
    # a dict with a non-string key is tagged as a list of pairs
    pairs = by_name["patch.png"]["payload"]["__dict__"]
    assert pairs[:2] == [["matrix", {"__tuple__": [1.5, 2]}], ["raw", {"__bytes__": "AP8="}]]
    assert pairs[2][0] == 3 and pairs[2][1] != pairs[2][1]  # NaN
    header = by_name[GOOD[0]]["header"]
    assert header["source"]["source_frame_dims"] == [720, 1280]
    assert len(header["alignments"]["identity"]["vggface2"]) == 512
    # the same records on stdout
    stdout = run("export", face_dir, code=1).stdout
    assert stdout == out.read_text()


def test_export_import_round_trip(tmp_path: Path, face_dir: Path) -> None:
    folder = tmp_path / "faces"
    shutil.copytree(face_dir, folder)
    before = payloads(folder)
    headers = {n: faceio.png_read_meta((folder / n).read_bytes()) for n in (*GOOD, RENAMED)}
    out = tmp_path / "out.jsonl"
    run("export", folder, "-o", out, code=1)
    # Overwrite every header, then bring them back from the export.
    other = make_header(np.random.default_rng(99), "other_0.png", "other.png", False)
    for name in (*GOOD, RENAMED, "patch.png"):
        faceio.update_existing_metadata(folder / name, other)
    assert payloads(folder) != before
    proc = run("import", out, folder, code=0)
    # bad_crc.png's header was not overwritten: it is left alone.
    assert "imported 6 headers" in proc.stdout and "1 unchanged (left alone)" in proc.stdout
    assert payloads(folder) == before
    for name, header in headers.items():
        assert faceio.png_read_meta((folder / name).read_bytes()) == header
    assert (folder / "no_header.png").read_bytes() == (face_dir / "no_header.png").read_bytes()


def test_round_trip_keeps_non_finite_floats(tmp_path: Path) -> None:
    header = make_header(np.random.default_rng(1), "a_0.png", "a.jpg", False).to_dict()
    header["alignments"]["landmarks_xy"][0] = [float("nan"), float("inf")]
    header["alignments"]["identity"]["vggface2"][1] = float("-inf")
    (tmp_path / "a_0.png").write_bytes(png(header))
    before = payloads(tmp_path)
    out = tmp_path / "out.jsonl"
    run("export", tmp_path, "-o", out, code=0)
    assert "NaN" in out.read_text() and "-Infinity" in out.read_text()
    faceio.update_existing_metadata(tmp_path / "a_0.png", {"x": 1})
    run("import", out, tmp_path, code=0)
    assert payloads(tmp_path) == before


def test_import_reports_missing_and_bad_lines(tmp_path: Path, face_dir: Path) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    for name in GOOD:
        shutil.copy(face_dir / name, folder / name)
    out = tmp_path / "out.jsonl"
    run("export", folder, "-o", out, code=0)
    (folder / GOOD[1]).unlink()
    shutil.copy(folder / GOOD[0], folder / "x.png")  # exists: its bad header is checked
    with out.open("a") as f:
        f.write("{not json\n")
        f.write('{"file": "../escape.png", "header": null}\n')
        f.write('{"file": "x.png", "header": {"alignments": {}, "source": {}}}\n')
    proc = run("import", out, folder, code=1)
    lines = proc.stdout.splitlines()
    assert f"{GOOD[1]}: missing" in lines
    assert any(line.startswith("line 5: ") for line in lines)
    assert any(line.startswith("line 6: ") and "not a path inside" in line for line in lines)
    assert any(line.startswith("line 7: ") and "missing required" in line for line in lines)
    assert "imported 0 headers" in lines[-1] and "3 unchanged" in lines[-1]
    assert "1 files missing" in lines[-1]


# the JSON record form, in process -----------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"a": (1, (2, 3)), "b": b"\x00", "c": {1: "x", (2, 3): None}, "d": [float("inf")]},
        {"__bytes__": "not a tag", "s": {1, 2}, "z": 1 + 2j, "t": True, "n": None},
        ["a", "list"],
    ],
)
def test_records_restore_any_payload(payload: object) -> None:
    record = json.loads(json.dumps(header_record("p.png", payload)))
    name, restored = restore_record(record)
    assert name == "p.png"
    assert str(restored) == str(payload)


@pytest.mark.parametrize(
    "where",
    [
        ("source", "source_frame_dims"),
        ("alignments", "landmarks_xy", 3),
        ("alignments", "identity", "vggface2"),
        ("alignments", "mask", "components", "affine_matrix", 1),
    ],
)
def test_face_header_with_a_tuple_falls_back_to_the_tagged_form(where: tuple[object, ...]) -> None:
    header = make_header(np.random.default_rng(3), "f_0.png", "f.jpg", False).to_dict()
    *parents, last = where
    target = header
    for key in parents:
        target = target[key]
    target[last] = tuple(target[last])
    record = json.loads(json.dumps(header_record("f_0.png", header)))
    assert "payload" in record
    assert str(restore_record(record)[1]) == str(header)


# payloads Python cannot build ----------------------------------------------------------------

# A value Python refuses in each: an unknown character name, an int over Python's digit limit,
# an unhashable dict key. Named to sort first, so that the good faces come after them.
UNBUILDABLE = {
    "a_unknown_name.png": b"{'a': '\\N{NO SUCH CHARACTER}'}",
    "b_huge_int.png": b"{'a': " + b"7" * (sys.get_int_max_str_digits() + 1) + b"}",
    "c_unhashable.png": b"{'a': 1, [2]: 3}",
}


@pytest.fixture(scope="module")
def unbuildable_dir(tmp_path_factory: pytest.TempPathFactory, face_dir: Path) -> Path:
    """The three unbuildable payloads, then two good faces."""
    folder = tmp_path_factory.mktemp("unbuildable")
    for name, payload in UNBUILDABLE.items():
        (folder / name).write_bytes(png(payload))
    for name in GOOD[:2]:
        shutil.copy(face_dir / name, folder / name)
    return folder


def test_commands_report_unbuildable_payloads_and_go_on(unbuildable_dir: Path) -> None:
    folder = unbuildable_dir
    names = sorted(UNBUILDABLE)
    summary = json.loads(run("scan", folder, "--json", code=1).stdout)
    assert summary["files"] == 5 and summary["with_header"] == 2
    assert [e["file"] for e in summary["errors"]] == names
    assert all("does not parse" in e["error"] for e in summary["errors"])
    text = run("scan", folder, code=1).stdout
    assert all(f"    {name}: header does not parse" in text for name in names)

    lines = run("verify", folder, code=1).stdout.splitlines()
    assert [Path(line.split(": ", 1)[0]).name for line in lines[:-1]] == names
    assert "2 good, 3 bad" in lines[-1]

    out = folder.parent / "unbuildable.jsonl"
    proc = run("export", folder, "-o", out, code=1)
    assert "exported 2 headers from 5 face files" in proc.stderr
    for name in names:
        assert f"{folder / name}: header does not parse" in proc.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["file"] for r in records] == [*names, *GOOD[:2]]
    assert all("error" in r for r in records[:3]) and all("header" in r for r in records[3:])

    proc = run("show", *(folder / name for name in (*names, GOOD[0])), code=1)
    lines = proc.stderr.splitlines()
    assert len(lines) == 3
    for line, name in zip(lines, names, strict=True):
        assert line.startswith(f"faceio show: {folder / name}: header does not parse")
    assert proc.stdout.startswith(f"{GOOD[0]}  (32x32 PNG)")
    for stream in (proc.stdout, proc.stderr, text):
        assert "internal error" not in stream
