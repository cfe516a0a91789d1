"""The scan cache's delta file: a large cache takes a few changed rows without a rewrite.

A cache is "large" from ``_DELTA_MIN_ROWS`` rows; the tests lower it to 0 so that a folder of
a few files takes the delta path, and every cached read is still checked against a fresh one
(``scan`` from test_scan_cache).
"""

from __future__ import annotations

import os
import random
import textwrap
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from faceio import _scan_cache  # noqa: E402
from faceio._files import CACHE_DELTA_NAME, CACHE_NAME, walk_folder  # noqa: E402
from faceio._scan_cache import read_through  # noqa: E402
from tests.test_scan_cache import (  # noqa: E402
    KIND,
    SCHEMA,
    Reader,
    make,
    scan,
    scan_concurrently,
    settle,
    warm,
)


@pytest.fixture
def delta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cache is large; the delta may grow to the cache's own size before a rewrite."""
    monkeypatch.setattr(_scan_cache, "_DELTA_MIN_ROWS", 0)
    monkeypatch.setattr(_scan_cache, "_DELTA_SHARE", 1)


@pytest.fixture
def faces(tmp_path: Path) -> Path:
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder, 12)
    settle(folder)
    return folder


def names_in(path: Path) -> list[str]:
    return sorted(pq.read_table(path, columns=["_name"])["_name"].to_pylist())


def test_a_change_goes_to_the_delta_and_the_cache_stays(faces: Path, delta: None) -> None:
    warm(faces)
    base = faces / CACHE_NAME
    before = (base.stat().st_ino, base.read_bytes())
    (faces / "f03.png").write_bytes(b"edited face")
    (faces / "new.png").write_bytes(b"a new face")
    settle(faces)
    reader = Reader()
    _, report = scan(faces, reader)
    assert sorted(reader.read) == ["f03.png", "new.png"] and report.written
    assert (base.stat().st_ino, base.read_bytes()) == before  # not rewritten
    assert names_in(faces / CACHE_DELTA_NAME) == ["f03.png", "new.png"]
    assert report.dropped == 1  # the cache's old row of f03.png, unused
    reader = Reader()
    _, report = scan(faces, reader)
    assert reader.read == [] and not report.written  # both files serve; nothing to write


def test_a_small_cache_is_rewritten_whole(faces: Path) -> None:
    warm(faces)
    (faces / "f03.png").write_bytes(b"edited face")
    settle(faces)
    _, report = scan(faces)
    assert report.written and not (faces / CACHE_DELTA_NAME).exists()
    assert len(names_in(faces / CACHE_NAME)) == 12


def test_the_cache_is_rewritten_whole_past_its_share(
    faces: Path, delta: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delta's rows and the cache's unused ones past 1/share of it: one file again."""
    monkeypatch.setattr(_scan_cache, "_DELTA_SHARE", 4)  # 12 rows: 3 may wait
    warm(faces)
    (faces / "f00.png").unlink()  # an unused row, waiting in the cache
    (faces / "f01.png").write_bytes(b"edited")  # a delta row, and one more unused
    settle(faces)
    scan(faces)
    assert (faces / CACHE_DELTA_NAME).exists() and "f00.png" in names_in(faces / CACHE_NAME)
    (faces / "f02.png").write_bytes(b"edited too")
    settle(faces)
    _, report = scan(faces)
    assert report.written and not (faces / CACHE_DELTA_NAME).exists()
    names = names_in(faces / CACHE_NAME)
    assert "f00.png" not in names and len(names) == 11  # removed files dropped out


def test_random_changes_with_a_delta_never_serve_a_stale_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """test_scan_cache's random changes, through the delta and its rewrites into the cache."""
    monkeypatch.setattr(_scan_cache, "_DELTA_MIN_ROWS", 0)
    monkeypatch.setattr(_scan_cache, "_DELTA_SHARE", 3)
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder, 12)
    rng = random.Random(41)
    seen = set()
    for step in range(80):
        files = sorted(folder.glob("*.png"))
        target = rng.choice(files)
        st = target.stat()
        action = rng.randrange(5)
        if action == 0:  # same size, stamps set back
            target.write_bytes(bytes(b ^ 1 for b in target.read_bytes()))
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        elif action == 1 and len(files) > 3:
            os.rename(target, folder / f"r{rng.randrange(10**6)}.png")
        elif action == 2 and len(files) > 3:
            target.unlink()
        else:
            (folder / f"n{rng.randrange(10**6)}.png").write_bytes(rng.randbytes(40))
        if step % 4 == 0:
            settle(folder)  # let rows be cached, so that the delta takes some
        scan(folder)
        seen.add((folder / CACHE_DELTA_NAME).exists())
    assert seen == {True, False}  # both the delta and rewrites into one file happened


def test_a_delta_left_from_an_older_cache_serves_only_right_rows(faces: Path, delta: None) -> None:
    """Every row carries its key: a delta paired with a newer cache is still never stale."""
    warm(faces)
    (faces / "f05.png").write_bytes(b"first edit")
    settle(faces)
    scan(faces)
    old_delta = (faces / CACHE_DELTA_NAME).read_bytes()
    (faces / CACHE_DELTA_NAME).unlink()
    (faces / CACHE_NAME).unlink()
    (faces / "f05.png").write_bytes(b"second edit")  # the old delta's row is stale now
    settle(faces)
    warm(faces)
    (faces / CACHE_DELTA_NAME).write_bytes(old_delta)
    reader = Reader()
    scan(faces, reader)  # checked against a fresh read
    assert reader.read == []  # the cache's row of f05.png, not the delta's


