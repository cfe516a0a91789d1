"""Opening a video's stream, and the PyAV steps the index build and the reader share."""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, Protocol

import av

from faceio.video.traits import PYAV_MAJOR, SEQUENTIAL_THREADS

__all__ = [
    "Ratio",
    "decode_packet",
    "fraction",
    "frame_stamp",
    "mean_rate",
    "open_video",
]

logger = logging.getLogger(__name__)

# Demuxers that PyAV/FFmpeg can open but which hold still images or text, not videos.
_IMAGE_FORMATS = frozenset({"image2", "tty", "gif", "apng"})


# A tag that is not UTF-8 (old AVI or MKV files with Latin-1 titles) must not fail the file:
# faceio reads no tag, and the frames are what matter. PyAV up to 18 decodes tags strictly
# unless told otherwise; PyAV 19 dropped the option and decodes them with surrogate escapes.
_TAG_OPTIONS: dict[str, Any] = {"metadata_errors": "replace"} if PYAV_MAJOR < 19 else {}


def open_video(
    path: str, threads: str = SEQUENTIAL_THREADS, thread_count: int = 0
) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open ``path`` and return the container and its main video stream.

    ``threads`` is the decoder ``thread_type`` ("AUTO": frame and slice threads);
    ``thread_count`` the most threads it may use (0: PyAV's default, FFmpeg's automatic count
    of about one per core).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read as a video or has no video stream.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, f"Video file not found: '{path}'", path)
    if os.path.isdir(path):
        raise ValueError(f"'{path}' is a directory, not a video file")
    try:
        # The options' dict hides which overload of av.open this is: the one for reading.
        container: av.container.InputContainer = av.open(path, mode="r", **_TAG_OPTIONS)
    except av.FFmpegError as err:
        raise ValueError(f"'{path}' is not a readable video file: {err}") from err
    try:
        fmt_names = set(container.format.name.split(","))
        streams = [
            stream
            for stream in container.streams.video
            if not stream.disposition & av.stream.Disposition.attached_pic
        ]
        if not streams or fmt_names & _IMAGE_FORMATS or container.format.name.endswith("_pipe"):
            raise ValueError(
                f"'{path}' is not a video file (format '{container.format.name}', "
                f"{len(streams)} video stream(s))"
            )
        stream = streams[0]
        if stream.codec_context is None:  # e.g. a file cut inside its header
            raise ValueError(f"'{path}' has no decoder for its video stream")
        stream.codec_context.thread_type = threads
        if thread_count:
            stream.codec_context.thread_count = thread_count
    except BaseException:
        container.close()
        raise
    return container, stream


def frame_stamp(frame: av.VideoFrame) -> int | None:
    """Return a decoded frame's timestamp as the index holds it: pts, else dts."""
    return frame.pts if frame.pts is not None else frame.dts


def decode_packet(packet: av.Packet[av.VideoStream], path: str) -> list[av.VideoFrame]:
    """Decode one packet; no frames (and a debug log) if the decoder rejects it."""
    try:
        return packet.decode()
    except av.InvalidDataError as err:
        logger.debug("Undecodable packet in '%s' (pts %s): %s", path, packet.pts, err)
        return []


class Ratio(Protocol):
    """A rational PyAV hands out: ``Fraction`` or ``None`` up to PyAV 18, ``AVRational`` from 19."""

    @property
    def numerator(self) -> int:
        """int: The numerator."""
        ...

    @property
    def denominator(self) -> int:
        """int: The denominator."""
        ...


def fraction(value: Ratio | None) -> Fraction | None:
    """``value`` as a ``Fraction``; ``None`` when unset (PyAV 19 gives a falsy 0/1 instead).

    A zero denominator, which a damaged file can declare and PyAV 19 passes on, is unset too.
    """
    if value is None or not value.numerator or not value.denominator:
        return None
    return Fraction(value.numerator, value.denominator)


def mean_rate(
    declared: Fraction | None,
    guessed: Fraction | None,
    pts: Sequence[int],
    time_base: Fraction | None,
) -> float:
    """Frames a second: the container's average rate, else the index's mean, else FFmpeg's.

    FFmpeg's guess for a variable-rate stream with no average is the time base's tick rate
    (2,000 for an MPEG-TS stamped in milliseconds), so the index's mean comes before it.
    """
    if declared:
        return float(declared)
    count = len(pts)
    if count > 1 and time_base:
        span = (max(pts) - min(pts)) * time_base
        if span > 0:
            return float((count - 1) / span)
    return float(guessed or 0.0)
