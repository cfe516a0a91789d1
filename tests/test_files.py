"""File-level reads (single and batch) and the crash-safe in-place update."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceio
from faceio import (
    PngFormatError,
    PNGHeader,
    UnsupportedFormatError,
    png_read_meta,
    read_image_meta,
    read_image_meta_batch,
    update_existing_metadata,
)
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header, split_chunks


def test_read_image_meta_png(face_file, header: PNGHeader) -> None:
    path = face_file("face.png")
    meta = read_image_meta(path)
    assert meta == {"width": 32, "height": 32, "itxt": header.to_dict()}


def test_read_image_meta_odd_paths(tmp_path: Path, rng, header: PNGHeader) -> None:
    folder = tmp_path / "dossier à vérifier"
    folder.mkdir()
    path = folder / "visage n°1 €.PNG"
    path.write_bytes(insert_before_idat(encode_png(rng, 7, 5), itxt_rule(b"{'a': 1}")))
    assert read_image_meta(path) == {"width": 5, "height": 7, "itxt": {"a": 1}}
    assert read_image_meta(str(path))["itxt"] == {"a": 1}


@pytest.mark.parametrize("ext", [".jpg", ".jpeg", ".bmp", ".tif", ".webp", ".png"])
def test_sizes_from_headers_match_opencv(tmp_path: Path, rng, ext: str) -> None:
    image = (rng.random((37, 53, 3)) * 255).astype(np.uint8)
    path = tmp_path / f"img{ext}"
    path.write_bytes(cv2.imencode(ext, image)[1].tobytes())
    assert read_image_meta(path) == {"width": 53, "height": 37}


def test_jpeg_with_large_exif_segment(tmp_path: Path, rng) -> None:
    image = (rng.random((21, 13, 3)) * 255).astype(np.uint8)
    jpg = cv2.imencode(".jpg", image)[1].tobytes()
    app1 = b"\xff\xe1" + (65533).to_bytes(2, "big") + b"E" * 65531
    path = tmp_path / "exif.jpg"
    path.write_bytes(jpg[:2] + app1 + app1 + jpg[2:])
    assert read_image_meta(path) == {"width": 13, "height": 21}


def test_unknown_format_falls_back_to_decoding_then_errors(tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"hello, not an image at all")
    with pytest.raises(UnsupportedFormatError) as info:
        read_image_meta(bad)
    assert str(bad) in str(info.value)


def test_png_extension_with_wrong_signature(tmp_path: Path) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"GIF89a" + b"\0" * 100)
    with pytest.raises(PngFormatError) as info:
        read_image_meta(path)
    assert str(path) in str(info.value) and "signature" in str(info.value)


def test_empty_file_and_directory_and_missing(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(PngFormatError, match="empty file"):
        read_image_meta(empty)
    folder = tmp_path / "dir.png"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        read_image_meta(folder)
    assert info.value.filename == str(folder)
    with pytest.raises(FileNotFoundError):
        read_image_meta(tmp_path / "missing.png")


def test_reads_only_what_it_needs(tmp_path: Path, rng, header: PNGHeader) -> None:
    """The header is read from the file's first bytes: damage after it is never seen."""
    data = insert_before_idat(encode_png(rng, 64, 64), itxt_rule(str(header.to_dict()).encode()))
    end = next(pos + len(c) for pos, kind, c in split_chunks(data) if kind == b"iTXt")
    path = tmp_path / "face.png"
    path.write_bytes(data[:end] + b"\xff" * 10_000_000)
    assert read_image_meta(path)["itxt"] == header.to_dict()


def _folder(tmp_path: Path, rng, n: int) -> list[str]:
    paths = []
    for i in range(n):
        hdr = make_header(rng, n_masks=1, identity_len=16, name=f"f{i}.png")
        p = tmp_path / f"f{i:05d}.png"
        p.write_bytes(
            insert_before_idat(encode_png(rng, 8, 8), itxt_rule(str(hdr.to_dict()).encode()))
        )
        paths.append(str(p))
    return paths


def test_batch_matches_single_reads_in_input_order(tmp_path: Path, rng) -> None:
    paths = _folder(tmp_path, rng, 60)
    order = paths[::-1] + paths[:5]
    got = list(read_image_meta_batch(order))
    assert [p for p, _ in got] == order
    assert all(meta == read_image_meta(p) for p, meta in got)


