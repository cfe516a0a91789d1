"""ImagesSaver under failure: every image given to save() is written whole or named in an error."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from faceio.saver import ImagesSaver


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs: writes past it fail with ENOSPC, as on a full disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the RLIMIT_FSIZE test covers this case)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _named(error: BaseException, names: list[str]) -> set[str]:
    return {name for name in names if name in str(error)}


def test_full_disk_loses_no_image_silently(small_disk: Path) -> None:
    payloads = {f"img_{i:02d}.png": os.urandom(100_000 + i) for i in range(60)}  # ~6 MB
    names = list(payloads)
    named: set[str] = set()
    codes: set[int | None] = set()
    saver = ImagesSaver(small_disk, queue_size=4, as_bytes=True)
    for name, data in payloads.items():
        try:
            saver.save(name, data)
        except OSError as err:
            named |= _named(err, names)
            codes.add(err.errno)
    try:
        saver.close()
    except OSError as err:
        named |= _named(err, names)
        codes.add(err.errno)
    on_disk = {path.name for path in small_disk.iterdir()}
    assert on_disk <= set(payloads), "no temporary file is left behind"
    for name, data in payloads.items():
        if name in on_disk:
            assert (small_disk / name).read_bytes() == data, f"{name} written, but not whole"
        else:
            assert name in named, f"{name} neither written nor named in an error"
    assert named and codes == {errno.ENOSPC}, "the disk was meant to fill"
    assert not named & on_disk


_FSIZE_CHILD = """
import os, resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
from faceio.saver import ImagesSaver
folder = sys.argv[1]
sizes = [1_000 if i % 3 else 80_000 for i in range(30)]  # every third too large
named = set()
saver = ImagesSaver(folder, queue_size=2, as_bytes=True)
for i, size in enumerate(sizes):
    try:
        saver.save(f"f{i:02d}.png", bytes([i]) * size)
    except OSError as err:
        named |= {f"f{j:02d}.png" for j in range(30) if f"f{j:02d}.png" in str(err)}
try:
    saver.close()
except OSError as err:
    named |= {f"f{j:02d}.png" for j in range(30) if f"f{j:02d}.png" in str(err)}
print(",".join(sorted(named)))
"""


def test_file_size_limit_failures_are_all_named(tmp_path: Path) -> None:
    """Writes that fail one by one (EFBIG under RLIMIT_FSIZE): each named, the rest written."""
    done = subprocess.run(
        [sys.executable, "-c", _FSIZE_CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    named = set(filter(None, done.stdout.strip().split(",")))
    too_large = {f"f{i:02d}.png" for i in range(30) if i % 3 == 0}
    assert named == too_large
    on_disk = {path.name for path in tmp_path.iterdir()}
    assert on_disk == {f"f{i:02d}.png" for i in range(30)} - too_large
    for name in on_disk:
        i = int(name[1:3])
        assert (tmp_path / name).read_bytes() == bytes([i]) * 1_000
