"""``ImagesSaver``: images written to a folder on a thread pool, each crash-safely.

Each image is encoded (unless given as bytes) and written through the core's crash-safe writer
(a temporary file, flushed, renamed over the final name); ``close()`` waits for every file and
raises the first failed write; a ``save()`` after ``close()`` starts the threads again.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from faceio import _core
from faceio._imageio import ImageIO, _bad_location
from faceio._parallel import cpu_count
from faceio.image import encode_image

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["ImagesSaver"]

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]


def _save_one(
    folder: str, name: str, image: Any, as_bytes: bool, after: Future[None] | None
) -> None:
    """Encode (unless ``as_bytes``) and write one image; errors name the file.

    The write waits for ``after``, an earlier save of the same file, to end.
    """
    final = os.path.join(folder, name)
    try:
        if as_bytes:
            data = bytes(image)
        else:
            extension = os.path.splitext(name)[1]
            if not extension:
                raise ValueError("the file name has no extension to encode by")
            data = encode_image(image, extension)
        if after is not None:
            # The pool takes jobs in order, so the earlier save has started: this cannot wait
            # on a job queued behind it. Its failure is its own, reported on its own.
            wait([after])
        # Crash-safe: a unique temporary file, flushed, renamed over the final name.
        _core.write_file(final, data)
    except OSError as err:
        raise OSError(
            err.errno, f"Could not save image '{final}': {err.strerror or err}", final
        ) from err
    except Exception as err:
        raise ValueError(f"Could not save image '{final}': {err}") from err


# Failed writes as (final path, error), appended by the pool's threads and taken by the caller's:
# a deque, whose append and popleft are atomic, so no failure is lost between the two.
_Failures = deque[tuple[str, BaseException]]


class _Latest:
    """The last save queued for each file not yet written.

    A later save of the same file is written after it: the pool's threads would otherwise
    race, and the last rename to end would win, not the last save.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[str, Future[None]] = {}

    def swap(self, key: str, submit: Callable[[Future[None] | None], Future[None]]) -> Future[None]:
        """Queue ``submit(the pending save of key, or None)`` as the latest save of ``key``."""
        with self._lock:
            future = submit(self._futures.get(key))
            self._futures[key] = future
        return future

    def ended(self, key: str, future: Future[None]) -> None:
        """Forget ``future`` once written, unless a later save of the same file came since."""
        with self._lock:
            if self._futures.get(key) is future:
                del self._futures[key]


def _saved(
    slots: threading.BoundedSemaphore,
    failures: _Failures,
    latest: _Latest,
    key: str,
    final: str,
    future: Future[None],
) -> None:
    """Free a queue slot when a write ends; keep its error for the next save() or close()."""
    latest.ended(key, future)
    slots.release()
    error = None if future.cancelled() else future.exception()
    if error is not None:
        failures.append((final, error))


def _take(failures: _Failures) -> list[tuple[str, BaseException]]:
    """Take every failure recorded so far."""
    taken = []
    while failures:
        taken.append(failures.popleft())
    return taken


def _combined(taken: list[tuple[str, BaseException]]) -> BaseException:
    """One exception for the failed writes: the first, its message naming every failed file."""
    first = taken[0][1]
    if len(taken) == 1:
        return first
    names = ", ".join(f"'{path}'" for path, _ in taken[1:])
    message = f"{first}; {len(taken) - 1} more image(s) could not be saved: {names}"
    combined: BaseException
    if isinstance(first, OSError):
        combined = OSError(first.errno, message, first.filename)
    else:
        combined = ValueError(message)
    combined.__cause__ = first
    return combined


def _shutdown_saver(pool: ThreadPoolExecutor, failures: _Failures) -> None:
    """Wait for a saver's writes (run when the saver is collected unclosed: no caller to tell)."""
    pool.shutdown(wait=True)
    for path, err in _take(failures):
        logger.error("Image '%s' was not saved: %s", path, err)


