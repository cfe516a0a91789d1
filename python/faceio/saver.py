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
from concurrent.futures import Future, ThreadPoolExecutor
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


def _save_one(folder: str, name: str, image: Any, as_bytes: bool) -> None:
    """Encode (unless ``as_bytes``) and write one image; errors name the file."""
    final = os.path.join(folder, name)
    try:
        if as_bytes:
            data = bytes(image)
        else:
            extension = os.path.splitext(name)[1]
            if not extension:
                raise ValueError("the file name has no extension to encode by")
            data = encode_image(image, extension)
        # Crash-safe: a unique temporary file, flushed, renamed over the final name.
        _core.write_file(final, data)
    except OSError as err:
        raise OSError(
            err.errno, f"Could not save image '{final}': {err.strerror or err}", final
        ) from err
    except Exception as err:
        raise ValueError(f"Could not save image '{final}': {err}") from err


def _saved(
    slots: threading.BoundedSemaphore, failures: list[BaseException], future: Future[None]
) -> None:
    """Free a queue slot when a write ends; keep its error for close()."""
    slots.release()
    if not future.cancelled() and future.exception() is not None:
        failures.append(future.exception())  # type: ignore[arg-type]


def _shutdown_saver(pool: ThreadPoolExecutor, failures: list[BaseException]) -> None:
    """Wait for a saver's writes (run by close() and when the saver is collected)."""
    pool.shutdown(wait=True)
    for err in failures:
        logger.error("%s", err)
    failures.clear()


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
        self._failures: list[BaseException] = []
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
            If an earlier write failed (message naming its file), or the sub folder cannot be
            created.
        """
        if self._closed:
            self._start()
        self._raise_failures()
        folder = self._location if not sub_folder else os.path.join(self._location, sub_folder)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        name = os.path.basename(filename)
        self._slots.acquire()
        try:
            future = self._pool.submit(_save_one, folder, name, image, self._as_bytes)
        except BaseException:
            self._slots.release()
            raise
        # The callback must not hold the saver, so that collecting it waits for the writes.
        future.add_done_callback(functools.partial(_saved, self._slots, self._failures))

    def _raise_failures(self) -> None:
        """Raise the first failed write (logging any others)."""
        if not self._failures:
            return
        first, *others = self._failures
        self._failures.clear()
        for err in others:
            logger.error("%s", err)
        if others:
            logger.error("%d image(s) failed to save", len(others) + 1)
        raise first

    def close(self) -> None:
        """Wait until every queued image is written, then stop the threads.

        Safe to call more than once.

        Raises
        ------
        OSError or ValueError
            If a write failed (the first failure, naming its file; any others are logged).
        """
        if self._closed:
            return
        self._closed = True
        self._saver_finalizer.detach()
        self._pool.shutdown(wait=True)
        super().close()
        self._raise_failures()
