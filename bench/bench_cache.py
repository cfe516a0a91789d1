"""Benchmark the scan cache on a large folder (a script, not a test).

Makes (or reuses) FOLDER with ``--faces`` face PNGs (200,000 by default) from bench/corpus.py's
face maker: ``--unique`` distinct faces in a sibling folder ``FOLDER-src``, hard-linked under
the benchmark's names, except the 1% of names that the "changed" runs rewrite, which are files
of their own (a hard link's rewrite would touch the ctime of every name sharing its inode).
Put FOLDER on tmpfs: ``mount -t tmpfs -o size=6g tmpfs /mnt/fc``.

Then, with the page cache warm, it times, ``--runs`` times each (ranges: the machine is shared):

* cold: ``read_meta_table(FOLDER)`` with no cache, and with ``cache=True`` and no cache file yet
  (a full read plus the cache's writing);
* unchanged: ``read_meta_table(FOLDER, cache=True)`` with nothing changed (target: under 2 s);
* 1% changed: the same after rewriting the ``--changed`` fraction of the files with new faces
  (target: under 2 s plus the time to read those files, timed alone as the baseline);
* ``faceio scan --cache`` (in process), unchanged and 1% changed (its baseline: ``faceio
  scan``'s own reading of the changed files alone), next to ``faceio scan``
  (every change rewrites the one cache file whole: each 1% change here costs what any would);
* the cache file's size.

Run with ``python bench/bench_cache.py [FOLDER] [--faces N] [--runs R]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import corpus
import numpy as np

import faceio
from faceio._files import CACHE_NAME


def make_folder(folder: Path, faces: int, unique: int, changed: int) -> list[Path]:
    """Make the benchmark folder if it is not complete; return the paths the changes rewrite."""
    names = [folder / f"face_{i:06d}.png" for i in range(faces)]
    # The rewritten names are spread over the folder, as edits to a real face set would be.
    step = max(faces // max(changed, 1), 1)
    own = names[::step][:changed]
    if all(p.exists() for p in names):
        return own
    folder.mkdir(parents=True, exist_ok=True)
    sources = corpus.build(f"{folder}-src", unique)
    own_set = set(own)
    for i, path in enumerate(names):
        if path.exists():
            continue
        if path in own_set:
            path.write_bytes(Path(sources[i % unique]).read_bytes())
        else:
            os.link(sources[i % unique], path)
    return own


def rewrite(paths: list[Path], round_: int) -> None:
    """Give each path a new face (a new header), written to a temporary file and renamed."""
    rng = np.random.default_rng(round_)
    image = corpus.make_image(rng)
    for i, path in enumerate(paths):
        data = faceio.encode_image(image, ".png", metadata=corpus.make_header(rng, i + round_))
        tmp = path.with_suffix(".new")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def settle(folder: Path) -> None:
    """Wait until the file system's clock is past the last change (the cache's racy rule)."""
    probe = folder.parent / f".{folder.name}-probe"
    newest = max(folder.stat().st_mtime_ns, folder.stat().st_ctime_ns)
    while True:
        probe.write_bytes(b"")
        stamp = probe.stat().st_mtime_ns
        probe.unlink()
        if stamp > newest + 10_000_000:
            return
        time.sleep(0.01)


def span(times: list[float]) -> str:
    return f"{min(times):.2f}-{max(times):.2f} s"


def folder_arguments(description: str, runs: int) -> argparse.ArgumentParser:
    """The options of the benchmarks on a cached folder: where, how many faces, how many
    distinct, the fraction rewritten between scans, and the runs (``runs`` by default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("folder", nargs="?", default="/mnt/fc/faces")
    parser.add_argument("--faces", type=int, default=200_000)
    parser.add_argument("--unique", type=int, default=1000, help="distinct faces hard-linked")
    parser.add_argument("--changed", type=float, default=0.01, help="fraction rewritten")
    parser.add_argument("--runs", type=int, default=runs)
    return parser


def main() -> None:
    parser = folder_arguments(__doc__.splitlines()[0], runs=5)
    parser.add_argument("--make-only", action="store_true", help="make the folder and stop")
    args = parser.parse_args()
    folder = Path(args.folder)
    changed = int(args.faces * args.changed)
    start = time.perf_counter()
    own = make_folder(folder, args.faces, args.unique, changed)
    print(f"folder {folder}: {args.faces:,} faces ({time.perf_counter() - start:.1f} s to make)")
    if args.make_only:
        return
    run(folder, own, args.runs)


def scan_facts(paths: list[str]) -> int:
    """Read files as ``faceio scan`` does without a cache (headers, then each file's facts)."""
    from faceio._files import FolderEntry, FolderListing
    from faceio.cli.scan import _read_facts

    entries = [FolderEntry(os.path.basename(p), p) for p in paths]
    return sum(1 for _ in _read_facts(FolderListing(entries=entries)))


def run(folder: Path, own: list[Path], runs: int) -> None:
    """Time every case ``runs`` times, interleaved, and print the table."""
    from faceio.arrow import read_meta_table
    from faceio.cli import scan_folder

    cache = folder / CACHE_NAME
    times: dict[str, list[float]] = {}

    def add(case: str, seconds: float) -> None:
        times.setdefault(case, []).append(seconds)

    own_paths = [str(p) for p in own]

    read_meta_table(folder)  # warm the page cache
    for r in range(runs):
        cache.unlink(missing_ok=True)
        add("cold, no cache", corpus.timed(lambda: read_meta_table(folder)))
        add(
            "cold, cache=True (full read + cache written)",
            corpus.timed(lambda: read_meta_table(folder, cache=True)),
        )
        add("unchanged, cache=True", corpus.timed(lambda: read_meta_table(folder, cache=True)))
        rewrite(own, r + 1)
        settle(folder)
        add(
            f"{len(own):,} changed: reading those files alone",
            corpus.timed(lambda: read_meta_table(own_paths)),
        )
        add(
            f"{len(own):,} changed, cache=True",
            corpus.timed(lambda: read_meta_table(folder, cache=True)),
        )
        add("scan, no cache", corpus.timed(lambda: scan_folder(folder)))
        add("scan --cache, unchanged", corpus.timed(lambda: scan_folder(folder, cache=True)))
        rewrite(own, runs + r + 1)
        settle(folder)
        add(
            f"{len(own):,} changed: `faceio scan` reading those files alone",
            corpus.timed(lambda: scan_facts(own_paths)),
        )
        add(
            f"scan --cache, {len(own):,} changed",
            corpus.timed(lambda: scan_folder(folder, cache=True)),
        )
    print(f"\n{runs} runs each (min-max), {sum(1 for _ in os.scandir(folder)):,} folder entries\n")
    print("| case | time |")
    print("|---|---:|")
    for case, t in times.items():
        print(f"| {case} | {span(t)} |")
    size = cache.stat().st_size
    rows = sum(1 for _ in os.scandir(folder)) - 1
    print(f"\ncache file: {size / 2**20:.0f} MiB, {size / rows:.0f} bytes a face")


if __name__ == "__main__":
    main()
