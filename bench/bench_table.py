"""Headers as a table: files/s of faceio.read_meta_table against read_image_meta_batch.

Run: ``python bench/bench_table.py [--faces N] [--runs R] [FOLDER]`` (needs pyarrow; the corpus
is generated into FOLDER, default a temp folder, and reused when present). Each run times, in
turn, on a warm page cache:

- ``batch``: ``faceio.read_image_meta_batch(paths)`` iterated to the end, each dict dropped
  when the next comes (keeping them all costs more, in the garbage collector), the baseline;
- ``table``: ``faceio.read_meta_table(paths)``, columns packed in Rust (no object per file);
- ``dicts``: the same table built in Python from the baseline's dicts, the other way to build it.

Prints files/s (min-max over the runs) and the ratios to the baseline of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus
import pyarrow as pa

import faceio
from faceio.arrow import meta_schema


def table_via_dicts(paths: list[str]) -> pa.Table:
    """The table of read_meta_table, built from read_image_meta_batch's dicts in Python."""
    rows: dict[str, list[Any]] = {f.name: [] for f in meta_schema()}
    for path, meta in faceio.read_image_meta_batch(paths, errors="collect"):
        rows["path"].append(path)
        err = isinstance(meta, Exception)
        head = None if err else meta.get("itxt")
        al = head["alignments"] if head else {}
        src = head["source"] if head else {}
        masks = (al.get("mask") or {}) if head else {}
        values = {
            "width": None if err else meta["width"],
            "height": None if err else meta["height"],
            "x": al.get("x"),
            "y": al.get("y"),
            "w": al.get("w"),
            "h": al.get("h"),
            "landmarks_xy": al.get("landmarks_xy"),
            "mask_names": list(masks) if head else None,
            "mask_stored_sizes": [m["stored_size"] for m in masks.values()] if head else None,
            "mask_stored_centerings": [m["stored_centering"] for m in masks.values()]
            if head
            else None,
            "identity_names": list(al.get("identity") or {}) if head else None,
            "alignments_version": src.get("alignments_version"),
            "original_filename": src.get("original_filename"),
            "face_index": src.get("face_index"),
            "source_filename": src.get("source_filename"),
            "source_is_video": src.get("source_is_video"),
            "source_frame_dims": src.get("source_frame_dims"),
            "header_bytes": None,  # the dicts do not say; left out of this side's work
            "error_type": type(meta).__name__ if err else None,
            "error": str(meta) if err else None,
        }
        for name, value in values.items():
            rows[name].append(value)
    return pa.table(rows, schema=meta_schema())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--faces", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = args.folder or str(Path(tempfile.gettempdir()) / f"faceio-bench-{args.faces}")
    paths = corpus.build(folder, args.faces)
    corpus.warm(paths)
    cases: dict[str, Callable[[], object]] = {
        "batch": lambda: deque(faceio.read_image_meta_batch(paths), maxlen=0),
        "table": lambda: faceio.read_meta_table(paths),
        "dicts": lambda: table_via_dicts(paths),
    }
    rows = corpus.rate_rounds(cases, len(paths), args.runs, "batch")
    print(f"{len(paths):,} faces, {args.runs} runs (min-max)\n")
    print("| reader | files/s | ratio to batch |")
    print("|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
