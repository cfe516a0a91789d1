"""Benchmark faceio.video against plain PyAV baselines (a script, not a test).

Generates a 600-frame 640x360 H.264 file (GOP 12, B-frames) in a temporary directory and
prints, in one run, a markdown table of timings and ratios:

* random access to 120 seeded random frames: faceio ``VideoReader.frame_at`` versus
  (a) decoding from the start of the file for every request (only a sample of the requests is
  timed and the per-request time extrapolated) and (b) ``container.seek(pts, backward=True)``
  to the target's timestamp, then decoding until ``frame.pts >= target``; faceio runs with its
  default decoded-frame cache (``DEFAULT_CACHE_BYTES``), a fresh reader per run, and an info
  row shows it with the cache off (``cache_bytes=0``: every request decodes);
* index build (``scan_video``) as a percentage of a full decode;
* sequential iteration (``VideoReader.iter_frames``) versus a bare PyAV
  ``for frame in container.decode(stream): frame.to_ndarray(format="bgr24")`` loop;
* batch random access (``VideoReader.frames_at``) on 120 random frames and on 120 frames inside
  10 GOPs, versus PyAV seek + decode one frame at a time, OpenCV ``CAP_PROP_POS_FRAMES`` +
  ``read()`` one at a time, and decord's ``get_batch`` when decord is installed;
* a second table: sequential iteration of every video kind of the test table
  (tests/test_video.py), encoded at 202x118, versus PyAV and OpenCV ``read()`` (skip it with
  ``--no-table``). Run under ``taskset -c 0`` for the one-core figures, with ``--cpu-time``
  to time that table by the process's CPU time (steadier on a shared machine). Its last
  column is the floor of any reader built on PyAV: demux, decode and swscale to a BGR frame,
  with no array made of it (faceio adds the array view and, for padded rows, a copy); its ratio
  is OpenCV's time over the floor's, the most a PyAV-based reader could reach;
* with ``--split``, only a table of the steps of sequential decoding, microseconds a frame, for
  two of the kinds: PyAV's demux + decode, then swscale, then faceio's array, and OpenCV's
  ``grab()`` and ``read()`` (the differences between columns are each step's cost).

Run with ``python bench/bench_video.py`` (``PYTHONPATH=python`` before the package is installed).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import video_peers

from faceio.video import DEFAULT_CACHE_BYTES, VideoReader, scan_video

FRAMES = 600
WIDTH, HEIGHT = 640, 360
REQUESTS = 120
FROM_START_SAMPLE = 12


def make_video(path: Path) -> None:
    """Encode the benchmark clip: moving texture, GOP 12, 3 B-frames."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    noise = rng.integers(0, 40, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(
            "libx264",
            rate=25,
            options={
                "preset": "veryfast",
                "crf": "23",
                "x264-params": "keyint=12:min-keyint=12:scenecut=0:bframes=3:b-pyramid=normal",
            },
        )
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 25)
        for i in range(FRAMES):
            phase = i * 0.15
            base = 127 + 60 * np.sin(xx / 23 + phase) + 60 * np.cos(yy / 17 - phase * 0.7)
            image = np.repeat(base[..., None], 3, axis=2).astype(np.uint8)
            image[:, :, 1] = np.roll(image[:, :, 1], i * 3, axis=1)
            image = image // 2 + noise // 2 + np.uint8(i % 50)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def best_of(repeats: int, func: Callable[[], object]) -> float:
    """Best wall time of ``repeats`` calls of ``func``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def paired(
    repeats: int, first: Callable[[], object], second: Callable[[], object]
) -> tuple[float, float]:
    """Best wall times of two functions, run alternately so that load drifts hit both."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for func, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            func()
            bucket.append(time.perf_counter() - start)
    return min(times[0]), min(times[1])


def full_decode(path: Path, convert: bool) -> int:
    """Bare PyAV decode of the whole file with threaded decoding."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        for frame in container.decode(stream):
            if convert:
                frame.to_ndarray(format="bgr24")
            count += 1
    return count


def faceio_iterate(reader: VideoReader) -> int:
    return sum(1 for _ in reader.iter_frames())


def from_start(path: Path, index: int, threads: str | None) -> np.ndarray:
    """Baseline: open the file and decode from the start up to ``index``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if threads:
            stream.codec_context.thread_type = threads
        for count, frame in enumerate(container.decode(stream)):
            if count == index:
                return frame.to_ndarray(format="bgr24")
    raise IndexError(index)


