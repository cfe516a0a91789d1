"""Building a video's index by demuxing it, and counting its frames.

The index is built from the packets alone (no decoding), except for the start of the stream:
which frames before the first keyframe come out of the decoder depends on the codec, so the
start is decoded once to see (:func:`_settle_start`). Files whose frames come out with their
stamps out of order (see :attr:`~faceio.video.traits.VideoTraits.stamps_out_of_order`) are
indexed by decoding them whole.
"""

from __future__ import annotations

import logging
import os

import av

from faceio._progress import progress_bar
from faceio.video.index import VideoIndex
from faceio.video.stream import decode_packet, frame_stamp, open_video
from faceio.video.traits import SEQUENTIAL_THREADS, START_THREADS, VideoTraits

__all__ = ["FAST_COUNT_PACKETS", "count_frames", "index_stream", "scan_video"]

logger = logging.getLogger(__name__)

_PROGRESS_STEP = 256
#: How many packets a fast count demuxes before it estimates the rest.
FAST_COUNT_PACKETS = 1000


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
    container, stream = open_video(path)
    try:
        traits = VideoTraits.of(container, stream)
        return index_stream(container, stream, traits, path, progress)[0].to_meta()
    finally:
        container.close()


def index_stream(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    traits: VideoTraits,
    path: str,
    progress: bool,
) -> tuple[VideoIndex, int]:
    """Build the index of an open stream (whose ``traits`` are given) by demuxing it.

    Also returns the largest ``pts - dts`` seen (0 if none): how far before a keyframe's
    presentation timestamp to seek in formats that seek by decode timestamp (MPEG-TS).
    """
    stamps, key_stamps, before_key, reorder = _demux(container, stream, path, progress)
    if traits.stamps_out_of_order:
        # Only decoding tells the display order: the index is the order frames come out in
        # (which also settles the start, as _settle_start does for the others).
        logger.debug("'%s' has decode-order stamps: indexing it by decoding", path)
        pts_time = _shown_before(path, None)[0]
    else:
        pts_time = sorted(_settle_start(path, stamps, before_key, key_stamps))
    index = VideoIndex.from_stamps(pts_time, key_stamps)
    logger.debug(
        "Indexed '%s': %d frames, %d keyframes", path, len(index.pts), len(index.keyframes)
    )
    return index, reorder


def _demux(
    container: av.container.InputContainer, stream: av.VideoStream, path: str, progress: bool
) -> tuple[list[int], list[int], list[int], int]:
    """Demux a whole stream and return what ``index_stream`` builds the index from.

    In order: the stamps of the frames from the first keyframe on (decode order), of the
    keyframes, of the frames before the first keyframe, and the largest pts-dts gap.
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
    return stamps, key_stamps, before_key, reorder


def _packet_stamp(packet: av.Packet[av.VideoStream]) -> int | None:
    """Return the stamp (pts, else dts) of a packet that holds a frame; ``None`` for the rest.

    Empty packets (the demuxer's end of stream), packets an edit list discards and unstamped
    packets hold no frame of the index.
    """
    if packet.size == 0 or packet.is_discard:
        return None
    return packet.pts if packet.pts is not None else packet.dts


def _settle_start(
    path: str, stamps: list[int], before_key: list[int], key_stamps: list[int]
) -> list[int]:
    """Correct the demuxed stamps at the start of the stream to what the decoder outputs.

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
    threads = START_THREADS if first_key is not None else SEQUENTIAL_THREADS
    container, stream = open_video(path, threads)
    shown: list[int] = []
    try:
        # The demuxer's end-of-stream packet (empty) drains the decoder.
        for packet in container.demux(stream):
            for frame in decode_packet(packet, path):
                stamp = frame_stamp(frame)
                if stamp == first_key:
                    return shown, True
                if stamp is not None:
                    shown.append(stamp)
    except av.FFmpegError as err:
        logger.debug("Decoding the start of '%s' stopped: %s", path, err)
    finally:
        container.close()
    return shown, False


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
        container, stream = open_video(path)
        try:
            estimate = _estimate_frame_count(container, stream, path)
        finally:
            container.close()
        if estimate is not None:
            return estimate
        logger.debug("No estimate of the frame count of '%s': counting exactly", path)
    container, stream = open_video(path)
    try:
        traits = VideoTraits.of(container, stream)
        return len(index_stream(container, stream, traits, path, progress)[0].pts)
    finally:
        container.close()


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
    if stream.frames and VideoTraits.of(container, stream).frame_count_is_frames:
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
