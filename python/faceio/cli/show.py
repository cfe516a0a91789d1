"""``faceio show``: print the header of face files, field by field or as JSON records."""

from __future__ import annotations

import argparse
import os
import sys
import zlib
from typing import Any

from faceio.cli._common import EXIT_BAD, EXIT_OK
from faceio.cli._faces import face_header, file_meta, is_tiff
from faceio.cli._output import NO_HEADER, json_line, reason, table
from faceio.cli.records import header_record, seal
from faceio.errors import FaceioError
from faceio.header import MaskAlignmentsFile, PNGHeader, is_face_header
from faceio.image import _read_bytes

_INTERPOLATORS = {0: "nearest", 1: "linear", 2: "cubic", 3: "area", 4: "lanczos4"}


def _fmt_float(value: float) -> str:
    return f"{value:.6g}"


def _mask_row(key: str, mask: MaskAlignmentsFile) -> tuple[str, ...]:
    """One mask's row: its size and coverage (or why it does not decompress), how it is stored."""
    import numpy as np

    try:
        pixels = np.frombuffer(zlib.decompress(mask.mask), dtype=np.uint8)
    except (zlib.error, TypeError) as err:  # TypeError: not bytes (a TIFF's JSON holds none)
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


def _render_face(name: str, size: tuple[int, int], kind: str, header: PNGHeader) -> list[str]:
    import numpy as np

    al, src = header.alignments, header.source
    dims = src.source_frame_dims
    lines = [f"{name}  ({size[0]}x{size[1]} {kind})"]
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


def _read(path: str) -> dict[str, Any] | None:
    """Read one file's stored metadata, or say why not (``None``: a bad file, exit status 1)."""
    try:
        # A named pipe or device is refused before it is read (a plain open waits for a pipe's
        # writer forever).
        meta = file_meta(path, _read_bytes(path))
    except FileNotFoundError:
        problem = "no such file"
    except IsADirectoryError:
        problem = "is a folder, not a file"
    except (OSError, FaceioError) as err:
        problem = reason(err, path)
    else:
        if "itxt" in meta:
            return meta
        problem = NO_HEADER
    print(f"faceio show: {path}: {problem}", file=sys.stderr)
    return None


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``show`` command to the parser."""
    parser = commands.add_parser(
        "show",
        parents=[common],
        help="print the header of face files",
        description="Print the header of each FILE (a PNG's faceswap chunk, a TIFF's "
        "ImageDescription) field by field: source, box, landmark bounds, masks (size and "
        "coverage, the mean mask value) and identity vectors. Exit status 1 if a FILE is "
        "missing, unreadable, not a PNG or TIFF, or has no faceswap header (the other FILEs "
        "are still shown).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print one JSON line per file, as export writes it (mask bytes as base64)",
    )
    parser.set_defaults(func=run, takes_json=True)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio show``; return the exit status."""
    status = EXIT_OK
    first = True
    for path in args.files:
        meta = _read(path)
        if meta is None:
            status = EXIT_BAD
            continue
        name, payload = os.path.basename(path), meta["itxt"]
        if args.json:
            print(seal(json_line(header_record(name, payload)), payload))
            continue
        if not first:
            print()
        first = False
        if is_face_header(payload):
            try:
                header = face_header(payload)
            except (ValueError, TypeError) as err:
                print(f"faceio show: {path}: {reason(err, path)}", file=sys.stderr)
                status = max(status, EXIT_BAD)
                continue
            size = (meta["width"], meta["height"])
            kind = "TIFF" if is_tiff(path) else "PNG"
            print("\n".join(_render_face(name, size, kind, header)))
        else:
            print("\n".join(_render_payload(name, payload)))
    return status
