"""Metadata reads and updates: faceio against the plain Python approach, in one process.

Run: ``python bench/bench_meta.py [FOLDER]`` (the corpus is generated into FOLDER, default a temp
folder, and reused when present). Prints a markdown table of times and ratios.
"""

from __future__ import annotations

import argparse
import ast
import os
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus

import faceio

PNG_SIG = b"\x89PNG\r\n\x1a\n"


# --- the plain approach: what a straightforward Python implementation does -----------------


def plain_read_image_meta(path: str) -> dict:
    """Walk chunks with struct, literal_eval the faceswap iTXt, stop at IDAT."""
    out: dict = {}
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIG:
            raise ValueError(path)
        while True:
            length, kind = struct.unpack(">I4s", f.read(8))
            if kind == b"IDAT":
                break
            if kind == b"IHDR":
                out["width"], out["height"] = struct.unpack(">II", f.read(8))
                f.seek(length - 8 + 4, 1)
            elif kind == b"iTXt":
                key, value = f.read(length).split(b"\0", 1)
                if key == b"faceswap":
                    out["itxt"] = ast.literal_eval(value[4:].decode("utf-8"))
                f.seek(4, 1)
            else:
                f.seek(length + 4, 1)
    return out


def plain_batch(paths: list[str]) -> list:
    with ThreadPoolExecutor() as pool:
        return list(pool.map(plain_read_image_meta, paths))


def plain_png_read_meta(data: bytes) -> faceio.PNGHeader:
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"iTXt":
            key, value = data[pos + 8 : pos + 8 + length].split(b"\0", 1)
            if key == b"faceswap":
                return faceio.PNGHeader.from_dict(ast.literal_eval(value[4:].decode("utf-8")))
        pos += 12 + length
    raise ValueError("no header")


def plain_update(path: str, header: faceio.PNGHeader) -> None:
    with open(path, "rb") as f:
        data = f.read()
    chunk_data = b"faceswap\0\0\0\0\0" + str(header.to_dict()).encode("utf-8")
    new_chunk = (
        struct.pack(">I", len(chunk_data))
        + b"iTXt"
        + chunk_data
        + struct.pack(">I", __import__("zlib").crc32(b"iTXt" + chunk_data))
    )
    pos, out = 8, [data[:8]]
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        block = data[pos:end]
        out.append(new_chunk if block[4:8] == b"iTXt" and block[8:16] == b"faceswap" else block)
        pos = end
    tmp = path + "~"
    with open(tmp, "wb") as f:
        f.write(b"".join(out))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- timing ---------------------------------------------------------------------------------


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bare_read(paths: list[str]) -> None:
    for p in paths:
        with open(p, "rb") as f:
            f.read(65536)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "folder",
        nargs="?",
        default=os.path.join(tempfile.gettempdir(), "faceio-bench"),
        help="where the corpus is generated and reused (default: a folder under the temp dir)",
    )
    folder = parser.parse_args().folder
    paths = corpus.build(os.path.join(folder, "faces"))
    corpus.warm(paths)
    n = len(paths)
    sizes = [
        len(faceio.pack_to_itxt(faceio.png_read_meta(Path(p).read_bytes()))) for p in paths[:200]
    ]
    kb = [s / 1024 for s in sizes]
    print(
        f"corpus: {n} faces in {folder}, payload {min(kb):.1f}-{max(kb):.1f} KB "
        f"(mean {sum(kb) / len(kb):.1f} KB), cpus={os.cpu_count()}"
    )

    assert [m for _, m in faceio.read_image_meta_batch(paths[:50])] == plain_batch(paths[:50])
    t_fast = best_of(lambda: sum(1 for _ in faceio.read_image_meta_batch(paths)), 5)
    t_plain = best_of(lambda: plain_batch(paths), 2)
    t_bare = best_of(lambda: bare_read(paths), 3)

    blobs = [Path(p).read_bytes() for p in paths[:300]]
    assert all(faceio.png_read_meta(b) == plain_png_read_meta(b) for b in blobs[:20])
    t_png_fast = best_of(lambda: [faceio.png_read_meta(b) for b in blobs], 5) / len(blobs)
    t_png_plain = best_of(lambda: [plain_png_read_meta(b) for b in blobs], 2) / len(blobs)

    upd = paths[:200]
    headers = [faceio.png_read_meta(Path(p).read_bytes()) for p in upd]
    t_upd_fast = best_of(
        lambda: [faceio.update_existing_metadata(p, h) for p, h in zip(upd, headers, strict=True)],
        3,
    ) / len(upd)
    t_upd_plain = best_of(
        lambda: [plain_update(p, h) for p, h in zip(upd, headers, strict=True)], 3
    ) / len(upd)

    rows = [
        (
            "read_image_meta_batch, 2,000 faces",
            f"{t_fast * 1e3:.1f} ms ({n / t_fast:,.0f} files/s)",
            f"{t_plain * 1e3:.1f} ms ({n / t_plain:,.0f} files/s)",
            t_plain / t_fast,
            "≥ 50x, ≥ 12,000 files/s",
        ),
        (
            "png_read_meta, bytes → PNGHeader",
            f"{t_png_fast * 1e6:.0f} µs",
            f"{t_png_plain * 1e6:.0f} µs",
            t_png_plain / t_png_fast,
            "≥ 20x",
        ),
        (
            "update_existing_metadata (fsync)",
            f"{t_upd_fast * 1e3:.2f} ms",
            f"{t_upd_plain * 1e3:.2f} ms",
            t_upd_plain / t_upd_fast,
            "≥ 1x",
        ),
    ]
    print()
    print("| operation | faceio | plain Python | speed-up | target |")
    print("|---|---|---|---|---|")
    for name, fast, plain, ratio, target in rows:
        print(f"| {name} | {fast} | {plain} | {ratio:.1f}x | {target} |")
    print(f"\nreference: bare open + read(64 KiB) of the same files: {n / t_bare:,.0f} files/s")


if __name__ == "__main__":
    main()
