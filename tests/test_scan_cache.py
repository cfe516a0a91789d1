"""The incremental scan cache (faceio/_scan_cache.py), over a small reader of its own.

The reader here gives each file's size and SHA-256, so a row served from a stale entry shows
as a wrong digest; it also logs the paths it was asked for, so the tests see what was read.
Every cached result is compared with the same reader run without a cache. The cache file is
read and written here by its documented layout (docs/format.md), not by the module's code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import stat
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")

from faceio import _cache_file, _scan_cache  # noqa: E402
from faceio._files import CACHE_NAME, walk_folder  # noqa: E402
from faceio._scan_cache import read_through  # noqa: E402

# The file's trailer (docs/format.md): the stream's length, its CRC-32, b"FIOC".
TRAILER = struct.Struct("<QI4s")


def read_cache(path: Path) -> pa.Table:
    """Read a cache file by its documented layout, checking the trailer on the way."""
    data = path.read_bytes()
    length, crc, magic = TRAILER.unpack(data[-TRAILER.size :])
    assert (magic, length) == (b"FIOC", len(data) - TRAILER.size)
    assert zlib.crc32(data[:length]) == crc
    return pa.ipc.open_stream(data[:length]).read_all()


def write_cache(path: Path, table: pa.Table) -> bytes:
    """Write ``table`` as a cache file by the documented layout, with a right checksum."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    path.write_bytes(data + TRAILER.pack(len(data), zlib.crc32(data), b"FIOC"))
    return path.read_bytes()


SCHEMA = pa.schema(
    [("path", pa.string()), ("size", pa.int64()), ("digest", pa.string()), ("error", pa.string())]
)
KIND = "test-digest/1"


class Reader:
    """Rows of (path, size, sha256, error); an empty or unreadable file is an error row."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, paths: list[str]) -> pa.Table:
        self.calls.append(list(paths))
        sizes, digests, errors = [], [], []
        for path in paths:
            try:
                data = Path(path).read_bytes()
                error = None if data else "empty file"
            except OSError as err:
                data, error = b"", str(err)
            sizes.append(None if error else len(data))
            digests.append(None if error else hashlib.sha256(data).hexdigest())
            errors.append(error)
        return pa.table([list(paths), sizes, digests, errors], schema=SCHEMA)

    @property
    def read(self) -> list[str]:
        return [os.path.basename(p) for call in self.calls for p in call]


def scan(
    folder: Path, reader: Reader | None = None, check: bool = True
) -> tuple[pa.Table, _scan_cache.CacheReport]:
    """A cached read of the folder's *.png files, checked against an uncached read."""
    listing = walk_folder(str(folder), (".png",))
    names = [e.name for e in listing.entries]
    paths = [e.path for e in listing.entries]
    table, report = read_through(str(folder), names, paths, reader or Reader(), SCHEMA, kind=KIND)
    if check:
        assert table.equals(Reader()(paths)), "the cached read differs from a fresh read"
    return table, report


def settle(folder: Path) -> None:
    """Wait until the file system's clock has moved past every stamp under the folder.

    Rows of files stamped at or after the cache's own clock are not cached (the racy rule);
    the tests that expect hits wait here first. Bounded: coarse clocks tick every few ms.
    """
    stamps = [os.lstat(p) for p in [folder, *folder.rglob("*")]]
    newest = max(max(st.st_mtime_ns, st.st_ctime_ns) for st in stamps)
    probe = folder.parent / f".{folder.name}.probe"  # outside: the folder's own stamp stays
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        probe.write_bytes(b"")
        stamp = probe.stat().st_mtime_ns
        probe.unlink()
        if stamp > newest:
            return
        time.sleep(0.002)
    raise AssertionError("the file system clock did not move in 5 s")


def make(folder: Path, count: int = 6) -> None:
    for i in range(count):
        (folder / f"f{i:02d}.png").write_bytes(f"face {i} ".encode() * (i + 3))


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder)
    settle(folder)
    return folder


def cached_rows(folder: Path) -> dict[str, str]:
    table = read_cache(folder / CACHE_NAME)
    return dict(zip(table["_name"].to_pylist(), table["digest"].to_pylist(), strict=True))


def warm(folder: Path) -> None:
    """Scan until the cache holds every file (the first scan may leave racy rows out)."""
    scan(folder)
    settle(folder)
    _, report = scan(folder)
    if report.read:
        settle(folder)
        _, report = scan(folder)
    assert report.read == 0


def test_second_scan_reads_nothing(faces: Path) -> None:
    reader = Reader()
    _, first = scan(faces, reader)
    assert (first.hits, first.read, first.written) == (0, 6, True)
    reader = Reader()
    _, second = scan(faces, reader)
    assert reader.calls == [] and (second.hits, second.read, second.written) == (6, 0, False)
    assert sorted(cached_rows(faces)) == [f"f{i:02d}.png" for i in range(6)]


