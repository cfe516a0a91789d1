"""Video frame access for faceio: packet index, exact random access and fast iteration.

This module backs the video side of ``ImagesLoader`` / ``SingleFrameLoader``. It only
depends on :mod:`numpy` and PyAV (:mod:`av`).

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
    Frame count, from the container header when ``fast_count`` else exactly by a demux scan.
``VideoReader(path, video_meta_data=None, progress=False, cache_bytes=DEFAULT_CACHE_BYTES)``
    ``frame_at(index)`` (exact random access), ``iter_frames(skip=frozenset())``
    (sequential decode), ``frame_count``, ``video_meta_data``, ``fps``, ``path``,
    ``cache_bytes``, ``close()`` and context-manager support.
``DEFAULT_CACHE_BYTES``
    Default memory budget of a reader's decoded-frame cache (64 MiB).

Index format (compatibility contract)
-------------------------------------
``video_meta_data = {"pts_time": [int, ...], "keyframes": [int, ...]}``: the presentation
timestamp of every frame in display order, in units of the video stream's ``time_base``, and
the (display-order) indices of the keyframes. Passing it to :class:`VideoReader` skips the scan.
The stamps are in increasing order except in AVIs of H.264 or HEVC with B-frames: AVI stamps
packets in decode order, so such frames come out with their stamps out of order, and the index
(built by decoding those files) lists them in the order they come out.

Random access
-------------
``frame_at(i)`` returns exactly the array that sequential decoding of the file gives for frame
``i``. It seeks to the timestamp of the last keyframe at or before ``i`` and decodes forward,
identifying every decoded frame by its timestamp. Where the demuxer lands is never trusted: if
the first decoded frame is not at or before that keyframe, or the target is passed without
being seen, it steps back one keyframe and retries, finally decoding from the start of the
file. No seek is done when the target lies a short way ahead of the last decoded frame. While
catching up to a target, frames before it that no other frame references are not decoded at all
(``skip_frame = "NONREF"``), which cannot change any decoded picture, and after a jump the
decoder is drained right after the target's packet instead of being fed its reorder delay.
Random access decodes with slice threads only (frame threads add latency) unless keyframes
are far apart (mean GOP above 32 frames); sequential iteration uses ``thread_type = "AUTO"``.
MPEG-TS seeks by decode timestamp, so a seek that lands past the keyframe is retried earlier
by the largest pts-dts gap seen, and the retry that worked is used from then on.
Frames that share a timestamp (broken muxers, files joined at a cut) are numbered by their
order, as sequential decoding numbers them: a seek whose first frame has such a timestamp is
retried from an earlier keyframe, and no frame is skipped while catching up.

Every frame decoded on the way to a target (the keyframe, the frames referenced after it, the
target and what the drain gives back) is kept, still in the decoder's pixel format, in a
least-recently-used cache bounded to ``cache_bytes`` (64 MiB by default, about 185 frames of
640x360 4:2:0 or 21 of 1080p; ``0`` disables it), so a later request for one of them costs
only the conversion. Frames before the keyframe a seek was for (the leading pictures of an
open GOP) are never cached, as they may depend on frames before the seek point. Decoded
frames can only be returned, not fed back to the decoder as references: a request for a frame
that is not cached still decodes from its keyframe. The conversion to BGR is the one of
``frame.to_ndarray(format="bgr24")``, with its swscale context kept per thread instead of
being set up again for every frame.

A :class:`VideoReader` is not thread-safe; use one per thread.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import logging
import os
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from fractions import Fraction
from types import TracebackType
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from faceio._progress import progress_bar
from faceio._video_names import VIDEO_EXTENSIONS, frame_filename, is_video_path

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

logger = logging.getLogger(__name__)

# Demuxers that PyAV/FFmpeg can open but which hold still images or text, not videos.
_IMAGE_FORMATS = frozenset({"image2", "tty", "gif", "apng"})
# Mean keyframe interval (frames) from which random access uses frame threading: frame threads
# add a few frames of latency, which only pays off when catching up to a target is long.
_FRAME_THREADS_GOP = 32
# Decode forward instead of seeking when the target is at most this many frames further than
# it would be from its own keyframe (a seek also refills the decoder's delay pipeline).
_FORWARD_SLACK = 4
_PROGRESS_STEP = 256
# Decoders that stamp the frames they output in display order, whatever the container gave.
_RESTAMPING_CODECS = frozenset(
    {"mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4", "mpeg1video", "mpeg2video"}
)
# What VideoReader._identify gives for a frame the decoder repeated (see there).
_AGAIN: tuple[int, bool] = (-1, False)
# Default memory budget of a VideoReader's cache of decoded frames (see VideoReader).
DEFAULT_CACHE_BYTES: int = 64 * 1024 * 1024
# One swscale context per thread, reused from frame to frame (creating one per frame, as
# ``VideoFrame.to_ndarray`` does, costs more than the conversion of a small frame).
_LOCAL = threading.local()


def _open(path: str, threads: str = "AUTO") -> tuple[av.container.InputContainer, av.VideoStream]:
    """Open ``path`` and return the container and its main video stream.

    ``threads`` is the decoder ``thread_type`` ("AUTO": frame and slice threads).

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
        container = av.open(path, mode="r")
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
    except BaseException:
        container.close()
        raise
    return container, stream


