"""``faceio verify``: check every face file of a folder, one line per bad file."""

from __future__ import annotations

import argparse
import sys
import zlib
from typing import Any

from faceio._files import FolderEntry
from faceio._parallel import io_workers, ordered_map
from faceio.cli._common import (
    EXIT_BAD,
    EXIT_OK,
    FACE_FILES,
    add_recursive,
    list_faces,
    plural,
    subfolder_note,
)
from faceio.cli._faces import face_header, file_meta, is_tiff
from faceio.cli._output import NO_HEADER, reason, say, terminal_bar
from faceio.header import PNGHeader, is_face_header
from faceio.metadata import verify_png


def _mask_problem(header: PNGHeader) -> str | None:
    """Say which stored mask does not decompress to its stored size, if one does not."""
    for key, mask in header.alignments.mask.items():
        if not isinstance(mask.mask, bytes):
            return f"mask {key!r} is a {type(mask.mask).__name__}, not zlib bytes"
        size = len(zlib.decompress(mask.mask))
        if size != mask.stored_size**2:
            return f"mask {key!r} holds {size} bytes, not {mask.stored_size}x{mask.stored_size}"
    return None


def _check_face(entry: FolderEntry) -> tuple[FolderEntry, str | None, bool]:
    """``(entry, problem or None, renamed)`` for one file; never raises."""
    if entry.error is not None:
        return entry, reason(entry.error, entry.path), False
    try:
        with open(entry.path, "rb") as f:
            data = f.read()
        if not is_tiff(entry.name):
            verify_png(data)
        meta = file_meta(entry.path, data)
        if "itxt" not in meta:
            return entry, NO_HEADER, False
        payload = meta["itxt"]
        if not is_face_header(payload):
            return entry, "faceswap metadata is not a face header", False
        header = face_header(payload)
        problem = _mask_problem(header)
        if problem is not None:
            return entry, problem, False
    except (OSError, ValueError, TypeError, zlib.error) as err:
        return entry, reason(err, entry.path), False
    name = entry.name.rsplit("/", 1)[-1]
    return entry, None, header.source.original_filename != name


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``verify`` command to the parser."""
    parser = commands.add_parser(
        "verify",
        parents=[common],
        help="check every face file of a folder",
        description=f"Check the {FACE_FILES} of FOLDER: a PNG's signature, chunk layout and "
        "CRCs (a TIFF's header and image file directory), a faceswap header that parses and "
        "matches the face schema, masks that decompress to their stored size. A file without "
        "a face header is bad: it is not a faceswap face. Prints one line per bad file and "
        "exits with status 1 if there is any, or if FOLDER holds no face file. Faces whose "
        "file name differs from original_filename (sorting renames files) are only counted.",
    )
    parser.add_argument("folder", metavar="FOLDER")
    add_recursive(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio verify``; return the exit status."""
    folder = args.folder
    listing = list_faces(folder, args.recursive)
    entries = listing.entries
    note = subfolder_note(listing)
    if not entries:
        where = "in it or its sub-folders" if args.recursive else "directly in it"
        print(
            f"faceio verify: {folder}: nothing to verify, no {FACE_FILES} {where}"
            + (f" ({note})" if note else ""),
            file=sys.stderr,
        )
        return EXIT_BAD
    bar = terminal_bar(len(entries), not args.quiet, "verify")
    bad = renamed = 0
    try:
        for entry, problem, was_renamed in ordered_map(_check_face, entries, io_workers()):
            if problem is not None:
                bad += 1
                say(bar, f"{entry.path}: {problem}")
            renamed += was_renamed
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    summary = (
        f"verified {plural(len(entries), 'face file')} in {folder}: "
        f"{len(entries) - bad:,} good, {bad:,} bad"
    )
    notes = [note] if note else []
    if renamed:
        notes.append(f"{renamed:,} renamed (file name is not original_filename)")
    if notes:
        summary += "; note: " + "; ".join(notes)
    print(summary)
    return EXIT_BAD if bad else EXIT_OK