class ImagesSaver(ImageIO):
    """Save images to a folder on background threads.

    Each image is encoded (by its file name's extension) and written on a thread pool, to a
    temporary name in the destination folder, flushed to disk, then renamed, so a half-written
    file never appears under its final name. :meth:`close` returns once every image is on disk
    and raises if any write failed. Usable as a context manager.

    Parameters
    ----------
    path : str
        The folder to save to. It must exist.
    queue_size : int, optional
        The number of images waiting to be written before :meth:`save` blocks. Default 8.
    as_bytes : bool, optional
        ``True`` if the images given to :meth:`save` are already encoded bytes, ``False`` for
        ``numpy.ndarray`` images. Default ``False``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a folder.

    Examples
    --------
    >>> with ImagesSaver("/path/to/save/folder") as saver:
    ...     for filename, image in images:
    ...         saver.save(filename, image)
    """

    def __init__(self, path: StrPath, queue_size: int = 8, as_bytes: bool = False) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise _bad_location(
                TypeError(f"The output location must be a path, not a {type(path).__name__}")
            )
        location = os.fspath(path)
        if not os.path.exists(location):
            raise _bad_location(
                FileNotFoundError(
                    errno.ENOENT, f"Output folder does not exist: '{location}'", location
                )
            )
        if not os.path.isdir(location):
            raise _bad_location(ValueError(f"Output location '{location}' is a file, not a folder"))
        super().__init__(location, queue_size)
        self._as_bytes = as_bytes
        self._workers = cpu_count()
        self._failures: _Failures = deque()
        self._latest = _Latest()
        self._folders: set[str] = set()
        self._start()

    def _start(self) -> None:
        """Start the writer threads (at construction, and again on a save() after close())."""
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="faceio-saver")
        self._slots = threading.BoundedSemaphore(max(1, self._queue_size) + self._workers)
        self._closed = False
        self._saver_finalizer = weakref.finalize(self, _shutdown_saver, self._pool, self._failures)

    def save(
        self, filename: str, image: bytes | npt.NDArray[Any], sub_folder: str | None = None
    ) -> None:
        """Queue an image to be written.

        Call :meth:`close` once every image is queued. Blocks while ``queue_size`` images are
        waiting. A saver can be used again after :meth:`close`: the next ``save()`` starts its
        writer threads again (faceswap's alignments tool closes its saver after every frame).

        Parameters
        ----------
        filename : str
            The file name; any folder part is dropped and :attr:`location` used instead.
        image : bytes or numpy.ndarray
            The encoded image (``as_bytes=True``) or the BGR image to encode.
        sub_folder : str, optional
            A sub folder of :attr:`location` to save into, created if needed. Default ``None``.

        Raises
        ------
        OSError or ValueError
            If earlier writes failed (naming every file that failed; this image is queued all
            the same, and a failure of its own is raised by a later call), or the sub folder
            cannot be created (naming this image, which is not queued).
        """
        if self._closed:
            self._start()
        # The failures recorded before this image is queued; raised once it is.
        earlier = _take(self._failures)
        folder = self._location if not sub_folder else os.path.join(self._location, sub_folder)
        name = os.path.basename(filename)
        final = os.path.join(folder, name)
        if folder not in self._folders:
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as err:
                self._failures.extendleft(reversed(earlier))  # reported by the next call
                raise OSError(
                    err.errno,
                    f"Could not save image '{final}': cannot create its folder: {err.strerror}",
                    final,
                ) from err
            self._folders.add(folder)
        self._slots.acquire()
        # Saves of one file are written in the order given (the path as the system sees it).
        key = os.path.normcase(os.path.realpath(final))
        try:
            future = self._latest.swap(
                key,
                lambda after: self._pool.submit(
                    _save_one, folder, name, image, self._as_bytes, after
                ),
            )
        except BaseException:
            self._slots.release()
            self._failures.extendleft(reversed(earlier))
            raise
        # The callback must not hold the saver, so that collecting it waits for the writes.
        future.add_done_callback(
            functools.partial(_saved, self._slots, self._failures, self._latest, key, final)
        )
        # Earlier failures are raised only now, this image queued: every image given to save()
        # is either written or named in an exception, by a later save() or by close().
        if earlier:
            raise _combined(earlier)

    def _raise_failures(self) -> None:
        """Raise one exception naming every failed write recorded so far."""
        taken = _take(self._failures)
        if taken:
            raise _combined(taken)

    def close(self) -> None:
        """Wait until every queued image is written, then stop the threads.

        Safe to call more than once.

        Raises
        ------
        OSError or ValueError
            If writes failed: the first failure, its message naming every file that failed.
        """
        if self._closed:
            return
        self._closed = True
        self._saver_finalizer.detach()
        self._pool.shutdown(wait=True)
        super().close()
        self._raise_failures()
