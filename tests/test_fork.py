"""The parallel readers in a process forked from one that already used them.

A forked child inherits no threads. The core's worker pool used to be rayon's global one,
which a child cannot replace: its first parallel read waited forever for the parent's
workers. These reads run in a ``multiprocessing`` child (fork start method) after the parent
has run the same reads, and must give the parent's results within the timeout.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceio import _core, read_image_batch, read_image_meta_batch
from faceio.cli import scan_folder

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork"),
    # Python 3.12+ warns on forking a process with threads; forking one is the point here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

# Long enough for a slow machine, short enough that a hang fails the run.
TIMEOUT = 60


def every_parallel_read(paths: list[str]) -> tuple[Any, ...]:
    """Every reader that runs on the worker pool: the metadata batch, the pixel batch, a folder
    scan, the table readers' columns (from files and from bytes) and the scan cache's stat."""
    metas = [(str(p), meta) for p, meta in read_image_meta_batch(paths)]
    pixels = read_image_batch(paths)
    scan = scan_folder(os.path.dirname(paths[0]))
    columns = repr(_core.read_meta_columns(paths))
    blobs = [Path(p).read_bytes() for p in paths]
    from_bytes = repr(_core.read_meta_columns_from_bytes(paths, blobs, [True] * len(paths)))
    names = [os.path.basename(p) for p in paths]
    keys = _core.stat_keys(os.path.dirname(paths[0]), os.fsencode("\0".join(names) + "\0"), 40)
    return metas, pixels.tobytes(), pixels.shape, scan, columns, from_bytes, keys


@pytest.fixture
def faces(face_file: Callable[..., str]) -> list[str]:
    return [face_file(f"face_{i:03d}.png") for i in range(40)]


def in_forked_child(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a ``multiprocessing`` child forked from this process."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        pending = pool.apply_async(function, args)
        try:
            return pending.get(timeout=TIMEOUT)
        except multiprocessing.TimeoutError:
            pool.terminate()
            pytest.fail(f"the forked child did not finish in {TIMEOUT} s")


def test_reads_in_a_forked_child_match_the_parent(faces: list[str]) -> None:
    parent = every_parallel_read(faces)
    assert len(parent[0]) == len(faces)
    child = in_forked_child(every_parallel_read, faces)
    assert child[0] == parent[0]
    assert child[1:3] == parent[1:3]
    assert child[3] == parent[3]
    assert child[4:6] == parent[4:6]
    assert child[6] == parent[6]
    # The child read the files itself: the pixels are the faces', the keys the files' stats.
    assert np.frombuffer(child[1], np.uint8).any()
    assert np.frombuffer(child[6], np.int64).all()


# What a forked child inherits from the test: a batch the parent started, and its first result.
CARRIED: dict[str, Any] = {}


def continue_batch() -> str:
    """Iterate, in a forked child, the batch the parent started; then start one of its own."""
    batch, first = CARRIED["batch"], CARRIED["first"]
    try:
        next(batch)
    except RuntimeError as e:
        refused = str(e)
    else:
        refused = ""
    # Dropped (the RuntimeError has ended the generator, which let the core's batch go):
    # that must not wait for the parent's thread either.
    del batch, CARRIED["batch"]
    assert [p for p, _ in read_image_meta_batch([first])] == [first]
    return refused


def test_a_batch_started_before_the_fork_is_refused_in_the_child(faces: list[str]) -> None:
    # Long enough that the parent's reading thread is still there at the fork, a chunk ahead.
    many = faces * 50
    batch = iter(read_image_meta_batch(many))
    CARRIED["first"] = next(batch)[0]
    CARRIED["batch"] = batch
    try:
        refused = in_forked_child(continue_batch)
    finally:
        CARRIED.clear()
    assert "started before the process forked" in refused
    # The parent's batch goes on.
    assert sum(1 for _ in batch) == len(many) - 1