class SeekBaseline:
    """Baseline: seek to the target's own timestamp, decode until ``frame.pts >= target``."""

    def __init__(self, path: Path, pts: list[int], threads: str | None) -> None:
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        if threads:
            self.stream.codec_context.thread_type = threads
        self.pts = pts

    def frame_at(self, index: int) -> np.ndarray:
        target = self.pts[index]
        self.container.seek(target, stream=self.stream, backward=True)
        for frame in self.container.decode(self.stream):
            if frame.pts is not None and frame.pts >= target:
                return frame.to_ndarray(format="bgr24")
        raise IndexError(index)

    def close(self) -> None:
        self.container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="best-of repeats per timing")
    parser.add_argument(
        "--no-table", action="store_true", help="leave out the per-kind sequential table"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the per-kind table by process CPU time (meant with taskset -c 0)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="print only the per-step split of sequential decoding (PyAV's steps and OpenCV's)",
    )
    args = parser.parse_args()
    repeats = max(1, args.repeats)
    if args.split:
        _print_split(repeats, args.cpu_time)
        return

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        start = time.perf_counter()
        make_video(path)
        print(f"Encoded {FRAMES} frames {WIDTH}x{HEIGHT} in {time.perf_counter() - start:.1f} s")

        meta = scan_video(path)
        pts = meta["pts_time"]
        assert len(pts) == FRAMES, len(pts)
        requests = random.Random(1234).sample(range(FRAMES), REQUESTS)

        # Correctness spot check against the seek baseline (same decoder, same pixels).
        with VideoReader(path, video_meta_data=meta) as reader:
            check = SeekBaseline(path, pts, None)
            for i in requests[:10]:
                assert np.array_equal(reader.frame_at(i), check.frame_at(i)), i
            check.close()

        rows: list[tuple[str, str, str, str, str]] = []

        # ---- index build vs full decode
        t_decode, t_scan = paired(
            repeats, lambda: full_decode(path, convert=False), lambda: scan_video(path)
        )
        t_decode_plain = best_of(1, lambda: _plain_decode(path))
        rows.append(
            (
                "index build (`scan_video`) vs full decode (threaded, no conversion)",
                f"{t_scan * 1e3:.1f} ms",
                f"{t_decode * 1e3:.0f} ms",
                f"{100 * t_scan / t_decode:.1f} %",
                "<= 5 %",
            )
        )
        rows.append(
            (
                "index build vs full decode (PyAV default threading)",
                f"{t_scan * 1e3:.1f} ms",
                f"{t_decode_plain * 1e3:.0f} ms",
                f"{100 * t_scan / t_decode_plain:.1f} %",
                "",
            )
        )

        # ---- random access
        def faceio_random(cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
            with VideoReader(path, video_meta_data=meta, cache_bytes=cache_bytes) as reader:
                for i in requests:
                    reader.frame_at(i)

        with VideoReader(path, video_meta_data=meta) as reader:
            hits = 0
            for i in requests:
                hits += reader._cache.get(i) is not None
                reader.frame_at(i)
            cached_frames, cached_bytes = len(reader._cache), reader._cache.size

        t_faceio_scan = best_of(repeats, lambda: VideoReader(path).close())

        sample = requests[:FROM_START_SAMPLE]

        def from_start_sample() -> None:
            for i in sample:
                from_start(path, i, None)

        t_start, t_faceio = paired(max(1, repeats // 2), from_start_sample, faceio_random)
        t_start, t_faceio = t_start / len(sample), t_faceio / REQUESTS
        rows.append(
            (
                f"random access vs decode-from-start (baseline: {len(sample)} of "
                f"{REQUESTS} requests timed, per-request time extrapolated)",
                f"{t_faceio * 1e3:.2f} ms/frame",
                f"{t_start * 1e3:.1f} ms/frame",
                f"{t_start / t_faceio:.1f}x",
                ">= 10x",
            )
        )
        for label, threads in (("PyAV default threading", None), ("thread_type AUTO", "AUTO")):

            def seek_random(threads: str | None = threads) -> None:
                baseline = SeekBaseline(path, pts, threads)
                for i in requests:
                    baseline.frame_at(i)
                baseline.close()

            t_seek, t_faceio = (t / REQUESTS for t in paired(repeats, seek_random, faceio_random))
            rows.append(
                (
                    f"random access vs seek-to-target-pts + decode ({label})",
                    f"{t_faceio * 1e3:.2f} ms/frame",
                    f"{t_seek * 1e3:.2f} ms/frame",
                    f"{t_seek / t_faceio:.2f}x",
                    ">= 2x",
                )
            )
            if threads is None:
                t_seek, t_nocache = (
                    t / REQUESTS
                    for t in paired(repeats, seek_random, lambda: faceio_random(cache_bytes=0))
                )
                rows.append(
                    (
                        f"(info) same, faceio with the frame cache off ({label})",
                        f"{t_nocache * 1e3:.2f} ms/frame",
                        f"{t_seek * 1e3:.2f} ms/frame",
                        f"{t_seek / t_nocache:.2f}x",
                        "",
                    )
                )

        # ---- sequential iteration
        with VideoReader(path, video_meta_data=meta) as reader:
            t_bare, t_iter = paired(
                repeats, lambda: full_decode(path, convert=True), lambda: faceio_iterate(reader)
            )
        rows.append(
            (
                "sequential `iter_frames` vs bare decode + `to_ndarray('bgr24')` (AUTO threads)",
                f"{FRAMES / t_iter:.0f} fps",
                f"{FRAMES / t_bare:.0f} fps",
                f"{t_bare / t_iter:.2f}x",
                ">= 0.9x",
            )
        )

        # ---- batch random access, against every peer
        rows += video_peers.batch_rows(path, meta, repeats)
        table = (
            []
            if args.no_table
            else video_peers.sequential_rows(Path(tmp), repeats, cpu_time=args.cpu_time)
        )

    print()
    print(f"{REQUESTS} seeded random requests; best of {repeats} runs; 'VideoReader(path)'")
    print(f"construction with the scan takes {t_faceio_scan * 1e3:.1f} ms (not in the per-frame")
    print("random-access time, which reuses the index through video_meta_data).")
    print(
        f"Frame cache ({DEFAULT_CACHE_BYTES / 2**20:.0f} MiB default): {hits} of {REQUESTS} "
        f"requests served from it; {cached_frames} frames ({cached_bytes / 2**20:.1f} MiB) "
        "cached at the end."
    )
    print()
    _print_table(["measurement", "faceio", "baseline", "ratio", "target"], rows)
    if table:
        print()
        clock = "process CPU time" if args.cpu_time else "wall time"
        print(f"Sequential `iter_frames`, {video_peers.SEQ_FRAMES} frames of each kind ({clock}):")
        print()
        head = ["video kind", "faceio", "PyAV decode + `to_ndarray`", "ratio"]
        head += ["OpenCV `read()` (ratio)"]
        head += ["PyAV floor: decode + swscale, no array (OpenCV / floor)"]
        _print_table(head, table)


def _print_split(repeats: int, cpu_time: bool) -> None:
    """Print the per-step table of ``video_peers.split_rows`` (microseconds a frame)."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = video_peers.split_rows(Path(tmp), repeats, cpu_time=cpu_time)
    clock = "process CPU time" if cpu_time else "wall time"
    print(f"Sequential decoding step by step, us a frame, best of {repeats} ({clock}):")
    print()
    head = ["video kind", "PyAV demux + decode", "+ swscale to BGR (floor)"]
    head += ["+ array (faceio's `to_bgr`)", "faceio `iter_frames`", "OpenCV `grab()`"]
    _print_table([*head, "OpenCV `read()`"], rows)


def _print_table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Print a markdown table."""
    for row in [head, ["---"] * len(head), *rows]:
        print("| " + " | ".join(row) + " |")


def _plain_decode(path: Path) -> int:
    """Decode the whole file with PyAV's default decoder settings, no conversion."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


if __name__ == "__main__":
    main()
