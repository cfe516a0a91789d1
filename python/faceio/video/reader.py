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
by the largest pts-dts gap seen, and the retry that worked is used from then on. MPEG program
streams (.mpg, .vob) are never sought: after a seek their demuxer may stamp every frame off by
the same amount, so the frames could not be told apart; their frames are decoded forward from
the last one decoded, or from the start.
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
import copy
import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator, Sequence, Set
from fractions import Fraction
from types import TracebackType

import av
import numpy as np

from faceio._progress import progress_bar
from faceio.errors import FaceioError

# Called through their modules, so that replacing a module's function reaches every caller.
from faceio.video import batch, convert, scan
from faceio.video.cache import DEFAULT_CACHE_BYTES, FrameCache
from faceio.video.decoder import AGAIN, Decoder, SeekMemory
from faceio.video.index import MetaData, VideoIndex
from faceio.video.stream import fraction, mean_rate, open_video
from faceio.video.traits import VideoTraits

__all__ = ["VideoReader"]


logger = logging.getLogger(__name__)

# Decode forward instead of seeking when the target is at most this many frames further than
# it would be from its own keyframe (a seek also refills the decoder's delay pipeline).
_FORWARD_SLACK = 4
# The most decoded frames (bytes, as BGR) one batch of a sparse iter_frames holds.
_ITER_BATCH_BYTES = 32 * 1024 * 1024


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
        # Private copies of this reader that decode parts of a frames_at batch in threads.
        self._helpers: list[VideoReader] = []
        # The most threads of the random-access decoder (0: FFmpeg's automatic count).
        self._thread_count = 0
        container, stream = open_video(self.path)
        try:
            self._traits = VideoTraits.of(container, stream)
            declared = fraction(stream.average_rate)
            guessed = fraction(stream.guessed_rate)
            codec = stream.codec_context
            self._width, self._height, self._codec = int(codec.width), int(codec.height), codec.name
            time_base = fraction(stream.time_base)
            index = VideoIndex.from_meta(
                video_meta_data,
                time_base,
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
        self._fps = mean_rate(declared, guessed, index.pts, time_base)
        self._duration = _duration(index.pts, time_base, self._fps)

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
        """float: Average frame rate the container reports, else the index's mean.

        The mean is frames over the span of their timestamps, for a container that keeps no
        average rate; 0.0 when unknown.
        """
        return self._fps

    @property
    def duration(self) -> float:
        """float: Seconds from the first frame's timestamp to the end of the last frame.

        Taken from the index: the span of the frames' timestamps plus one mean frame interval
        (for a constant rate, ``frame_count / fps``; for a variable rate, the last frame is
        given the mean interval, as its own length is not stored). 0.0 for a single frame of
        unknown rate.
        """
        return self._duration

    @property
    def width(self) -> int:
        """int: Frame width in pixels, as the decoder reports it for the stream."""
        return self._width

    @property
    def height(self) -> int:
        """int: Frame height in pixels, as the decoder reports it for the stream."""
        return self._height

    @property
    def codec(self) -> str:
        """str: FFmpeg's name of the stream's decoder (``"h264"``, ``"hevc"``, ``"mpeg4"``...)."""
        return self._codec

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
        faceio.FaceioError
            If the decoder never outputs the frame (a stream damaged there; the index counts
            the frames the file holds, iteration leaves out those that never decode).
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

    def frames_at(self, indices: Iterable[int] | np.ndarray) -> np.ndarray:
        """Return many frames at once, each exactly as :meth:`frame_at` gives it.

        The requests are sorted and de-duplicated, each stretch from a keyframe to the
        targets after it is decoded once, and stretches that need their own seek are decoded
        in parallel: one decoder per core this process may use (at most
        :data:`~faceio.video.batch.MAX_WORKERS`), each with its own open file. Frames already
        in the cache are not decoded again.

        Memory: besides the returned array, each decoder holds its own reference frames (a
        few frames of the video's size) and one converted frame at a time; decoded frames
        are written into the result as they come, never collected. The helper decoders stay
        open for later batches until :meth:`close`; they do not cache frames, while this
        reader's own decoder fills its cache as :meth:`frame_at` does. Each helper decodes on
        its share of the cores (cores // decoders threads, at least one), so that the pool does
        not run a thread per core in every decoder.

        Parameters
        ----------
        indices : iterable of int or numpy.ndarray
            0-based frame indices in display order, in any order, repeats allowed.

        Returns
        -------
        numpy.ndarray
            BGR ``uint8`` array of shape ``(len(indices), height, width, 3)``, in the order of
            ``indices``; ``(0, height, width, 3)`` for no indices.

        Raises
        ------
        IndexError
            If an index is outside ``[0, frame_count)`` (the first such index is named).
        TypeError
            If an index is not an integer.
        ValueError
            If the reader is closed, or a frame's size differs from the stream's (a video
            that changes size cannot be stacked into one array).
        """
        self._require_open()
        wanted = batch.as_indices(indices, len(self._index.pts), self.path)
        out = np.empty((len(wanted), self._height, self._width, 3), dtype=np.uint8)
        if not len(wanted):
            return out
        order = np.argsort(wanted, kind="stable")
        ordered = wanted[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        # Each distinct index is decoded into the first row that asked for it.
        first_row = dict(zip(ordered[starts].tolist(), order[starts].tolist(), strict=True))
        targets = [index for index in first_row if not self._from_cache(index, out, first_row)]
        if self._traits.seekable:
            segments = batch.plan_segments(targets, self._index.keyframes, _FORWARD_SLACK)
        else:  # one forward pass from the start (see VideoTraits.seekable)
            segments = [targets] if targets else []
        # Computed once here: the helper threads share the index.
        _ = self._index.position, self._index.repeats

        def decode(reader: VideoReader, segment: list[int]) -> None:
            reader._decode_segment(segment, out, first_row)

        try:
            batch.run_segments(decode, segments, self, self._helper_readers)
        finally:
            self._learn_from_helpers()
        # Repeated requests copy the row decoded for the first of them.
        source = np.repeat(order[starts], np.diff(np.append(starts, len(ordered))))
        repeats = source != order
        if repeats.any():
            out[order[repeats]] = out[source[repeats]]
        return out

    def __getitem__(self, key: int | slice) -> np.ndarray:
        """Return ``frame_at(key)``, or ``frames_at(range(len(self))[key])`` for a slice.

        Negative indices count from the end, as for a list; a slice gives an
        ``(N, height, width, 3)`` array.
        """
        count = len(self._index.pts)
        if isinstance(key, slice):
            return self.frames_at(range(count)[key])
        if not isinstance(key, (int, np.integer)) or isinstance(key, bool):
            raise TypeError(f"Frame index must be an int or a slice, not {type(key).__name__}")
        index = int(key)
        if not -count <= index < count:
            raise IndexError(
                f"Frame index {index} is out of range for '{self.path}' "
                f"({count} frames: valid indices are {-count} to {count - 1})"
            )
        return self.frame_at(index + count if index < 0 else index)

    def _from_cache(self, index: int, out: np.ndarray, rows: dict[int, int]) -> bool:
        """Write frame ``index`` into its row of ``out`` from the cache, if it is there."""
        frame = self._cache.get(index)
        if frame is None:
            return False
        self._write(index, frame, out, rows)
        return True

    def _write(
        self, index: int, frame: av.VideoFrame, out: np.ndarray, rows: dict[int, int]
    ) -> None:
        """Convert frame ``index`` into its row of ``out``; a frame of another size is refused."""
        if not convert.to_bgr_into(frame, out[rows[index]]):
            raise _SizeChangedError(
                f"Frame {index} of '{self.path}' is {frame.width}x{frame.height}, not "
                f"{self._width}x{self._height} like the stream: frames of different sizes "
                "cannot be returned as one array (use frame_at)"
            )

    def _decode_segment(self, segment: list[int], out: np.ndarray, rows: dict[int, int]) -> None:
        """Decode the ascending targets of ``segment`` (one seek at most) into ``out``.

        The decoder is drained after the last target only: the others are followed by more
        targets that the same forward decoding reaches.
        """
        last = len(segment) - 1
        for pos, index in enumerate(segment):
            frame = self._decoded_frame_at(index, drain=pos == last)
            self._write(index, frame, out, rows)

    def _helper_readers(self, count: int) -> list[VideoReader]:
        """``count`` private copies of this reader for batch threads (kept until close).

        Each decodes on its share of the cores (:func:`~faceio.video.batch.helper_threads` of
        a pool of ``count + 1`` with this reader); a helper kept from a batch of another pool
        size reopens its decoder with the new share when it next decodes.
        """
        while len(self._helpers) < count:
            self._helpers.append(self._clone())
        threads = batch.helper_threads(count + 1)
        helpers = self._helpers[:count]
        for helper in helpers:
            if helper._thread_count != threads:
                helper._thread_count = threads
                decoder, helper._decoder = helper._decoder, None
                if decoder is not None:
                    decoder.close()
        return helpers

    def _clone(self) -> VideoReader:
        """Return a reader of the same file and index with its own decoder and seek memory.

        It caches nothing. What its seeks learn is merged back by :meth:`_learn_from_helpers`.
        """
        clone = copy.copy(self)
        clone._cache = FrameCache(0)
        clone._decoder, clone._previous, clone._helpers = None, None, []
        clone._thread_count = 0
        clone._seeks = dataclasses.replace(self._seeks)
        return clone

    def _learn_from_helpers(self) -> None:
        """Keep what the helpers' seeks taught (the preroll, the retry that works)."""
        for helper in self._helpers:
            self._seeks.preroll = max(self._seeks.preroll, helper._seeks.preroll)
            self._seeks.first_attempt = max(self._seeks.first_attempt, helper._seeks.first_attempt)

    def _require_open(self) -> None:
        if self._closed:
            raise ValueError(f"VideoReader for '{self.path}' is closed")

    def _decoded_frame_at(self, index: int, drain: bool | None = None) -> av.VideoFrame:
        """Return the decoded (not converted) frame at ``index``.

        ``drain``: flush the decoder right after the target (``True``) or keep it able to go on
        (``False``); ``None`` guesses from the previous request (a batch knows the next one).
        """
        previous, self._previous = self._previous, index
        cached = self._cache.get(index)
        if cached is not None:
            return cached
        if self._decoder is None:
            self._restart()
        key_pos = bisect.bisect_right(self._index.keyframes, index) - 1
        if self._can_continue(index, key_pos):
            frame = self._decode_to(index, None, bool(drain))
            if frame is not None:
                return frame
            logger.debug("Frame %d of '%s' not reached decoding forward", index, self.path)
        if key_pos >= 0 and self._traits.seekable:
            # Jumps drain the decoder after the target; a request just ahead of the previous
            # one suggests forward stepping, so the decoder is kept able to go on.
            if drain is None:
                drain = previous is None or not 0 < index - previous <= _FORWARD_SLACK
            frame = self._seek_to(index, key_pos, drain)
            if frame is not None:
                return frame
        self._restart()
        frame = self._decode_to(index, None)
        if frame is None:
            raise _NeverOutputError(
                f"Frame {index} of '{self.path}' is in the index but the decoder never outputs "
                "it (the stream is damaged there: sequential iteration leaves it out)",
                self.path,
            )
        return frame

    def _can_continue(self, index: int, key_pos: int) -> bool:
        """Whether decoding forward from the current position is the way to ``index``."""
        decoder = self._decoder
        assert decoder is not None
        last = decoder.last
        if last is None or decoder.exhausted or index <= last:
            return False
        if not self._traits.seekable:
            return True  # forward is the only way
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
        self._decoder = Decoder(self.path, self._index, threads, self._seeks, self._thread_count)

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
        ``skip`` are neither converted to BGR nor yielded. When ``skip`` leaves at least half
        of the keyframe intervals (GOPs) with no frame to yield, the frames kept are read
        through :meth:`frames_at` instead, in batches of at most 32 MiB of frames: the GOPs
        with nothing to yield are not decoded, and the others are decoded on every core.
        The frames are the same either way. The iteration uses its own containers, so it
        does not disturb :meth:`frame_at`.

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
        kept = self._sparse_kept(skip_set)
        if kept is not None:
            yield from self._iter_batches(kept, progress)
            return
        index_of_ts = self._index.position
        to_bgr = convert.to_bgr
        container, stream = open_video(self.path)
        pbar = progress_bar(len(self._index.pts), os.path.basename(self.path), "frame", progress)
        # The per-frame work is kept in this one loop, with names bound locally: for small
        # frames (202x118 decodes in about 16 us) each extra Python call shows.
        decode = stream.codec_context.decode
        try:
            last = -1
            for packet in container.demux(stream):
                try:
                    frames = decode(packet)
                except av.InvalidDataError as err:
                    logger.debug(
                        "Undecodable packet in '%s' (pts %s): %s", self.path, packet.pts, err
                    )
                    continue
                for frame in frames:
                    stamp = frame.pts if frame.pts is not None else frame.dts
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

    def _sparse_kept(self, skip: Set[int]) -> list[int] | None:
        """Return the frames not in ``skip`` if they leave half of the GOPs or more untouched."""
        keyframes = self._index.keyframes
        if not skip or not keyframes:
            return None
        count = len(self._index.pts)
        kept = [index for index in range(count) if index not in skip]
        gops = len(keyframes) + (keyframes[0] > 0)  # frames before the first keyframe: one more
        touched = len(np.unique(np.searchsorted(keyframes, kept, side="right")))
        return kept if 2 * touched <= gops else None

    def _iter_batches(self, kept: list[int], progress: bool) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frame)`` for ``kept`` (ascending), read by batches on a clone."""
        per_batch = max(1, _ITER_BATCH_BYTES // max(1, self._width * self._height * 3))
        reader = self._clone()
        pbar = progress_bar(len(kept), os.path.basename(self.path), "frame", progress)
        try:
            for start in range(0, len(kept), per_batch):
                part = kept[start : start + per_batch]
                try:
                    pairs: Iterable[tuple[int, np.ndarray]] = zip(
                        part, reader.frames_at(part), strict=True
                    )
                except (_SizeChangedError, _NeverOutputError):
                    # Frames of another size cannot be one array, and a frame the decoder never
                    # outputs is left out, as sequential iteration leaves it out: one at a time.
                    pairs = _one_by_one(reader, part)
                for index, frame in pairs:
                    if pbar is not None:
                        pbar.update(1)
                    # A copy: a row kept by the caller must not hold the whole batch.
                    yield index, frame.copy()
        finally:
            if pbar is not None:
                pbar.close()
            reader.close()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        """Close the underlying container. Safe to call more than once."""
        self._closed = True
        self._cache.clear()
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()
        helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.close()

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


class _SizeChangedError(ValueError):
    """A frame of a batch is not of the stream's size (the stream changes size)."""


class _NeverOutputError(FaceioError):
    """A frame of the index that the decoder never outputs (a damaged stream)."""


def _one_by_one(reader: VideoReader, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame_at(index))``, leaving out the frames never output."""
    for index in indices:
        try:
            yield index, reader.frame_at(index)
        except _NeverOutputError:
            logger.debug("Frame %d of '%s' is never output: left out", index, reader.path)


def _duration(pts: Sequence[int], time_base: Fraction | None, fps: float) -> float:
    """Seconds from the first timestamp to the end of the last frame (see ``duration``)."""
    count = len(pts)
    if count > 1 and time_base:
        span = (max(pts) - min(pts)) * time_base
        return float(span * count / (count - 1))
    return count / fps if fps > 0 else 0.0
