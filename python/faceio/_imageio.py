"""The base of the loaders and the saver: background threads that always stop and join.

A loader's producer runs in a daemon thread that fills a bounded queue; every blocked queue
operation looks at a stop flag, so leaving a ``load()`` loop early, ``close()`` or garbage
collection ends the thread promptly, and an error in the thread reaches the caller with its
traceback.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

__all__ = ["ImageIO"]

logger = logging.getLogger(__name__)

# How often (seconds) a blocked queue operation looks at the stop flag.
_POLL = 0.05
_ITEM, _DONE, _ERROR = 0, 1, 2


# The class raised for a missing or unusable loader or saver location in place of faceio's own
# FileNotFoundError / ValueError; faceio.faceswap sets faceswap's FaceswapError, the one type
# faceswap's launcher shows as a message rather than a crash report.
_location_error: type[Exception] | None = None


def _bad_location(err: Exception) -> Exception:
    """Return the exception to raise for a location problem ``err`` (see ``_location_error``)."""
    if _location_error is None:
        return err
    host = _location_error(str(err))
    host.__cause__ = err
    return host


class _Prefetcher:
    """Run a producer in a daemon thread that fills a bounded queue; iterate to consume.

    The producer is a callable taking the stop :class:`threading.Event` and returning an
    iterator. Every queue put waits at most ``_POLL`` seconds at a time, so :meth:`stop`
    always ends the thread promptly; the thread closes the producer's iterator on its way out.
    """

    def __init__(
        self, produce: Callable[[threading.Event], Iterator[Any]], queue_size: int, name: str
    ) -> None:
        self._produce = produce
        self._queue: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the producer thread."""
        self._thread.start()

    def _put(self, item: tuple[int, Any]) -> bool:
        """Queue ``item``; ``False`` if asked to stop first."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
            except queue.Full:
                continue
            return True
        return False

    def _run(self) -> None:
        iterator: Iterator[Any] | None = None
        try:
            iterator = self._produce(self._stop)
            for item in iterator:
                if not self._put((_ITEM, item)):
                    return
            self._put((_DONE, None))
        except BaseException as err:  # delivered to the consumer, with its traceback
            self._put((_ERROR, err))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    logger.exception("Error while closing the loader's source")

    def __iter__(self) -> Iterator[Any]:
        while not self._stop.is_set():
            try:
                kind, value = self._queue.get(timeout=_POLL)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise RuntimeError("the loader thread ended without a result") from None
                continue
            if kind == _ITEM:
                yield value
            elif kind == _DONE:
                return
            else:
                try:
                    raise value
                finally:
                    value = None  # break the frame <-> exception reference cycle

    def stop(self) -> None:
        """Stop the producer and join its thread (safe to call more than once)."""
        self._stop.set()
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join()


def _stop_all(active: set[_Prefetcher]) -> None:
    """Stop and join every prefetcher of a loader (also run when the loader is collected)."""
    for fetcher in list(active):
        fetcher.stop()
    active.clear()


class ImageIO:
    """Base class of the background image loaders and saver.

    Perform disk I/O for images or videos in background threads. Not meant to be used
    directly: see :class:`ImagesLoader` and :class:`ImagesSaver`.

    Parameters
    ----------
    path : str or list
        The location to load from (a folder of images, a video file or a list of image files)
        or to save to (an existing folder).
    queue_size : int
        The number of images to hold in the internal buffer.
    args : tuple, optional
        Arguments kept for the loader or saver thread. Default ``None``.

    Notes
    -----
    Usable as a context manager; leaving the ``with`` block calls :meth:`close`.
    """

    def __init__(self, path: Any, queue_size: int, args: tuple[Any, ...] | None = None) -> None:
        self._location = path
        self._queue_size = int(queue_size)
        self._args = tuple(args) if args else ()
        self._active: set[_Prefetcher] = set()
        self._finalizer = weakref.finalize(self, _stop_all, self._active)

    @property
    def location(self) -> Any:
        """The folder, video (str) or list of files passed in as ``path``."""
        return self._location

    def close(self) -> None:
        """Stop and join the background threads. Safe to call more than once."""
        _stop_all(self._active)

    def __enter__(self) -> ImageIO:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _prefetch(
        self, produce: Callable[[threading.Event], Iterator[Any]], name: str
    ) -> Iterator[Any]:
        """Yield what ``produce`` makes, read ahead in a background thread."""
        fetcher = _Prefetcher(produce, self._queue_size, name)
        self._active.add(fetcher)
        try:
            fetcher.start()
            yield from fetcher
        finally:
            fetcher.stop()
            self._active.discard(fetcher)
