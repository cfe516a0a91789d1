"""Video frame access for faceio: packet index, exact random access and fast iteration.

This package backs the video side of ``ImagesLoader`` / ``SingleFrameLoader``. It only
depends on :mod:`numpy` and PyAV (:mod:`av`), which importing it loads; the names that tell
a video file by its name are in :mod:`faceio._video_names`, which loads neither.

Public API
----------
``VIDEO_EXTENSIONS``
    Lower-case extensions (with the dot) treated as video files.
``is_video_path(path) -> bool``
    Whether ``path`` has a video extension (case-insensitive).
``frame_filename(video_path, index, extension=None) -> str``
    Name of frame ``index`` (0-based) of a video: ``f"{stem}_{index + 1:06d}{ext}"``.
``scan_video(path, progress=False) -> dict[str, list[int]]``
    Exact ``{"pts_time": [...], "keyframes": [...]}`` index, built by demuxing (only the
    first keyframe is decoded, to see how the stream starts).
``count_frames(path, fast_count=True, progress=False) -> int``
    Frame count, from the first ``FAST_COUNT_PACKETS`` packets and the container when
    ``fast_count``, else exactly by a demux scan.
``VideoReader(path, video_meta_data=None, progress=False, cache_bytes=DEFAULT_CACHE_BYTES)``
    ``frame_at(index)`` (exact random access), ``frames_at(indices)`` (a batch as one
    array, decoded on every core), ``reader[i]`` and ``reader[a:b:s]``, ``len(reader)``,
    ``iter_frames(skip=frozenset())`` (sequential decode), ``frame_count``,
    ``video_meta_data``, ``fps``, ``duration``, ``width``, ``height``, ``codec``, ``path``,
    ``cache_bytes``, ``close()`` and context-manager support.
``DEFAULT_CACHE_BYTES``
    Default memory budget of a reader's decoded-frame cache (64 MiB).

Modules
-------
``index``
    :class:`~faceio.video.index.VideoIndex`, the index type, and the ``video_meta_data``
    format it converts to and from.
``scan``
    Building the index by demuxing, settling the start of a stream cut mid-GOP, counting.
``traits``
    Every container and codec quirk, decided once per opened file.
``reader``
    :class:`VideoReader`: random access (how it works is told there) and iteration.
``decoder``
    The reader's positioned decoder and what seeks have taught it.
``batch``
    ``frames_at``'s request checks, its plan of seeks, and its decoder threads.
``cache``, ``convert``, ``stream``
    The frame cache, the BGR conversion, and opening a file's video stream.
"""

from __future__ import annotations

from faceio._video_names import VIDEO_EXTENSIONS, frame_filename, is_video_path
from faceio.video.cache import DEFAULT_CACHE_BYTES
from faceio.video.reader import VideoReader
from faceio.video.scan import FAST_COUNT_PACKETS, count_frames, scan_video

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "FAST_COUNT_PACKETS",
    "VIDEO_EXTENSIONS",
    "VideoReader",
    "count_frames",
    "frame_filename",
    "is_video_path",
    "scan_video",
]
