"""Thread helpers shared by the loaders, the pixel batch and the command line.

One worker count and one ordered map: the Rust core releases the GIL while it reads and
decodes, so plain threads keep every core busy.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TypeVar

__all__ = ["cpu_count", "io_workers", "ordered_map"]

_T = TypeVar("_T")
_R = TypeVar("_R")

# How often (seconds) a wait looks at the stop flag.
_POLL = 0.05


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def io_workers() -> int:
    """Threads for work that mostly waits on the disk: a few more than cores hide its latency."""
    return min(32, cpu_count() + 4)


def ordered_map(
    function: Callable[[_T], _R],
    items: Iterable[_T],
    workers: int,
    *,
    window: int | None = None,
    stop: threading.Event | None = None,
    name: str = "faceio-worker",
) -> Generator[_R, None, None]:
    """``map(function, items)`` on a pool of ``workers`` threads, yielding in input order.

    At most ``window`` calls (default two per worker) are submitted ahead of the one yielded,
    so memory stays bounded for any number of items. A call's exception is raised here.
    Leaving the generator early, or setting ``stop``, cancels the calls not started and joins
    the threads.
    """
    window = max(1, window or 2 * workers)
    pending: deque[Future[_R]] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)
    try:
        todo = iter(items)
        for item in itertools.islice(todo, window):
            pending.append(pool.submit(function, item))
        while pending:
            future = pending.popleft()
            if stop is not None:
                while not wait([future], timeout=_POLL).done:
                    if stop.is_set():
                        return
            result = future.result()
            for item in itertools.islice(todo, 1):
                pending.append(pool.submit(function, item))
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