def _scan(
    container: av.container.InputContainer, stream: av.VideoStream, path: str, progress: bool
) -> tuple[dict[str, list[int]], int]:
    """Build the ``{"pts_time", "keyframes"}`` index of an open stream by demuxing it.

    Also returns the largest ``pts - dts`` seen (0 if none): how far before a keyframe's
    presentation timestamp to seek in formats that seek by decode timestamp (MPEG-TS).
    """
    stamps: list[int] = []
    reorder = 0
    key_stamps: list[int] = []
    # Packets before the first keyframe in decode order (a recording cut mid-GOP): whether the
    # decoder outputs them depends on the codec, so `_settle_start` decides.
    before_key: list[int] = []
    pbar = progress_bar(stream.frames or None, os.path.basename(path), "frame", progress)
    try:
        for packet in container.demux(stream):
            stamp = _packet_stamp(packet)
            if stamp is None:
                continue
            if not key_stamps and not packet.is_keyframe:
                before_key.append(stamp)
                continue
            if packet.dts is not None and stamp - packet.dts > reorder:
                reorder = stamp - packet.dts
            stamps.append(stamp)
            if packet.is_keyframe:
                key_stamps.append(stamp)
            if pbar is not None and len(stamps) % _PROGRESS_STEP == 0:
                pbar.update(_PROGRESS_STEP)
    except av.FFmpegError as err:
        # A damaged tail: index what could be read, like a sequential decode would.
        logger.warning("Stopped indexing '%s' at packet %d: %s", path, len(stamps), err)
    finally:
        if pbar is not None:
            pbar.update(len(stamps) % _PROGRESS_STEP)
            pbar.close()
    if _stamps_out_of_order(container, stream):
        # Only decoding tells the display order: the index is the order frames come out in
        # (which also settles the start, as _settle_start does for the others).
        logger.debug("'%s' has decode-order stamps: indexing it by decoding", path)
        pts_time = _shown_before(path, None)[0]
    else:
        pts_time = sorted(_settle_start(path, stamps, before_key, key_stamps))
    position: dict[int, int] = {}
    for index, stamp in enumerate(pts_time):
        position.setdefault(stamp, index)
    keyframes = sorted({position[stamp] for stamp in key_stamps if stamp in position})
    logger.debug("Indexed '%s': %d frames, %d keyframes", path, len(pts_time), len(keyframes))
    return {"pts_time": pts_time, "keyframes": keyframes}, reorder


def _packet_stamp(packet: av.Packet) -> int | None:
    """Return the stamp (pts, else dts) of a packet that holds a frame; ``None`` for the rest.

    Empty packets (the demuxer's end of stream), packets an edit list discards and unstamped
    packets hold no frame of the index.
    """
    if packet.size == 0 or packet.is_discard:
        return None
    return packet.pts if packet.pts is not None else packet.dts


