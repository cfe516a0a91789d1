"""``faceio export``: write every header of a folder as JSON lines (see :mod:`.records`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import stat
import sys
from collections import Counter
from typing import IO, Any

from faceio._files import FolderEntry, FolderListing
from faceio.cli._common import (
    EXIT_BAD,
    EXIT_OK,
    FACE_FILES,
    UsageError,
    add_recursive,
    list_faces,
    plural,
    subfolder_note,
)
from faceio.cli._faces import read_metas
from faceio.cli._output import json_line, reason, say, terminal_bar
from faceio.cli.records import header_record, seal


def _check_output(out_path: str) -> None:
    """Refuse an output path whose folder is missing, or that is a folder itself."""
    parent = os.path.dirname(os.path.abspath(out_path))
    if not os.path.exists(parent):
        raise UsageError(f"{out_path}: the folder {parent} does not exist")
    if not os.path.isdir(parent):
        raise UsageError(f"{out_path}: {parent} is a file, not a folder")
    if os.path.isdir(out_path):
        raise UsageError(f"{out_path}: is a folder, not a file")


# A link to one of this process's open descriptors: the shell's /dev/stdout, /dev/fd/3, or
# /proc/self/fd/3 (the text of such a link names no file that could be written beside).
_STANDARD_STREAMS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_DESCRIPTOR_LINK = re.compile(r"/(?:dev/fd|proc/(self|thread-self|\d+)/fd)/(\d+)")


def _descriptor(out_path: str) -> int | None:
    """Give the open descriptor that ``out_path`` names through its links, if it names one."""
    path = os.path.abspath(out_path)
    for _ in range(40):  # as the system, which gives up after 40 links
        if path in _STANDARD_STREAMS:
            return _STANDARD_STREAMS[path]
        match = _DESCRIPTOR_LINK.fullmatch(path)
        if match and match.group(1) in (None, "self", "thread-self", str(os.getpid())):
            return int(match.group(2))
        if not os.path.islink(path):
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return None


def output_target(out_path: str) -> tuple[str, bool] | int:
    """Give where an export goes, and whether through ``TARGET.part`` renamed when complete.

    A symlink's target is written (the link stays a link). A device or named pipe is written
    straight into: renaming over it would replace it with a file. An int: ``out_path`` names
    one of this process's open descriptors (``/dev/stdout``, ``/dev/fd/3``), which is written
    to as the shell opened it, so that ``>>`` still appends.
    """
    descriptor = _descriptor(out_path)
    if descriptor is not None:
        return descriptor
    try:
        info = os.stat(out_path)
    except FileNotFoundError:  # a new file, or a dangling link: its target is made
        return (os.path.realpath(out_path) if os.path.islink(out_path) else out_path), True
    except OSError as err:
        raise UsageError(f"{out_path}: cannot write ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        return out_path, False
    if os.path.islink(out_path):
        target = os.path.realpath(out_path)
        with contextlib.suppress(OSError):
            if os.path.samestat(os.stat(target), info):
                return target, True
        return out_path, False
    return out_path, True


def open_descriptor(out_path: str, descriptor: int, mode: str) -> IO[Any]:
    """Open a copy of an open descriptor to write the export to (closing it leaves ours)."""
    try:
        copy = os.dup(descriptor)
    except OSError as err:
        raise UsageError(f"{out_path}: cannot write ({err.strerror or err})") from None
    return os.fdopen(copy, mode, encoding=None if "b" in mode else "utf-8")


def _open_output(target: str, via_part: bool) -> IO[str]:
    """Open the file the export is written to (``TARGET.part`` until it is complete)."""
    path = f"{target}.part" if via_part else target
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as err:
        raise UsageError(f"{target}: cannot write {path} ({err.strerror or err})") from None


def one_per_file(listing: FolderListing) -> tuple[list[FolderEntry], dict[str, list[str]]]:
    """Keep one entry per real file: ``(entries, {kept name: the other names of its file})``.

    A file and a symlink to it (or two hard links) are one file with one header: exporting it
    twice would let an import of the later record undo an edit of the earlier. The entry kept
    is the file itself when it is in the listing, else the first link by name.
    """
    groups: dict[tuple[int, int], list[FolderEntry]] = {}
    for entry in listing.entries:
        if entry.identity is not None:
            groups.setdefault(entry.identity, []).append(entry)
    keep: set[str] = set()
    links: dict[str, list[str]] = {}
    for group in groups.values():
        kept = next((e for e in group if not e.link), group[0])
        keep.add(kept.name)
        if len(group) > 1:
            links[kept.name] = [e.name for e in group if e is not kept]
    entries = [e for e in listing.entries if e.identity is None or e.name in keep]
    return entries, links


def _record(
    entry: FolderEntry, meta: dict[str, Any] | Exception, links: list[str] | None
) -> dict[str, Any]:
    """Make the record of one file: its header, or why it could not be read or exported."""
    head: dict[str, Any] = {"file": entry.name}
    if links:
        head["links"] = links
    if isinstance(meta, Exception):
        return {**head, "error": reason(meta, entry.path)}
    try:
        return {**head, **header_record(entry.name, meta.get("itxt"))}
    except TypeError as err:
        return {**head, "error": str(err)}


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``export`` command to the parser."""
    parser = commands.add_parser(
        "export",
        parents=[common],
        help="write every header of a folder as JSON lines",
        description=f"Write one JSON line per face file of FOLDER ({FACE_FILES}), in path "
        'order: {"file": NAME, "header": {...}} with mask bytes as base64 strings; "header" '
        'is null for a file without one; {"file": NAME, "payload": ...} for other metadata '
        '(bytes, tuples and sets tagged, e.g. {"__bytes__": BASE64}); {"file": NAME, '
        '"error": WHY} for an unreadable file (exit status 1). A file reached by several '
        "names (symlinks, hard links) is written once, under its own name if it has one, "
        'with "links": [OTHER NAMES]. With -r, NAME is the path from FOLDER. A record that '
        'holds a value ends with "digest": two hashes, of the value and of the line, with '
        "which import skips an unedited record whose file still holds that value. Non-finite "
        "floats are written as NaN, Infinity, -Infinity (as Python's json module does).",
    )
    parser.add_argument("folder", metavar="FOLDER")
    add_recursive(parser)
    parser.add_argument(
        "-o", "--output", default="-", metavar="OUT.jsonl", help="output file (default: stdout)"
    )
    parser.add_argument(
        "--format",
        choices=("jsonl", "parquet"),
        default="jsonl",
        help="jsonl (the default): the records above; parquet: one table of the headers' "
        "flat columns (docs/table.md; needs pyarrow, faceio[arrow]), -o required",
    )
    parser.set_defaults(func=run)


