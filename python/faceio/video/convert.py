"""Decoded frames to the BGR arrays the reader returns."""

from __future__ import annotations

import threading

import av
import numpy as np
from av.video.reformatter import VideoReformatter

__all__ = ["to_bgr", "to_bgr_into"]

# One swscale context per thread, reused from frame to frame (creating one per frame, as
# ``VideoFrame.to_ndarray`` does, costs more than the conversion of a small frame).
_LOCAL = threading.local()


def _reformatter() -> VideoReformatter:
    """Return the calling thread's reformatter (it keeps its swscale context)."""
    reformatter: VideoReformatter | None = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    return reformatter


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to a C-contiguous BGR ``uint8`` array of shape (h, w, 3).

    The result is what ``frame.to_ndarray(format="bgr24")`` gives (same swscale call and
    parameters), but the swscale context is kept per thread instead of being created for every
    frame. The array never shares memory with ``frame``, which may be cached.
    """
    bgr = _reformatter().reformat(frame, format="bgr24")
    array = bgr.to_ndarray()
    if bgr is frame:  # already BGR: to_ndarray gave a view of the (possibly cached) frame
        return np.array(array, order="C", copy=True)
    return np.ascontiguousarray(array)


def to_bgr_into(frame: av.VideoFrame, out: np.ndarray) -> bool:
    """Convert ``frame`` as :func:`to_bgr` does, straight into ``out`` (one copy, not two).

    Returns ``False``, leaving ``out`` untouched, when the frame's shape is not ``out``'s.
    """
    array = _reformatter().reformat(frame, format="bgr24").to_ndarray()
    if array.shape != out.shape:
        return False
    np.copyto(out, array)
    return True
