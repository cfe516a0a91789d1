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
from typing import Any

import numpy as np
import pytest

from faceio import read_image_batch, read_image_meta_batch
from faceio.cli import scan_folder

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork"),
    # Python 3.12+ warns on forking a process with threads; forking one is the point here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

# Long enough for a slow machine, short enough that a hang fails the run.
TIMEOUT = 60


def every_parallel_read(paths: list[str]) -> tuple[Any, ...]:
    """The metadata batch, the pixel batch and a folder scan (each runs on the worker pool)."""
    metas = [(str(p), meta) for p, meta in read_image_meta_batch(paths)]
    pixels = read_image_batch(paths)
    scan = scan_folder(os.path.dirname(paths[0]))
    return metas, pixels.tobytes(), pixels.shape, scan


@pytest.fixture
def faces(face_file: Callable[..., str]) -> list[str]:
    return [face_file(f"face_{i:03d}.png") for i in range(40)]


def test_reads_in_a_forked_child_match_the_parent(faces: list[str]) -> None:
    parent = every_parallel_read(faces)
    assert len(parent[0]) == len(faces)
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        pending = pool.apply_async(every_parallel_read, (faces,))
        try:
            child = pending.get(timeout=TIMEOUT)
        except multiprocessing.TimeoutError:
            pool.terminate()
            pytest.fail(f"the forked child's reads did not finish in {TIMEOUT} s")
    assert child[0] == parent[0]
    assert child[1:3] == parent[1:3]
    assert child[3] == parent[3]
    # The child read the files itself: the pixels are the faces', not zeros.
    assert np.frombuffer(child[1], np.uint8).any()
