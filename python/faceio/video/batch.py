"""Many frames of a video at once: the requests checked, planned into seeks, spread over threads.

:meth:`VideoReader.frames_at <faceio.video.VideoReader.frames_at>` sorts and de-duplicates the
requested indices, then cuts them into *segments*: the targets that one seek reaches, decoding
forward from a keyframe. Consecutive targets are in the same segment when random access would go
on decoding from one to the next rather than seek (the next target's keyframe is at most a few
frames past the previous target), so every keyframe-to-target stretch is decoded once.

Segments are independent, so they are handed out, in order, to a small pool of readers: the
reader itself in the calling thread and one private copy per further core, each with its own
container and decoder. PyAV releases the GIL while FFmpeg decodes and converts, so threads run
at once: two threads each decoding 300 frames of a 640x360 H.264 file used 1.6 to 1.75 times
as much CPU time as wall time on 2 cores (up to 2.1x when the machine was otherwise idle, 1.0
to 1.3x while other work held a core), and two processes were no faster; processes would also
have to copy every decoded frame back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from faceio._parallel import cpu_count

__all__ = ["MAX_WORKERS", "as_indices", "helper_threads", "plan_segments", "run_segments"]

#: The most decoders one batch uses: beyond a few, more threads only add open files and
#: decoder memory (each holds its own reference frames).
MAX_WORKERS = 8


_R = TypeVar("_R")


def as_indices(indices: Iterable[int] | np.ndarray, count: int, path: str) -> np.ndarray:
    """Check frame ``indices`` against a video of ``count`` frames; return them as int64.

    Raises
    ------
    TypeError
        If an index is not an integer (booleans and floats included) or the indices are not a
        flat sequence.
    IndexError
        For the first index outside ``[0, count)``, naming it, the file and the frame count.
    """
    if isinstance(indices, np.ndarray):
        array = indices
    else:
        values = list(indices)
        if any(isinstance(value, bool) for value in values):
            raise TypeError("Frame indices must be ints, not bool")
        try:
            array = np.array(values)
        except OverflowError:  # ints beyond int64 and uint64: out of range
            array = np.array(values, dtype=object)
    if array.ndim != 1:
        raise TypeError(f"Frame indices must be a flat sequence, not of shape {array.shape}")
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.dtype.kind == "O":
        # Only Python ints too large for any numpy integer get here (others are refused).
        if not all(isinstance(value, int) and not isinstance(value, bool) for value in array):
            raise TypeError("Frame indices must be ints")
    elif array.dtype.kind not in "iu":
        raise TypeError(f"Frame indices must be ints, not {array.dtype}")
    outside = [int(pos) for pos in np.flatnonzero((array < 0) | (array >= count))[:1]]
    if outside:
        raise IndexError(
            f"Frame index {array[outside[0]]} is out of range for '{path}' "
            f"({count} frames: valid indices are 0 to {count - 1})"
        )
    return array.astype(np.int64)


def plan_segments(targets: Sequence[int], keyframes: Sequence[int], slack: int) -> list[list[int]]:
    """Cut sorted, distinct ``targets`` into the runs that one seek each reaches.

    A target starts a new segment when random access would seek for it after decoding the
    previous one: its keyframe (the last of ``keyframes`` at or before it) is more than
    ``slack`` frames past the previous target. Targets before the first keyframe join the
    first segment (they are decoded from the start of the file).
    """
    segments: list[list[int]] = []
    keys = np.asarray(keyframes, dtype=np.int64)
    own_keys = keys[np.searchsorted(keys, targets, side="right") - 1] if len(keys) else None
    previous = None
    for pos, target in enumerate(targets):
        key = int(own_keys[pos]) if own_keys is not None and target >= keys[0] else -1
        if previous is None or key - slack > previous:
            segments.append([])
        segments[-1].append(target)
        previous = target
    return segments


def helper_threads(workers: int) -> int:
    """Return the decoder threads of each helper in a pool of ``workers``: a share of the cores.

    FFmpeg's automatic count gives every decoder about one thread per core (one more than the
    cores, up to 16), so a pool of one decoder per core would run cores x (cores + 1) threads:
    72 on 8 cores. A share keeps the pool near one thread per core; the reader's own decoder,
    which :meth:`~faceio.video.VideoReader.frame_at` also uses alone, keeps the automatic count.
    """
    return max(1, cpu_count() // max(1, workers))


def run_segments(
    decode: Callable[[_R, list[int]], None],
    segments: list[list[int]],
    first: _R,
    helpers: Callable[[int], list[_R]],
) -> None:
    """``decode(reader, segment)`` for every segment, on ``first`` (this thread) and helpers.

    ``helpers(n)`` gives ``n`` helper readers, each used by one thread. The pool has one
    reader per core this process may use, at most :data:`MAX_WORKERS` and at most one per
    segment. Segments are taken in order by whichever reader is free. The first error stops
    the others from taking further segments; every thread is joined before it is raised here.
    """
    workers = min(cpu_count(), MAX_WORKERS, len(segments))
    if workers <= 1:
        for segment in segments:
            decode(first, segment)
        return
    todo = iter(segments)
    lock = threading.Lock()
    stop = threading.Event()

    def work(reader: _R) -> None:
        try:
            while not stop.is_set():
                with lock:
                    segment = next(todo, None)
                if segment is None:
                    return
                decode(reader, segment)
        except BaseException:
            stop.set()
            raise

    others = helpers(workers - 1)
    with ThreadPoolExecutor(len(others), thread_name_prefix="faceio-video") as pool:
        futures = [pool.submit(work, helper) for helper in others]
        work(first)  # an error here leaves the with block, which joins the threads
    for future in futures:
        future.result()
