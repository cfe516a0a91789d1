"""Updates under faults: real failures at each step, kill -9, what the new file keeps.

An update (docs/format.md, "Placement") reads the original, opens the folder, creates a
temporary file, writes it, gives it the original's owner, attributes and mode, flushes it,
renames it over the original and flushes the folder. Each step is made to fail here where the
system can be made to fail it for real: a full file system (a small tmpfs, mounted when the
tests run as root; RLIMIT_FSIZE in test_files.py otherwise), a file system out of inodes, an
immutable original, a missing or non-folder parent. The flushes cannot be made to fail without
a faulty disk; they, and every other step, are failed by the unit tests of rust/fsio (a hook
compiled into tests only).
"""

from __future__ import annotations

import errno
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import faceio
from faceio import PNGHeader, update_existing_metadata
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header

LINUX_ROOT = sys.platform.startswith("linux") and os.geteuid() == 0


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".faceio-"))


def face_bytes(base: bytes, header: PNGHeader | bytes) -> bytes:
    """A face PNG as docs/format.md builds it, independently of faceio's writer."""
    payload = header if isinstance(header, bytes) else str(header.to_dict()).encode()
    return insert_before_idat(base, itxt_rule(payload))


# --- what the new file keeps ------------------------------------------------------------


def test_update_keeps_setuid_and_setgid(tmp_path: Path, face_file, rng) -> None:
    path = Path(face_file("face.png"))
    os.chmod(path, 0o6755)
    if path.stat().st_mode & 0o7777 != 0o6755:
        pytest.skip("this file system or user cannot set both bits")
    update_existing_metadata(path, make_header(rng))
    # A change of owner clears both bits for an executable file: the mode must come after it.
    assert path.stat().st_mode & 0o7777 == 0o6755


def _set_xattr(path: Path, name: str, value: bytes) -> None:
    try:
        os.setxattr(path, name, value)
    except OSError as err:
        if err.errno in (errno.ENOTSUP, errno.EPERM):
            pytest.skip(f"cannot set {name} here: {err}")
        raise


@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="no extended attributes here")
def test_update_and_overwrite_keep_extended_attributes(tmp_path: Path, face_file, rng) -> None:
    path = Path(face_file("face.png"))
    values = {"user.faceio.origin": b"camera 2", "user.faceio.blob": bytes(range(256)) * 6}
    if os.geteuid() == 0:
        values["trusted.faceio.note"] = b"root only"
    for name, value in values.items():
        _set_xattr(path, name, value)
    update_existing_metadata(path, make_header(rng))
    assert {n: os.getxattr(path, n) for n in os.listxattr(path)} == values
    # The saver's overwrite of an existing file keeps them too.
    faceio._core.write_file(path, path.read_bytes())
    assert {n: os.getxattr(path, n) for n in os.listxattr(path)} == values


def test_update_splits_a_hard_link(tmp_path: Path, face_file, rng) -> None:
    """The documented choice: the updated name gets a new file, other names keep the old."""
    path = Path(face_file("face.png"))
    before = path.read_bytes()
    other = tmp_path / "copy.png"
    os.link(path, other)
    new = make_header(rng)
    update_existing_metadata(path, new)
    assert faceio.png_read_meta(path.read_bytes()) == new
    assert other.read_bytes() == before
    assert path.stat().st_nlink == other.stat().st_nlink == 1


# --- temporary files left behind -----------------------------------------------------------


def test_next_update_removes_stale_temporaries_only(tmp_path: Path, face_file, rng) -> None:
    import fcntl

    path = Path(face_file("face.png"))
    old = time.time() - 120
    left = [tmp_path / f".faceio-{4000 + i}-0-1a2b.tmp" for i in range(3)]
    for temp in left:
        temp.write_bytes(b"half a face")
        os.utime(temp, (old, old))
    young = tmp_path / ".faceio-4100-0-1a2b.tmp"
    young.write_bytes(b"a writer is at work")
    held = tmp_path / ".faceio-4200-0-1a2b.tmp"
    held.write_bytes(b"a slow writer, alive")
    os.utime(held, (old, old))
    mine = [tmp_path / ".faceio-notes.tmp", tmp_path / "face.png.tmp"]
    for other in mine:
        other.write_bytes(b"the user's")
        os.utime(other, (old, old))
    # A live writer holds an exclusive flock on its temporary file (docs/format.md).
    with open(held, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        update_existing_metadata(path, make_header(rng))
    assert temporaries(tmp_path) == sorted([young.name, held.name, mine[0].name])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "face.png",
        "face.png.tmp",
    ]


# --- a real failure at each step -----------------------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """Mount a tmpfs of the given size and inode count (root on Linux only; else skip)."""
    if not LINUX_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root on Linux")
    point = tmp_path / "mnt"
    point.mkdir()
    mounted: list[Path] = []

    def mount(size: str, inodes: int) -> Path:
        options = f"size={size},nr_inodes={inodes},mode=0755"
        cmd = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield mount
    for p in mounted:
        subprocess.run(["umount", str(p)], check=True)