def _stamps_out_of_order(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Whether decoded frames may come out with their stamps out of order.

    AVI stores no presentation times: its packets are stamped in decode order, and a codec
    that reorders frames (B-frames) then outputs them with those stamps out of order, unless
    its decoder stamps frames anew in display order (the MPEG-1/2/4 decoders do; H.264 and
    HEVC do not).
    """
    codec = stream.codec_context
    return (
        "avi" in container.format.name.split(",")
        and bool(codec.has_b_frames)
        and codec.name not in _RESTAMPING_CODECS
    )


def _frame_stamp(frame: av.VideoFrame) -> int | None:
    """Return a decoded frame's timestamp as the index holds it: pts, else dts."""
    return frame.pts if frame.pts is not None else frame.dts


def _decode_packet(packet: av.Packet, path: str) -> list[av.VideoFrame]:
    """Decode one packet; no frames (and a debug log) if the decoder rejects it."""
    try:
        return packet.decode()
    except av.InvalidDataError as err:
        logger.debug("Undecodable packet in '%s' (pts %s): %s", path, packet.pts, err)
        return []


def _settle_start(
    path: str, stamps: list[int], before_key: list[int], key_stamps: list[int]
) -> list[int]:
    """Correct ``_scan``'s stamps at the start of the stream to what the decoder outputs.

    ``stamps`` are the packets from the first keyframe on, in decode order. Frames before the
    first keyframe (``before_key``) and the leading frames of its GOP (after it in decode
    order, shown before it) may not come out of the decoder when the file starts there: H.264
    and HEVC drop them, MPEG-4 Part 2 outputs them; and a stream cut off from its parameter
    sets outputs nothing at all. So the start of the file is decoded until the keyframe's own
    frame comes out (a keyframe and the decoder's reorder delay, a few milliseconds), and
    exactly the frames that came out before it are kept.
    """
    if not key_stamps:
        # No keyframe flagged at all (rare: some cut or intra-refresh streams): only a full
        # decode tells which frames come out.
        return _shown_before(path, None)[0]
    first_key = key_stamps[0]
    second = stamps.index(key_stamps[1]) if len(key_stamps) > 1 else len(stamps)
    shown, found = _shown_before(path, first_key)
    if not found:  # the whole file was decoded: what came out is the index
        return shown
    kept = [stamp for i, stamp in enumerate(stamps) if i >= second or stamp >= first_key]
    return shown + kept


def _shown_before(path: str, first_key: int | None) -> tuple[list[int], bool]:
    """Decode ``path`` from its start until the frame stamped ``first_key`` comes out.

    Returns the stamps of the frames that came out before it and ``True``; if it never comes
    out (a file cut so that nothing decodes, say), the stamps of every frame that came out of
    the whole file and ``False``.
    """
    # Frame threads for a whole file; for the start, slice threads output the first frames
    # without a frame threads' delay.
    container, stream = _open(path, "SLICE" if first_key is not None else "AUTO")
    shown: list[int] = []
    try:
        # The demuxer's end-of-stream packet (empty) drains the decoder.
        for packet in container.demux(stream):
            for frame in _decode_packet(packet, path):
                stamp = _frame_stamp(frame)
                if stamp == first_key:
                    return shown, True
                if stamp is not None:
                    shown.append(stamp)
    except av.FFmpegError as err:
        logger.debug("Decoding the start of '%s' stopped: %s", path, err)
    finally:
        container.close()
    return shown, False


def scan_video(path: str | os.PathLike[str], progress: bool = False) -> dict[str, list[int]]:
    """Index a video by demuxing its packets (only the start is decoded, up to the first keyframe).

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    progress : bool, optional
        Show a tqdm progress bar (if tqdm is installed). Default ``False``.

    Returns
    -------
    dict
        ``{"pts_time": [int, ...], "keyframes": [int, ...]}``: each frame's presentation
        timestamp in stream ``time_base`` units, in display order, and the display-order
        indices of the keyframes.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a video.
    """
    path = os.fspath(path)
    container, stream = _open(path)
    try:
        return _scan(container, stream, path, progress)[0]
    finally:
        container.close()


def count_frames(
    path: str | os.PathLike[str], fast_count: bool = True, progress: bool = False
) -> int:
    """Count the frames of a video.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    fast_count : bool, optional
        ``True`` (default): demux (without decoding) the first
        ``FAST_COUNT_PACKETS`` packets; a video that ends within them is counted exactly, a
        longer one gets the container's frame count where the container keeps a true one
        (MP4, MOV, Matroska with frame-count tags) and otherwise its remaining duration at the
        mean frame spacing of those packets. Close (well within 2% on constant-rate videos)
        but not guaranteed exact. ``False`` counts every frame exactly by a demux scan.
    progress : bool, optional
        Show a progress bar during an exact count. Default ``False``.

    Returns
    -------
    int
        The number of frames.
    """
    path = os.fspath(path)
    if fast_count:
        container, stream = _open(path)
        try:
            estimate = _estimate_frame_count(container, stream, path)
        finally:
            container.close()
        if estimate is not None:
            return estimate
        logger.debug("No estimate of the frame count of '%s': counting exactly", path)
    container, stream = _open(path)
    try:
        return len(_scan(container, stream, path, progress)[0]["pts_time"])
    finally:
        container.close()


#: How many packets a fast count demuxes before it estimates the rest.
FAST_COUNT_PACKETS = 1000


def _estimate_frame_count(
    container: av.container.InputContainer, stream: av.VideoStream, path: str
) -> int | None:
    """Frame count from the first packets and the container; ``None`` when it cannot tell.

    The container's own figures are not trusted blindly: AVI's frame count is in time-base ticks
    (4,000 for 100 frames stamped in milliseconds), a declared rate is not the mean of a
    variable-rate stream, and an MP4 edit list cuts frames its sample count still holds. So
    the first packets are demuxed (as the exact scan counts them), which settles short videos
    exactly and measures the real mean frame spacing for long ones.
    """
    counted, first, last = 0, None, None
    try:
        for packet in container.demux(stream):
            stamp = _packet_stamp(packet)
            if stamp is None:
                continue
            counted += 1
            first = stamp if first is None else min(first, stamp)
            last = stamp if last is None else max(last, stamp)
            if counted > FAST_COUNT_PACKETS:
                break
        else:
            return counted  # the whole stream was demuxed
    except av.FFmpegError as err:
        logger.debug("Demuxing the start of '%s' stopped: %s", path, err)
        return None
    if stream.frames and "avi" not in container.format.name.split(","):
        return int(stream.frames)
    end = _stream_end(container, stream)
    if end is None or first is None or last is None or last <= first or end <= last:
        return None
    spacing = (last - first) / (counted - 1)
    return counted + round((end - last) / spacing) - 1


def _stream_end(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """End of the stream in its time base units (start plus duration), if the file says."""
    if stream.duration and stream.time_base:
        return int((stream.start_time or 0) + stream.duration)
    if container.duration and stream.time_base:
        start = container.start_time or 0
        return int((start + container.duration) / av.time_base / stream.time_base)
    return None


def _to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to a C-contiguous BGR ``uint8`` array of shape (h, w, 3).

    The result is what ``frame.to_ndarray(format="bgr24")`` gives (same swscale call and
    parameters), but the swscale context is kept per thread instead of being created for every
    frame. The array never shares memory with ``frame``, which may be cached.
    """
    reformatter: VideoReformatter | None = getattr(_LOCAL, "reformatter", None)
    if reformatter is None:
        reformatter = _LOCAL.reformatter = VideoReformatter()
    bgr = reformatter.reformat(frame, format="bgr24")
    array = bgr.to_ndarray()
    if bgr is frame:  # already BGR: to_ndarray gave a view of the (possibly cached) frame
        return np.array(array, order="C", copy=True)
    return np.ascontiguousarray(array)


def _frame_bytes(frame: av.VideoFrame) -> int:
    """Approximate memory held by a decoded frame: the sum of its planes' buffers."""
    return sum(plane.buffer_size for plane in frame.planes)


class _FrameCache:
    """Decoded frames by display index, least recently used dropped beyond a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._frames: OrderedDict[int, tuple[av.VideoFrame, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, index: int) -> av.VideoFrame | None:
        """Return the cached frame ``index`` (now the most recently used) or ``None``."""
        entry = self._frames.get(index)
        if entry is None:
            return None
        self._frames.move_to_end(index)
        return entry[0]

    def put(self, index: int, frame: av.VideoFrame) -> None:
        """Cache ``frame`` as frame ``index``, dropping least recently used frames to fit.

        A frame already cached for ``index`` is kept (like a decode that returns the first
        frame it identifies as ``index``), only marked as recently used.
        """
        if self.budget <= 0:
            return
        if index in self._frames:
            self._frames.move_to_end(index)
            return
        nbytes = _frame_bytes(frame)
        if nbytes > self.budget:
            return
        self._frames[index] = (frame, nbytes)
        self.size += nbytes
        while self.size > self.budget:
            self.size -= self._frames.popitem(last=False)[1][1]

    def items(self) -> list[tuple[int, av.VideoFrame]]:
        """Return the cached ``(index, frame)`` pairs, least recently used first."""
        return [(index, entry[0]) for index, entry in self._frames.items()]

    def clear(self) -> None:
        """Drop every frame."""
        self._frames.clear()
        self.size = 0


class VideoReader:
    """Exact random and sequential access to the frames of a video file.

    Parameters
    ----------
    path : str or os.PathLike
        The video file.
    video_meta_data : dict, optional
        A ``{"pts_time": [...], "keyframes": [...]}`` index from a previous scan (see
        :attr:`video_meta_data`). When given and valid, the file is not scanned. Float
        ``pts_time`` values are taken as seconds and converted to ``time_base`` units.
    progress : bool, optional
        Show a progress bar while scanning. Default ``False``.
    cache_bytes : int, optional
        Memory budget, in bytes, of the cache of decoded frames that :meth:`frame_at` keeps
        (least recently used frames are dropped first; sizes are those of the frames' planes).
        Default :data:`DEFAULT_CACHE_BYTES` (64 MiB); ``0`` disables the cache.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If ``path`` is not a video or has no frames.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        video_meta_data: dict[str, list[Any]] | None = None,
        progress: bool = False,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.path: str = os.fspath(path)
        self._closed = False
        self._cache = _FrameCache(max(0, int(cache_bytes)))
        # The random-access container is opened on the first frame_at call.
        self._container: av.container.InputContainer | None = None
        container, stream = _open(self.path)
        try:
            self._stream: av.VideoStream = stream
            self._time_base: Fraction | None = stream.time_base
            self._fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            meta = self._validated_meta(
                video_meta_data, sorted_stamps=not _stamps_out_of_order(container, stream)
            )
            self._preroll = 0
            if meta is None:
                meta, self._preroll = _scan(container, stream, self.path, progress)
        finally:
            container.close()
        self._pts: list[int] = meta["pts_time"]
        self._keyframes: list[int] = meta["keyframes"]
        if not self._pts:
            self._closed = True
            raise ValueError(f"'{self.path}' contains no video frames")
        mean_gop = len(self._pts) / max(1, len(self._keyframes))
        self._threads = "AUTO" if mean_gop > _FRAME_THREADS_GOP else "SLICE"
        self._index_of_ts: dict[int, int] = {}
        for idx, stamp in enumerate(self._pts):
            self._index_of_ts.setdefault(stamp, idx)
        # Timestamps that more than one frame has (broken muxers, joined files, AVI), and the
        # indices of the frames that have each: such frames are told apart only by their
        # order, as sequential decoding numbers them.
        counts = Counter(self._pts)
        self._repeats: dict[int, list[int]] = {}
        for idx, stamp in enumerate(self._pts):
            if counts[stamp] > 1:
                self._repeats.setdefault(stamp, []).append(idx)
        # Decoder state: frame generator, index of the last frame it produced (None: unknown),
        # whether it cannot go on (end of file, or drained), the timestamp below which
        # non-reference frames are skipped, the timestamp after whose packet the decoder is
        # drained and the previous request.
        self._frames: Iterator[av.VideoFrame] = iter(())
        self._last: int | None = None
        self._exhausted = True
        self._skip_below: int | None = None
        self._drain_at: int | None = None
        self._previous: int | None = None
        # Frames decoded since the last seek are exact from this index on (see _seek).
        self._trusted_from = 0
        # Which seek attempt (see _seek_plan) worked last time a seek needed a retry.
        self._first_attempt = 0

    # ------------------------------------------------------------------ properties
    @property
    def frame_count(self) -> int:
        """int: Number of frames in the video (from the index)."""
        return len(self._pts)

    def __len__(self) -> int:
        return len(self._pts)

    @property
    def cache_bytes(self) -> int:
        """int: Memory budget of the decoded-frame cache, in bytes (0: no cache)."""
        return self._cache.budget

    @property
    def fps(self) -> float:
        """float: Average frame rate reported by the container (0.0 when unknown)."""
        return self._fps

    @property
    def video_meta_data(self) -> dict[str, list[int]]:
        """dict: ``{"pts_time": [int, ...], "keyframes": [int, ...]}`` (a copy)."""
        return {"pts_time": list(self._pts), "keyframes": list(self._keyframes)}

    # ------------------------------------------------------------------ index input
    def _validated_meta(
        self, meta: dict[str, list[Any]] | None, sorted_stamps: bool
    ) -> dict[str, list[int]] | None:
        """Return a usable copy of supplied meta data, or ``None`` to scan the file.

        ``sorted_stamps``: the file's index is in timestamp order, so a ``pts_time`` that is
        not is invalid. Otherwise (AVIs whose frames come out with their stamps out of order)
        a sorted one is: an index that sorted their stamps (as earlier faceio versions did,
        and other tools may), so the file is scanned again.
        """
        if not meta:
            return None
        try:
            raw_pts = list(meta["pts_time"])
            raw_keys = list(meta["keyframes"])
            if any(isinstance(val, float) and not val.is_integer() for val in raw_pts):
                if not self._time_base:
                    raise ValueError("float timestamps need a stream time base")
                pts = [round(Fraction(val) / self._time_base) for val in raw_pts]
            else:
                pts = [int(val) for val in raw_pts]
            keys = sorted({int(val) for val in raw_keys})
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            logger.warning("Ignoring invalid video_meta_data for '%s' (%s)", self.path, err)
            return None
        ordered = all(a <= b for a, b in itertools.pairwise(pts))
        if not pts or ordered != sorted_stamps:
            logger.warning("Ignoring video_meta_data for '%s': bad pts_time", self.path)
            return None
        if keys and (keys[0] < 0 or keys[-1] >= len(pts)):
            logger.warning("Ignoring video_meta_data for '%s': bad keyframes", self.path)
            return None
        return {"pts_time": pts, "keyframes": keys}

    # ------------------------------------------------------------------ decoding
    def _require_open(self) -> None:
        if self._closed:
            raise ValueError(f"VideoReader for '{self.path}' is closed")

    def _frame_gen(self) -> Iterator[av.VideoFrame]:
        """Decode the current container's video stream from its current position."""
        container = self._container
        assert container is not None
        codec = self._stream.codec_context
        codec.skip_frame = "DEFAULT"
        skipping = False
        for packet in container.demux(self._stream):
            if packet.pts is not None and packet.dts is not None:
                # Learn the seek preroll when the index came from video_meta_data.
                self._preroll = max(self._preroll, packet.pts - packet.dts)
            limit = self._skip_below
            skip = limit is not None and packet.pts is not None and packet.pts < limit
            if skip != skipping:
                codec.skip_frame = "NONREF" if skip else "DEFAULT"
                skipping = skip
            yield from _decode_packet(packet, self.path)
            # Still here with a drain requested: the target was not among this packet's frames
            # (if it was, _decode_to returned and cleared _drain_at, and the decoder stays able
            # to go on). It is in the decoder's reorder delay: drain that instead of decoding
            # more packets. The decoder cannot go on after this.
            if self._drain_at is not None and packet.pts == self._drain_at:
                self._exhausted = True
                try:
                    drained = list(codec.decode(None))
                except av.FFmpegError as err:
                    logger.debug("Draining the decoder of '%s' failed: %s", self.path, err)
                    drained = []
                yield from drained
                return
        if skipping:
            codec.skip_frame = "DEFAULT"

    def _restart(self) -> None:
        """Reopen the file so that decoding starts from its very beginning."""
        if self._container is not None:
            self._container.close()
            self._container = None
        self._container, self._stream = _open(self.path, self._threads)
        self._frames = self._frame_gen()
        self._last = -1
        self._exhausted = False
        self._trusted_from = -1

    def _seek(self, timestamp: int, key_index: int) -> None:
        """Seek (backwards, to a keyframe) to ``timestamp`` in stream time base units.

        ``key_index`` is the keyframe the seek is for: frames decoded from here on are exact
        (may be cached) from that index on, as much as a target reached from this seek is.
        Frames before it, such as the leading pictures of an open GOP, may depend on frames
        before the seek point.
        """
        assert self._container is not None
        self._container.seek(timestamp, stream=self._stream, backward=True, any_frame=False)
        self._stream.codec_context.flush_buffers()
        self._frames = self._frame_gen()
        self._last = None
        self._exhausted = False
        self._trusted_from = key_index

    def _identify(self, frame: av.VideoFrame) -> tuple[int, bool] | None:
        """Display index of a frame just decoded, and whether its own timestamp gave it.

        A frame whose timestamp is not in the index is taken to follow the previous one, and
        so is the next of several frames that share a timestamp (``exact`` False for both).
        ``None`` when the position is unknown: no previous frame, or a first frame whose
        timestamp is shared (it may be any of the frames that have it). :data:`_AGAIN` for a
        frame whose timestamp the decoder has already passed (a seek that landed before its
        keyframe can make it repeat a timestamp on undecodable frames): no frame of the
        sequence, to be passed over.
        """
        stamp = _frame_stamp(frame)
        idx = self._index_of_ts.get(stamp) if stamp is not None else None
        shared = self._repeats.get(stamp) if idx is not None else None
        last = self._last
        if last is None:
            if idx is None or shared:
                return None
            exact = True
        elif idx is None:
            idx, exact = last + 1, False
        elif shared:
            # The first of the frames with this stamp that is still to come.
            later = bisect.bisect_right(shared, last)
            if later == len(shared):
                return _AGAIN
            idx, exact = shared[later], False
        elif idx <= last:
            return _AGAIN
        else:
            exact = True
        self._last = idx
        return idx, exact

    def _cacheable(self, idx: int, exact: bool) -> bool:
        """Whether a decoded frame may be cached as frame ``idx``.

        Only frames identified by their own timestamp: a guessed index can be wrong (frames
        skipped as non-reference never come out), and a cached frame outlives the request.
        """
        return exact and idx >= self._trusted_from

    def _decode_to(
        self, index: int, key_index: int | None, drain: bool = False
    ) -> av.VideoFrame | None:
        """Decode forward to frame ``index``; ``None`` if it cannot be reached from here.

        ``key_index`` (after a seek) is the keyframe that ``index`` depends on: the first
        decoded frame must be at or before it, otherwise the demuxer landed past it.
        ``drain`` flushes the decoder right after the target's packet (random access).
        The exact frames decoded on the way (see :meth:`_seek`) are cached as they come, and
        so are those the drain gives back after the target.
        """
        # Skipped frames never come out, so frames told apart by their order must all be
        # decoded; and a target that shares its timestamp may be in a later packet than the
        # first that has it, so the decoder is not drained after that one.
        target = self._pts[index]
        self._skip_below = None if self._repeats else target
        self._drain_at = target if drain and target not in self._repeats else None
        first = key_index is not None
        cache = self._cache
        try:
            for frame in self._frames:
                identified = self._identify(frame)
                if identified is None:
                    return None  # unknown position: cannot identify frames
                if identified is _AGAIN:
                    continue
                idx, exact = identified
                if first:
                    first = False
                    if idx > key_index:  # type: ignore[operator]
                        logger.debug(
                            "Seek for frame %d of '%s' landed at %d, past keyframe %d",
                            index,
                            self.path,
                            idx,
                            key_index,
                        )
                        return None
                if self._cacheable(idx, exact):
                    cache.put(idx, frame)
                if idx == index:
                    if self._exhausted:  # drained: the frames still to come are decoded
                        for seen, seen_frame in self._drained():
                            cache.put(seen, seen_frame)
                        cache.get(index)  # the frame returned is the most recently used
                    return frame
                if idx > index:
                    return None
            self._exhausted = True
            return None
        finally:
            self._skip_below = None
            self._drain_at = None

    def _drained(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield the exact ``(index, frame)`` pairs that the drain after a target gave back."""
        for frame in self._frames:
            identified = self._identify(frame)
            if identified is None:
                return
            if identified is not _AGAIN and self._cacheable(*identified):
                yield identified[0], frame

    def _seek_plan(self, key_pos: int) -> Iterator[tuple[int, int]]:
        """Seek attempts ``(number, timestamp)`` for a target whose keyframe is ``key_pos``.

        In order: the keyframe's own timestamp; the same minus the largest pts-dts gap, for
        demuxers that seek by decode timestamp (MPEG-TS); then the timestamps of earlier
        keyframes. Attempts before the one that last had to be used are left out, but at
        least one attempt is always made.
        """
        own = self._pts[self._keyframes[key_pos]]
        head = [own, own - self._preroll] if self._preroll > 0 else [own]
        earlier = (self._pts[self._keyframes[pos]] for pos in range(key_pos - 1, -1, -1))
        attempts = enumerate(itertools.chain(head, earlier))
        start = min(self._first_attempt, len(head) + key_pos - 1)
        return itertools.islice(attempts, start, None)

    def _can_continue(self, index: int, key_pos: int) -> bool:
        """Whether decoding forward from the current position is the way to ``index``."""
        last = self._last
        if last is None or self._exhausted or index <= last:
            return False
        if key_pos < 0 or self._keyframes[key_pos] <= last:
            return True  # the target's keyframe is already behind us
        return index - last <= index - self._keyframes[key_pos] + _FORWARD_SLACK

    def _decoded_frame_at(self, index: int) -> av.VideoFrame:
        """Return the decoded (not converted) frame at ``index``."""
        previous, self._previous = self._previous, index
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if self._container is None:
            self._restart()
        key_pos = bisect.bisect_right(self._keyframes, index) - 1
        if self._can_continue(index, key_pos):
            frame = self._decode_to(index, None)
            if frame is not None:
                return frame
            logger.debug("Frame %d of '%s' not reached decoding forward", index, self.path)
        if key_pos >= 0:
            # Jumps drain the decoder after the target; a request just ahead of the previous
            # one suggests forward stepping, so the decoder is kept able to go on.
            drain = previous is None or not 0 < index - previous <= _FORWARD_SLACK
            key_index = self._keyframes[key_pos]
            for attempt, timestamp in self._seek_plan(key_pos):
                try:
                    self._seek(timestamp, key_index)
                except av.FFmpegError as err:
                    # Some demuxers refuse some timestamps (AVI: one before the start).
                    logger.debug("Seek to %d in '%s' failed: %s", timestamp, self.path, err)
                    self._last, self._exhausted = None, True
                    continue
                frame = self._decode_to(index, key_index, drain)
                if frame is not None:
                    if self._first_attempt < attempt <= 1 + (self._preroll > 0):
                        logger.debug(
                            "'%s': seeks need retry %d, using it from now", self.path, attempt
                        )
                        self._first_attempt = attempt
                    return frame
        self._restart()
        frame = self._decode_to(index, None)
        if frame is None:
            raise RuntimeError(
                f"Frame {index} of '{self.path}' is in the index but is never output by the decoder"
            )
        return frame

    def frame_at(self, index: int) -> np.ndarray:
        """Return frame ``index`` exactly as sequential decoding of the file gives it.

        Parameters
        ----------
        index : int
            0-based frame index in display order. Negative values are not accepted.

        Returns
        -------
        numpy.ndarray
            BGR ``uint8`` array of shape ``(height, width, 3)``.

        Raises
        ------
        IndexError
            If ``index`` is outside ``[0, frame_count)``.
        ValueError
            If the reader is closed.
        """
        self._require_open()
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"Frame index must be an int, not {type(index).__name__}")
        if not 0 <= index < len(self._pts):
            raise IndexError(
                f"Frame index {index} is out of range for '{self.path}' "
                f"({len(self._pts)} frames: valid indices are 0 to {len(self._pts) - 1})"
            )
        return _to_bgr(self._decoded_frame_at(int(index)))

    def iter_frames(
        self, skip: Iterable[int] = frozenset(), progress: bool = False
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Decode the whole video in order, yielding ``(index, frame)``.

        Every frame is decoded (decoding is sequential), but frames whose index is in
        ``skip`` are neither converted to BGR nor yielded. The iteration uses its own
        container, so it does not disturb :meth:`frame_at`.

        Parameters
        ----------
        skip : iterable of int, optional
            Frame indices not to yield.
        progress : bool, optional
            Show a tqdm progress bar. Default ``False``.

        Yields
        ------
        tuple of (int, numpy.ndarray)
            The display-order frame index and the BGR ``uint8`` frame.
        """
        self._require_open()
        skip_set = skip if isinstance(skip, (set, frozenset)) else frozenset(skip)
        index_of_ts = self._index_of_ts
        container, stream = _open(self.path)
        pbar = progress_bar(len(self._pts), os.path.basename(self.path), "frame", progress)
        try:
            last = -1
            for frame in self._decode_all(container, stream):
                stamp = _frame_stamp(frame)
                idx = index_of_ts.get(stamp, -1) if stamp is not None else -1
                if idx <= last:
                    idx = last + 1
                last = idx
                if pbar is not None:
                    pbar.update(1)
                if idx in skip_set:
                    continue
                yield idx, _to_bgr(frame)
        finally:
            if pbar is not None:
                pbar.close()
            container.close()

    def _decode_all(
        self, container: av.container.InputContainer, stream: av.VideoStream
    ) -> Iterator[av.VideoFrame]:
        """Decode every frame of ``stream`` in order, skipping undecodable packets."""
        for packet in container.demux(stream):
            yield from _decode_packet(packet, self.path)

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the underlying container. Safe to call more than once."""
        self._closed = True
        self._cache.clear()
        container, self._container = self._container, None
        if container is not None:
            container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._pts)} frames"
        return f"{type(self).__name__}({self.path!r}, {state})"