def test_batch_yields_same_path_objects(tmp_path: Path, rng) -> None:
    paths = [Path(p) for p in _folder(tmp_path, rng, 3)]
    assert [p for p, _ in read_image_meta_batch(paths)] == paths
    assert all(isinstance(p, Path) for p, _ in read_image_meta_batch(paths))


def test_batch_raises_at_bad_file_after_earlier_ones(tmp_path: Path, rng) -> None:
    paths = _folder(tmp_path, rng, 50)
    Path(paths[40]).write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    seen = []
    with pytest.raises(PngFormatError) as info:
        for path, _ in read_image_meta_batch(paths):
            seen.append(path)
    assert seen == paths[:40]
    assert paths[40] in str(info.value)


def test_batch_collect_mode(tmp_path: Path, rng) -> None:
    paths = _folder(tmp_path, rng, 20)
    Path(paths[3]).write_bytes(b"")
    os.remove(paths[7])
    results = dict(read_image_meta_batch(paths, errors="collect"))
    assert isinstance(results[paths[3]], PngFormatError)
    assert isinstance(results[paths[7]], FileNotFoundError)
    assert sum(isinstance(v, dict) for v in results.values()) == 18
    with pytest.raises(ValueError, match="errors must be"):
        read_image_meta_batch(paths, errors="ignore")  # type: ignore[arg-type]


def test_batch_streams_instead_of_reading_everything_first(tmp_path: Path, rng) -> None:
    """After the first result, files far down the list have not been read yet."""
    paths = _folder(tmp_path, rng, 40)
    many = [paths[i % 40] for i in range(3000)]
    late = tmp_path / "late.png"
    many[2999] = str(late)
    batch = read_image_meta_batch(many, errors="collect")
    first_path, first = next(batch)
    assert first_path == many[0] and isinstance(first, dict)
    late.write_bytes(Path(paths[0]).read_bytes())  # created only now
    rest = list(batch)
    assert len(rest) == 2999
    assert isinstance(rest[-1][1], dict), rest[-1][1]


def test_batch_abandoned_early_stops_cleanly(tmp_path: Path, rng) -> None:
    paths = _folder(tmp_path, rng, 10) * 500
    for _ in range(20):
        it = read_image_meta_batch(paths)
        next(it)
        del it


def test_batch_unsupported_formats_fall_back(tmp_path: Path, rng) -> None:
    image = (rng.random((9, 11, 3)) * 255).astype(np.uint8)
    ok_path = tmp_path / "pic.jpg"
    ok_path.write_bytes(cv2.imencode(".jpg", image)[1].tobytes())
    junk = tmp_path / "junk.bmp"
    junk.write_bytes(b"junk")
    res = dict(read_image_meta_batch([str(ok_path), str(junk)], errors="collect"))
    assert res[str(ok_path)] == {"width": 11, "height": 9}
    assert isinstance(res[str(junk)], UnsupportedFormatError)


# --- update_existing_metadata ------------------------------------------------------------


def _chunks_except_faceswap(data: bytes) -> list[bytes]:
    return [
        c for _, kind, c in split_chunks(data) if not (kind == b"iTXt" and c[8:16] == b"faceswap")
    ]


def test_update_changes_only_the_faceswap_chunk(tmp_path: Path, rng, face_file) -> None:
    path = face_file("face.png")
    before = Path(path).read_bytes()
    new = make_header(rng, name="renamed.png")
    update_existing_metadata(path, new)
    after = Path(path).read_bytes()
    assert _chunks_except_faceswap(after) == _chunks_except_faceswap(before)
    assert itxt_rule(str(new.to_dict()).encode()) in after
    assert png_read_meta(after) == new
    # The chunk keeps its place (before IDAT).
    kinds = [k for _, k, _ in split_chunks(after)]
    assert kinds.index(b"iTXt") < kinds.index(b"IDAT")


def test_update_inserts_when_missing_and_accepts_bytes(tmp_path: Path, rng) -> None:
    path = tmp_path / "plain.png"
    base = encode_png(rng)
    path.write_bytes(base)
    update_existing_metadata(path, b"{'k': 1}")
    assert path.read_bytes() == insert_before_idat(base, itxt_rule(b"{'k': 1}"))


def test_update_keeps_permissions_and_symlinks(tmp_path: Path, face_file, rng) -> None:
    target = Path(face_file("target.png"))
    os.chmod(target, 0o640)
    link = tmp_path / "link.png"
    link.symlink_to(target)
    new = make_header(rng)
    update_existing_metadata(link, new)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert png_read_meta(target.read_bytes()) == new
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "target.png"]


