"""Batch random access and sequential decoding against peers, for bench_video.py.

Peers: PyAV (seek + decode one frame at a time; decode + ``to_ndarray("bgr24")``), OpenCV
(``CAP_PROP_POS_FRAMES`` + ``read()``; ``read()`` in a loop) and decord (``get_batch``) when it
is installed. Every peer reader is opened outside the timed part (decord indexes the file when
it opens it; faceio is given its index through ``video_meta_data``), except where noted.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import cv2
from av.video.reformatter import VideoReformatter

from faceio.video import VideoReader, convert, scan_video

# The video kinds of the test table (tests/test_video.py), encoded here at a benchmark size.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_video import SPECS, Spec, encode

try:
    import decord
except ImportError:  # optional peer
    decord = None

Row = tuple[str, ...]
SEQ_SIZE = (202, 118)
SEQ_FRAMES = 600
# The kinds whose per-step split split_rows times: the most common container, and AVI.
SPLIT_KINDS = ("vfr_h264", "mpeg4_avi")


def interleaved(
    repeats: int, *funcs: Callable[[], object], clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Best time of each function, the functions run in turn so that load hits all.

    ``clock=time.process_time`` measures the CPU time of the process (all its threads): on one
    core (``taskset -c 0``) that is what a function costs, whatever else the machine runs.
    """
    times: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeats):
        for func, bucket in zip(funcs, times, strict=True):
            start = clock()
            func()
            bucket.append(clock() - start)
    return [min(bucket) for bucket in times]


def scrub_indices(keyframes: Sequence[int], count: int, gops: int, seed: int) -> list[int]:
    """Every frame of ``gops`` GOPs picked at random, GOP after GOP in a random order."""
    bounds = [*keyframes, count]
    picked = random.Random(seed).sample(range(len(keyframes)), gops)
    return [i for gop in picked for i in range(bounds[gop], bounds[gop + 1])]


def _pyav_seek_each(path: Path, pts: list[int], indices: list[int]) -> None:
    """PyAV, one request at a time: seek to the target's pts, decode until it is reached."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for index in indices:
            container.seek(pts[index], stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= pts[index]:
                    frame.to_ndarray(format="bgr24")
                    break


def _opencv_seek_each(path: Path, indices: list[int]) -> None:
    capture = cv2.VideoCapture(str(path))
    try:
        for index in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            capture.read()
    finally:
        capture.release()


def batch_rows(path: Path, meta: dict[str, list[int]], repeats: int) -> list[Row]:
    """frames_at on 120 random indices and on 120 indices inside 10 GOPs, against peers."""
    pts, count = meta["pts_time"], len(meta["pts_time"])
    patterns = {
        "120 random frames": (random.Random(1234).sample(range(count), 120), ">= 2x"),
        "120 frames inside 10 GOPs (scrubbing)": (
            scrub_indices(meta["keyframes"], count, 10, 99),
            ">= 4x",
        ),
    }
    rows: list[Row] = []
    for label, (indices, target) in patterns.items():
        times: dict[str, list[float]] = {"faceio": [], "pyav": [], "opencv": [], "decord": []}
        for _ in range(repeats):
            # In turn, so that load drifts hit every library alike.
            start = time.perf_counter()
            with VideoReader(path, video_meta_data=meta) as reader:
                reader.frames_at(indices)
            times["faceio"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _pyav_seek_each(path, pts, indices)
            times["pyav"].append(time.perf_counter() - start)
            start = time.perf_counter()
            _opencv_seek_each(path, indices)
            times["opencv"].append(time.perf_counter() - start)
            if decord is not None:
                peer = decord.VideoReader(str(path))  # indexes the file: untimed
                start = time.perf_counter()
                peer.get_batch(indices).asnumpy()
                times["decord"].append(time.perf_counter() - start)
                del peer
        per = {name: min(got) / len(indices) * 1e3 for name, got in times.items() if got}
        ours = per["faceio"]
        short = label.split(" (")[0]
        rows.append(
            _row(f"`frames_at`, {label}, vs PyAV seek + decode each", ours, per["pyav"], target)
        )
        rows.append(
            _row(
                f"{short}: vs OpenCV `CAP_PROP_POS_FRAMES` + `read()` each",
                ours,
                per["opencv"],
                "",
            )
        )
        if "decord" in per:
            decord_target = "> 1x" if target == ">= 2x" else ""
            rows.append(_row(f"{short}: vs decord `get_batch`", ours, per["decord"], decord_target))
    if decord is None:
        rows.append(("decord: not installed, not compared", "", "", "", ""))
    return rows


def _row(label: str, ours_ms: float, theirs_ms: float, target: str) -> Row:
    return (
        label,
        f"{ours_ms:.2f} ms/frame",
        f"{theirs_ms:.2f} ms/frame",
        f"{theirs_ms / ours_ms:.2f}x",
        target,
    )


def _faceio_iterate(reader: VideoReader) -> None:
    for _ in reader.iter_frames():
        pass


def _pyav_iterate(path: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")


def _pyav_loop(path: Path, per_frame: Callable[[av.VideoFrame], object] | None) -> None:
    """PyAV demux and decode (frame and slice threads), with ``per_frame`` on each frame."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        decode = stream.codec_context.decode
        for packet in container.demux(stream):
            for frame in decode(packet):
                if per_frame is not None:
                    per_frame(frame)


