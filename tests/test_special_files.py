"""Paths that name a named pipe (or any non-regular file) are refused, never waited on.

Opening a FIFO for reading blocks until a writer comes, and a call blocked inside the core can
hold the GIL, so no thread of this process could even notice. Each call therefore runs with a
helper process that, past a deadline, opens the pipe's other end to release the reader: a
regression then fails the test instead of hanging the run (faulthandler ends the process if
even that does not help).
"""

from __future__ import annotations

import faulthandler
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import faceio
from faceio import UnsupportedFormatError
from tests.conftest import encode_png, insert_before_idat, itxt_rule

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")

DEADLINE = 10.0

# Sleeps until the deadline, then keeps giving the pipe a writer that comes and goes, which
# wakes a reader blocked in open() or read() with end-of-file.
_RELEASER = """
import os, sys, time
time.sleep(float(sys.argv[2]))
end = time.monotonic() + 3 * float(sys.argv[2])
while time.monotonic() < end:
    os.close(os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK))
    time.sleep(0.02)
"""


def _returns(call: Callable[[], Any], fifo: Path) -> Any:
    """What ``call()`` returns (or raises), failing the test if it blocks on ``fifo``."""
    releaser = subprocess.Popen([sys.executable, "-I", "-c", _RELEASER, str(fifo), str(DEADLINE)])
    faulthandler.dump_traceback_later(6 * DEADLINE, exit=True)
    try:
        start = time.monotonic()
        try:
            result, error = call(), None
        except Exception as err:
            result, error = None, err
        took = time.monotonic() - start
    finally:
        faulthandler.cancel_dump_traceback_later()
        releaser.kill()
        releaser.wait()
    if took >= DEADLINE:
        pytest.fail(f"blocked on the named pipe {fifo} for {took:.0f} s ({error!r})")
    if error is not None:
        raise error
    return result


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "face.png"
    os.mkfifo(path)
    return path


@pytest.fixture
def good(tmp_path: Path, rng) -> list[str]:
    paths = []
    for i in range(3):
        path = tmp_path / f"good{i}.png"
        path.write_bytes(insert_before_idat(encode_png(rng, 8, 8), itxt_rule(b"{'i': %d}" % i)))
        paths.append(str(path))
    return paths


def _refused(err: BaseException, path: Path) -> None:
    assert isinstance(err, UnsupportedFormatError), repr(err)
    assert err.path == str(path)
    assert str(path) in str(err) and "named pipe" in str(err)


@pytest.mark.parametrize("name", ["face.png", "face.jpg", "noext"])
def test_read_image_meta_refuses_a_fifo(tmp_path: Path, name: str) -> None:
    # .png takes the PNG walker; other names sniff the format, then fall back to OpenCV.
    path = tmp_path / name
    os.mkfifo(path)
    with pytest.raises(UnsupportedFormatError) as info:
        _returns(lambda: faceio.read_image_meta(path), path)
    _refused(info.value, path)


def test_meta_batch_refuses_a_fifo_and_goes_on(fifo: Path, good: list[str]) -> None:
    paths = [good[0], str(fifo), *good[1:]]
    results = _returns(lambda: list(faceio.read_image_meta_batch(paths, errors="collect")), fifo)
    assert [p for p, _ in results] == paths
    _refused(results[1][1], fifo)
    assert [r["itxt"] for p, r in results if p != str(fifo)] == [{"i": 0}, {"i": 1}, {"i": 2}]
    with pytest.raises(UnsupportedFormatError) as info:
        _returns(lambda: list(faceio.read_image_meta_batch(paths)), fifo)
    _refused(info.value, fifo)


def test_read_image_refuses_a_fifo(fifo: Path) -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        _returns(lambda: faceio.read_image(fifo, raise_error=True), fifo)
    _refused(info.value, fifo)
    assert _returns(lambda: faceio.read_image(fifo), fifo) is None


@pytest.mark.parametrize("at", [0, 1])
def test_read_image_batch_refuses_a_fifo(fifo: Path, good: list[str], at: int) -> None:
    # First: the core cannot learn the batch's size from it; later: its slot fails.
    paths = list(good)
    paths.insert(at, str(fifo))
    with pytest.raises(UnsupportedFormatError) as info:
        _returns(lambda: faceio.read_image_batch(paths, with_metadata=True), fifo)
    _refused(info.value, fifo)


def test_update_refuses_a_fifo(fifo: Path) -> None:
    with pytest.raises(UnsupportedFormatError) as info:
        _returns(lambda: faceio.update_existing_metadata(fifo, {"a": 1}), fifo)
    _refused(info.value, fifo)
    assert sorted(p.name for p in fifo.parent.iterdir()) == ["face.png"]


def test_devices_and_folders(tmp_path: Path) -> None:
    null = Path(os.devnull)
    with pytest.raises(UnsupportedFormatError, match="character device"):
        _returns(lambda: faceio.read_image_meta(null), null)
    with pytest.raises(UnsupportedFormatError, match="character device"):
        _returns(lambda: faceio.read_image(null, raise_error=True), null)
    # A folder keeps the error a read of it gives.
    with pytest.raises(IsADirectoryError) as info:
        faceio.read_image(tmp_path, raise_error=True)
    assert info.value.filename == str(tmp_path)