def test_update_bad_png_leaves_original(tmp_path: Path) -> None:
    path = tmp_path / "bad.png"
    data = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIHDR" + b"\0" * 5
    path.write_bytes(data)
    with pytest.raises(PngFormatError) as info:
        update_existing_metadata(path, {"a": 1})
    assert str(path) in str(info.value)
    assert path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["bad.png"]
    with pytest.raises(FileNotFoundError):
        update_existing_metadata(tmp_path / "missing.png", {"a": 1})
    with pytest.raises(IsADirectoryError):
        update_existing_metadata(tmp_path, {"a": 1})


def test_update_disk_full_leaves_original(tmp_path: Path, face_file, rng) -> None:
    """A write that fails part-way (file size limit, as on a full disk) changes nothing."""
    path = face_file("face.png")
    before = Path(path).read_bytes()
    big = make_header(rng, n_masks=3)
    limit = len(before) // 2
    code = (
        "import resource, signal, sys\n"
        "import faceio\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "try:\n"
        f"    faceio.update_existing_metadata({path!r}, {str(big.to_dict()).encode()!r})\n"
        "except OSError as err:\n"
        "    print('OSError', err.errno, err.filename)\n"
        "    sys.exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 3, proc.stderr
    assert "OSError 27" in proc.stdout and path in proc.stdout
    assert Path(path).read_bytes() == before
    assert [p.name for p in Path(path).parent.iterdir()] == ["face.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder write permissions")
def test_update_read_only_folder_leaves_original(tmp_path: Path, face_file, rng) -> None:
    path = face_file("face.png")
    before = Path(path).read_bytes()
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(PermissionError):
            update_existing_metadata(path, make_header(rng))
    finally:
        os.chmod(tmp_path, 0o755)
    assert Path(path).read_bytes() == before


def test_a_folder_that_can_be_written_but_not_listed_takes_updates(png_bytes: bytes) -> None:
    """A -wx folder cannot be opened to be flushed; plain rename-based writers work in it, and
    so does an update (as root, a child process drops to another user to be refused the list)."""
    root = tempfile.mkdtemp(prefix="faceio-wx-")
    folder = os.path.join(root, "faces")
    os.chmod(root, 0o755)
    os.mkdir(folder)
    path = os.path.join(folder, "face.png")
    Path(path).write_bytes(png_bytes)
    code = (
        "import os, sys, faceio\n"
        # Everything imported first: the other user may not reach this interpreter's files.
        "update = faceio.update_existing_metadata\n"
        "with open(os.path.join(sys.argv[1], 'face.png'), 'rb') as f:\n"
        "    faceio.png_write_meta(f.read(), {'a': 0})  # the same Python path, warmed\n"
        "if os.geteuid() == 0:\n"
        "    os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        "    os.listdir(sys.argv[1])\n"
        "    sys.exit('the folder can still be listed')\n"
        "except PermissionError:\n"
        "    pass\n"
        "update(os.path.join(sys.argv[1], 'face.png'), {'a': 1})\n"
    )
    try:
        if os.geteuid() == 0:
            for p in (folder, path):
                os.chown(p, 65534, 65534)
        os.chmod(folder, 0o333)
        proc = subprocess.run(
            [sys.executable, "-c", code, folder], capture_output=True, text=True, check=False
        )
        os.chmod(folder, 0o755)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert png_read_meta(Path(path).read_bytes()) == {"a": 1}
        assert os.listdir(folder) == ["face.png"]
    finally:
        os.chmod(folder, 0o755)
        shutil.rmtree(root)


def test_concurrent_updates_use_unique_temporaries(tmp_path: Path, face_file, rng) -> None:
    path = face_file("face.png")
    headers = [make_header(rng, n_masks=1, name=f"n{i}.png") for i in range(8)]
    errors: list[BaseException] = []

    def write(h: PNGHeader) -> None:
        try:
            for _ in range(5):
                update_existing_metadata(path, h)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=write, args=(h,)) for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert png_read_meta(Path(path).read_bytes()) in headers
    assert [p.name for p in tmp_path.iterdir()] == ["face.png"]


