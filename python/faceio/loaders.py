"""Background image loading and saving: folders of images, videos and faces.

The behaviour is that of docs/format.md, "Loaders, saver and video".

``ImagesLoader`` and ``FacesLoader`` read ahead in a background thread into a bounded queue and
yield strictly in order; a folder's files are decoded on every core while the order is kept.
``ImagesSaver`` writes on a thread pool and ``close()`` waits for every file. Leaving a
``load()`` loop early, an exception in the loop body, ``close()`` or garbage collection stops
and joins the background threads; an error in a background thread is re-raised in the caller
with its traceback.

OpenCV and PyAV are imported on first use.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from faceio import _core
from faceio._files import IMAGE_EXTENSIONS, list_folder
from faceio._parallel import cpu_count, ordered_map
from faceio._video_names import frame_filename, is_video_path
from faceio.header import PNGHeader, is_header_object
from faceio.image import _decode, _read_bytes, _read_meta, encode_image, read_image

if TYPE_CHECKING:
    import numpy.typing as npt

    from faceio.video import VideoReader

__all__ = ["FacesLoader", "ImageIO", "ImagesLoader", "ImagesSaver", "SingleFrameLoader"]

logger = logging.getLogger(__name__)

# How often (seconds) a blocked queue operation looks at the stop flag.
_POLL = 0.05
_ITEM, _DONE, _ERROR = 0, 1, 2

VideoMeta = dict[Literal["pts_time", "keyframes"], list[int]]
StrPath = str | os.PathLike[str]


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


# ------------------------------------------------------------------------------ helpers
def _check_source(path: StrPath | Iterable[StrPath]) -> tuple[str | list[str], bool]:
    """Validate a loader's ``path``; return it normalised and whether it is a video.

    Raises
    ------
    FileNotFoundError
        If the path (or a file of a list) does not exist.
    ValueError
        If the path is a file that is not a video, or a list entry is a folder.
    """
    if isinstance(path, (str, os.PathLike)):
        location = os.fspath(path)
        if not os.path.exists(location):
            raise _bad_location(
                FileNotFoundError(
                    errno.ENOENT, f"Input location does not exist: '{location}'", location
                )
            )
        if os.path.isdir(location):
            return location, False
        if is_video_path(location):
            return location, True
        raise _bad_location(
            ValueError(
                f"'{location}' is not a folder of images or a video file (video extensions: "
                "avi, flv, mkv, mov, mp4, mpeg, mpg, webm, wmv, ts, vob)"
            )
        )
    files = [os.fspath(item) for item in path]
    for item in files:
        if not os.path.exists(item):
            raise _bad_location(
                FileNotFoundError(errno.ENOENT, f"Image file does not exist: '{item}'", item)
            )
        if os.path.isdir(item):
            raise _bad_location(
                ValueError(f"'{item}' is a folder: a list of paths must hold image files")
            )
    return files, False


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


def _try(function: Callable[[str], Any]) -> Callable[[str], tuple[bool, Any]]:
    """Wrap a per-file function to return ``(True, result)`` or ``(False, exception)``."""

    def run(path: str) -> tuple[bool, Any]:
        try:
            return True, function(path)
        except Exception as err:
            return False, err

    return run


def _load_image(path: str) -> npt.NDArray[np.uint8]:
    """Read and decode one image (the conversions of docs/format.md, "Pixels")."""
    return _decode(_read_bytes(path), path)


def _load_face(path: str) -> tuple[npt.NDArray[np.uint8], PNGHeader]:
    """Read one face: pixels and header from a single read of the file."""
    data = _read_bytes(path)
    image = _decode(data, path)
    header = _read_meta(data, path)
    if not is_header_object(header):
        raise ValueError(f"'{path}' holds faceswap metadata that is not a face header")
    return image, cast("PNGHeader", header)


# ------------------------------------------------------------------------------ ImageIO
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


# ------------------------------------------------------------------------------ loaders
class ImagesLoader(ImageIO):
    """Load images from a folder of images, a list of image files or a video, in order.

    Loading runs in a background thread that reads up to ``queue_size`` images ahead; the files
    of a folder are decoded on every core, and yielded strictly in order. Video frames are
    decoded in order and only the frames that are yielded are converted to BGR.

    Parameters
    ----------
    path : str or list of str
        A folder of images (files directly inside whose lower-cased name ends with ``.bmp``,
        ``.exr``, ``.jpeg``, ``.jpg``, ``.png``, ``.tif`` or ``.tiff``, sorted by name), a video
        file or a list of image files.
    queue_size : int, optional
        The number of images to hold in the internal buffer. Default 8.
    fast_count : bool, optional
        For videos: ``True`` counts frames from the container's data (fast, may be inexact),
        ``False`` counts them exactly by demuxing. Default ``True``.
    skip_list : list of int, optional
        Indices of images / frames that :meth:`load` should not load. Default ``None``.
    count : int, optional
        The number of images / frames if already known: skips counting. Default ``None``.
    pts : list of int, optional
        A video's presentation timestamps, if known (see ``video_meta_data``). Default ``None``.
    keyframes : list of int, optional
        A video's keyframe indices, if known. Default ``None``. With ``pts`` this spares the
        video scan.

    Raises
    ------
    FileNotFoundError
        If ``path`` (or a file of the list) does not exist.
    ValueError
        If ``path`` is a file that is not a video, or a video that cannot be read.

    Examples
    --------
    >>> loader = ImagesLoader("/path/to/video.mp4")
    >>> for filename, image in loader.load():
    ...     pass
    """

    _extensions: tuple[str, ...] = IMAGE_EXTENSIONS

    def __init__(
        self,
        path: str | list[str],
        queue_size: int = 8,
        fast_count: bool = True,
        skip_list: list[int] | None = None,
        count: int | None = None,
        pts: list[int] | None = None,
        keyframes: list[int] | None = None,
    ) -> None:
        location, is_video = _check_source(path)
        super().__init__(location, queue_size)
        self._is_video = is_video
        self._skip_list: set[int] = set() if skip_list is None else {int(i) for i in skip_list}
        self._processed: list[str] | None = None
        self._fps: float | None = None
        self._video_meta: VideoMeta | None = None
        if is_video and pts is not None and keyframes is not None:
            self._video_meta = {"pts_time": list(pts), "keyframes": list(keyframes)}
        self._file_list, self._count = self._count_and_file_list(fast_count, count)
        logger.debug(
            "%s: location=%r, is_video=%s, count=%d, skip=%d",
            type(self).__name__,
            self._location if isinstance(self._location, str) else "<list>",
            is_video,
            self._count,
            len(self._skip_list),
        )

    def _count_and_file_list(self, fast_count: bool, count: int | None) -> tuple[list[str], int]:
        """Work out the file list (dummy frame names for a video) and the count."""
        if self._is_video:
            from faceio.video import count_frames

            location = str(self._location)
            if count is None:
                if self._video_meta is not None:
                    count = len(self._video_meta["pts_time"])
                else:
                    count = count_frames(location, fast_count=fast_count)
            return [frame_filename(location, i) for i in range(count)], int(count)
        if isinstance(self._location, str):
            names, _ = list_folder(self._location, self._extensions)
            files = [os.path.join(self._location, name) for name in names]
        else:
            files = list(self._location)
        return files, len(files) if count is None else int(count)

    # -------------------------------------------------------------- properties
    @property
    def count(self) -> int:
        """int: Number of images or video frames at the location, skipped ones included."""
        return self._count

    @property
    def process_count(self) -> int:
        """int: Number of images or frames to be loaded: :attr:`count` less the skip list.

        Skip-list indices outside ``0 .. count - 1`` are not subtracted.
        """
        return self._count - sum(1 for i in self._skip_list if 0 <= i < self._count)

    @property
    def file_list(self) -> list[str]:
        """list[str]: Every file at the location (dummy frame names for a video)."""
        return self._file_list

    @property
    def processed_file_list(self) -> list[str]:
        """list[str]: :attr:`file_list` with the skipped items removed."""
        return list(self._processed_files())

    def _processed_files(self) -> list[str]:
        if self._processed is None:
            skip = self._skip_list
            self._processed = (
                [name for i, name in enumerate(self._file_list) if i not in skip]
                if skip
                else self._file_list
            )
        return self._processed

    @property
    def is_video(self) -> bool:
        """bool: ``True`` if the location is a video."""
        return self._is_video

    @property
    def fps(self) -> float:
        """float: The video's frame rate; 25.0 for images (faceswap's default)."""
        if not self._is_video:
            return 25.0
        if self._fps is None:
            import av

            with av.open(str(self._location)) as container:
                stream = container.streams.video[0]
                self._fps = float(stream.average_rate or stream.guessed_rate or 25.0)
        return self._fps

    @property
    def video_meta_data(self) -> VideoMeta | None:
        """The video's ``{"pts_time": [...], "keyframes": [...]}`` index, when known.

        Known when given as ``pts`` and ``keyframes``, or after a :meth:`load` pass has indexed
        the video; ``None`` otherwise and for images.
        """
        meta = self._video_meta
        if meta is None:
            return None
        return {"pts_time": list(meta["pts_time"]), "keyframes": list(meta["keyframes"])}

    def add_skip_list(self, skip_list: list[int]) -> None:
        """Set the indices that :meth:`load` should not load (replacing any earlier list).

        Parameters
        ----------
        skip_list : list of int
            Frame / image indices to skip.
        """
        logger.debug("Skip list: %d item(s)", len(skip_list))
        self._skip_list = {int(i) for i in skip_list}
        self._processed = None

    # -------------------------------------------------------------- loading
    def load(self) -> Iterator[tuple[str, npt.NDArray[np.uint8]]]:
        """Yield the images in order, skipping :attr:`skip_list` items and unreadable files.

        A file that cannot be loaded is skipped with a warning naming it. An error in the
        background thread is raised here. Breaking out of the loop stops the thread.

        Yields
        ------
        filename : str
            The image's path (for a video, the frame name ``f"{stem}_{i + 1:06d}{ext}"``).
        image : numpy.ndarray
            The BGR ``uint8`` image.
        """
        if self._is_video:
            return self._prefetch(self._video_producer(), "faceio-loader-video")
        return self._prefetch(self._folder_producer(_load_image, 1), "faceio-loader")

    def _tasks(self) -> list[tuple[int, str]]:
        skip = self._skip_list
        return [(i, name) for i, name in enumerate(self._file_list) if i not in skip]

    def _folder_producer(
        self, function: Callable[[str], Any], arity: int
    ) -> Callable[[threading.Event], Iterator[Any]]:
        """Make the producer of ``(filename, *function(filename))`` for the files not skipped."""
        tasks = self._tasks()
        loader_name = type(self).__name__
        guarded = _try(function)

        def produce(stop: threading.Event) -> Iterator[Any]:
            paths = [path for _, path in tasks]
            workers = min(cpu_count(), max(1, len(paths)))
            results = ordered_map(guarded, paths, workers, stop=stop, name="faceio-loader-decode")
            # not strict: the results end early when the loader is stopped
            for path, (ok, result) in zip(paths, results, strict=False):
                if not ok:
                    logger.warning("%s: skipping '%s': %s", loader_name, path, result)
                    continue
                yield (path, result) if arity == 1 else (path, *result)

        return produce

    def _video_producer(self) -> Callable[[threading.Event], Iterator[Any]]:
        """Make the producer of ``(frame_name, frame)``, decoding the video in order."""
        location = str(self._location)
        skip = frozenset(self._skip_list)
        meta = self._video_meta
        holder = _MetaHolder(self)

        def produce(stop: threading.Event) -> Iterator[Any]:
            from faceio.video import VideoReader

            with VideoReader(location, video_meta_data=meta) as reader:
                if meta is None:
                    holder.store(reader)
                for index, frame in reader.iter_frames(skip=skip):
                    if stop.is_set():
                        return
                    yield frame_filename(location, index), frame

        return produce


class _MetaHolder:
    """Hands a video index found by a background load back to its loader (weakly)."""

    def __init__(self, loader: ImagesLoader) -> None:
        self._loader = weakref.ref(loader)

    def store(self, reader: VideoReader) -> None:
        loader = self._loader()
        if loader is not None and loader._video_meta is None:
            loader._video_meta = reader.video_meta_data  # type: ignore[assignment]


class FacesLoader(ImagesLoader):
    """Load faces with their faceswap metadata from a folder of face PNGs.

    Only ``.png`` files of the folder are listed. Each face is read once: pixels and header come
    from the same bytes, decoded on every core and yielded in order. A face without a faceswap
    header, or whose header is not a face header, is skipped with a warning naming the file.

    Parameters
    ----------
    path : str or list of str
        A folder of face PNGs, or a list of face files.
    skip_list : list of int, optional
        Indices of faces not to load. Default ``None``.
    count : int, optional
        The number of faces if already known. Default ``None``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is a file (video or not): faces are loaded from a folder.

    Examples
    --------
    >>> loader = FacesLoader("/path/to/faces/folder")
    >>> for filename, face, metadata in loader.load():
    ...     pass
    """

    _extensions = (".png",)

    def __init__(
        self, path: str | list[str], skip_list: list[int] | None = None, count: int | None = None
    ) -> None:
        if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
            raise _bad_location(
                ValueError(f"FacesLoader needs a folder of faces, not the file '{path}'")
            )
        super().__init__(path, queue_size=8, fast_count=True, skip_list=skip_list, count=count)

    def load(self) -> Iterator[tuple[str, npt.NDArray[np.uint8], PNGHeader]]:  # type: ignore[override]
        """Yield the faces in order with their headers.

        Faces in the skip list are not read; a face that cannot be read or has no valid face
        header is skipped with a warning naming it.

        Yields
        ------
        filename : str
            The face's path.
        image : numpy.ndarray
            The BGR ``uint8`` face.
        metadata : PNGHeader
            The face's faceswap header.
        """
        return self._prefetch(self._folder_producer(_load_face, 2), "faceio-loader-faces")


class SingleFrameLoader(ImagesLoader):
    """Direct access to any image of a folder or frame of a video by its index.

    No background thread is used for :meth:`image_from_index` (the caller waits for the frame
    anyway). Video frames are exact (the frame sequential decoding gives) in any order; the
    video is indexed once at construction unless ``video_meta_data`` is given.

    Parameters
    ----------
    path : str
        A folder of images or a video file.
    video_meta_data : dict, optional
        ``{"pts_time": [...], "keyframes": [...]}`` from an earlier :attr:`video_meta_data`:
        spares the video scan. Default ``None``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a folder or a readable video.
    """

    def __init__(self, path: str, video_meta_data: VideoMeta | None = None) -> None:
        meta = video_meta_data or {}
        pts, keyframes = meta.get("pts_time"), meta.get("keyframes")
        self._reader: VideoReader | None = None
        self._lock = threading.Lock()
        location, is_video = _check_source(path)
        if is_video:
            from faceio.video import VideoReader

            given = (
                {"pts_time": list(pts), "keyframes": list(keyframes)}
                if pts is not None and keyframes is not None
                else None
            )
            self._reader = VideoReader(str(location), video_meta_data=given)
            exact = self._reader.video_meta_data
            pts, keyframes = exact["pts_time"], exact["keyframes"]
        super().__init__(
            path,
            queue_size=1,
            fast_count=False,
            count=len(pts) if is_video and pts is not None else None,
            pts=pts,
            keyframes=keyframes,
        )

    @property
    def video_meta_data(self) -> VideoMeta | None:
        """The video's ``{"pts_time": [...], "keyframes": [...]}`` index; ``None`` for images.

        Pass it back to a new loader of the same video to skip the scan.
        """
        if self._reader is None:
            return None
        return self._reader.video_meta_data  # type: ignore[return-value]

    def image_from_index(self, index: int) -> tuple[str, npt.NDArray[np.uint8]]:
        """Return one image or frame by its index.

        Parameters
        ----------
        index : int
            For a video, the frame number (0 is the first frame). For a folder, the position in
            :attr:`processed_file_list` (the file list with skipped items removed).

        Returns
        -------
        filename : str
            The image's base name, or the frame name ``f"{stem}_{index + 1:06d}{ext}"``.
        image : numpy.ndarray
            The BGR ``uint8`` image.

        Raises
        ------
        IndexError
            If ``index`` is out of range.
        ValueError
            If the image cannot be decoded (message naming it).
        """
        index = int(index)
        if self._reader is not None:
            with self._lock:
                image = self._reader.frame_at(index)
            return frame_filename(str(self._location), index), image
        files = self._processed_files()
        if not 0 <= index < len(files):
            raise IndexError(f"image index {index} out of range (0 to {len(files) - 1})")
        path = files[index]
        return os.path.basename(path), read_image(path, raise_error=True)

    def close(self) -> None:
        """Close the video reader and stop any background load. Safe to call twice."""
        if self._reader is not None:
            with self._lock:
                self._reader.close()
        super().close()


# ------------------------------------------------------------------------------ saver
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
