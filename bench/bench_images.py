"""Benchmark faceio's pixel reads and face loader against plain baselines in the same process.

Prints a markdown table of ratios:

- ``read_image_batch`` of 256 face PNGs (256x256) against (cores x the single-thread
  ``cv2.imdecode`` rate of the same bytes already in memory) and against a plain
  ``ThreadPoolExecutor`` of ``np.fromfile`` + ``cv2.imdecode`` per file stacked with ``np.stack``;
  ``with_metadata=True`` against ``with_metadata=False``.
- ``FacesLoader`` over 2,000 faces with realistic (~34 KB) headers against a plain loader thread
  that reads, decodes and ``ast.literal_eval``s one file at a time into a queue (faceswap's way).

Timings are the best of several interleaved rounds (the machine may be shared). Run:
``python bench/bench_images.py [--corpus DIR] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import ast
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus

from faceio.image import read_image_batch
from faceio.loaders import FacesLoader

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def best(function: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved(functions: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best time of each function, running them in turn so that load spikes hit all alike."""
    results = {name: float("inf") for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            results[name] = min(results[name], best(function, 1))
    return results


# ------------------------------------------------------------------ baselines
def decode_single_thread(blobs: list[np.ndarray]) -> None:
    for blob in blobs:
        cv2.imdecode(blob, cv2.IMREAD_UNCHANGED)


def plain_pool_batch(paths: list[str]) -> np.ndarray:
    def read(path: str) -> np.ndarray:
        return cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)

    with ThreadPoolExecutor(CORES) as pool:
        return np.stack(list(pool.map(read, paths)))


def faceswap_style_header(data: bytes) -> dict:
    """The faceswap iTXt payload read by a plain scan and ``ast.literal_eval``."""
    pos = data.find(b"iTXtfaceswap\0")
    length = int.from_bytes(data[pos - 4 : pos], "big")
    payload = data[pos + 4 + len(b"faceswap") + 5 : pos + 4 + length]
    return ast.literal_eval(payload.decode("utf-8"))


def plain_loader_thread(paths: list[str]) -> int:
    """One background thread reading one file at a time into a queue of 8, like faceswap."""
    out: queue.Queue = queue.Queue(maxsize=8)

    def worker() -> None:
        for path in paths:
            with open(path, "rb") as handle:
                data = handle.read()
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            out.put((path, image, faceswap_style_header(data)))
        out.put(None)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    count = 0
    while out.get() is not None:
        count += 1
    thread.join()
    return count


def faceio_loader(paths_folder: str) -> int:
    count = 0
    for _ in FacesLoader(paths_folder).load():
        count += 1
    return count


# ------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="folder to build / reuse the 2,000-face corpus in")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the batch benchmarks")
    args = parser.parse_args()
    workdir = args.corpus or tempfile.mkdtemp(prefix="faceio-bench-images-")
    try:
        run(workdir, args.rounds)
    finally:
        if not args.corpus:
            shutil.rmtree(workdir, ignore_errors=True)