def test_faceio_written_files_read_by_plain_rule(tmp_path: Path, rng, header: PNGHeader) -> None:
    """What faceio writes is what a faceswap-style reader expects: keyword, 5 bytes, literal."""
    import ast

    image = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    path = tmp_path / "w.png"
    path.write_bytes(faceio.encode_image(image, ".png", metadata={"a": 1}))
    update_existing_metadata(path, header)
    found = []
    for _, kind, c in split_chunks(path.read_bytes()):
        if kind == b"iTXt":
            key, value = c[8:-4].split(b"\0", 1)
            found.append(key)
            assert PNGHeader.from_dict(ast.literal_eval(value[4:].decode("utf-8"))) == header
    assert found == [b"faceswap"]


def test_zero_size_in_header_falls_back_to_decoding(tmp_path: Path, rng) -> None:
    """A JPEG whose SOF gives height 0 (a DNL segment follows) is sized by decoding instead."""
    image = (rng.random((12, 10, 3)) * 255).astype(np.uint8)
    jpg = bytearray(cv2.imencode(".jpg", image)[1].tobytes())
    sof = jpg.index(b"\xff\xc0")
    jpg[sof + 5 : sof + 7] = b"\x00\x00"  # height 0
    path = tmp_path / "dnl.jpg"
    path.write_bytes(bytes(jpg))
    decoded = cv2.imdecode(np.frombuffer(bytes(jpg), np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        with pytest.raises(UnsupportedFormatError, match="size of 10x0"):
            read_image_meta(path)
    else:
        assert read_image_meta(path) == {"width": decoded.shape[1], "height": decoded.shape[0]}


_PEAK_CHILD = """
import sys
import faceio
paths = sys.argv[1:]
items = 0
for path, meta in faceio.read_image_meta_batch(paths):
    items += len(meta["itxt"]["a"])
    del meta
print(items)
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0])
"""


def test_batch_memory_is_bounded_in_bytes(tmp_path: Path) -> None:
    """Payloads near the 16 MiB limit are read a few at a time, not a chunk of 32 at once.

    Each payload below parses to a tape of about 130 MB; reading 8 of them at once (as a chunk
    of 32 files did) peaked over 1 GB.
    """
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the peak memory")
    png = encode_png(np.random.default_rng(0), 4, 4)
    count = 5_000_000
    text = b"{'a': [" + b"0, " * (count - 1) + b"0]}"
    assert len(text) < faceio.get_limits()["max_chunk"]
    paths = []
    for i in range(8):
        path = tmp_path / f"big_{i}.png"
        path.write_bytes(faceio.png_write_meta(png, text))
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, *paths],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    items, peak_kib = (int(line) for line in done.stdout.split())
    assert items == 8 * count
    assert peak_kib < 800 * 1024, f"peak {peak_kib // 1024} MiB"


def test_walk_folder_lists_an_entry_whose_type_check_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a file system without d_type, telling a file from a folder takes a stat, which can
    fail (here: permission denied): that entry is listed with its error, the rest as usual."""
    from faceio import _files

    for name in ("a.png", "b.png", "c.png"):
        (tmp_path / name).write_bytes(b"x")
    real_scandir = os.scandir

    class NoTypeEntry:
        """An entry whose type questions need a stat, which is refused for b.png."""

        def __init__(self, entry: os.DirEntry[str]) -> None:
            self._entry = entry
            self.name, self.path = entry.name, entry.path

        def _check(self) -> None:
            if self.name == "b.png":
                raise PermissionError(13, "Permission denied", self.path)

        def is_file(self, follow_symlinks: bool = True) -> bool:
            self._check()
            return self._entry.is_file(follow_symlinks=follow_symlinks)

        def is_dir(self, follow_symlinks: bool = True) -> bool:
            self._check()
            return self._entry.is_dir(follow_symlinks=follow_symlinks)

        def is_symlink(self) -> bool:
            return self._entry.is_symlink()

        def inode(self) -> int:
            return self._entry.inode()

        def stat(self, follow_symlinks: bool = True) -> os.stat_result:
            self._check()
            return self._entry.stat(follow_symlinks=follow_symlinks)

    class Scandir:
        def __init__(self, path: str) -> None:
            self._it = real_scandir(path)

        def __enter__(self) -> list[NoTypeEntry]:
            return [NoTypeEntry(e) for e in self._it]

        def __exit__(self, *exc: object) -> None:
            self._it.close()

    monkeypatch.setattr(_files.os, "scandir", Scandir)
    listing = _files.walk_folder(str(tmp_path), (".png",))
    by_name = {e.name: e for e in listing.entries}
    assert sorted(by_name) == ["a.png", "b.png", "c.png"]
    assert isinstance(by_name["b.png"].error, PermissionError)
    assert by_name["a.png"].error is None and by_name["c.png"].error is None
