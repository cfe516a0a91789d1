"""Which files are videos, and the names given to their frames (no PyAV, no numpy).

Outside :mod:`faceio.video` because that package imports PyAV, and the loaders need these names
to tell a video from a folder before anything is decoded. :mod:`faceio.video` re-exports them.
"""

from __future__ import annotations

import os

__all__ = ["VIDEO_EXTENSIONS", "frame_filename", "is_video_path"]

#: Lower-case extensions (with the dot) treated as video files.
VIDEO_EXTENSIONS: tuple[str, ...] = (
    ".avi",
    ".flv",
    ".mkv",
    ".mov",
    ".mp4",
    ".mpeg",
    ".mpg",
    ".webm",
    ".wmv",
    ".ts",
    ".vob",
)


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """Tell whether a path has one of the supported video extensions.

    Parameters
    ----------
    path : str or os.PathLike
        The file path (it does not need to exist).

    Returns
    -------
    bool
        ``True`` if the extension, compared case-insensitively, is in
        :data:`VIDEO_EXTENSIONS`.
    """
    return os.path.splitext(os.fspath(path))[1].lower() in VIDEO_EXTENSIONS


def frame_filename(
    video_path: str | os.PathLike[str], index: int, extension: str | None = None
) -> str:
    """Return the file name given to a frame of a video.

    Parameters
    ----------
    video_path : str or os.PathLike
        Path of the video, ``.../stem.ext``.
    index : int
        0-based frame index.
    extension : str, optional
        Extension to use (with the dot). Defaults to the video's own extension.

    Returns
    -------
    str
        ``f"{stem}_{index + 1:06d}{ext}"``, e.g. ``"clip_000001.mp4"`` for frame 0.
    """
    stem, ext = os.path.splitext(os.path.basename(os.fspath(video_path)))
    return f"{stem}_{index + 1:06d}{ext if extension is None else extension}"
