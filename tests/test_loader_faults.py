"""Loaders under faults: an interrupt, a file deleted mid-run, a folder of bad files.

Each test runs under a faulthandler watchdog: a hang ends the run with every thread's stack
instead of stalling CI. After each, no faceio thread may be left.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceio import loaders as loaders_module
from faceio.loaders import FacesLoader, ImagesLoader

COUNT = 24


def _faceio_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("faceio")]


@pytest.fixture(autouse=True)
def _watchdog_and_no_thread_left() -> Iterator[None]:
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        yield
        gc.collect()
        deadline = time.monotonic() + 5
        while _faceio_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _faceio_threads() == []
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for i in range(COUNT):
        image = np.full((16, 12, 3), i, np.uint8)
        (tmp_path / f"img_{i:03d}.png").write_bytes(cv2.imencode(".png", image)[1].tobytes())
    return tmp_path


def test_keyboard_interrupt_in_the_loop_stops_the_threads(folder: Path) -> None:
    loader = ImagesLoader(str(folder), queue_size=2)
    with pytest.raises(KeyboardInterrupt):
        for i, _ in enumerate(loader.load()):
            if i == 3:
                raise KeyboardInterrupt


def test_keyboard_interrupt_in_a_worker_reaches_the_caller(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = loaders_module._load_image

    def interrupted(path: str) -> np.ndarray:
        if path.endswith("img_005.png"):
            raise KeyboardInterrupt
        return real(path)

    monkeypatch.setattr(loaders_module, "_load_image", interrupted)
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for name, _ in ImagesLoader(str(folder)).load():
            seen.append(Path(name).name)
    assert seen == [f"img_{i:03d}.png" for i in range(5)]


def test_file_deleted_mid_run_is_skipped_and_named(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loader = ImagesLoader(str(folder), queue_size=1)
    names = []
    with caplog.at_level(logging.WARNING):
        for i, (name, image) in enumerate(loader.load()):
            names.append(Path(name).name)
            assert int(image[0, 0, 0]) == int(Path(name).stem[-3:])
            if i == 0:
                (folder / "img_020.png").unlink()
    assert names == [f"img_{i:03d}.png" for i in range(COUNT) if i != 20]
    assert any("img_020.png" in record.getMessage() for record in caplog.records)


def test_folder_of_bad_files_names_each_and_ends(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for i in range(COUNT):
        (tmp_path / f"bad_{i:03d}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(i))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with caplog.at_level(logging.WARNING):
        assert list(ImagesLoader(str(tmp_path)).load()) == []
        assert list(FacesLoader(str(tmp_path)).load()) == []
    warned = " ".join(record.getMessage() for record in caplog.records)
    for i in range(COUNT):
        assert f"bad_{i:03d}.png" in warned
    assert "bad.jpg" in warned
