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
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from faceio._files import IMAGE_EXTENSIONS, list_folder
from faceio._imageio import ImageIO, _bad_location
from faceio._parallel import cpu_count, ordered_map
from faceio._video_names import frame_filename, is_video_path
from faceio.header import PNGHeader, is_header_object
from faceio.image import _decode, _read_bytes, _read_meta, read_image
from faceio.saver import ImagesSaver

if TYPE_CHECKING:
    import numpy.typing as npt

    from faceio.video import VideoReader

__all__ = ["FacesLoader", "ImageIO", "ImagesLoader", "ImagesSaver", "SingleFrameLoader"]

logger = logging.getLogger(__name__)

VideoMeta = dict[Literal["pts_time", "keyframes"], list[int]]
StrPath = str | os.PathLike[str]


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
            from faceio.video import scan_video
            from faceio.video.stream import fraction, mean_rate, open_video

            # The stream the reader reads (cover art is not it).
            container, stream = open_video(str(self._location))
            with container:
                declared, guessed = fraction(stream.average_rate), fraction(stream.guessed_rate)
                time_base = fraction(stream.time_base)
            pts: list[int] = []
            if not declared:  # as VideoReader.fps: the mean of the stamps, not FFmpeg's guess
                if self._video_meta is None:  # kept: the load reads by it, not scanning again
                    scanned = scan_video(str(self._location))
                    self._video_meta = {
                        "pts_time": scanned["pts_time"],
                        "keyframes": scanned["keyframes"],
                    }
                pts = self._video_meta["pts_time"]
            self._fps = mean_rate(declared, guessed, pts, time_base) or 25.0
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