def run(workdir: str, rounds: int) -> None:
    start = time.perf_counter()
    faces_dir = os.path.join(workdir, "faces")
    paths = corpus.build(faces_dir, count=2000)
    batch_paths = paths[:256]
    corpus.warm(paths)
    print(f"corpus ready in {time.perf_counter() - start:.1f}s: {faces_dir}", file=sys.stderr)
    blobs = [np.fromfile(p, dtype=np.uint8) for p in batch_paths]
    n = len(batch_paths)
    # The same batch with photo-like pixels (2.3:1 PNG compression instead of 1.05:1).
    smooth_paths = corpus.build(os.path.join(workdir, "smooth"), count=n, smooth=True)
    corpus.warm(smooth_paths)
    smooth_blobs = [np.fromfile(p, dtype=np.uint8) for p in smooth_paths]

    rows: list[tuple[str, str, str, str, str, bool]] = []
    default_threads = cv2.getNumThreads()

    def one_cv2_thread(function: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            cv2.setNumThreads(1)
            try:
                return function()
            finally:
                cv2.setNumThreads(default_threads)

        return run

    # All variants in one interleaved loop, so that load from other processes hits them alike.
    times = interleaved(
        {
            "decode1": lambda: decode_single_thread(blobs),
            "batch": lambda: read_image_batch(batch_paths),
            "batch_meta": lambda: read_image_batch(batch_paths, with_metadata=True),
            "pool": lambda: plain_pool_batch(batch_paths),
            "batch_1": one_cv2_thread(lambda: read_image_batch(batch_paths)),
            "batch_meta_1": one_cv2_thread(
                lambda: read_image_batch(batch_paths, with_metadata=True)
            ),
            "smooth_decode1": lambda: decode_single_thread(smooth_blobs),
            "smooth_batch": lambda: read_image_batch(smooth_paths),
            "smooth_pool": lambda: plain_pool_batch(smooth_paths),
        },
        rounds,
    )
    times_one = {"batch": times["batch_1"], "batch_meta": times["batch_meta_1"]}

    ideal = times["decode1"] / CORES
    ratio = ideal / times["batch"]
    rows.append(
        (
            f"read_image_batch, {n} faces 256x256 vs {CORES} cores x single-thread imdecode",
            f"{n / times['batch']:.0f} img/s",
            f"{n / ideal:.0f} img/s",
            f"{ratio:.0%}",
            ">= 90%",
            ratio >= 0.9,
        )
    )
    ratio = times["pool"] / times["batch"]
    rows.append(
        (
            "read_image_batch vs ThreadPoolExecutor(fromfile+imdecode)+np.stack",
            f"{times['batch'] * 1e3:.1f} ms",
            f"{times['pool'] * 1e3:.1f} ms",
            f"{ratio:.2f}x",
            ">= 2x",
            ratio >= 2,
        )
    )
    for kind, size in (("smooth", smooth_blobs), ("noisy", blobs)):
        kb = sum(b.size for b in size) / len(size) / 1024
        print(f"{kind} faces: {kb:.0f} KB per PNG", file=sys.stderr)
    ratio = times["smooth_decode1"] / CORES / times["smooth_batch"]
    rows.append(
        (
            "same, photo-like faces (2.3:1 PNG) vs cores x single-thread imdecode",
            f"{n / times['smooth_batch']:.0f} img/s",
            f"{n * CORES / times['smooth_decode1']:.0f} img/s",
            f"{ratio:.0%}",
            ">= 90%",
            ratio >= 0.9,
        )
    )
    ratio = times["smooth_pool"] / times["smooth_batch"]
    rows.append(
        (
            "same, photo-like faces vs ThreadPoolExecutor(fromfile+imdecode)+np.stack",
            f"{times['smooth_batch'] * 1e3:.1f} ms",
            f"{times['smooth_pool'] * 1e3:.1f} ms",
            f"{ratio:.2f}x",
            ">= 2x",
            ratio >= 2,
        )
    )
    overhead = times["batch_meta"] / times["batch"] - 1
    rows.append(
        (
            "read_image_batch with_metadata=True vs without",
            f"{times['batch_meta'] * 1e3:.1f} ms",
            f"{times['batch'] * 1e3:.1f} ms",
            f"{overhead:+.1%}",
            "<= +15%",
            overhead <= 0.15,
        )
    )
    for key, label in (("batch", "read_image_batch"), ("batch_meta", "with_metadata=True")):
        change = times_one[key] / times[key] - 1
        rows.append(
            (
                f"{label} with cv2.setNumThreads(1) vs default ({default_threads})",
                f"{times_one[key] * 1e3:.1f} ms",
                f"{times[key] * 1e3:.1f} ms",
                f"{change:+.1%}",
                "(info)",
                True,
            )
        )

    loader_rounds = 2
    loader_times = interleaved(
        {
            "faceio": lambda: faceio_loader(faces_dir),
            "plain": lambda: plain_loader_thread(paths),
        },
        loader_rounds,
    )
    ratio = loader_times["plain"] / loader_times["faceio"]
    rows.append(
        (
            f"FacesLoader full pass, {len(paths)} faces (~34 KB headers) vs plain thread "
            "+ literal_eval",
            f"{len(paths) / loader_times['faceio']:.0f} faces/s",
            f"{len(paths) / loader_times['plain']:.0f} faces/s",
            f"{ratio:.2f}x",
            ">= 3x",
            ratio >= 3,
        )
    )

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"\n{CORES} cores, OpenCV {cv2.__version__}, best of {rounds} rounds ")
    print(f"({loader_rounds} for the loaders), interleaved; load average now {load}")
    print("(other processes' load lowers the parallel ratios, not the single-thread baseline)\n")
    print("| benchmark | faceio | baseline | ratio | target | met |")
    print("|---|---|---|---|---|---|")
    for name, ours, base, value, target, met in rows:
        print(f"| {name} | {ours} | {base} | {value} | {target} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    main()
