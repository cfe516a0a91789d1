"""Benchmark the ``faceio`` command (a script, not a test).

Makes 256x256 face PNGs with realistic headers (68 landmarks, 1-3 zlib-compressed 128x128
masks, a 512-float identity vector: 25-35 KB of header each) in a temporary folder, or uses the
folder given as the first argument (creating ``--faces`` faces there if it holds no PNG). With
the page cache warm, it times in this process, best of several runs:

* baseline: list the folder and consume ``faceio.read_image_meta_batch`` over it;
* ``faceio.cli.scan_folder``: the same read plus the summary (what ``faceio scan`` prints);

and prints a markdown table with the ratio (target: at most 1.5x), then the wall time of a
``faceio scan FOLDER -q`` subprocess, interpreter start-up included, next to a bare
``python -c "import faceio"``.

With ``--commands``, it then times each command as a subprocess, ``--runs`` times, and prints
the range (the machine is shared: one run says little): ``scan``, ``verify``, ``export -o``
and ``import`` of that export (every header unchanged). ``--before PYTHONPATH`` runs the same
commands with another faceio source tree too (say a worktree of main:
``git worktree add /tmp/main main``, the built ``_core`` copied into it), interleaved with this
one so that both see the same load.

Run with ``python bench/bench_cli.py [FOLDER] [--faces N] [--commands [--runs R]
[--before PATH]]``; the issue's figures are ``--faces 20000 --commands --runs 5``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from statistics import median

import cv2
import numpy as np

import faceio
from faceio import MaskAlignmentsFile, PNGAlignments, PNGHeader, PNGSource
from faceio.cli import scan_folder

FACES = 2000
SIZE = 256
MASK = 128
REPEATS = 7
SUBPROCESS_REPEATS = 3


def make_faces(folder: Path, faces: int = FACES) -> int:
    """Write the benchmark faces; return the mean header payload size in bytes."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:MASK, 0:MASK]
    base = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    cv2.ellipse(base, (128, 120), (90, 115), 0, 0, 360, (120, 150, 200), -1, cv2.LINE_AA)
    payload_total = 0
    names = ("components", "extended", "bisenet-fp_face")
    for i in range(faces):
        video, frame, face = i % 3, i // 2, i % 2
        masks = {}
        for name in names[: 1 + i % 3]:
            rx, ry = rng.uniform(35, 55), rng.uniform(45, 60)
            inside = ((xx - 64) / rx) ** 2 + ((yy - 62) / ry) ** 2 <= 1
            mask = cv2.GaussianBlur(inside.astype(np.uint8) * 255, (7, 7), 0)
            # A little noise (as a segmentation network leaves) keeps zlib from doing too well.
            mask ^= (rng.random(mask.shape) < 0.08).astype(np.uint8)
            masks[name] = MaskAlignmentsFile(
                mask=zlib.compress(mask.tobytes()),
                affine_matrix=rng.normal(size=(2, 3)).astype(np.float32),
                interpolator=3,
                stored_size=MASK,
                stored_centering="face",
            )
        landmarks = rng.uniform(300, 700, size=(68, 2)).astype(np.float32)
        stem = f"video{video}_{frame:06d}"
        header = PNGHeader(
            alignments=PNGAlignments(
                x=300,
                y=300,
                w=400,
                h=400,
                landmarks_xy=landmarks,
                mask=masks,
                identity={"vggface2": rng.normal(size=512).astype(np.float32)},
            ),
            source=PNGSource(
                alignments_version=2.4,
                original_filename=f"{stem}_{face}.png",
                face_index=face,
                source_filename=f"{stem}.png",
                source_is_video=True,
                source_frame_dims=(1080, 1920),
            ),
        )
        payload_total += len(str(header.to_dict()))
        image = base.copy()
        image[::7, :, i % 3] += np.uint8(i % 50)
        (folder / f"{stem}_{face}.png").write_bytes(
            faceio.encode_image(image, ".png", metadata=header)
        )
    return payload_total // faces


def read_baseline(folder: str) -> int:
    """List the folder as scan does and consume the batch reader: the floor for scan."""
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if e.name.lower().endswith(".png"))
    paths = [os.path.join(folder, name) for name in names]
    count = 0
    for _ in faceio.read_image_meta_batch(paths, errors="collect"):
        count += 1
    return count


