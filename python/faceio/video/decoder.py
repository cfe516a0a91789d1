"""The random-access side of a reader: a decoder positioned in the stream, and seek retries.

A :class:`Decoder` is an open container somewhere in the stream. It decodes forward from
there, one request at a time (:meth:`Decoder.frames`), and tells which frame of the index each
decoded frame is by its timestamp (:meth:`Decoder.identify`). Where the demuxer lands after a
seek is never trusted: the reader checks the first frame identified. :class:`SeekMemory` holds
what seeks in the file have taught: how far before a keyframe to retry a seek in demuxers that
seek by decode timestamp (MPEG-TS), and which retry worked, so that it is used from then on.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import av

from faceio.video.index import VideoIndex
from faceio.video.stream import decode_packet, frame_stamp, open_video

__all__ = ["AGAIN", "Decoder", "SeekMemory"]

logger = logging.getLogger(__name__)

#: What :meth:`Decoder.identify` gives for a frame the decoder repeated (see there).
AGAIN: tuple[int, bool] = (-1, False)


@dataclass
class SeekMemory:
    """Where to seek for a keyframe, as seeks in one file have taught.

    Attributes
    ----------
    preroll : int
        The largest ``pts - dts`` seen (from the scan, else learnt while decoding): how far
        before a keyframe's presentation timestamp to retry a seek in formats that seek by
        decode timestamp.
    first_attempt : int
        The attempt of :meth:`plan` that worked last time a seek needed a retry.
    """

    preroll: int = 0
    first_attempt: int = 0

    def plan(self, index: VideoIndex, key_pos: int) -> Iterator[tuple[int, int]]:
        """Seek attempts ``(number, timestamp)`` for a target whose keyframe is ``key_pos``.

        In order: the keyframe's own timestamp; the same minus the preroll, for demuxers that
        seek by decode timestamp (MPEG-TS); then the timestamps of earlier keyframes. Attempts
        before the one that last had to be used are left out, but at least one attempt is
        always made.
        """
        pts, keyframes = index.pts, index.keyframes
        own = pts[keyframes[key_pos]]
        head = [own, own - self.preroll] if self.preroll > 0 else [own]
        earlier = (pts[keyframes[pos]] for pos in range(key_pos - 1, -1, -1))
        attempts = enumerate(itertools.chain(head, earlier))
        start = min(self.first_attempt, len(head) + key_pos - 1)
        return itertools.islice(attempts, start, None)

    def worked(self, attempt: int, path: str) -> None:
        """Note that seek ``attempt`` of a :meth:`plan` reached its target."""
        if self.first_attempt < attempt <= 1 + (self.preroll > 0):
            logger.debug("'%s': seeks need retry %d, using it from now", path, attempt)
            self.first_attempt = attempt


class Decoder:
    """An open container of a video, decoding forward from where it was started or sought.

    Parameters
    ----------
    path : str
        The video file, opened at its start.
    index : VideoIndex
        The file's index, by which decoded frames are identified.
    threads : str
        The decoder ``thread_type``.
    seeks : SeekMemory
        Where the preroll seen in the packets decoded is recorded.
    thread_count : int, optional
        The most decoder threads (0, the default: FFmpeg's choice, about one per core).

    Attributes
    ----------
    last : int or None
        Index of the last frame identified; ``-1`` before the first frame of the file,
        ``None`` when unknown (after a seek, before a frame is identified).
    exhausted : bool
        The decoder cannot go on: end of file, drained, or a seek that failed.
    trusted_from : int
        Frames identified from here on are exact from this index on (see :meth:`seek`).
    """

    def __init__(
        self, path: str, index: VideoIndex, threads: str, seeks: SeekMemory, thread_count: int = 0
    ) -> None:
        self.path = path
        self._index = index
        self._seeks = seeks
        self.container, self.stream = open_video(path, threads, thread_count)
        self._packets: Iterator[av.Packet[av.VideoStream]] = iter(())
        # Frames decoded but not yet handed out when a request stopped: the next one's first.
        self._pending: deque[av.VideoFrame] = deque()
        # Whether non-reference frames are being skipped (the codec's skip_frame is NONREF).
        self._skipping = False
        # After a seek: packets are dropped until the first keyframe packet (see seek).
        self._await_key = False
        self.last: int | None = None
        self.exhausted = True
        self.trusted_from = 0
        self._start(-1, -1)

    def _start(self, last: int | None, trusted_from: int) -> None:
        """Decode from the container's current position on."""
        self._packets = self.container.demux(self.stream)
        self._pending.clear()
        self._await_key = False
        self.stream.codec_context.skip_frame = "DEFAULT"
        self._skipping = False
        self.last = last
        self.exhausted = False
        self.trusted_from = trusted_from

    def seek(self, timestamp: int, key_index: int) -> None:
        """Seek (backwards, to a keyframe) to ``timestamp`` in stream time base units.

        ``key_index`` is the keyframe the seek is for: frames decoded from here on are exact
        (may be cached) from that index on, as much as a target reached from this seek is.
        Frames before it, such as the leading pictures of an open GOP, may depend on frames
        before the seek point.
        """
        self.container.seek(timestamp, stream=self.stream, backward=True, any_frame=False)
        self.stream.codec_context.flush_buffers()
        self._start(None, key_index)
        # Demuxers may land on a packet that is not a keyframe (MPEG-TS seeking by decode
        # timestamp): decoded without their references, such packets give wrong pictures that
        # still carry real timestamps. The index's keyframes are the packets flagged so, and
        # decoding from one of them is what the seek is for.
        self._await_key = True

    def lost(self) -> None:
        """Forget the position (a seek failed): nothing is decoded before the next seek."""
        self.last, self.exhausted = None, True

    def close(self) -> None:
        """Close the container."""
        self.container.close()

    def frames(self, skip_below: int | None, drain_at: int | None) -> Iterator[av.VideoFrame]:
        """Decode forward from the current position, for one request.

        Non-reference frames of packets stamped before ``skip_below`` are not decoded
        (``skip_frame = "NONREF"``): catching up to a target, they cannot change any decoded
        picture. After the packet stamped ``drain_at``, the decoder is drained (its reorder
        delay given back at once) and cannot go on. Frames decoded but not consumed when the
        caller stops are the first of the next request.
        """
        pending = self._pending
        while pending:
            yield pending.popleft()
        codec = self.stream.codec_context
        seeks = self._seeks
        for packet in self._packets:
            if self._await_key:
                if not packet.is_keyframe:
                    continue
                self._await_key = False
            if packet.pts is not None and packet.dts is not None:
                # Learn the seek preroll when the index came from video_meta_data.
                seeks.preroll = max(seeks.preroll, packet.pts - packet.dts)
            skip = skip_below is not None and packet.pts is not None and packet.pts < skip_below
            if skip != self._skipping:
                codec.skip_frame = "NONREF" if skip else "DEFAULT"
                self._skipping = skip
            pending.extend(decode_packet(packet, self.path))
            while pending:
                yield pending.popleft()
            # Still here with a drain requested: the target was not among this packet's frames
            # (if it was, the request ended and the decoder stays able to go on). It is in the
            # decoder's reorder delay: drain that instead of decoding more packets.
            if drain_at is not None and packet.pts == drain_at:
                self.exhausted = True
                pending.extend(self._drain())
                while pending:
                    yield pending.popleft()
                return
        if self._skipping:
            codec.skip_frame = "DEFAULT"
            self._skipping = False

    def _drain(self) -> list[av.VideoFrame]:
        """Flush the decoder: the frames it still holds (none if that fails)."""
        try:
            return list(self.stream.codec_context.decode(None))
        except av.FFmpegError as err:
            logger.debug("Draining the decoder of '%s' failed: %s", self.path, err)
            return []

    def identify(self, frame: av.VideoFrame) -> tuple[int, bool] | None:
        """Display index of a frame just decoded, and whether its own timestamp gave it.

        A frame whose timestamp is not in the index is taken to follow the previous one, and
        so is the next of several frames that share a timestamp (``exact`` False for both).
        ``None`` when the position is unknown: no previous frame, or a first frame whose
        timestamp is shared (it may be any of the frames that have it). :data:`AGAIN` for a
        frame whose timestamp the decoder has already passed (a seek that landed before its
        keyframe can make it repeat a timestamp on undecodable frames): no frame of the
        sequence, to be passed over.
        """
        stamp = frame_stamp(frame)
        idx = shared = None
        if stamp is not None:
            idx = self._index.position.get(stamp)
            if idx is not None:
                shared = self._index.repeats.get(stamp)
        last = self.last
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
                return AGAIN
            idx, exact = shared[later], False
        elif idx <= last:
            return AGAIN
        else:
            exact = True
        self.last = idx
        return idx, exact

    def cacheable(self, idx: int, exact: bool) -> bool:
        """Whether a decoded frame may be cached as frame ``idx``.

        Only frames identified by their own timestamp: a guessed index can be wrong (frames
        skipped as non-reference never come out), and a cached frame outlives the request.
        """
        return exact and idx >= self.trusted_from

    def exact_frames(self, frames: Iterator[av.VideoFrame]) -> Iterator[tuple[int, av.VideoFrame]]:
        """Yield the cacheable ``(index, frame)`` pairs among the rest of ``frames``."""
        for frame in frames:
            identified = self.identify(frame)
            if identified is None:
                return
            if identified is not AGAIN and self.cacheable(*identified):
                yield identified[0], frame
