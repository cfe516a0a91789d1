"""The index of a video: each frame's timestamp in display order, and which frames are keyframes.

Index format (compatibility contract)
-------------------------------------
``video_meta_data = {"pts_time": [int, ...], "keyframes": [int, ...]}``: the presentation
timestamp of every frame in display order, in units of the video stream's ``time_base``, and
the (display-order) indices of the keyframes. Passing it to :class:`~faceio.video.VideoReader`
skips the scan. The stamps are in increasing order except in AVIs of H.264 or HEVC with
B-frames: AVI stamps packets in decode order, so such frames come out with their stamps out of
order, and the index (built by decoding those files) lists them in the order they come out.
"""

from __future__ import annotations

import itertools
import logging
import numbers
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from typing import Any, Literal

import numpy as np

__all__ = ["VideoIndex"]

logger = logging.getLogger(__name__)


#: A ``video_meta_data`` dict as callers give it (faceswap annotates it with Literal keys).
MetaData = Mapping[Literal["pts_time", "keyframes"], Sequence[int]] | Mapping[str, Sequence[int]]


@dataclass(frozen=True)
class VideoIndex:
    """Every frame of a video by its timestamp, and its keyframes.

    Attributes
    ----------
    pts : tuple of int
        Each frame's presentation timestamp in stream ``time_base`` units, in display order
        (the order the decoder outputs the frames).
    keyframes : tuple of int
        The display-order indices of the keyframes, ascending.
    """

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]

    # ------------------------------------------------------------------ building
    @classmethod
    def from_stamps(cls, pts: Sequence[int], key_stamps: Sequence[int]) -> VideoIndex:
        """Build the index from the frames' stamps in display order and the keyframes' stamps.

        A keyframe stamp that no frame has (a keyframe the decoder never outputs) is left out.
        """
        position = _first_positions(pts)
        keyframes = sorted({position[stamp] for stamp in key_stamps if stamp in position})
        return cls(tuple(pts), tuple(keyframes))

    @classmethod
    def from_meta(
        cls,
        meta: MetaData | None,
        time_base: Fraction | None,
        sorted_stamps: bool,
        path: str,
    ) -> VideoIndex | None:
        """Return the index that ``video_meta_data`` holds, or ``None`` to scan the file.

        A missing or empty ``meta`` gives ``None``; an unusable one a warning naming ``path``
        and ``None``. Float ``pts_time`` values that are not whole are seconds, converted to
        ``time_base`` units. ``sorted_stamps``: the file's index is in timestamp order, so a
        ``pts_time`` that is not is invalid. Otherwise (AVIs whose frames come out with their
        stamps out of order) a sorted one is: an index that sorted their stamps (as earlier
        faceio versions did, and other tools may), so the file is scanned again.
        """
        if not meta:
            return None
        try:
            raw_pts: list[Any] = list(meta["pts_time"])  # floats come from older tools
            raw_keys = list(meta["keyframes"])
            _check_numbers(raw_pts, "pts_time")
            _check_numbers(raw_keys, "keyframes")
            if any(isinstance(val, float) and not val.is_integer() for val in raw_pts):
                if not time_base:
                    raise ValueError("float timestamps need a stream time base")
                pts = [round(Fraction(val) / time_base) for val in raw_pts]
            else:
                pts = [int(val) for val in raw_pts]
            keys = sorted({int(val) for val in raw_keys})
            if pts and not _INT64[0] <= min(pts) <= max(pts) <= _INT64[1]:
                raise ValueError("pts_time holds a timestamp outside 64 bits")
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            logger.warning("Ignoring invalid video_meta_data for '%s' (%s)", path, err)
            return None
        ordered = all(a <= b for a, b in itertools.pairwise(pts))
        if not pts or ordered != sorted_stamps:
            logger.warning("Ignoring video_meta_data for '%s': bad pts_time", path)
            return None
        if keys and (keys[0] < 0 or keys[-1] >= len(pts)):
            logger.warning("Ignoring video_meta_data for '%s': bad keyframes", path)
            return None
        return cls(tuple(pts), tuple(keys))

    def to_meta(self) -> dict[str, list[int]]:
        """Return the index as ``video_meta_data``: ``{"pts_time": [...], "keyframes": [...]}``."""
        return {"pts_time": list(self.pts), "keyframes": list(self.keyframes)}

    # ------------------------------------------------------------------ lookups
    @property
    def mean_gop(self) -> float:
        """float: Mean number of frames per keyframe (all frames if none is flagged)."""
        return len(self.pts) / max(1, len(self.keyframes))

    @cached_property
    def position(self) -> dict[int, int]:
        """dict: The display index of the first frame that has each timestamp."""
        return _first_positions(self.pts)

    @cached_property
    def repeats(self) -> dict[int, list[int]]:
        """dict: Timestamps that more than one frame has, and the indices of those frames.

        Such frames (broken muxers, joined files, AVI) are told apart only by their order, as
        sequential decoding numbers them.
        """
        counts = Counter(self.pts)
        repeats: dict[int, list[int]] = {}
        for idx, stamp in enumerate(self.pts):
            if counts[stamp] > 1:
                repeats.setdefault(stamp, []).append(idx)
        return repeats


def _first_positions(pts: Sequence[int]) -> dict[int, int]:
    """Map each timestamp of ``pts`` to the index of its first frame."""
    position: dict[int, int] = {}
    for index, stamp in enumerate(pts):
        position.setdefault(stamp, index)
    return position


# The timestamps FFmpeg keeps (int64_t).
_INT64 = (-(2**63), 2**63 - 1)


def _check_numbers(values: list[Any], name: str) -> None:
    """Raise TypeError unless every value is a real number (numpy's too), not a bool."""
    # By type, each once: an hour of video has ninety thousand stamps of one type.
    for kind in set(map(type, values)):
        if issubclass(kind, (bool, np.bool_)) or not issubclass(kind, numbers.Real):
            bad = next(v for v in values if type(v) is kind)
            raise TypeError(f"{name} holds {bad!r}, not a number")
