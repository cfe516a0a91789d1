"""A benchmark corpus of realistic face PNGs, generated deterministically.

2,000 256x256 faces by default, each with 68 landmarks, 1-3 masks of 128x128 (zlib bytes) and a
512-float identity vector: 25-35 KB of payload per face, as faceswap writes them.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

import faceio


def _mask(rng: np.random.Generator) -> bytes:
    """A face-like mask: a filled ellipse with a ragged, noisy edge."""
    m = np.zeros((128, 128), np.uint8)
    cv2.ellipse(
        m, (64, 64), (int(rng.integers(35, 55)), int(rng.integers(40, 60))), 0, 0, 360, 255, -1
    )
    noise = (rng.random((128, 128)) * 255).astype(np.uint8)
    edge = cv2.dilate(m, np.ones((9, 9), np.uint8)) - cv2.erode(m, np.ones((9, 9), np.uint8))
    m = np.where(edge > 0, noise, m)
    return zlib.compress(m.tobytes())


def make_header(rng: np.random.Generator, index: int) -> faceio.PNGHeader:
    """A realistic face header."""
    masks = {
        name: faceio.MaskAlignmentsFile(
            mask=_mask(rng),
            affine_matrix=rng.normal(size=(2, 3)).astype(np.float32),
            interpolator=3,
            stored_size=128,
            stored_centering="face",
        )
        for name in ("components", "extended", "bisenet-fp_face")[: int(rng.integers(1, 4))]
    }
    return faceio.PNGHeader(
        alignments=faceio.PNGAlignments(
            x=int(rng.integers(0, 1500)),
            y=int(rng.integers(0, 800)),
            w=int(rng.integers(100, 400)),
            h=int(rng.integers(100, 400)),
            landmarks_xy=(rng.random((68, 2)) * 1000).astype(np.float32),
            mask=masks,
            identity={"vggface2": rng.normal(size=512).astype(np.float32)},
        ),
        source=faceio.PNGSource(
            alignments_version=2.4,
            original_filename=f"video_{index // 2:06d}_{index % 2}.png",
            face_index=index % 2,
            source_filename=f"video_{index // 2:06d}.png",
            source_is_video=True,
            source_frame_dims=(1080, 1920),
        ),
    )


def make_image(rng: np.random.Generator, size: int = 256, smooth: bool = False) -> np.ndarray:
    """A gradient with pixel noise: PNG can barely compress it (the worst case for decoding).

    With ``smooth`` the noise is blurred, as detail is in a photo, and the PNG is about 85 KB,
    2.3:1, closer to a real 256x256 face crop.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base = np.stack([xx, yy, (xx + yy) / 2], axis=-1) * (200 / size)
    if smooth:
        noise = rng.normal(scale=30, size=base.shape).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 1.5)
    else:
        noise = rng.normal(scale=12, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def build(
    folder: str | os.PathLike[str],
    count: int = 2000,
    seed: int = 7,
    smooth: bool = False,
    size: int = 256,
) -> list[str]:
    """Write ``count`` faces of ``size`` pixels square into ``folder`` (reused if already
    complete); return their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [str(folder / f"face_{i:06d}.png") for i in range(count)]
    if all(os.path.exists(p) for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    image = make_image(rng, size=size, smooth=smooth)
    for i, path in enumerate(paths):
        data = faceio.encode_image(image, ".png", metadata=make_header(rng, i))
        Path(path).write_bytes(data)
    return paths


def warm(paths: list[str]) -> None:
    """Read every file once so that timings are of a warm page cache."""
    for p in paths:
        with open(p, "rb") as f:
            f.read()


def rate_rounds(
    cases: dict[str, Callable[[], object]], files: int, runs: int, baseline: str
) -> list[str]:
    """Time ``cases`` in interleaved rounds after one warm-up call each; give table rows.

    Each row: the case, its files/s over ``files`` and its speed against ``baseline`` within
    each round (min-max), as markdown cells.
    """
    for fn in cases.values():
        fn()  # warm-up: imports, the page cache, thread pools, connections
    rates: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        times = {name: timed(fn) for name, fn in cases.items()}
        for name, t in times.items():
            rates[name].append(files / t)
            ratios[name].append(times[baseline] / t)
    rows = []
    for name in cases:
        r, q = rates[name], ratios[name]
        rows.append(f"| {name} | {min(r):,.0f}-{max(r):,.0f} | {min(q):.2f}-{max(q):.2f} |")
    return rows


def timed(fn: Callable[[], object]) -> float:
    """Wall time of ``fn``; what it returns (kept results) is freed after the clock stops."""
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed
