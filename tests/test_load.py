"""Load: eight threads reading and updating their own faces at once, results right, memory flat."""

from __future__ import annotations

import gc
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceio
from faceio import PNGHeader
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header

THREADS = 8
FILES_PER_THREAD = 3
WARM_UP_ROUNDS = 3
RUN_SECONDS = 3.0
# Resident memory may grow this much between the warm-up and the end (allocator arenas and
# caches settle during the warm-up; about 2 MiB was seen). The run does some 800 rounds of
# three files: keeping one 25 KB payload per file and round would pass this within the run.
RSS_SLACK = 24 * 1024 * 1024


def _rss() -> int:
    """Resident set size of this process, in bytes (Linux)."""
    import resource

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


@dataclass
class _Faces:
    """One thread's files, the two headers it alternates, and the pixels every file holds."""

    paths: list[Path]
    headers: tuple[PNGHeader, PNGHeader]
    pixels: np.ndarray
    rounds: int = 0
    errors: list[BaseException] = field(default_factory=list)

    def round(self) -> None:
        """Update each file to the next header, then read it back every way."""
        header = self.headers[self.rounds % 2]
        expected = header.to_dict()
        height, width = self.pixels.shape[:2]
        for path in self.paths:
            faceio.update_existing_metadata(path, header)
            assert faceio.read_image_meta(path) == {
                "width": width,
                "height": height,
                "itxt": expected,
            }
            assert faceio.png_read_meta(path.read_bytes()) == header
            image, meta = faceio.read_image(path, raise_error=True, with_metadata=True)
            assert meta == header
            assert np.array_equal(image, self.pixels)
        batch = list(faceio.read_image_meta_batch(self.paths))
        assert [p for p, _ in batch] == self.paths
        assert all(m["itxt"] == expected for _, m in batch)
        self.rounds += 1

    def run(self, until: float, rounds: int) -> None:
        try:
            while self.rounds < rounds or time.monotonic() < until:
                self.round()
        except BaseException as err:  # reported by the test thread
            self.errors.append(err)


def _run_all(sets: list[_Faces], until: float, rounds: int) -> None:
    threads = [threading.Thread(target=s.run, args=(until, rounds)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    for s in sets:
        if s.errors:
            raise s.errors[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc")
def test_eight_threads_read_and_update_at_once(tmp_path: Path, rng) -> None:
    sets = []
    for t in range(THREADS):
        base = encode_png(rng, 40, 40)
        pixels = cv2.imdecode(np.frombuffer(base, np.uint8), cv2.IMREAD_COLOR)
        headers = (make_header(rng, n_masks=2), make_header(rng, n_masks=1, name=f"t{t}.png"))
        paths = []
        for i in range(FILES_PER_THREAD):
            path = tmp_path / f"t{t}_{i}.png"
            path.write_bytes(insert_before_idat(base, itxt_rule(b"{'fresh': True}")))
            paths.append(path)
        sets.append(_Faces(paths, headers, pixels))
    _run_all(sets, 0.0, WARM_UP_ROUNDS)
    gc.collect()
    before = _rss()
    done = sum(s.rounds for s in sets)
    _run_all(sets, time.monotonic() + RUN_SECONDS, 0)
    gc.collect()
    grown = _rss() - before
    rounds = sum(s.rounds for s in sets) - done
    assert rounds >= THREADS, f"only {rounds} rounds in {RUN_SECONDS} s"
    assert grown < RSS_SLACK, f"RSS grew {grown / 2**20:.1f} MiB over {rounds} rounds"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
