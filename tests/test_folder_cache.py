"""The folder's cache as its users see it: ``read_meta_table(cache=True)`` and ``scan --cache``.

Each cached result is compared with the same call without the cache, on folders holding every
kind of file a summary tells apart (faces, a renamed face, TIFF faces, files without a header,
other metadata, schema errors, unreadable files, links, a dangling link, a sub-folder).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import faceio  # noqa: E402
from faceio import _cache_file, _folder_cache, _scan_cache  # noqa: E402
from faceio._files import CACHE_NAME, LEGACY_CACHE_NAMES, FolderEntry, FolderListing  # noqa: E402
from faceio._folder_cache import FACT_COLUMNS, add_rows  # noqa: E402
from faceio.cli import UsageError, scan_folder  # noqa: E402
from faceio.cli.scan import _VIDEO_FRAME, Facts, _ScanStats, file_facts  # noqa: E402
from tests.test_arrow import _build_folder  # noqa: E402
from tests.test_cli import GOOD, RENAMED, make_header, png, run  # noqa: E402
from tests.test_cli_folders import tiff, tiff_header  # noqa: E402
from tests.test_scan_cache import read_cache, settle, write_cache  # noqa: E402


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for name in GOOD:
        video = name.startswith("clip")
        frame = name.rsplit("_", 1)[0] + (".png" if video else ".jpg")
        (folder / name).write_bytes(png(make_header(rng, name, frame, video)))
    (folder / RENAMED).write_bytes(png(make_header(rng, "clip_9_0.png", "clip_9.png", True), 48))
    good = png(make_header(rng, "x_0.png", "x.jpg", False))
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "no_header.png").write_bytes(png())
    (folder / "bad_syntax.png").write_bytes(png(b"{'alignments': [1, 2"))
    (folder / "patch.png").write_bytes(png({"matrix": (1.5, 2), "raw": b"\x00\xff"}))
    ragged = make_header(rng, "r_0.png", "r.jpg", False).to_dict()
    ragged["alignments"]["landmarks_xy"] = [[1.0, 2.0], [3.0]]
    (folder / "ragged_0.png").write_bytes(png(ragged))
    (folder / "face_0.tif").write_bytes(tiff(tiff_header("face_0.tif")))
    (folder / "bare_0.tiff").write_bytes(tiff())
    (folder / "link.png").symlink_to(GOOD[0])
    (folder / "dangling.png").symlink_to("nowhere.png")
    (folder / "notes.txt").write_text("not a face")
    sub = folder / "sub"
    sub.mkdir()
    shutil.copy(folder / GOOD[1], sub / "deep_0.png")
    settle(folder)
    return folder


def test_scan_summary_is_the_same_with_and_without_the_cache(mixed: Path) -> None:
    for recursive in (False, True, False):
        plain = scan_folder(mixed, recursive=recursive)
        cold = scan_folder(mixed, recursive=recursive, cache=True)
        settle(mixed)
        warm = scan_folder(mixed, recursive=recursive, cache=True)
        assert cold == plain and warm == plain, recursive
    # The folder holds every kind of file the summary counts.
    kinds = ("with_header", "without_header", "other_metadata", "schema_errors", "unreadable")
    assert all(plain[k] for k in (*kinds, "renamed", "other_files", "subfolders_not_read"))
    assert (mixed / CACHE_NAME).exists()


def test_file_names_that_are_not_utf8(mixed: Path) -> None:
    """Names whose bytes are not UTF-8 (a face, a truncated file): Arrow's strings cannot hold
    them as ``os.fsdecode`` gives them (lone surrogates), and the tables and cached scans
    failed with UnicodeEncodeError; the rows now hold them escaped, the summaries agree."""
    folder = os.fsencode(mixed)
    with open(os.path.join(folder, b"\xff_face_0.png"), "wb") as f:
        f.write((mixed / GOOD[0]).read_bytes())
    with open(os.path.join(folder, b"\xfe_cut.png"), "wb") as f:
        f.write((mixed / "truncated.png").read_bytes())
    settle(mixed)
    plain = faceio.read_meta_table(mixed)
    paths = plain.column("path").to_pylist()
    face = paths.index(os.path.join(str(mixed), "\\udcff_face_0.png"))  # escaped, as text
    good = faceio.read_meta_table([mixed / GOOD[0]]).drop_columns(["path"])
    assert plain.slice(face, 1).drop_columns(["path"]).equals(good)
    for _ in range(2):
        assert faceio.read_meta_table(mixed, cache=True).equals(plain)
        settle(mixed)
    for recursive in (False, True):
        want = scan_folder(mixed, recursive=recursive)
        assert scan_folder(mixed, recursive=recursive, cache=True) == want
        settle(mixed)
        assert scan_folder(mixed, recursive=recursive, cache=True) == want


def test_scan_summary_follows_changes(mixed: Path) -> None:
    scan_folder(mixed, cache=True)
    settle(mixed)
    scan_folder(mixed, cache=True)
    rng = np.random.default_rng(8)
    # An edited face, a face turned into a file without header, a removed face, a new face,
    # a renamed face, a link pointed elsewhere: each read again, none served stale.
    clip = make_header(rng, "other_0.png", "other.jpg", False)
    (mixed / GOOD[0]).write_bytes(png(clip))
    (mixed / GOOD[1]).write_bytes(png())
    (mixed / GOOD[2]).unlink()
    (mixed / "new_0.png").write_bytes(png(make_header(rng, "new_0.png", "new.jpg", False)))
    os.rename(mixed / "still_0.png", mixed / "moved_0.png")
    (mixed / "link.png").unlink()
    (mixed / "link.png").symlink_to(RENAMED)
    assert scan_folder(mixed, cache=True) == scan_folder(mixed)


def test_meta_table_is_the_same_with_and_without_the_cache(tmp_path: Path) -> None:
    folder = tmp_path / "table"
    folder.mkdir()
    _build_folder(folder)
    settle(folder)
    plain = faceio.read_meta_table(folder)
    assert plain.column("error").null_count < plain.num_rows  # error rows, and good rows
    for _ in range(2):
        assert faceio.read_meta_table(folder, cache=True).equals(plain)
        settle(folder)
    with pytest.raises(faceio.PngFormatError):
        faceio.read_meta_table(folder, cache=True, errors="raise")


def test_a_row_python_built_is_not_served_under_another_digit_limit(tmp_path: Path) -> None:
    """A payload holding a long int is built by Python, under the digit limit of the moment:
    its row, read with the limit lifted, is not served from the cache once the limit is back
    (a scan then fails the file, as read_image_meta_batch does)."""
    from tests.test_arrow import _python_only_folder

    folder = tmp_path / "digits"
    folder.mkdir()
    _python_only_folder(folder)
    names = ["int_huge_left_out.png", "name_known.png"]
    for path in folder.iterdir():
        if path.name not in names:
            path.unlink()
    settle(folder)
    limit = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(0)
        lifted = faceio.read_meta_table(folder, cache=True)
        assert lifted.column("error_type").to_pylist() == [None, None]
        settle(folder)
    finally:
        sys.set_int_max_str_digits(limit)
    cached = faceio.read_meta_table(folder, cache=True)
    assert cached.column("error_type").to_pylist() == ["MetadataSyntaxError", None]
    assert cached.equals(faceio.read_meta_table(folder))
    assert (folder / CACHE_NAME).exists()


def _logged_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Log the names of the files the folder cache's reader is given, from now on."""
    read: list[str] = []
    real = _folder_cache._read_rows

    def logged(paths: list[str]) -> Any:
        read.extend(os.path.relpath(p) for p in paths)
        return real(paths)

    monkeypatch.setattr(_folder_cache, "_read_rows", logged)
    return read