def best(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def time_commands(folder: Path, runs: int, trees: dict[str, str | None]) -> None:
    """Time each command as a subprocess, ``runs`` times per tree, interleaved; print ranges."""
    work = Path(tempfile.mkdtemp(prefix="faceio-bench-cli-out-"))
    times: dict[tuple[str, str], list[float]] = {}
    try:
        for _ in range(runs):
            for label, pythonpath in trees.items():
                env = dict(os.environ)
                if pythonpath is not None:
                    env["PYTHONPATH"] = pythonpath
                out = work / f"{label}.jsonl"
                commands = {
                    "scan": ["scan", str(folder), "-q"],
                    "verify": ["verify", str(folder), "-q"],
                    "export": ["export", str(folder), "-q", "-o", str(out)],
                    "import (unchanged)": ["import", str(out), str(folder), "-q"],
                }
                for name, args in commands.items():
                    start = time.perf_counter()
                    subprocess.run(
                        [sys.executable, "-m", "faceio", *args],
                        check=True,
                        capture_output=True,
                        env=env,
                    )
                    times.setdefault((name, label), []).append(time.perf_counter() - start)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = len(list(folder.glob("*.png")))
    print(f"\n`faceio` commands on {n:,} faces, wall time of {runs} runs each (min-max)\n")
    print("| command | " + " | ".join(trees) + " |")
    print("|---|" + "---:|" * len(trees))
    for name in ("scan", "verify", "export", "import (unchanged)"):
        cells = []
        for label in trees:
            t = times[(name, label)]
            cells.append(f"{min(t):.2f}-{max(t):.2f} s ({n / median(t):,.0f} files/s)")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="where the faces are made and reused")
    parser.add_argument("--faces", type=int, default=FACES, help="faces to make (default 2000)")
    parser.add_argument("--commands", action="store_true", help="time the commands too")
    parser.add_argument("--runs", type=int, default=3, help="runs per command (default 3)")
    parser.add_argument("--before", metavar="PYTHONPATH", help="a faceio tree to compare with")
    args = parser.parse_args()
    tmp = None
    if args.folder:
        folder = Path(args.folder)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="faceio-bench-cli-")
        folder = Path(tmp.name)
    try:
        if not any(folder.glob("*.png")):
            print(f"making {args.faces} faces in {folder} ...", file=sys.stderr)
            payload = make_faces(folder, args.faces)
            print(f"mean header payload: {payload / 1024:.1f} KiB", file=sys.stderr)
        time_scan(folder)
        if args.commands:
            trees: dict[str, str | None] = {"this tree": None}
            if args.before:
                trees = {"before": args.before, "after": None}
            time_commands(folder, args.runs, trees)
    finally:
        if tmp is not None:
            tmp.cleanup()


def time_scan(folder: Path) -> None:
    """Time scan_folder against the bare batch read, in process; print the table."""
    files = list(folder.glob("*.png"))
    size = sum(p.stat().st_size for p in files)
    # Warm the page cache and the code paths.
    read_baseline(str(folder))
    summary = scan_folder(folder)
    assert summary["with_header"] == len(files), summary["errors"][:3]

    t_read = best(lambda: read_baseline(str(folder)), REPEATS)
    t_scan = best(lambda: scan_folder(folder), REPEATS)
    command = [sys.executable, "-m", "faceio", "scan", str(folder), "-q"]
    t_cli = best(lambda: subprocess.run(command, check=True, capture_output=True), 3)
    t_start = best(
        lambda: subprocess.run([sys.executable, "-c", "import faceio"], check=True),
        SUBPROCESS_REPEATS,
    )

    n = len(files)
    print(
        f"\n{n:,} faces, {size / n / 1024:.1f} KiB per file, {os.cpu_count()} CPUs, "
        f"best of {REPEATS} (subprocesses best of {SUBPROCESS_REPEATS})\n"
    )
    print("| what | time | per face | vs read |")
    print("|---|---:|---:|---:|")
    rows = [
        ("list + `read_image_meta_batch` (baseline)", t_read),
        ("`scan_folder` (read + summary, in process)", t_scan),
        ("`faceio scan DIR -q` subprocess (wall)", t_cli),
        ('`python -c "import faceio"` (start-up alone)', t_start),
    ]
    for label, seconds in rows:
        print(
            f"| {label} | {seconds * 1000:.1f} ms | {seconds / n * 1e6:.1f} µs "
            f"| {seconds / t_read:.2f}x |"
        )
    verdict = "OK" if t_scan / t_read <= 1.5 else "OVER TARGET"
    print(f"\nscan / read = {t_scan / t_read:.2f}x (target <= 1.5x): {verdict}")


if __name__ == "__main__":
    main()
