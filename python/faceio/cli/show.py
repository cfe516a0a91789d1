"""``faceio show``: print the header of face files, field by field or as JSON records."""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from typing import Any

from faceio.cli._common import EXIT_BAD, EXIT_OK, EXIT_USAGE, UsageError
from faceio.cli._output import NO_HEADER, json_line, reason, table
from faceio.cli.records import header_record
from faceio.errors import FaceioError
from faceio.header import MaskAlignmentsFile, PNGHeader, is_face_header
from faceio.metadata import read_png_meta

_INTERPOLATORS = {0: "nearest", 1: "linear", 2: "cubic", 3: "area", 4: "lanczos4"}


def _read_file(path: str) -> bytes:
    """Read a file; a missing file or a folder is a usage error."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a file") from None


def _fmt_float(value: float) -> str:
    return f"{value:.6g}"


def _mask_row(key: str, mask: MaskAlignmentsFile) -> tuple[str, ...]:
    """One mask's row: its size and coverage (or why it does not decompress), how it is stored."""
    import numpy as np

    try:
        pixels = np.frombuffer(zlib.decompress(mask.mask), dtype=np.uint8)
    except zlib.error as err:
        detail = f"does not decompress ({err})"
    else:
        side = mask.stored_size
        shape = f"{side}x{side}" if pixels.size == side * side else f"{pixels.size} bytes"
        if pixels.size != side * side:
            shape += f" (expected {side}x{side})"
        coverage = float(pixels.mean()) / 255 * 100 if pixels.size else 0.0
        detail = f"{shape}, coverage {coverage:.1f}%"
    interp = _INTERPOLATORS.get(mask.interpolator, "?")
    return (
        key,
        detail,
        f"centering {mask.stored_centering}",
        f"interpolator {mask.interpolator} ({interp})",
    )


def _render_face(name: str, size: tuple[int, int], header: PNGHeader) -> list[str]:
    import numpy as np

    al, src = header.alignments, header.source
    dims = src.source_frame_dims
    lines = [f"{name}  ({size[0]}x{size[1]} PNG)"]
    rows: list[tuple[str, ...]] = [
        ("original_filename", src.original_filename),
        (
            "source_filename",
            src.source_filename + ("  (video frame)" if src.source_is_video else ""),
        ),
        ("face_index", str(src.face_index)),
        ("source_frame_dims", "none" if dims is None else f"{dims[1]}x{dims[0]} (w x h)"),
        ("alignments_version", str(src.alignments_version)),
    ]
    lines += ["  source", *table(rows, indent=4)]
    points = al.landmarks_xy.reshape(-1, 2) if al.landmarks_xy.size else al.landmarks_xy
    if points.size:
        lo, hi = points.min(axis=0), points.max(axis=0)
        bounds = (
            f"{len(points)} points, x {_fmt_float(lo[0])}..{_fmt_float(hi[0])}, "
            f"y {_fmt_float(lo[1])}..{_fmt_float(hi[1])}"
        )
    else:
        bounds = "none"
    rows = [("box", f"x {al.x}  y {al.y}  w {al.w}  h {al.h}"), ("landmarks", bounds)]
    lines += ["  alignments", *table(rows, indent=4)]
    if al.mask:
        rows = [_mask_row(key, mask) for key, mask in al.mask.items()]
        lines += ["  masks (coverage = mean mask value)", *table(rows, indent=4)]
    if al.identity:
        rows = []
        for key, vector in al.identity.items():
            norm = float(np.linalg.norm(vector.astype(np.float64))) if vector.size else 0.0
            rows.append((key, f"{vector.size} floats, L2 norm {_fmt_float(norm)}"))
        lines += ["  identity", *table(rows, indent=4)]
    return lines


def _render_payload(name: str, payload: Any) -> list[str]:
    lines = [f"{name}: faceswap metadata that is not a face header"]
    if isinstance(payload, dict):
        rows = []
        for key, value in payload.items():
            text = repr(value)
            rows.append((repr(key), text if len(text) <= 70 else text[:67] + "..."))
        lines += table(rows, indent=2)
    else:
        text = repr(payload)
        lines.append("  " + (text if len(text) <= 70 else text[:67] + "..."))
    return lines


def _read(path: str) -> tuple[dict[str, Any] | None, int]:
    """Read one file's stored metadata, or say why not: ``(meta or None, exit status)``."""
    try:
        meta = read_png_meta(_read_file(path))
    except UsageError as err:
        print(f"faceio show: {err}", file=sys.stderr)
        return None, EXIT_USAGE
    except (OSError, FaceioError) as err:
        print(f"faceio show: {path}: {reason(err, path)}", file=sys.stderr)
        return None, EXIT_BAD
    if "itxt" not in meta:
        print(f"faceio show: {path}: {NO_HEADER}", file=sys.stderr)
        return None, EXIT_BAD
    return meta, EXIT_OK


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``show`` command to the parser."""
    parser = commands.add_parser(
        "show",
        parents=[common],
        help="print the header of face files",
        description="Print each FILE's header field by field: source, box, landmark bounds, "
        "masks (size and coverage, the mean mask value) and identity vectors. Exit status 1 "
        "if a file is not a PNG or has no faceswap header.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line per file, as export writes it (mask bytes as base64)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio show``; return the exit status."""
    status = EXIT_OK
    first = True
    for path in args.files:
        meta, problem = _read(path)
        status = max(status, problem)
        if meta is None:
            continue
        name, payload = os.path.basename(path), meta["itxt"]
        if args.json:
            print(json_line(header_record(name, payload)))
            continue
        if not first:
            print()
        first = False
        if is_face_header(payload):
            try:
                header = PNGHeader.from_dict(payload)
            except (ValueError, TypeError) as err:
                print(f"faceio show: {path}: {reason(err, path)}", file=sys.stderr)
                status = max(status, EXIT_BAD)
                continue
            size = (meta["width"], meta["height"])
            print("\n".join(_render_face(name, size, header)))
        else:
            print("\n".join(_render_payload(name, payload)))
    return status