def _bgr_frame() -> Callable[[av.VideoFrame], object]:
    """swscale to a new BGR frame, as ``to_ndarray`` starts with, making no array of it."""
    reformat = VideoReformatter().reformat
    bgr24 = av.VideoFormat("bgr24")
    # One swscale thread, as faceio converts small frames; PyAV before 17 has no threads option.
    options: dict[str, Any] = {"threads": 1} if int(av.__version__.split(".")[0]) >= 17 else {}
    return lambda frame: reformat(frame, format=bgr24, **options)


def _pyav_floor(path: Path) -> None:
    """The least any PyAV-based reader can do per frame: demux, decode, and swscale to a new BGR
    frame, without making an array of it. faceio adds the array view and, for rows padded to
    16 bytes (widths not a multiple of 16), a copy."""
    _pyav_loop(path, _bgr_frame())


def _opencv_iterate(path: Path, grab_only: bool = False) -> None:
    """OpenCV ``read()`` in a loop; ``grab_only``: ``grab()`` (demux and decode, no BGR)."""
    capture = cv2.VideoCapture(str(path))
    step = capture.grab if grab_only else lambda: capture.read()[0]
    try:
        while step():
            pass
    finally:
        capture.release()


def _sequential_clip(directory: Path, name: str) -> tuple[Path, Spec]:
    """Encode test-table kind ``name`` at the benchmark size (once) in ``directory``."""
    width, height = SEQ_SIZE
    spec = replace(SPECS[name], width=width, height=height, frames=SEQ_FRAMES)
    if SPECS[name].width % 2:
        spec = replace(spec, width=width + 1, height=height + 1)  # the odd-size kinds
    path = directory / f"seq_{name}{spec.ext}"
    if not path.exists():
        # Encoded under another name, then renamed: an interrupted run leaves no partial clip
        # that a later run would take for a whole one.
        partial = directory / f"partial_seq_{name}{spec.ext}"
        encode(partial, spec)
        partial.replace(path)
    return path, spec


def sequential_rows(directory: Path, repeats: int, cpu_time: bool = False) -> list[Row]:
    """iter_frames on every video kind of the test table at 202x118, against PyAV and OpenCV.

    ``cpu_time``: time by the process's CPU time instead of the wall clock (for one core).
    """
    clock = time.process_time if cpu_time else time.perf_counter
    rows: list[Row] = []
    for name in sorted(SPECS):
        path, spec = _sequential_clip(directory, name)
        frames = len(scan_video(path)["pts_time"])
        with VideoReader(path) as reader:
            t_face, t_pyav, t_cv, t_floor = interleaved(
                repeats,
                lambda reader=reader: _faceio_iterate(reader),
                lambda path=path: _pyav_iterate(path),
                lambda path=path: _opencv_iterate(path),
                lambda path=path: _pyav_floor(path),
                clock=clock,
            )
        rows.append(
            (
                f"{name} ({spec.ext[1:]}, {spec.codec}, {spec.width}x{spec.height})",
                f"{frames / t_face:,.0f} fps",
                f"{frames / t_pyav:,.0f} fps",
                f"{t_pyav / t_face:.2f}x",
                f"{frames / t_cv:,.0f} fps ({t_cv / t_face:.2f}x)",
                f"{frames / t_floor:,.0f} fps ({t_cv / t_floor:.2f}x)",
            )
        )
    return rows


def split_rows(directory: Path, repeats: int, cpu_time: bool = False) -> list[Row]:
    """Per-frame time of each step of sequential decoding, PyAV's and OpenCV's, for two kinds.

    PyAV demux + decode; the same plus swscale to a BGR frame (the floor); the same plus
    faceio's conversion to a contiguous array (``convert.to_bgr``: reformat, view, copy);
    faceio's ``iter_frames``; OpenCV ``grab()`` (demux + decode) and ``read()`` (``grab()``
    and ``retrieve()``: swscale, then a copy into a new array). In microseconds.
    """
    clock = time.process_time if cpu_time else time.perf_counter
    rows: list[Row] = []
    for name in SPLIT_KINDS:
        path, spec = _sequential_clip(directory, name)
        frames = len(scan_video(path)["pts_time"])
        with VideoReader(path) as reader:
            times = interleaved(
                repeats,
                lambda path=path: _pyav_loop(path, None),
                lambda path=path: _pyav_loop(path, _bgr_frame()),
                lambda path=path: _pyav_loop(path, convert.to_bgr),
                lambda reader=reader: _faceio_iterate(reader),
                lambda path=path: _opencv_iterate(path, grab_only=True),
                lambda path=path: _opencv_iterate(path),
                clock=clock,
            )
        label = f"{name} ({spec.ext[1:]}, {spec.codec}, {spec.width}x{spec.height})"
        rows.append((label, *(f"{t / frames * 1e6:.1f}" for t in times)))
    return rows
