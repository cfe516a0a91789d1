"""The container and codec quirks of a video, decided once per opened file.

:class:`VideoTraits` is the one place where a kind of file is told apart from the others: the
index build (:mod:`faceio.video.scan`) and the reader (:mod:`faceio.video.reader`) read its
flags instead of looking at format or codec names themselves. A new quirk that can be decided
from the opened container goes here.

Some quirks cannot be decided from the container and are learnt from the stream instead, for
every file alike:

* the seek preroll: demuxers that seek by decode timestamp (MPEG-TS) land past a keyframe
  sought by its presentation timestamp, so a seek that did is retried earlier by the largest
  pts-dts gap seen (``decoder.SeekMemory``);
* the start of a recording cut mid-GOP: which frames before the first keyframe the decoder
  outputs depends on the codec, so the start is decoded once (``scan._settle_start``);
* repeated timestamps (broken muxers, joined files): frames are told apart by their order
  (``index.VideoIndex.repeats``).

"""

from __future__ import annotations

from dataclasses import dataclass

import av

__all__ = ["PYAV_MAJOR", "SEQUENTIAL_THREADS", "START_THREADS", "VideoTraits"]

#: PyAV's major version: its API differs between releases faceio allows (``av>=12``).
PYAV_MAJOR = int(av.__version__.split(".")[0])

#: Decoder threads for whole-file decoding (iteration, indexing by decoding): frame and slice.
SEQUENTIAL_THREADS = "AUTO"
#: Decoder threads for decoding just the start of a file: slice threads output the first frames
#: without frame threads' delay.
START_THREADS = "SLICE"
# Mean keyframe interval (frames) from which random access uses frame threading: frame threads
# add a few frames of latency, which only pays off when catching up to a target is long.
_FRAME_THREADS_GOP = 32
# Demuxers whose stamps after a seek are not those of reading from the start: MPEG program
# streams (.mpg, .mpeg, .vob) stamp the pictures of a packet holding several of them (small
# frames) from wherever reading began, so after a seek every stamp can be off by the same
# amount, and a seek's frames cannot be identified by their stamps. Raw MPEG video has no
# container stamps at all.
_UNSEEKABLE_FORMATS = frozenset({"mpeg", "mpegvideo"})
# Decoders that stamp the frames they output in display order, whatever the container gave.
_RESTAMPING_CODECS = frozenset(
    {"mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4", "mpeg1video", "mpeg2video"}
)


@dataclass(frozen=True)
class VideoTraits:
    """What sets an opened video's container and codec apart, as far as faceio cares.

    Attributes
    ----------
    decode_order_stamps : bool
        The container stamps packets in decode order, with no presentation times (AVI).
    b_frames : bool
        The codec reorders frames (B-frames): they come out in another order than they go in.
    restamping : bool
        The decoder stamps the frames it outputs anew, in display order (MPEG-1/2/4 do; H.264
        and HEVC do not).
    frame_count_is_frames : bool
        The container's frame count (``stream.frames``) counts frames. AVI's counts time-base
        ticks instead (4,000 for 100 frames stamped in milliseconds).
    seekable : bool
        A seek's frames carry the stamps that reading from the start gives them, so random
        access may seek. Not MPEG program streams: they are decoded forward from the start.
    """

    decode_order_stamps: bool
    b_frames: bool
    restamping: bool
    frame_count_is_frames: bool
    seekable: bool = True

    @classmethod
    def of(cls, container: av.container.InputContainer, stream: av.VideoStream) -> VideoTraits:
        """Decide the traits of ``stream``, the video stream of an opened ``container``."""
        codec = stream.codec_context
        formats = set(container.format.name.split(","))
        avi = "avi" in formats
        return cls(
            decode_order_stamps=avi,
            b_frames=bool(codec.has_b_frames),
            restamping=codec.name in _RESTAMPING_CODECS,
            frame_count_is_frames=not avi,
            seekable=not formats & _UNSEEKABLE_FORMATS,
        )

    @property
    def stamps_out_of_order(self) -> bool:
        """bool: Decoded frames may come out with their stamps out of order.

        Decode-order stamps on a codec that reorders frames and does not restamp them (H.264
        or HEVC with B-frames in AVI). Only decoding tells such a file's display order: it is
        indexed by decoding, and its index is not sorted (so a sorted one given for it is not
        its own).
        """
        return self.decode_order_stamps and self.b_frames and not self.restamping

    def random_access_threads(self, mean_gop: float) -> str:
        """Return the decoder ``thread_type`` for random access.

        Slice threads only, as frame threads add latency, unless keyframes are far apart
        (``mean_gop``, the mean number of frames per keyframe, above 32).
        """
        return "AUTO" if mean_gop > _FRAME_THREADS_GOP else "SLICE"
