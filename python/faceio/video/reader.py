"""Exact random and sequential access to the frames of a video: :class:`VideoReader`.

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
import logging
import os
from collections.abc import Iterable, Iterator
from types import TracebackType

import av
import numpy as np

from faceio._progress import progress_bar

# Called through their modules, so that replacing a module's function reaches every caller.
from faceio.video import convert, scan
from faceio.video.cache import DEFAULT_CACHE_BYTES, FrameCache
from faceio.video.decoder import AGAIN, Decoder, SeekMemory
from faceio.video.index import MetaData, VideoIndex
from faceio.video.stream import decode_packet, frame_stamp, open_video
from faceio.video.traits import VideoTraits

__all__ = ["VideoReader"]


logger = logging.getLogger(__name__)

# Decode forward instead of seeking when the target is at most this many frames further than
# it would be from its own keyframe (a seek also refills the decoder's delay pipeline).
_FORWARD_SLACK = 4


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
        video_meta_data: MetaData | None = None,
        progress: bool = False,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.path: str = os.fspath(path)
        self._closed = False
        self._cache = FrameCache(max(0, int(cache_bytes)))
        # The random-access decoder is opened on the first frame_at call.
        self._decoder: Decoder | None = None
        self._previous: int | None = None  # the previous frame_at request
        container, stream = open_video(self.path)
        try:
            self._traits = VideoTraits.of(container, stream)
            self._fps = float(stream.average_rate or stream.guessed_rate or 0.0)
            index = VideoIndex.from_meta(
                video_meta_data,
                stream.time_base,
                sorted_stamps=not self._traits.stamps_out_of_order,
                path=self.path,
            )
            preroll = 0
            if index is None:
                index, preroll = scan.index_stream(
                    container, stream, self._traits, self.path, progress
                )
        finally:
            container.close()
        if not index.pts:
            self._closed = True
            raise ValueError(f"'{self.path}' contains no video frames")
        self._index = index
        self._seeks = SeekMemory(preroll=preroll)

    # ------------------------------------------------------------------ properties
    @property
    def frame_count(self) -> int:
        """int: Number of frames in the video (from the index)."""
        return len(self._index.pts)

    def __len__(self) -> int:
        return len(self._index.pts)

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
        return self._index.to_meta()

    # ------------------------------------------------------------------ random access
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
        count = len(self._index.pts)
        if not 0 <= index < count:
            raise IndexError(
                f"Frame index {index} is out of range for '{self.path}' "
                f"({count} frames: valid indices are 0 to {count - 1})"
            )
        return convert.to_bgr(self._decoded_frame_at(int(index)))

    def _require_open(self) -> None:
        if self._closed:
            raise ValueError(f"VideoReader for '{self.path}' is closed")

    def _decoded_frame_at(self, index: int) -> av.VideoFrame:
        """Return the decoded (not converted) frame at ``index``."""
        previous, self._previous = self._previous, index
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if self._decoder is None:
            self._restart()
        key_pos = bisect.bisect_right(self._index.keyframes, index) - 1
        if self._can_continue(index, key_pos):
            frame = self._decode_to(index, None)
            if frame is not None:
                return frame
            logger.debug("Frame %d of '%s' not reached decoding forward", index, self.path)
        if key_pos >= 0:
            # Jumps drain the decoder after the target; a request just ahead of the previous
            # one suggests forward stepping, so the decoder is kept able to go on.
            drain = previous is None or not 0 < index - previous <= _FORWARD_SLACK
            frame = self._seek_to(index, key_pos, drain)
            if frame is not None:
                return frame
        self._restart()
        frame = self._decode_to(index, None)
        if frame is None:
            raise RuntimeError(
                f"Frame {index} of '{self.path}' is in the index but is never output by the decoder"
            )
        return frame

    def _can_continue(self, index: int, key_pos: int) -> bool:
        """Whether decoding forward from the current position is the way to ``index``."""
        decoder = self._decoder
        assert decoder is not None
        last = decoder.last
        if last is None or decoder.exhausted or index <= last:
            return False
        keyframes = self._index.keyframes
        if key_pos < 0 or keyframes[key_pos] <= last:
            return True  # the target's keyframe is already behind us
        return index - last <= index - keyframes[key_pos] + _FORWARD_SLACK

    def _seek_to(self, index: int, key_pos: int, drain: bool) -> av.VideoFrame | None:
        """Decode frame ``index`` after a seek for its keyframe ``key_pos``, with retries.

        ``None`` if no seek of the plan (see :meth:`SeekMemory.plan`) reaches it.
        """
        key_index = self._index.keyframes[key_pos]
        for attempt, timestamp in self._seeks.plan(self._index, key_pos):
            try:
                self._seek(timestamp, key_index)
            except av.FFmpegError as err:
                # Some demuxers refuse some timestamps (AVI: one before the start).
                logger.debug("Seek to %d in '%s' failed: %s", timestamp, self.path, err)
                assert self._decoder is not None
                self._decoder.lost()
                continue
            frame = self._decode_to(index, key_index, drain)
            if frame is not None:
                self._seeks.worked(attempt, self.path)
                return frame
        return None

    def _restart(self) -> None:
        """Reopen the file so that decoding starts from its very beginning."""
        if self._decoder is not None:
            self._decoder.close()
            self._decoder = None
        threads = self._traits.random_access_threads(self._index.mean_gop)
        self._decoder = Decoder(self.path, self._index, threads, self._seeks)

    def _seek(self, timestamp: int, key_index: int) -> None:
        """Seek the decoder to ``timestamp`` for keyframe ``key_index`` (see Decoder.seek)."""
        assert self._decoder is not None
        self._decoder.seek(timestamp, key_index)

    def _decode_to(
        self, index: int, key_index: int | None, drain: bool = False
    ) -> av.VideoFrame | None:
        """Decode forward to frame ``index``; ``None`` if it cannot be reached from here.

        ``key_index`` (after a seek) is the keyframe that ``index`` depends on: the first
        decoded frame must be at or before it, otherwise the demuxer landed past it.
        ``drain`` flushes the decoder right after the target's packet (random access).
        The exact frames decoded on the way (see :meth:`Decoder.seek`) are cached as they
        come, and so are those the drain gives back after the target.
        """
        decoder = self._decoder
        assert decoder is not None
        # Skipped frames never come out, so frames told apart by their order must all be
        # decoded; and a target that shares its timestamp may be in a later packet than the
        # first that has it, so the decoder is not drained after that one.
        target = self._index.pts[index]
        repeats = self._index.repeats
        frames = decoder.frames(
            skip_below=None if repeats else target,
            drain_at=target if drain and target not in repeats else None,
        )
        first = key_index is not None
        cache = self._cache
        for frame in frames:
            identified = decoder.identify(frame)
            if identified is None:
                return None  # unknown position: cannot identify frames
            if identified is AGAIN:
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
            if decoder.cacheable(idx, exact):
                cache.put(idx, frame)
            if idx == index:
                if decoder.exhausted:  # drained: the frames still to come are decoded
                    for seen, seen_frame in decoder.exact_frames(frames):
                        cache.put(seen, seen_frame)
                    cache.get(index)  # the frame returned is the most recently used
                return frame
            if idx > index:
                return None
        decoder.exhausted = True
        return None

    # ------------------------------------------------------------------ iteration
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
        index_of_ts = self._index.position
        to_bgr = convert.to_bgr
        container, stream = open_video(self.path)
        pbar = progress_bar(len(self._index.pts), os.path.basename(self.path), "frame", progress)
        try:
            last = -1
            for frame in _decode_all(container, stream, self.path):
                stamp = frame_stamp(frame)
                idx = index_of_ts.get(stamp, -1) if stamp is not None else -1
                if idx <= last:
                    idx = last + 1
                last = idx
                if pbar is not None:
                    pbar.update(1)
                if idx in skip_set:
                    continue
                yield idx, to_bgr(frame)
        finally:
            if pbar is not None:
                pbar.close()
            container.close()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the underlying container. Safe to call more than once."""
        self._closed = True
        self._cache.clear()
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()

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
        state = "closed" if self._closed else f"{len(self._index.pts)} frames"
        return f"{type(self).__name__}({self.path!r}, {state})"


def _decode_all(
    container: av.container.InputContainer, stream: av.VideoStream, path: str
) -> Iterator[av.VideoFrame]:
    """Decode every frame of ``stream`` in order, skipping undecodable packets."""
    for packet in container.demux(stream):
        yield from decode_packet(packet, path)