BAD_DELTAS = ["random_bytes", "truncated", "other_kind", "symlink", "fifo", "a_folder"]


@pytest.mark.parametrize("kind", BAD_DELTAS)
def test_bad_delta_is_ignored_and_the_cache_rebuilt(faces: Path, delta: None, kind: str) -> None:
    warm(faces)
    (faces / "f07.png").write_bytes(b"edited")
    settle(faces)
    scan(faces)
    path = faces / CACHE_DELTA_NAME
    good = path.read_bytes()
    if kind == "random_bytes":
        path.write_bytes(random.Random(3).randbytes(len(good)))
    elif kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "other_kind":
        table = pq.read_table(path)
        meta = {**table.schema.metadata, b"faceio.cache.kind": b"test-digest/0"}
        pq.write_table(table.replace_schema_metadata(meta), path)
    elif kind == "symlink":
        (faces / "elsewhere.parquet").write_bytes(good)
        path.unlink()
        path.symlink_to("elsewhere.parquet")
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        path.unlink()
        path.mkdir()
    for file in faces.glob("*.png"):  # every cached row wrong where it could still be read
        file.write_bytes(file.read_bytes() + b"!")
    settle(faces)
    reader = Reader()
    _, report = scan(faces, reader)
    assert len(reader.read) == 12 and report.ignored.startswith(CACHE_DELTA_NAME)
    assert report.written and len(names_in(faces / CACHE_NAME)) == 12
    reader = Reader()
    scan(faces, reader)
    assert reader.read == []


def test_damaged_delta_never_serves_a_wrong_row(faces: Path, delta: None) -> None:
    warm(faces)
    for name in ("f02.png", "f08.png"):
        (faces / name).write_bytes(b"edited " + name.encode())
    settle(faces)
    scan(faces)
    path = faces / CACHE_DELTA_NAME
    good = path.read_bytes()
    refused = 0
    for at in range(0, len(good), max(len(good) // 60, 1)):
        damaged = bytearray(good)
        damaged[at] ^= 0x55
        path.write_bytes(bytes(damaged))
        _, report = scan(faces)  # every row checked against a fresh read
        refused += bool(report.ignored)
        (faces / CACHE_NAME).unlink(missing_ok=True)  # refused: rebuilt; back to two files
        path.unlink(missing_ok=True)
        warm(faces)
        path.write_bytes(good)
    assert refused > 30


def test_the_delta_is_not_listed(faces: Path, delta: None) -> None:
    before = walk_folder(str(faces), (".png",))
    warm(faces)
    (faces / "f01.png").write_bytes(b"edited")
    settle(faces)
    scan(faces)
    assert (faces / CACHE_DELTA_NAME).exists()
    after = walk_folder(str(faces), (".png",))
    assert after.others == before.others == 0
    assert [e.name for e in after.entries] == [e.name for e in before.entries]


CONCURRENT = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [sys.argv[2]]
    from faceio import _scan_cache
    from tests.test_scan_cache import scan
    from pathlib import Path
    _scan_cache._DELTA_MIN_ROWS, _scan_cache._DELTA_SHARE = 0, 2
    for _ in range(int(sys.argv[3])):
        scan(Path(sys.argv[1]), check=False)  # files change meanwhile: checked after
    """
)


def test_concurrent_processes_with_a_delta(tmp_path: Path, delta: None) -> None:
    """Processes writing the delta and the whole cache at once: every row right after."""
    folder = tmp_path / "faces"
    folder.mkdir()
    make(folder, 40)
    settle(folder)
    warm(folder)
    scan_concurrently(folder, [f"f{(7 * i) % 40:02d}.png" for i in range(30)])
    settle(folder)
    _, report = scan(folder)  # every row, from either file, against a fresh read
    assert not report.ignored
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("large", [False, True])
def test_a_name_given_twice_is_one_row(
    faces: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    """Not a listing's input, but allowed: both inputs get the row, the cache keeps one."""
    if large:
        monkeypatch.setattr(_scan_cache, "_DELTA_MIN_ROWS", 0)
        monkeypatch.setattr(_scan_cache, "_DELTA_SHARE", 1)
    warm(faces)
    (faces / "f04.png").write_bytes(b"edited twice over")
    settle(faces)
    names = [*sorted(p.name for p in faces.glob("*.png")), "f04.png"]
    paths = [str(faces / n) for n in names]
    table, report = read_through(str(faces), names, paths, Reader(), SCHEMA, kind=KIND)
    assert table.equals(Reader()(paths)) and report.read == 2 and report.written
    written = faces / (CACHE_DELTA_NAME if large else CACHE_NAME)
    assert names_in(written).count("f04.png") == 1
    reader = Reader()
    table, _ = read_through(str(faces), names, paths, reader, SCHEMA, kind=KIND)
    assert table.equals(Reader()(paths)) and reader.calls == []
