"""``faceio export``: write every header of a folder as JSON lines (see :mod:`.records`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import IO, Any

from faceio.cli._common import EXIT_BAD, EXIT_OK, UsageError, list_pngs
from faceio.cli._output import json_line, reason, say, terminal_bar
from faceio.cli.records import header_record
from faceio.metadata import read_image_meta_batch


def _check_output(out_path: str) -> None:
    """Refuse an output path whose folder is missing, or that is a folder itself."""
    parent = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(parent):
        raise UsageError(f"{out_path}: the folder {parent} does not exist")
    if os.path.isdir(out_path):
        raise UsageError(f"{out_path}: is a folder, not a file")


def _record(name: str, path: str, meta: dict[str, Any] | Exception) -> dict[str, Any]:
    """Make the record of one file: its header, or why it could not be read or exported."""
    if isinstance(meta, Exception):
        return {"file": name, "error": reason(meta, path)}
    try:
        return header_record(name, meta.get("itxt"))
    except TypeError as err:
        return {"file": name, "error": str(err)}


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``export`` command to the parser."""
    parser = commands.add_parser(
        "export",
        parents=[common],
        help="write every header of a folder as JSON lines",
        description="Write one JSON line per *.png of FOLDER, in name order: "
        '{"file": NAME, "header": {...}} with mask bytes as base64 strings; "header" is null '
        'for a PNG without one; {"file": NAME, "payload": ...} for other metadata (bytes, '
        'tuples and sets tagged, e.g. {"__bytes__": BASE64}); {"file": NAME, "error": WHY} '
        "for an unreadable file (exit status 1). Non-finite floats are written as NaN, "
        "Infinity, -Infinity (as Python's json module does).",
    )
    parser.add_argument("folder", metavar="FOLDER")
    parser.add_argument(
        "-o", "--output", default="-", metavar="OUT.jsonl", help="output file (default: stdout)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio export``; return the exit status."""
    folder = args.folder
    names, _ = list_pngs(folder)
    paths = [os.path.join(folder, name) for name in names]
    to_stdout = args.output == "-"
    out_path = args.output
    if not to_stdout:
        _check_output(out_path)
    # A partial export never takes the output's name: write beside it, rename when complete.
    part = f"{out_path}.part"
    out: IO[str] = sys.stdout if to_stdout else open(part, "w", encoding="utf-8")
    faces = without = failed = 0
    done = False
    bar = terminal_bar(len(paths), not args.quiet, "export")
    try:
        results = read_image_meta_batch(paths, errors="collect")
        for name, path, (_, meta) in zip(names, paths, results, strict=True):
            if bar is not None:
                bar.update()
            record = _record(name, path, meta)
            if "error" in record:
                failed += 1
                say(bar, f"faceio export: {path}: {record['error']}", sys.stderr)
            elif record.get("header", True) is None:
                without += 1
            else:
                faces += 1
            out.write(json_line(record))
            out.write("\n")
        if not to_stdout:
            out.close()
            os.replace(part, out_path)
            done = True
    finally:
        if bar is not None:
            bar.close()
        if not to_stdout and not done:
            out.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
    where = "stdout" if to_stdout else out_path
    print(
        f"exported {faces:,} headers from {len(names):,} PNG files to {where} "
        f"({without:,} without header, {failed:,} unreadable)",
        file=sys.stderr,
    )
    return EXIT_BAD if failed else EXIT_OK
