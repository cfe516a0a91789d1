"""``faceio verify``: check every face file of a folder, one line per bad file."""

from __future__ import annotations

import argparse
import os
import zlib
from typing import Any

from faceio._parallel import io_workers, ordered_map
from faceio.cli._common import EXIT_BAD, EXIT_OK, list_pngs
from faceio.cli._output import NO_HEADER, reason, say, terminal_bar
from faceio.header import PNGHeader, is_face_header
from faceio.metadata import read_png_meta, verify_png


def _check_face(path: str, name: str) -> tuple[str, str | None, bool]:
    """``(name, problem or None, renamed)`` for one file; never raises."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        verify_png(data)
        meta = read_png_meta(data)
        if "itxt" not in meta:
            return name, NO_HEADER, False
        payload = meta["itxt"]
        if not is_face_header(payload):
            return name, "faceswap metadata is not a face header", False
        header = PNGHeader.from_dict(payload)
        for key, mask in header.alignments.mask.items():
            size = len(zlib.decompress(mask.mask))
            if size != mask.stored_size**2:
                return (
                    name,
                    f"mask {key!r} holds {size} bytes, not {mask.stored_size}x{mask.stored_size}",
                    False,
                )
    except (OSError, ValueError, TypeError, zlib.error) as err:
        return name, reason(err, path), False
    return name, None, header.source.original_filename != name


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``verify`` command to the parser."""
    parser = commands.add_parser(
        "verify",
        parents=[common],
        help="check every face file of a folder",
        description="Check every *.png of FOLDER: PNG signature, chunk layout and CRCs, a "
        "faceswap header that parses and matches the face schema, masks that decompress to "
        "their stored size. A PNG without a face header is bad: it is not a faceswap face. "
        "Prints one line per bad file and exits with status 1 if there is any. Faces whose "
        "file name differs from original_filename (sorting renames files) are only counted.",
    )
    parser.add_argument("folder", metavar="FOLDER")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio verify``; return the exit status."""
    folder = args.folder
    names, _ = list_pngs(folder)
    bar = terminal_bar(len(names), not args.quiet, "verify")
    bad = renamed = 0
    try:
        checks = ordered_map(
            lambda name: _check_face(os.path.join(folder, name), name), names, io_workers()
        )
        for name, problem, was_renamed in checks:
            if problem is not None:
                bad += 1
                say(bar, f"{os.path.join(folder, name)}: {problem}")
            renamed += was_renamed
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    summary = (
        f"verified {len(names):,} PNG files in {folder}: {len(names) - bad:,} good, {bad:,} bad"
    )
    if renamed:
        summary += f"; note: {renamed:,} renamed (file name is not original_filename)"
    print(summary)
    return EXIT_BAD if bad else EXIT_OK