def _fill(folder: Path, *, inodes: bool) -> None:
    """Use up the file system's space (or its inodes)."""
    for i in range(100_000):
        try:
            with open(folder / f"filler{i}", "wb") as f:
                if not inodes:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
            if not inodes or i > 0:
                return
    raise AssertionError("the file system never filled up")


def _fails_and_changes_nothing(path: Path, new: bytes | PNGHeader, code: int) -> None:
    folder, before = path.parent, path.read_bytes()
    entries = sorted(p.name for p in folder.iterdir())
    with pytest.raises(OSError) as info:
        update_existing_metadata(path, new)
    assert info.value.errno == code, info.value
    assert info.value.filename == str(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == entries
    assert temporaries(folder) == []


def test_write_fails_on_a_full_file_system(small_fs, rng) -> None:
    folder = small_fs("512k", 64)
    base = encode_png(rng)
    path = folder / "face.png"
    path.write_bytes(face_bytes(base, b"{'a': 1}"))
    _fill(folder, inodes=False)
    _fails_and_changes_nothing(path, make_header(rng, n_masks=3), errno.ENOSPC)
    # The saver's overwrite of an existing file, likewise.
    before = path.read_bytes()
    with pytest.raises(OSError) as info:
        faceio._core.write_file(path, before + b"\0" * 200_000)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(path)
    assert path.read_bytes() == before and temporaries(folder) == []


def test_temporary_file_cannot_be_created(small_fs, rng) -> None:
    folder = small_fs("4m", 8)
    path = folder / "face.png"
    path.write_bytes(face_bytes(encode_png(rng), b"{'a': 1}"))
    _fill(folder, inodes=True)
    _fails_and_changes_nothing(path, make_header(rng), errno.ENOSPC)


def test_rename_fails_over_an_immutable_original(tmp_path: Path, face_file, rng) -> None:
    # An immutable file cannot be replaced: everything up to the rename succeeds, then EPERM.
    if not LINUX_ROOT or shutil.which("chattr") is None:
        pytest.skip("chattr +i needs root on Linux")
    path = Path(face_file("face.png"))
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"this file system has no immutable flag: {done.stderr!r}")
    try:
        _fails_and_changes_nothing(path, make_header(rng), errno.EPERM)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_fails_without_a_trace(tmp_path: Path, face_file, rng) -> None:
    path = Path(face_file("face.png"))
    not_a_folder = tmp_path / "face.png" / "inner.png"
    with pytest.raises(NotADirectoryError):
        update_existing_metadata(not_a_folder, make_header(rng))
    with pytest.raises(FileNotFoundError):
        update_existing_metadata(tmp_path / "gone" / "face.png", make_header(rng))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png"]
    assert path.exists()


# --- kill -9 at random moments ----------------------------------------------------------------

# Updates the files named on the command line forever, alternating two headers, and says
# "ready" (one byte) after its first update.
_UPDATER = """
import sys
import faceio
paths = sys.argv[3:]
payloads = [open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()]
n = 0
while True:
    for path in paths:
        faceio.update_existing_metadata(path, payloads[n % 2])
        if n == 0:
            sys.stdout.write("r")
            sys.stdout.flush()
    n += 1
"""

KILL_RUNS = 50
KILL_BUDGET = 60.0  # seconds: the loop stops early on a very slow machine


def test_kill_9_leaves_whole_files_and_no_stale_temporary(tmp_path: Path, rng) -> None:
    base = encode_png(rng, 48, 48)
    payloads = [str(make_header(rng, n_masks=n).to_dict()).encode() for n in (1, 3)]
    wholes = {face_bytes(base, p) for p in payloads}
    folder = tmp_path / "faces"
    folder.mkdir()
    paths = [folder / f"face_{i}.png" for i in range(3)]
    for p in paths:
        p.write_bytes(face_bytes(base, payloads[0]))
    for i, p in enumerate(payloads):
        (tmp_path / f"payload{i}").write_bytes(p)
    cmd = [sys.executable, "-c", _UPDATER, str(tmp_path / "payload0")]
    cmd += [str(tmp_path / "payload1"), *map(str, paths)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    chance = random.Random(12)
    runs, deadline = 0, time.monotonic() + KILL_BUDGET
    while runs < KILL_RUNS and time.monotonic() < deadline:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout is not None
            ready, _, _ = select.select([child.stdout], [], [], 30)
            assert ready and child.stdout.read(1) == b"r", "the updater did not start"
            time.sleep(chance.uniform(0, 0.03))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            if child.stdout is not None:
                child.stdout.close()
        runs += 1
        assert child.returncode == -signal.SIGKILL
        for p in paths:
            assert p.read_bytes() in wholes, f"run {runs}: {p.name} is neither header"
    assert runs >= 10, f"only {runs} runs in {KILL_BUDGET} s"
    stale = temporaries(folder)
    assert stale, f"no kill in {runs} runs landed inside an update: the sweep went untested"
    # What the killed writers left is removed by the next update once a minute old.
    old = time.time() - 120
    for name in stale:
        os.utime(folder / name, (old, old))
    update_existing_metadata(paths[0], payloads[1])
    assert temporaries(folder) == []
    assert paths[0].read_bytes() == face_bytes(base, payloads[1])
