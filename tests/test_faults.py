"""Updates: what the new file keeps, and the temporary files killed writers leave behind.

See docs/format.md, "Placement".
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

import faceio
from faceio import update_existing_metadata
from tests.conftest import make_header


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".faceio-"))


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
