"""Decoded frames to the BGR arrays the reader returns."""

from __future__ import annotations

import threading

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from faceio.video.traits import PYAV_MAJOR

__all__ = ["to_bgr", "to_bgr_into"]

# One swscale context per thread, reused from frame to frame (creating one per frame, as
# ``VideoFrame.to_ndarray`` does, costs more than the conversion of a small frame).
_LOCAL = threading.local()
# Resolved once: a format given by name is looked up on every call.
_BGR = av.VideoFormat("bgr24")
# Frames of fewer pixels are converted on one swscale thread. Automatic threading (what
# ``to_ndarray`` asks for) hands every frame out to a pool: measured on 2 cores, 202x118 took
# 24 us that way and 8 us on one thread, 480x270 42 and 37 us; from 640x360 on (60 and 64 us,
# 1080p 409 and 578 us) the pool pays. Slicing does not change the output.
_ONE_THREAD_PIXELS = 200_000
# ``reformat`` takes ``threads`` from PyAV 17 on; older ones convert on swscale's default (one
# thread), and are passed nothing, so that faceio keeps working with every PyAV it allows.
_HAS_THREADS = PYAV_MAJOR >= 17


def _reformatter() -> VideoReformatter:
    """Return the calling thread's reformatter (it keeps its swscale context)."""
    reformatter: VideoReformatter | None = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    return reformatter


def _bgr_frame(frame: av.VideoFrame) -> tuple[av.VideoFrame, np.ndarray]:
    """Convert to a BGR frame, and view its pixels (rows may be padded: not contiguous).

    The view is what ``to_ndarray`` gives for a BGR frame, without its per-call set-up.
    """
    reformatter = _reformatter()
    if _HAS_THREADS:
        threads = 1 if frame.width * frame.height < _ONE_THREAD_PIXELS else 0
        # PyAV takes a VideoFormat too (its docstring says so; its stub only names str).
        bgr = reformatter.reformat(frame, format=_BGR, threads=threads)  # type: ignore[arg-type]
    else:
        bgr = reformatter.reformat(frame, format=_BGR)  # type: ignore[arg-type]
    plane = bgr.planes[0]
    # A plane exports the buffer protocol, which numpy's stubs see only from Python 3.12 on.
    shape, strides = (bgr.height, bgr.width, 3), (plane.line_size, 3, 1)
    view = np.ndarray(shape, np.uint8, plane, 0, strides)  # type: ignore[arg-type, unused-ignore]
    return bgr, view


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to a C-contiguous BGR ``uint8`` array of shape (h, w, 3).

    The result is what ``frame.to_ndarray(format="bgr24")`` gives (same swscale conversion),
    but the swscale context is kept per thread instead of being created for every frame, and
    small frames are converted on one thread. The array never shares memory with ``frame``,
    which may be cached.
    """
    bgr, view = _bgr_frame(frame)
    if bgr is frame or not view.flags.c_contiguous:
        # Already BGR: a view of the (possibly cached) frame; else rows padded for alignment.
        return view.copy()
    return view


def to_bgr_into(frame: av.VideoFrame, out: np.ndarray) -> bool:
    """Convert ``frame`` as :func:`to_bgr` does, straight into ``out`` (one copy, not two).

    Returns ``False``, leaving ``out`` untouched, when the frame's shape is not ``out``'s.
    """
    view = _bgr_frame(frame)[1]
    if view.shape != out.shape:
        return False
    np.copyto(out, view)
    return True
