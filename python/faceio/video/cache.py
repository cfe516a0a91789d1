"""The reader's cache of decoded frames, bounded by bytes."""

from __future__ import annotations

from collections import OrderedDict

import av

__all__ = ["DEFAULT_CACHE_BYTES", "FrameCache", "frame_bytes"]

#: Default memory budget of a VideoReader's cache of decoded frames (64 MiB).
DEFAULT_CACHE_BYTES: int = 64 * 1024 * 1024


def frame_bytes(frame: av.VideoFrame) -> int:
    """Approximate memory held by a decoded frame: the sum of its planes' buffers."""
    return sum(plane.buffer_size for plane in frame.planes)


class FrameCache:
    """Decoded frames by display index, least recently used dropped beyond a byte budget.

    Parameters
    ----------
    budget : int
        The most bytes (as :func:`frame_bytes` measures them) the cached frames may hold;
        ``0`` or less caches nothing.
    """

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
        nbytes = frame_bytes(frame)
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
