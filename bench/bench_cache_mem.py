"""Measure the peak memory of ``faceio scan --cache`` on a large folder (a script, not a test).

Uses (or makes) bench/bench_cache.py's folder and runs ``faceio scan`` in a fresh process for
each case, taking the process's peak resident set size from the kernel (``wait4``):

* ``scan`` without a cache (the streaming baseline: the listing and the counters);
* ``scan --cache`` with no cache file yet (every file read, the cache written);
* ``scan --cache`` with nothing changed;
* ``scan --cache`` after rewriting the ``--changed`` fraction of the files (1%).

A fresh process per case, as a user runs it: the peak of one case is not lowered by memory an
earlier case left mapped, nor raised by it.

Run with ``python bench/bench_cache_mem.py [FOLDER] [--faces N] [--runs R]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import bench_cache

from faceio._files import CACHE_NAME


def peak_rss(args: list[str]) -> int:
    """Run ``faceio`` with ``args`` in a new process; give its peak RSS in bytes."""
    cmd = [sys.executable, "-m", "faceio", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: the folder holds a bad file, still a full scan
        raise RuntimeError(f"{cmd} exited with {proc.returncode}")
    # Linux gives ru_maxrss in KiB.
    return int(usage.ru_maxrss) * 1024


def main() -> None:
    args = bench_cache.folder_arguments(__doc__.splitlines()[0], runs=3).parse_args()
    folder = Path(args.folder)
    changed = int(args.faces * args.changed)
    own = bench_cache.make_folder(folder, args.faces, args.unique, changed)
    cache = folder / CACHE_NAME
    scan = ["scan", "-q", str(folder)]
    peaks: dict[str, list[int]] = {}

    def add(case: str, args: list[str]) -> None:
        peaks.setdefault(case, []).append(peak_rss(args))

    for r in range(args.runs):
        add("scan, no cache", scan)
        cache.unlink(missing_ok=True)
        add("scan --cache, no cache file", [*scan, "--cache"])
        add("scan --cache, unchanged", [*scan, "--cache"])
        bench_cache.rewrite(own, 1000 + r)
        bench_cache.settle(folder)
        add(f"scan --cache, {len(own):,} changed", [*scan, "--cache"])
    print(f"\n{args.faces:,} faces, {args.runs} runs each (min-max peak RSS)\n")
    print("| case | peak RSS | per face |")
    print("|---|---:|---:|")
    for case, p in peaks.items():
        mib = f"{min(p) / 2**20:.0f}-{max(p) / 2**20:.0f} MiB"
        print(f"| {case} | {mib} | {min(p) / args.faces:,.0f}-{max(p) / args.faces:,.0f} B |")
    print(f"\ncache file: {cache.stat().st_size / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