@pytest.mark.parametrize(
    "change",
    [
        "append",
        "same_size_edit_old_mtime",
        "truncate",
        "truncate_to_zero",
        "touch_now",
        "touch_back_to_old_mtime",
        "replace_by_rename",
        "replace_by_rename_old_mtime",
        "chmod",
    ],
)
def test_changed_file_is_read_again(faces: Path, change: str) -> None:
    warm(faces)
    target = faces / "f03.png"
    st = target.stat()
    old = target.read_bytes()
    if change == "append":
        target.write_bytes(old + b"more")
    elif change == "same_size_edit_old_mtime":
        target.write_bytes(old.upper())
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "truncate":
        os.truncate(target, len(old) // 2)
    elif change == "truncate_to_zero":
        os.truncate(target, 0)
    elif change == "touch_now":
        os.utime(target)
    elif change == "touch_back_to_old_mtime":
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change.startswith("replace_by_rename"):
        new = faces / "new.tmp"
        new.write_bytes(old.swapcase())
        if change.endswith("old_mtime"):
            os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(new, target)
    else:
        os.chmod(target, 0o600)
    reader = Reader()
    _, report = scan(faces, reader)  # scan() checks every row against a fresh read
    assert reader.read == ["f03.png"]
    assert (report.hits, report.read) == (5, 1)
    if change != "truncate_to_zero":  # an error row is read again every time, never cached
        # Changed just before that scan, the file may have been too new to cache (racy).
        settle(faces)
        reader = Reader()
        scan(faces, reader)
        assert reader.read in ([], ["f03.png"])
        reader = Reader()
        scan(faces, reader)
        assert reader.read == []


def test_renamed_and_removed_files(faces: Path) -> None:
    warm(faces)
    os.rename(faces / "f01.png", faces / "g01.png")
    (faces / "f02.png").unlink()
    (faces / "f09.png").write_bytes(b"new face")
    reader = Reader()
    table, report = scan(faces, reader)
    assert sorted(reader.read) == ["f09.png", "g01.png"]
    assert (report.hits, report.read, report.dropped, report.written) == (4, 2, 2, True)
    assert "f01.png" not in cached_rows(faces) and "f02.png" not in cached_rows(faces)
    assert table["path"].to_pylist()[-1].endswith("g01.png")


def test_swapped_names_are_read_again(faces: Path) -> None:
    warm(faces)
    a, b = faces / "f00.png", faces / "f01.png"
    os.rename(a, faces / "swap")
    os.rename(b, a)
    os.rename(faces / "swap", b)
    reader = Reader()
    scan(faces, reader)
    assert sorted(reader.read) == ["f00.png", "f01.png"]


def test_symlink_retargeted_is_read_again(faces: Path) -> None:
    (faces / "link.png").symlink_to("f00.png")
    settle(faces)
    warm(faces)
    (faces / "link.png").unlink()
    (faces / "link.png").symlink_to("f05.png")
    reader = Reader()
    scan(faces, reader)
    assert reader.read == ["link.png"]


class Retargeting(Reader):
    """A reader during whose read ``link.png`` is pointed from one file to another."""

    def __init__(self, folder: Path, target: str) -> None:
        super().__init__()
        self.link, self.target = folder / "link.png", target

    def __call__(self, paths: list[str]) -> pa.Table:
        self.link.unlink()
        self.link.symlink_to(self.target)
        return super().__call__(paths)


def test_symlink_retargeted_during_the_read_is_not_cached(faces: Path) -> None:
    """Stat'ed pointing at f00, read pointing at f05: f05's row must not be stored under f00's
    key, which matches again once the link points back (no stamp of f00 changed)."""
    link = faces / "link.png"
    link.symlink_to("f00.png")
    settle(faces)
    table, _ = scan(faces, Retargeting(faces, "f05.png"), check=False)
    digest = dict(zip(table["path"].to_pylist(), table["digest"].to_pylist(), strict=True))
    assert digest[str(link)] == Reader()([str(faces / "f05.png")])["digest"][0].as_py()
    assert "link.png" not in cached_rows(faces)
    link.unlink()
    link.symlink_to("f00.png")
    reader = Reader()
    scan(faces, reader)  # checked against a fresh read: f00's bytes
    assert "link.png" in reader.read


def test_racy_rows_are_not_cached(faces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file stamped at or after the cache's clock may change unseen: it is read next time."""
    real = _scan_cache._open_temp

    def clock_behind(folder: str) -> tuple[int, str, int] | None:
        temp = real(folder)
        return None if temp is None else (temp[0], temp[1], 0)  # every file is "newer"

    monkeypatch.setattr(_scan_cache, "_open_temp", clock_behind)
    _, report = scan(faces)
    assert report.read == 6 and not report.written
    assert not (faces / CACHE_NAME).exists()
    monkeypatch.undo()
    scan(faces)
    reader = Reader()
    scan(faces, reader)
    assert reader.read == []


def test_error_rows_are_not_cached_and_name_the_path_as_given(faces: Path) -> None:
    (faces / "empty.png").write_bytes(b"")
    settle(faces)
    warm_reader = Reader()
    scan(faces, warm_reader)
    reader = Reader()
    scan(faces, reader)
    assert reader.read == ["empty.png"]
    assert "empty.png" not in cached_rows(faces)


def test_paths_come_from_the_caller(faces: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warm(faces)
    monkeypatch.chdir(faces.parent)
    names = sorted(p.name for p in faces.glob("*.png"))
    for spelling in ("faces", "./faces", str(faces)):
        paths = [os.path.join(spelling, n) for n in names]
        reader = Reader()
        table, _ = read_through(spelling, names, paths, reader, SCHEMA, kind=KIND)
        assert reader.calls == [] and table["path"].to_pylist() == paths


def _valid_cache(folder: Path) -> bytes:
    warm(folder)
    return (folder / CACHE_NAME).read_bytes()


def _rewrite(folder: Path, **meta: bytes) -> bytes:
    table = read_cache(folder / CACHE_NAME)
    old = dict(table.schema.metadata)
    old.update({k.replace("_", ".").encode(): v for k, v in meta.items()})
    return write_cache(folder / CACHE_NAME, table.replace_schema_metadata(old))


def _hostile(kind: str, folder: Path, tmp_path: Path) -> None:
    """Replace the folder's cache by something that must not be trusted."""
    cache = folder / CACHE_NAME
    good = _valid_cache(folder)
    rng = random.Random(kind)
    if kind == "random_bytes":
        cache.write_bytes(rng.randbytes(len(good)))
    elif kind.startswith("truncated"):
        cache.write_bytes(good[: int(len(good) * float(kind.split("_")[1]))])
    elif kind == "other_folder":
        other = tmp_path / "other"
        other.mkdir()
        make(other)
        settle(other)
        warm(other)
        cache.write_bytes((other / CACHE_NAME).read_bytes())
    elif kind == "other_format":
        _rewrite(folder, faceio_cache=b"0")
    elif kind == "other_kind":
        _rewrite(folder, faceio_cache_kind=b"test-digest/0")
    elif kind == "other_columns":
        write_cache(cache, read_cache(cache).drop_columns(["size"]))
    elif kind == "bad_checksum":
        length = len(good) - TRAILER.size
        crc = zlib.crc32(good[:length]) ^ 1
        cache.write_bytes(good[:length] + TRAILER.pack(length, crc, b"FIOC"))
    elif kind == "parquet":  # the earlier version's format, under the new name
        import pyarrow.parquet as pq

        pq.write_table(read_cache(cache), cache)
    elif kind == "bad_offsets":  # a good checksum over a column that points outside its data
        table = read_cache(cache)
        names = table.column("_name").combine_chunks()
        offsets = np.frombuffer(names.buffers()[1], np.int32)[: len(names) + 1].copy()
        offsets[2] = offsets[0] - 1000  # far before the data, yet the last offset fits
        broken = pa.Array.from_buffers(
            pa.string(), len(names), [None, pa.py_buffer(offsets), names.buffers()[2]]
        )
        write_cache(cache, table.set_column(0, table.schema.field(0), broken))
    elif kind == "duplicate_name":
        table = read_cache(cache)
        write_cache(cache, pa.concat_tables([table, table.slice(0, 1)]))
    elif kind == "null_key":
        table = read_cache(cache)
        size = pa.array([None, *table.column("_size").to_pylist()[1:]], pa.int64())
        field = table.schema.field("_size").with_nullable(True)
        write_cache(cache, table.set_column(1, field, size))
    elif kind == "fifo":
        cache.unlink()
        os.mkfifo(cache)
    elif kind == "symlink":
        (folder / "elsewhere.arrow").write_bytes(good)
        cache.unlink()
        cache.symlink_to("elsewhere.arrow")
    elif kind == "compressed":  # a good checksum over batches that unpack to far more
        table = read_cache(cache)
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            writer.write_table(table)
        data = sink.getvalue().to_pybytes()
        cache.write_bytes(data + TRAILER.pack(len(data), zlib.crc32(data), b"FIOC"))
    elif kind == "compressed_v4":  # compressed the pre-V5 way: named in custom metadata
        table = read_cache(cache)
        sink = pa.BufferOutputStream()
        options = pa.ipc.IpcWriteOptions(compression="zstd")
        with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
            for batch in table.to_batches():
                writer.write_batch(batch, {"ARROW:experimental_compression": "ZSTD"})
        data = b""
        for message in pa.ipc.MessageReader.open_stream(pa.BufferReader(sink.getvalue())):
            if message.type != "record batch":
                data += message.serialize().to_pybytes()
                continue
            header = bytearray(message.metadata.to_pybytes())
            _as_v4_without_compression_field(header)
            data += struct.pack("<Ii", 0xFFFFFFFF, len(header)) + bytes(header)
            data += message.body.to_pybytes()
        data += struct.pack("<Ii", 0xFFFFFFFF, 0)
        cache.write_bytes(data + TRAILER.pack(len(data), zlib.crc32(data), b"FIOC"))
    elif kind in ("schema_twice", "cut_in_a_message"):  # good trailer and CRC, bad stream
        table = read_cache(cache)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        stream = sink.getvalue().to_pybytes()
        schema = table.schema.serialize().to_pybytes()
        assert stream.startswith(schema)  # the stream's first message, framed as in the stream
        if kind == "schema_twice":  # a second schema where a record batch belongs
            data = schema + stream
        else:  # the stream ends inside its first record batch's body
            data = stream[: len(schema) + 400]
        cache.write_bytes(data + TRAILER.pack(len(data), zlib.crc32(data), b"FIOC"))
    elif kind == "huge":
        with open(cache, "wb") as f:
            f.truncate(_cache_file.MAX_BYTES_FLOOR + 100 * _cache_file.MAX_BYTES_PER_FILE)


def _as_v4_without_compression_field(header: bytearray) -> None:
    """Rewrite a record batch message's header (Arrow's Message flatbuffer) in place: version
    V4 (field 0), and its RecordBatch table's compression (field 3) made absent."""

    def field(table: int, index: int) -> int:
        """Where the vtable slot of a table's field ``index`` is."""
        vtable = table - struct.unpack_from("<i", header, table)[0]
        return vtable + 4 + 2 * index

    def value(table: int, index: int) -> int:
        return table + struct.unpack_from("<H", header, field(table, index))[0]

    root = struct.unpack_from("<I", header, 0)[0]
    struct.pack_into("<H", header, value(root, 0), 3)  # MetadataVersion V4
    batch = value(root, 2)
    batch += struct.unpack_from("<I", header, batch)[0]
    struct.pack_into("<H", header, field(batch, 3), 0)  # an absent field's offset is 0


HOSTILE = [
    "random_bytes",
    "truncated_0.0",
    "truncated_0.1",
    "truncated_0.5",
    "truncated_0.99",
    "other_folder",
    "other_format",
    "other_kind",
    "other_columns",
    "bad_checksum",
    "parquet",
    "bad_offsets",
    "duplicate_name",
    "null_key",
    "fifo",
    "symlink",
    "compressed",
    "compressed_v4",
    "schema_twice",
    "cut_in_a_message",
    "huge",
]


@pytest.mark.parametrize("kind", HOSTILE)
def test_bad_cache_is_ignored_and_rebuilt(
    faces: Path, tmp_path: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    _hostile(kind, faces, tmp_path)
    # Make the cache's rows wrong wherever it could still be read: a stale digest would show.
    for path in faces.glob("*.png"):
        path.write_bytes(path.read_bytes() + b"!")
    settle(faces)
    reader = Reader()
    with caplog.at_level(logging.DEBUG, logger="faceio.cache"):
        _, report = scan(faces, reader)
    assert report.read == 6 and report.hits == 0
    assert report.ignored and report.written
    assert "scan cache ignored" in caplog.text
    assert len(cached_rows(faces)) == 6  # rebuilt: a regular file of ours again
    reader = Reader()
    scan(faces, reader)
    assert reader.calls == []


@pytest.mark.parametrize("flip", [0x01, 0x80])
def test_damaged_cache_is_refused_whichever_byte(faces: Path, flip: int) -> None:
    """A byte changed anywhere (header, schema, keys, values, padding, trailer) is refused.

    The CRC-32 covers every byte of the stream and the trailer is checked field by field, so
    no damaged byte goes unseen, not even in padding that would change nothing. Every byte of
    the trailer and the stream's first and last 64, and 300 others spread over the file.
    """
    good = _valid_cache(faces)
    spread = range(0, len(good), max(len(good) // 300, 1))
    places = sorted({*range(64), *range(len(good) - 80, len(good)), *spread})
    for at in places:
        damaged = bytearray(good)
        damaged[at] ^= flip
        (faces / CACHE_NAME).write_bytes(bytes(damaged))
        reader = Reader()
        _, report = scan(faces, reader)
        assert report.ignored and len(reader.read) == 6, f"byte {at} of {len(good)}"
    assert len(places) > 400


def test_same_names_in_another_folder_do_not_share_rows(faces: Path, tmp_path: Path) -> None:
    """A cache hard-linked into another folder is that folder's no more."""
    warm(faces)
    other = tmp_path / "copy"
    other.mkdir()
    for p in faces.iterdir():
        os.link(p, other / p.name)  # the cache file too
    reader = Reader()
    _, report = scan(other, reader)
    assert report.read == 6 and report.ignored == "the cache of another folder"


def test_unwritable_folder_still_scans(
    faces: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(_cache_file.tempfile, "mkstemp", refuse)
    with caplog.at_level(logging.DEBUG, logger="faceio.cache"):
        _, report = scan(faces)
    assert report.read == 6 and not report.written
    assert "not written (Read-only file system)" in caplog.text
    assert sorted(os.listdir(faces)) == [f"f{i:02d}.png" for i in range(6)]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_read_only_folder_scans_with_its_cache(faces: Path) -> None:
    warm(faces)
    os.chmod(faces, 0o555)
    try:
        reader = Reader()
        (faces / "f00.png").chmod(0o444)  # a change: read, not written back
        _, report = scan(faces, reader)
        assert reader.read == ["f00.png"] and not report.written
    finally:
        os.chmod(faces, 0o755)


def test_failed_write_leaves_no_temporary_file(faces: Path) -> None:
    (faces / CACHE_NAME).mkdir()  # the rename over it fails
    _, report = scan(faces)
    assert report.read == 6 and not report.written
    assert sorted(os.listdir(faces)) == [CACHE_NAME] + [f"f{i:02d}.png" for i in range(6)]


def test_cache_files_are_not_listed(faces: Path) -> None:
    before = walk_folder(str(faces), (".png",))
    warm(faces)
    (faces / ".faceio-cache.left-by-a-crash.tmp").write_bytes(b"x")
    after = walk_folder(str(faces), (".png",))
    assert (after.others, after.entries) == (before.others, before.entries) == (0, after.entries)
    (faces / "notes.txt").write_bytes(b"x")
    assert walk_folder(str(faces), (".png",)).others == 1


def test_random_changes_between_scans_never_serve_a_stale_row(tmp_path: Path) -> None:
    """Edits, replacements, renames, removals and stamps set back, with no waiting at all.

    scan() compares every cached read with a fresh one; the racy rule is what keeps this
    right when a change lands in the same clock tick as the cache's writing.
    """
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder, 12)
    rng = random.Random(14)
    for _ in range(80):
        files = sorted(folder.glob("*.png"))
        target = rng.choice(files)
        st = target.stat()
        action = rng.randrange(6)
        if action == 0:  # same size, stamps set back
            target.write_bytes(bytes(b ^ 1 for b in target.read_bytes()))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        elif action == 1:
            target.write_bytes(target.read_bytes() + b"x")
        elif action == 2:
            new = folder / "incoming"
            new.write_bytes(rng.randbytes(st.st_size))
            os.utime(new, ns=(st.st_atime_ns, st.st_mtime_ns))
            os.replace(new, target)
        elif action == 3 and len(files) > 3:
            os.rename(target, folder / f"r{rng.randrange(10**6)}.png")
        elif action == 4 and len(files) > 3:
            target.unlink()
        else:
            (folder / f"n{rng.randrange(10**6)}.png").write_bytes(rng.randbytes(40))
        scan(folder)
    # Whatever changed, the cache is one file, and no temporary file is left.
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [CACHE_NAME]


CONCURRENT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [sys.argv[2]]
    from tests.test_scan_cache import scan
    from pathlib import Path
    for _ in range(int(sys.argv[3])):
        scan(Path(sys.argv[1]), check=False)  # files change meanwhile: checked after
    """
)


def scan_concurrently(folder: Path, changed: list[str]) -> None:
    """Run four processes that scan ``folder`` while the ``changed`` files are rewritten, one
    after another; wait for them, and fail if one failed."""
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *sys.path])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(folder), root, "15"],
            env=env,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for i, name in enumerate(changed):
        (folder / name).write_bytes(os.urandom(50 + i))
        time.sleep(0.01)
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()


def test_concurrent_processes_keep_the_cache_whole(tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder, 40)
    # Change files while they scan; the scan after they end checks the rows they cached.
    scan_concurrently(folder, [f"f{i % 40:02d}.png" for i in range(30)])
    settle(folder)
    _, report = scan(folder)  # every row, cached or not, against a fresh read
    assert not report.ignored  # whichever process renamed last, its file is whole
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_cache_reads_and_writes_use_no_thread_pool(
    faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyarrow's pool can abort the process at exit after a threaded read (apache/arrow#34314).

    Seen as ``terminate called without an active exception`` (SIGABRT) in about one run of
    ``faceio scan --cache`` in 60 once the summary was printed; none in 120 with one thread.
    Writes ask for one thread; reads go message by message, and a record batch's body (which
    pyarrow's pool would only unpack, were it compressed) is read by ``read_record_batch``.
    """
    threaded: list[str] = []
    written, read = [], []
    real_open, real_new = pa.ipc.open_stream, pa.ipc.new_stream
    real_batch = pa.ipc.read_record_batch

    def open_stream(source: object, *, options: object = None, **kw: object) -> object:
        if getattr(options, "use_threads", True):
            threaded.append("open_stream")
        return real_open(source, options=options, **kw)

    def new_stream(sink: object, schema: object, *, options: object = None) -> object:
        if getattr(options, "use_threads", True):
            threaded.append("new_stream")
        written.append(schema)
        return real_new(sink, schema, options=options)

    def read_record_batch(message: pa.ipc.Message, schema: pa.Schema) -> pa.RecordBatch:
        read.append(message.type)
        return real_batch(message, schema)

    monkeypatch.setattr(pa.ipc, "open_stream", open_stream)
    monkeypatch.setattr(pa.ipc, "new_stream", new_stream)
    monkeypatch.setattr(pa.ipc, "read_record_batch", read_record_batch)
    warm(faces)
    assert written and read and set(read) == {"record batch"}  # written, then read
    assert threaded == []


POINTS = pa.list_(pa.list_(pa.float32(), 2))


def test_awkward_columns_come_back_from_the_cache_equal(tmp_path: Path) -> None:
    """Lists of points with null points, null values and null slots that span values, sliced
    and in many chunks: cached, then served from the cache, equal to what the reader gave."""
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder, 6)
    settle(folder)
    rows = [[[1.0, 2.0], None, [3.5, -4.0]], None, [], [[None, 1e30]], None, [[0.0, 0.0]] * 3]
    whole = pa.array(rows, POINTS)
    # Null slots that still span values, as Arrow allows: they must not shift the others.
    offsets = pa.array([0, 2, 3, 3, 4, 5, 8], pa.int32())
    points = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(16, dtype=np.float32)), 2)
    spanning = pa.ListArray.from_arrays(
        offsets, points, type=POINTS, mask=pa.array([False, True, False, False, True, False])
    )
    schema = pa.schema([("path", pa.string()), ("p", POINTS), ("error", pa.string())])
    for column in (whole, spanning, pa.chunked_array([whole.slice(0, 2), spanning.slice(2)])):

        def read(paths: list[str], column: object = column) -> pa.Table:
            by_name = {f"f{i:02d}.png": i for i in range(6)}
            take = pa.array([by_name[os.path.basename(p)] for p in paths], pa.int64())
            data = pa.chunked_array([column]) if isinstance(column, pa.Array) else column
            return pa.table([paths, data.take(take), [None] * len(paths)], schema=schema)

        paths = [str(p) for p in sorted(folder.glob("*.png"))]
        names = [os.path.basename(p) for p in paths]
        (folder / CACHE_NAME).unlink(missing_ok=True)
        first, report = read_through(str(folder), names, paths, read, schema, kind="points")
        assert report.written and first.equals(read(paths))
        again, report = read_through(str(folder), names, paths, read, schema, kind="points")
        assert report.hits == 6 and again.equals(read(paths))
        assert again["p"].to_pylist() == read(paths)["p"].to_pylist()


@pytest.mark.parametrize("shuffled", [False, True])
def test_gather_gives_the_rows_picked(shuffled: bool) -> None:
    """Rows in runs come as slices, rows in no order by a take: the same rows either way."""
    rng = random.Random(int(shuffled))
    schema = pa.schema([("n", pa.int64()), ("p", POINTS)])
    parts = [
        pa.table([range(a, a + size), [[[float(i), 0.0]] for i in range(size)]], schema=schema)
        for a, size in ((0, 3000), (10_000, 500), (20_000, 0))
    ]
    picks = [(0, i) for i in range(3000) if rng.random() < 0.99]
    for block in reversed(range(25)):  # 25 runs of 20 rows of the second part
        at = rng.randrange(len(picks) + 1)
        picks[at:at] = [(1, j) for j in range(block * 20, block * 20 + 20)]
    if shuffled:
        rng.shuffle(picks)
    got = _scan_cache._gather(parts, picks)
    if not shuffled:
        assert got["n"].num_chunks > 50  # in runs: slices of the parts, no copy
    assert got["n"].to_pylist() == [parts[p]["n"][r].as_py() for p, r in picks]
    assert got["p"].to_pylist() == [parts[p]["p"][r].as_py() for p, r in picks]
    assert _scan_cache._gather(parts, []).num_rows == 0


@pytest.mark.parametrize("mode", [0o777, 0o755, 0o750, 0o700])
def test_only_the_owner_may_write_the_cache(faces: Path, mode: int) -> None:
    """The cache is readable as the folder is, and writable by its owner only: rows are
    trusted when their keys match, so a folder that all may write to must not let them."""
    faces.chmod(mode)
    scan(faces)
    got = stat.S_IMODE((faces / CACHE_NAME).stat().st_mode)
    assert got == (mode & 0o444) | stat.S_IWUSR


def test_a_cache_file_of_another_user_is_not_trusted(
    faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder others may write to, anyone can rename a file of forged rows over the
    cache: rows whose keys match are trusted, so only a file of the scanning user is read."""
    warm(faces)
    cache = faces / CACHE_NAME
    forged = read_cache(cache)
    forged = forged.set_column(
        forged.schema.get_field_index("digest"), "digest", pa.array(["forged"] * len(forged))
    )
    write_cache(cache, forged.replace_schema_metadata(read_cache(cache).schema.metadata))
    mine = cache.stat().st_uid
    monkeypatch.setattr(_cache_file, "_UID", mine)
    with pytest.raises(AssertionError, match="differs from a fresh read"):
        scan(faces)  # the scanning user's own file: trusted (this is what a forger needs)
    # The same file, seen by another user: ignored, every file read, and rewritten.
    write_cache(cache, forged.replace_schema_metadata(read_cache(cache).schema.metadata))
    monkeypatch.setattr(_cache_file, "_UID", mine + 1)
    _, report = scan(faces)  # checked against a fresh read: no forged digest
    assert report.ignored == f"owned by another user (uid {mine})"
    assert report.hits == 0


@pytest.mark.parametrize("twice", ["f01.png", "f04.png"])
def test_a_name_given_twice_is_one_row(faces: Path, twice: str) -> None:
    """Names not from a listing may repeat: each input gets its row, the file one row."""
    paths = sorted(str(p) for p in faces.glob("*.png"))
    paths.insert(3, str(faces / twice))
    names = [os.path.basename(p) for p in paths]
    for _ in range(2):
        reader = Reader()
        table, _ = read_through(str(faces), names, paths, reader, SCHEMA, kind=KIND)
        assert table.equals(Reader()(paths))
        assert sorted(cached_rows(faces)) == [f"f{i:02d}.png" for i in range(6)]
        settle(faces)


def test_stat_keys_are_os_stat_s(faces: Path) -> None:
    """The core's keys against os.stat (links followed) of the same names: files, a link, a
    file in a sub-folder, a missing file, a dangling link, a name that cannot name a file, and
    a name that is not valid UTF-8 (as a listing gives it, surrogate-escaped)."""
    (faces / "link.png").symlink_to("f02.png")
    (faces / "dangling.png").symlink_to("nowhere.png")
    (faces / "sub").mkdir()
    (faces / "sub" / "deep.png").write_bytes(b"deep")
    odd = os.fsdecode(b"odd-\xff.png")
    (faces / odd).write_bytes(b"odd")
    names = ["f00.png", "link.png", "sub/deep.png", "missing.png", "dangling.png", "a\0b", odd]
    names.append("\ud800")  # a str no file name encodes to
    found, keys = _scan_cache._stat_keys(str(faces), names)
    for i, name in enumerate(names):
        try:
            st = os.stat(faces / name)
        except (OSError, ValueError):  # UnicodeEncodeError is a ValueError
            assert not found[i] and all(k[i] == 0 for k in keys), name
            continue
        want = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        assert found[i] and tuple(int(k[i]) for k in keys) == want, name
    assert list(found) == [True, True, True, False, False, False, True, False]
    assert _scan_cache._stat_keys(str(faces), [])[0].shape == (0,)


def test_the_callers_error_wins_over_a_failed_merge(
    faces: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When ``use`` and the cache's merge both raise, the caller's exception is the one raised
    (not the merge's, chained to it), and the temporary file is gone."""
    from faceio import _scan_cache

    paths = sorted(str(p) for p in faces.glob("*.png"))
    names = [os.path.basename(p) for p in paths]

    def broken_merge(*args: object) -> None:
        raise RuntimeError("the merge failed")

    def boom(table: pa.Table) -> None:
        raise ValueError("the caller failed")

    monkeypatch.setattr(_scan_cache, "_merge", broken_merge)
    with pytest.raises(ValueError, match="the caller failed"):
        read_through(str(faces), names, paths, Reader(), SCHEMA, kind=KIND, use=boom)
    assert not any(p.name.startswith(".") for p in faces.iterdir())
    # Without a failing caller, the merge's failure is raised as before.
    with pytest.raises(RuntimeError, match="the merge failed"):
        read_through(str(faces), names, paths, Reader(), SCHEMA, kind=KIND, use=lambda t: None)


def test_polars_reads_the_cache_file(faces: Path) -> None:
    """The file is an Arrow IPC stream with a trailer after its end: readers stop at the
    stream's end, so other tools read the cache as it is."""
    pl = pytest.importorskip("polars")
    warm(faces)
    frame = pl.read_ipc_stream(faces / CACHE_NAME)
    assert sorted(frame["_name"].to_list()) == sorted(cached_rows(faces))
    assert pa.ipc.open_stream((faces / CACHE_NAME).read_bytes()).read_all().num_rows == 6


def test_use_is_called_with_the_table_while_the_cache_is_written(faces: Path) -> None:
    """``use`` gets the table that is returned; what it raises is raised once the file is
    written whole, and no temporary file is left."""
    paths = sorted(str(p) for p in faces.glob("*.png"))
    names = [os.path.basename(p) for p in paths]
    seen: list[pa.Table] = []
    for expect_written in (True, False):
        table, report = read_through(
            str(faces), names, paths, Reader(), SCHEMA, kind=KIND, use=seen.append
        )
        assert seen[-1] is table and report.written == expect_written
        assert table.equals(Reader()(paths))
        settle(faces)
    (faces / "f02.png").write_bytes(b"changed")
    settle(faces)

    def boom(table: pa.Table) -> None:
        raise RuntimeError("the caller failed")

    with pytest.raises(RuntimeError, match="the caller failed"):
        read_through(str(faces), names, paths, Reader(), SCHEMA, kind=KIND, use=boom)
    assert cached_rows(faces)["f02.png"] == hashlib.sha256(b"changed").hexdigest()
    assert sorted(p.name for p in faces.iterdir() if p.name.startswith(".")) == [CACHE_NAME]


# Rows with a bulky column that a caller may leave out: the cache then holds only the keys
# and the columns asked for, and reads its batches again to write the next file.
BULKY = pa.schema([*SCHEMA, ("blob", pa.string())])


class BulkyReader(Reader):
    """The digest rows, with a column of 400 characters that callers do not ask for."""

    def __call__(self, paths: list[str]) -> pa.Table:
        table = super().__call__(paths)
        blob = pc.binary_repeat(table["digest"], 400 // 64 + 1)
        return table.append_column(BULKY.field("blob"), blob)


def scan_some(
    folder: Path, reader: Reader | None = None, recursive: bool = False, check: bool = True
) -> tuple[pa.Table, _scan_cache.CacheReport]:
    """A cached read of the ``size`` column only, checked against an uncached read."""
    listing = walk_folder(str(folder), (".png",), recursive)
    names = [e.name for e in listing.entries]
    paths = [e.path for e in listing.entries]
    table, report = read_through(
        str(folder),
        names,
        paths,
        reader or BulkyReader(),
        BULKY,
        kind="bulky/1",
        columns=["size"],
        subfolders_listed=recursive,
    )
    if check:
        assert table.equals(BulkyReader()(paths).select(["path", "size"]))
    return table, report


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    """Record batches of 3 rows, and misses read 3 at a time: a test folder makes many."""
    monkeypatch.setattr(_scan_cache, "_BATCH_ROWS", 3)
    return 3


def batch_rows(path: Path) -> list[int]:
    """The rows of each record batch of a cache file."""
    data = path.read_bytes()
    return [b.num_rows for b in pa.ipc.open_stream(data[: -TRAILER.size])]


def test_the_cache_holds_the_keys_and_the_columns_asked_for(
    faces: Path, small_batches: int
) -> None:
    """The file is read a batch at a time and, of each, only the keys and the columns asked for
    are kept (copied out of the batch's block): the bulky column is not held. Before, the file
    was read whole into one block and every column of it held while the caller worked."""
    make(faces, 10)
    settle(faces)
    scan_some(faces)
    assert batch_rows(faces / CACHE_NAME) == [3, 3, 3, 1]
    folder_id = _scan_cache._folder_id(str(faces))
    stored = _scan_cache.store_schema(BULKY, "path")
    loaded, why = _cache_file.load(
        str(faces / CACHE_NAME), stored, "bulky/1", folder_id, 10, ["size"]
    )
    assert loaded is not None and why == ""
    try:
        keys = [f.name for f in _cache_file.KEY_FIELDS]
        assert loaded.table.column_names == [*keys, "size"] and not loaded.whole
        # A batch read again has every column, the bulky one too.
        assert loaded.batch(1).column_names == stored.names
        assert loaded.batch(1)["_name"].to_pylist() == ["f03.png", "f04.png", "f05.png"]
    finally:
        loaded.close()


def test_misses_are_read_a_batch_at_a_time(faces: Path, small_batches: int) -> None:
    """The files the cache cannot give go to the reader a batch at a time, and each is written
    to the new file as it goes: a first scan of a large folder no longer holds every row read
    until the end."""
    make(faces, 10)
    settle(faces)
    reader = BulkyReader()
    _, report = scan_some(faces, reader)
    assert [len(call) for call in reader.calls] == [3, 3, 3, 1]
    assert report.written and batch_rows(faces / CACHE_NAME) == [3, 3, 3, 1]
    for i in (1, 7, 8):
        (faces / f"f{i:02d}.png").write_bytes(b"changed %d" % i)
    settle(faces)
    reader = BulkyReader()
    _, report = scan_some(faces, reader)
    assert reader.read == ["f01.png", "f07.png", "f08.png"]  # one batch of misses
    assert (report.hits, report.read, report.written) == (7, 3, True)
    reader = BulkyReader()
    scan_some(faces, reader)
    assert reader.calls == []
    assert cached_rows(faces)["f07.png"] == hashlib.sha256(b"changed 7").hexdigest()


def test_random_changes_in_small_batches_never_serve_a_stale_row(
    tmp_path: Path, small_batches: int
) -> None:
    """As the test above with every change, flat and recursive reads in turn: rows gathered
    from many batches of the old file, read again, and from many batches of misses; the rows
    of a sub-folder kept by the flat reads."""
    folder = tmp_path / "faces"
    (folder / "sub").mkdir(parents=True)
    make(folder, 14)
    make(folder / "sub", 5)
    rng = random.Random(15)
    for turn in range(40):
        files = sorted(folder.rglob("*.png"))
        target = rng.choice(files)
        action = rng.randrange(4)
        if action == 0:
            target.write_bytes(target.read_bytes() + b"x")
        elif action == 1 and len(files) > 6:
            target.unlink()
        elif action == 2 and len(files) > 6:
            os.rename(target, target.parent / f"r{rng.randrange(10**6)}.png")
        else:
            (target.parent / f"n{rng.randrange(10**6)}.png").write_bytes(rng.randbytes(30))
        if turn % 5 == 4:
            settle(folder)  # so that rows are cached, and served
        scan_some(folder, recursive=bool(turn % 2))
    settle(folder)
    scan_some(folder, recursive=True)
    reader = BulkyReader()
    scan_some(folder, reader, recursive=True)
    assert reader.calls == []
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == [CACHE_NAME]


def test_a_name_given_twice_across_batches_is_one_row(faces: Path, small_batches: int) -> None:
    paths = sorted(str(p) for p in faces.glob("*.png"))
    paths += paths[:4]  # each of f00..f03 twice, in other batches
    names = [os.path.basename(p) for p in paths]
    for _ in range(2):
        table, _ = read_through(
            str(faces), names, paths, BulkyReader(), BULKY, kind="bulky/1", columns=["size"]
        )
        assert table.equals(BulkyReader()(paths).select(["path", "size"]))
        assert sorted(read_cache(faces / CACHE_NAME)["_name"].to_pylist()) == sorted(names[:6])
        settle(faces)


@pytest.mark.parametrize("change", ["cut short", "a name changed", "a value changed"])
def test_a_cache_changed_in_place_while_read_is_not_copied(
    faces: Path,
    small_batches: int,
    change: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The old file's batches are read again for the new file: one changed in place since the
    first reading (which faceio never does: it renames a new file over the old) is not
    copied, and no new file is written; the rows given are those checked at the first
    reading."""
    make(faces, 10)
    settle(faces)
    scan_some(faces)
    (faces / "f09.png").write_bytes(b"a change, so that the file is written")
    settle(faces)
    cache = faces / CACHE_NAME
    real = _scan_cache._serve

    def serve_then_change(*args: object) -> object:
        served = real(*args)
        data = cache.read_bytes()
        with open(cache, "r+b") as f:  # the same file, in place
            if change == "cut short":
                f.truncate(len(data) // 2)
            elif change == "a name changed":  # as long, and valid: the keys read first tell
                at = data.index(b"f04.png")
                f.seek(at)
                f.write(b"f44.png")
            else:  # a digest (not a key) written over, as long: the keys do not tell
                digest = hashlib.sha256((faces / "f04.png").read_bytes()).hexdigest()
                f.seek(data.index(digest.encode()))
                f.write(b"0" * len(digest))
        return served

    monkeypatch.setattr(_scan_cache, "_serve", serve_then_change)
    with caplog.at_level(logging.DEBUG, logger="faceio.cache"):
        _, report = scan_some(faces)  # checked against an uncached read
    assert report.hits == 9 and not report.written
    assert "changed since it was read" in caplog.text
    assert [p.name for p in faces.iterdir() if p.name.startswith(".")] == [CACHE_NAME]
    monkeypatch.undo()
    _, report = scan_some(faces)  # the change in place: damage, refused and rebuilt
    assert report.ignored and report.written


class FailingReader(BulkyReader):
    """A reader that raises on its ``fail_at``-th call."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at

    def __call__(self, paths: list[str]) -> pa.Table:
        if len(self.calls) + 1 == self.fail_at:
            raise RuntimeError("the reader failed")
        return super().__call__(paths)


@pytest.mark.parametrize("fail_at", [1, 3])
def test_a_reader_failing_in_a_later_batch_stops_the_write(
    faces: Path, small_batches: int, fail_at: int
) -> None:
    """The reader's exception is raised (the writer, which had begun, stops), the old cache
    stays as it was, and no temporary file is left."""
    make(faces, 10)
    settle(faces)
    scan_some(faces)
    before = (faces / CACHE_NAME).read_bytes()
    for i in range(10):
        (faces / f"f{i:02d}.png").write_bytes(b"all changed %d" % i)
    settle(faces)
    with pytest.raises(RuntimeError, match="the reader failed"):
        scan_some(faces, FailingReader(fail_at))
    assert (faces / CACHE_NAME).read_bytes() == before
    assert [p.name for p in faces.iterdir() if p.name.startswith(".")] == [CACHE_NAME]


def test_a_write_failing_half_way_leaves_the_old_cache(
    faces: Path, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails between two batches (a full disk) leaves the old cache whole and no
    temporary file; the rows are given all the same."""
    make(faces, 10)
    settle(faces)
    scan_some(faces)
    before = (faces / CACHE_NAME).read_bytes()
    (faces / "f05.png").write_bytes(b"changed")
    settle(faces)
    real, writes = _cache_file._CrcFile.write, []

    def full(self: object, data: bytes) -> int:
        writes.append(len(data))
        if len(writes) > 12:  # the schema and a few batches
            raise OSError(28, "No space left on device")
        return real(self, data)  # type: ignore[arg-type]

    monkeypatch.setattr(_cache_file._CrcFile, "write", full)
    _, report = scan_some(faces)
    assert report.read == 1 and not report.written
    assert (faces / CACHE_NAME).read_bytes() == before
    assert [p.name for p in faces.iterdir() if p.name.startswith(".")] == [CACHE_NAME]