def _write(
    out: IO[str], entries: list[FolderEntry], links: dict[str, list[str]], bar: Any
) -> Counter[str]:
    """Write the records; count faces, files without header and failures."""
    counts: Counter[str] = Counter()
    for entry, meta in read_metas(entries):
        if bar is not None:
            bar.update()
        record = _record(entry, meta, links.get(entry.name))
        try:
            line = json_line(record)
            if isinstance(meta, dict) and meta.get("itxt") is not None and "error" not in record:
                line = seal(line, meta["itxt"])
        except (TypeError, ValueError) as err:  # a value with no JSON or digest form
            record = {"file": entry.name, "error": f"cannot export its header: {err}"}
            line = json_line(record)
        if "error" in record:
            counts["failed"] += 1
            say(bar, f"faceio export: {entry.path}: {record['error']}", sys.stderr)
        elif record.get("header", True) is None:
            counts["without"] += 1
        else:
            counts["faces"] += 1
        out.write(line)
        out.write("\n")
    return counts


def run(args: argparse.Namespace) -> int:
    """Run ``faceio export``; return the exit status."""
    listing = list_faces(args.folder, args.recursive)
    entries, links = one_per_file(listing)
    to_stdout = args.output == "-"
    out_path = args.output
    if args.format == "parquet":
        if to_stdout:
            raise UsageError("--format parquet writes a file: give it with -o OUT.parquet")
        _check_output(out_path)
        from faceio.cli.export_parquet import write_parquet

        return write_parquet(listing, entries, out_path)
    target, via_part = out_path, False
    out: IO[str] = sys.stdout
    if not to_stdout:
        _check_output(out_path)
        output = output_target(out_path)
        if isinstance(output, int):
            out = open_descriptor(out_path, output, "w")
        else:
            # A partial export never takes the output's name: write beside it, then rename.
            target, via_part = output
            out = _open_output(target, via_part)
    done = False
    bar = terminal_bar(len(entries), not args.quiet, "export")
    try:
        counts = _write(out, entries, links, bar)
        if not to_stdout:
            out.close()
            if via_part:
                os.replace(f"{target}.part", target)
            done = True
    finally:
        if bar is not None:
            bar.close()
        if not to_stdout and not done:
            out.close()
            if via_part:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{target}.part")
    where = "stdout" if to_stdout else out_path
    notes = [f"{counts['without']:,} without header", f"{counts['failed']:,} unreadable"]
    linked = sum(map(len, links.values()))
    if linked:
        notes.append(f"{plural(linked, 'link')} to a file exported once, noted in its record")
    note = subfolder_note(listing)
    if note:
        notes.append(note)
    print(
        f"exported {counts['faces']:,} headers from {plural(len(entries), 'face file')} to "
        f"{where} ({'; '.join(notes)})",
        file=sys.stderr,
    )
    return EXIT_BAD if counts["failed"] else EXIT_OK