def test_second_reads_take_rows_from_the_cache(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(mixed)  # the files read are named from the folder
    read = _logged_reads(monkeypatch)
    scan_folder(mixed, cache=True)
    assert len(read) == 13  # every readable face file of the folder (not the dangling link)
    read.clear()
    faceio.read_meta_table(mixed, cache=True)  # the same cache: the same rows
    # Failed reads are never cached: read again each time, they name the path as given.
    failed = ["bad_syntax.png", "patch.png", "ragged_0.png", "truncated.png"]
    assert sorted(read) == failed
    read.clear()
    (mixed / "no_header.png").write_bytes(png(size=40))
    scan_folder(mixed, cache=True)
    assert sorted(read) == sorted([*failed, "no_header.png"])


def test_cli_scan_cache(mixed: Path) -> None:
    plain = run("scan", mixed, "--json", code=1).stdout
    for _ in range(2):
        assert run("scan", "--cache", mixed, "--json", code=1).stdout == plain
        settle(mixed)
    assert json.loads(plain)["other_files"] == 1  # notes.txt; the cache is no file of the scan
    assert run("scan", "--cache", mixed, code=1).stdout == run("scan", mixed, code=1).stdout
    proc = run("scan", "--cache", code=2)
    assert "--cache needs a FOLDER" in proc.stderr


def test_export_leaves_the_cache_out(mixed: Path, tmp_path: Path) -> None:
    scan_folder(mixed, cache=True)
    out = tmp_path / "all.jsonl"
    run("export", mixed, "-o", out, code=1)
    files = [json.loads(line)["file"] for line in out.read_text().splitlines()]
    assert files and not any(CACHE_NAME in f or ".faceio-cache" in f for f in files)
    table = tmp_path / "all.parquet"
    run("export", "--format", "parquet", mixed, "-o", table, code=1)
    assert CACHE_NAME not in pq.read_table(table).column("path").to_pylist()


def test_a_cache_of_other_rows_is_rebuilt(mixed: Path) -> None:
    """The scan cache of another faceio (another schema) is no cache of ours."""
    scan_folder(mixed, cache=True)
    write_cache(mixed / CACHE_NAME, read_cache(mixed / CACHE_NAME).drop_columns(["scan_kind"]))
    assert scan_folder(mixed, cache=True) == scan_folder(mixed)
    assert "scan_kind" in read_cache(mixed / CACHE_NAME).schema.names


def _random_facts(rng: random.Random, name: str) -> Facts:
    """Facts of any kind, with the awkward values a folder may hold."""
    kind = rng.choice(["face"] * 5 + ["none", "other", "schema", "error"])
    if kind == "error":
        return Facts("error", rng.choice(["cut short", "CRC mismatch"]))
    size = rng.choice(["32x32", "48x48", "256x256"])
    if kind != "face":
        return Facts(kind, "bad x" if kind == "schema" else None, size)
    texts = ["a", "b", "1", "é", "a\0", "\0b", "x\ny", "clip_000012.png", "clip_7.png"]
    frame = rng.choice([*texts, f"v{rng.randrange(3)}_{rng.randrange(4):06d}.png"])
    video = rng.random() < 0.6
    match = _VIDEO_FRAME.match(frame) if video else None
    return Facts(
        "face",
        None,
        size,
        rng.choice([0, 4, 68]),
        tuple(rng.choices(["components", "extended", "1"], k=rng.randrange(3))),
        tuple(rng.choices(["vggface2", "é"], k=rng.randrange(2))),
        rng.choice(["2.3", "2.4", "2"]),
        frame,
        match.group("video") if match else frame,
        video,
        rng.choice([None, "f_0.png", "x\ny", name.rsplit("/", 1)[-1], name.rsplit("/", 1)[-1]]),
    )


def _random_folder(
    rng: random.Random, names: list[str], count: int
) -> tuple[FolderListing, list[Any], _ScanStats, pa.Table]:
    """A listing of ``count`` entries named from ``names`` (some failed), its files' facts,
    the stats of counting them one file at a time (_ScanStats.add), and the facts' table as
    add_rows takes it."""
    listing = FolderListing()
    facts = []
    for i in range(count):
        name = rng.choice(names).format(i=i)
        name = name if i % 7 else "f_0.png" if not i else f"d{i}/f_0.png"
        if rng.random() < 0.05:
            listing.entries.append(FolderEntry(name, name, error=OSError(40, "loops")))
            continue
        # The path as the listing makes it: the folder's, then the name.
        listing.entries.append(FolderEntry(name, f"F/{name}"))
        facts.append(_random_facts(rng, name))
    one = _ScanStats()
    it = iter(facts)
    for entry in listing.entries:
        one.add(entry.name, file_facts(entry.path, entry.error) if entry.error else next(it))
    columns = {
        f.name: pa.array([list(x) if isinstance(x, tuple) else x for x in values], f.type)
        for f, values in zip(FACT_COLUMNS, zip(*facts, strict=True), strict=False)
    }
    paths = [e.path for e in listing.entries if e.error is None]
    columns = {"path": pa.array(paths, pa.string()), **columns}
    schema = pa.schema([pa.field("path", pa.string()), *FACT_COLUMNS])
    table = pa.table(columns, schema=schema) if facts else schema.empty_table()
    return listing, facts, one, table


@pytest.mark.parametrize("seed", range(12))
def test_cached_counts_equal_counting_one_file_at_a_time(seed: int) -> None:
    """add_rows (Arrow kernels over the cached columns) against _ScanStats.add, file by file."""
    rng = random.Random(seed)
    names = ["f_{i}.png", "sub/f_{i}.png", "x\ny/g_{i}.png", "g_{i}.png"]
    listing, _, one, table = _random_folder(rng, names, rng.randrange(0, 60))
    many = _ScanStats()
    add_rows(many, listing, table)
    assert many.summary("F", listing) == one.summary("F", listing)


@pytest.mark.parametrize("seed", range(6))
def test_cached_counts_from_many_chunks(seed: int) -> None:
    """add_rows on columns in chunks of a few rows (a cache file's batches, not combined
    first when few) counts as on one chunk, and as _ScanStats.add does."""
    rng = random.Random(100 + seed)
    listing, _, one, table = _random_folder(
        rng, ["f_{i}.png", "sub/f_{i}.png"], rng.randrange(1, 80)
    )
    chunks = [table.slice(at, 3) for at in range(0, table.num_rows, 3)]
    many = _ScanStats()
    add_rows(many, listing, pa.concat_tables(chunks) if chunks else table)
    assert many.summary("F", listing) == one.summary("F", listing)


def test_scan_cache_without_pyarrow_is_a_usage_error(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "faceio._folder_cache", None)  # import raises ImportError
    with pytest.raises(UsageError, match=r"--cache needs pyarrow: pip install 'faceio\[arrow\]'"):
        scan_folder(mixed, cache=True)
    assert not (mixed / CACHE_NAME).exists()


def test_a_cache_of_another_faceio_version_is_rebuilt(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_folder_cache, "_KIND", "faceio-folder/1 faceio 0.0.1")
    scan_folder(mixed, cache=True)
    settle(mixed)
    monkeypatch.undo()
    read: list[str] = []
    real = _folder_cache._read_rows
    monkeypatch.setattr(_folder_cache, "_read_rows", lambda p: read.extend(p) or real(p))
    assert scan_folder(mixed, cache=True) == scan_folder(mixed)
    assert len(read) == 13  # every file, though each is unchanged


def test_flat_and_recursive_scans_share_the_cache(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flat scan keeps the rows of sub-folders' files for the next ``-r`` scan (before, each
    dropped the other's rows, so alternating read the sub-folders every time); they are still
    checked by their keys when used."""
    scan_folder(mixed, recursive=True, cache=True)
    settle(mixed)
    scan_folder(mixed, recursive=True, cache=True)
    assert "sub/deep_0.png" in read_cache(mixed / CACHE_NAME).column("_name").to_pylist()
    monkeypatch.chdir(mixed)
    read = _logged_reads(monkeypatch)
    (mixed / "new_0.png").write_bytes((mixed / GOOD[0]).read_bytes())  # so the flat scan writes
    assert scan_folder(mixed, cache=True) == scan_folder(mixed)
    faceio.read_meta_table(mixed, cache=True)
    assert "sub/deep_0.png" in read_cache(mixed / CACHE_NAME).column("_name").to_pylist()
    read.clear()
    assert scan_folder(mixed, recursive=True, cache=True) == scan_folder(mixed, recursive=True)
    assert "sub/deep_0.png" not in read
    # A kept row is right only while its file is unchanged: a change in between is seen.
    (mixed / "sub" / "deep_0.png").write_bytes(png())
    assert scan_folder(mixed, cache=True) == scan_folder(mixed)
    read.clear()
    assert scan_folder(mixed, recursive=True, cache=True) == scan_folder(mixed, recursive=True)
    assert "sub/deep_0.png" in read
    # Removed with its sub-folder: the recursive scan drops the row.
    shutil.rmtree(mixed / "sub")
    settle(mixed)
    scan_folder(mixed, recursive=True, cache=True)
    assert "sub/deep_0.png" not in read_cache(mixed / CACHE_NAME).column("_name").to_pylist()


@pytest.mark.parametrize("entry", ["scan", "scan -r", "read_meta_table"])
def test_old_temporary_files_are_swept(
    mixed: Path, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed writer's temporary file goes once a day old; a younger one (a live writer's,
    perhaps) stays. Before, none was ever removed."""
    # Named as mkstemp names them (eight of its characters), but the user's file, named alike.
    old, young = mixed / ".faceio-cache.killed_1.tmp", mixed / ".faceio-cache.running1.tmp"
    other = mixed / ".faceio-cache.old_link.tmp"
    users = mixed / ".faceio-cache.backup.tmp"
    for path in (old, young, users):
        path.write_bytes(b"half a cache")
    other.symlink_to(GOOD[0])
    day = 24 * 3600
    for path in (old, users):
        os.utime(path, (time.time() - day - 60, time.time() - day - 60))
    os.utime(other, (time.time() - 2 * day,) * 2, follow_symlinks=False)
    settle(mixed)

    def cached_call() -> None:
        if entry == "read_meta_table":
            faceio.read_meta_table(mixed, cache=True)
        else:
            scan_folder(mixed, recursive=entry == "scan -r", cache=True)

    def left() -> list[str]:
        return sorted(p.name for p in mixed.iterdir() if p.name.endswith(".tmp"))

    cached_call()  # the ctimes are now: by the newer stamp, none is a day old yet
    assert left() == sorted(p.name for p in (old, young, other, users))
    # ctime cannot be set back: the files are made old through the sweep's age instead.
    monkeypatch.setattr(_cache_file, "TEMP_AGE_NS", 0)
    cached_call()
    assert left() == sorted([other.name, users.name])  # a link; a name mkstemp never gives


def test_sweep_goes_by_the_newer_stamp(tmp_path: Path) -> None:
    """A temporary file is old when both its mtime and its ctime are a day older than the
    clock (here given, as the folder's file system would give it); only files go."""
    temp = tmp_path / ".faceio-cache.aaaaaaaa.tmp"
    temp.write_bytes(b"x")
    (tmp_path / ".faceio-cache.cccccccc.tmp").mkdir()
    st = temp.stat()
    os.utime(temp, ns=(st.st_atime_ns, st.st_mtime_ns - 10**15))  # mtime far back, ctime now
    ctime = temp.stat().st_ctime_ns
    day = _cache_file.TEMP_AGE_NS
    names = [temp.name, ".faceio-cache.cccccccc.tmp", ".faceio-cache.gone_abc.tmp"]
    _cache_file.sweep(str(tmp_path), names, ctime + day)  # a day past the ctime: not more
    assert temp.exists()
    _cache_file.sweep(str(tmp_path), names, ctime + day + 1)
    assert [p.name for p in tmp_path.iterdir()] == [".faceio-cache.cccccccc.tmp"]


def test_an_older_versions_cache_files_are_ignored_and_removed(mixed: Path) -> None:
    """The Parquet cache and delta of faceio's earlier versions: never read (rows in them
    would be trusted by name and key), never counted as files, removed by the next write."""
    for name in LEGACY_CACHE_NAMES:
        (mixed / name).write_bytes(b"PAR1 an old cache PAR1")
    plain = scan_folder(mixed)
    assert plain["other_files"] == 1  # notes.txt only
    assert scan_folder(mixed, cache=True) == plain
    assert not any((mixed / name).exists() for name in LEGACY_CACHE_NAMES)
    assert (mixed / CACHE_NAME).exists()


# One scan's memory, measured in a new process (pyarrow's pools keep their peak for the
# process's life): what tracemalloc sees at its peak (Python's objects, and the core's
# buffers, which are bytes objects) plus the peaks of pyarrow's two pools (the cache's blocks,
# Arrow's kernels). Printed: the uncached scan's peak, and the cached one's.
MEASURE = textwrap.dedent(
    """
    import json, sys, tracemalloc
    import pyarrow as pa
    from faceio import _scan_cache
    from faceio.cli import scan_folder

    folder, tiny, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    _scan_cache._BATCH_ROWS = rows
    scan_folder(tiny, cache=True)  # every module imported, both pools in use
    scan_folder(tiny)
    tracemalloc.start()
    scan_folder(folder)
    plain = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    scan_folder(folder, cache=True)
    python = tracemalloc.get_traced_memory()[1]
    arrow = pa.system_memory_pool().max_memory() + pa.default_memory_pool().max_memory()
    print(json.dumps({"plain": plain, "cached": python + arrow, "python": python}))
    """
)

# Record batches of this many rows in the tests below, so that a folder of 1,000 faces makes
# a file of many (a batch holds 8,192 rows, so a test folder would fit in one).
SMALL_BATCHES = 16


def _hard_linked_faces(folder: Path, count: int) -> None:
    """``count`` faces, hard links to 20 distinct ones (a real face set's row sizes)."""
    rng = np.random.default_rng(11)
    source = folder.parent / f"{folder.name}-source"
    source.mkdir()
    for i in range(20):
        name = f"clip_{i:06d}_0.png"
        (source / name).write_bytes(png(make_header(rng, name, f"clip_{i:06d}.png", True)))
    for i in range(count):
        os.link(source / f"clip_{i % 20:06d}_0.png", folder / f"face_{i:06d}.png")


@pytest.mark.parametrize("state", ["no cache file", "unchanged", "1% changed"])
def test_a_cached_scan_holds_less_than_its_cache_file(
    tmp_path: Path, state: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached scan holds the keys and facts of every row and a few of the file's batches at
    a time: less than the file, beyond what the same scan holds without a cache. Before, it
    held the file whole (and the rows merged again once anything changed, or on a first scan
    every row read, and every file's facts as Python objects): 1.4-2.6 times the file here,
    823 MiB of peak RSS for 200,000 faces."""
    folder, tiny = tmp_path / "faces", tmp_path / "tiny"
    folder.mkdir()
    tiny.mkdir()
    _hard_linked_faces(folder, 1000)
    for name in ("face_000000.png", "face_000001.png"):
        shutil.copy(folder / name, tiny / name)
    settle(folder)
    if state != "no cache file":
        # raising=False: the faceio before this test had no such name (and failed it).
        monkeypatch.setattr(_scan_cache, "_BATCH_ROWS", SMALL_BATCHES, raising=False)
        scan_folder(folder, cache=True)
        if state == "1% changed":
            rng = np.random.default_rng(12)
            for i in range(0, 1000, 100):
                new = tmp_path / "new.png"
                new.write_bytes(png(make_header(rng, f"new_{i}_0.png", "new.png", False)))
                os.replace(new, folder / f"face_{i:06d}.png")
        settle(folder)
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *sys.path])}
    args = [str(folder), str(tiny), str(SMALL_BATCHES)]
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, *args], env=env, capture_output=True, check=True
    )
    peaks = json.loads(proc.stdout)
    size = (folder / CACHE_NAME).stat().st_size
    assert size > 900 * 1000  # rows the size of a face's (1 KB: its landmarks the most)
    held = peaks["cached"] - peaks["plain"]
    assert held < size, f"{held:,} bytes held for a cache file of {size:,} ({peaks})"


def _facts_read_twice(paths: list[str]) -> list[Facts]:
    """The facts of ``paths`` as the scan reads them, apart from the table's read."""
    from faceio.cli._faces import read_metas

    entries = [FolderEntry(os.path.basename(p), p) for p in paths]
    return [file_facts(e.path, meta) for e, meta in read_metas(entries, facts=True)]


def test_a_cache_miss_is_read_once_for_the_table_and_the_facts(
    tmp_path: Path, mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A face PNG the cache does not hold gives its table row and its scan facts from one
    read; every other file is read again by the scan's reader. The facts are those the scan
    takes reading the files itself, in every kind of file (faces, TIFF faces, other payloads,
    failures, payloads only Python builds or refuses)."""
    from tests.test_arrow import _python_only_folder

    built, python = tmp_path / "built", tmp_path / "python"
    built.mkdir()
    python.mkdir()
    _build_folder(built)
    _python_only_folder(python)
    paths = sorted(str(p) for f in (mixed, built, python) for p in f.iterdir() if p.is_file())
    want = _facts_read_twice(paths)
    again: list[str] = []
    real = _folder_cache.read_metas

    def logged(entries: list[FolderEntry], *, facts: bool) -> Any:
        again.extend(e.path for e in entries)
        return real(entries, facts=facts)

    monkeypatch.setattr(_folder_cache, "read_metas", logged)
    rows = _folder_cache._read_rows(paths)
    columns = [rows.column(f.name).to_pylist() for f in FACT_COLUMNS]
    got = [Facts(*row) for row in zip(*columns, strict=True)]
    assert got == [f._replace(masks=list(f.masks), identity=list(f.identity)) for f in want]
    # Read once: the face PNGs, but for payloads only Python builds (the python folder's).
    faces = [p for p, f in zip(paths, want, strict=True) if f.kind == "face"]
    once = [p for p in faces if p.endswith(".png") and not p.startswith(str(python))]
    assert again == [p for p in paths if p not in once]
    assert len(once) >= 10 and len(again) >= 10  # both routes taken, many times each
