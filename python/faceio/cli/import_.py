"""``faceio import``: write the headers of an export file back into a folder's faces."""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

from faceio._parallel import io_workers, ordered_map
from faceio.cli._common import EXIT_BAD, EXIT_OK, UsageError
from faceio.cli._output import reason, say, terminal_bar
from faceio.cli.records import restore_record
from faceio.metadata import update_existing_metadata


def _safe_name(name: str) -> bool:
    """Check for a bare file name: import never writes outside the folder it was given."""
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and os.sep not in name
        and (os.altsep is None or os.altsep not in name)
        and "\0" not in name
    )


def _write_header(job: tuple[str, str, Any]) -> tuple[str, str | None]:
    """Write one header; ``(label, problem or None)``, never raises."""
    label, path, payload = job
    try:
        update_existing_metadata(path, str(payload).encode("utf-8"))
    except FileNotFoundError:
        return label, "missing"
    except (OSError, ValueError) as err:
        return label, reason(err, path)
    return label, None


def _import_jobs(
    source: IO[str], folder: str, problems: list[tuple[str, str]], counts: Counter[str]
) -> Iterator[tuple[str, str, Any]]:
    """Yield the writes an export file asks for; bad lines and missing files go to ``problems``."""
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            name, payload = restore_record(json.loads(line))
        except ValueError as err:
            problems.append((f"line {number}", reason(err)))
            continue
        if not _safe_name(name):
            problems.append((f"line {number}", f"{name!r} is not a plain file name"))
            continue
        if payload is None:
            counts["skipped"] += 1
            continue
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            problems.append((name, "missing"))
            continue
        yield name, path, payload


def _open_source(jsonl: str) -> IO[str]:
    """Open the export file; a missing file or a folder is a usage error."""
    try:
        return open(jsonl, encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{jsonl}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{jsonl}: is a folder, not a file") from None


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``import`` command to the parser."""
    parser = commands.add_parser(
        "import",
        parents=[common],
        help="write headers from an export back into the files",
        description="Write each header of an export file back into the file of the same name "
        "in FOLDER, crash-safely (every other byte of the PNG is kept). Files that are "
        "missing, records that do not parse and writes that fail are listed, one per line, "
        "and give exit status 1.",
    )
    parser.add_argument("jsonl", metavar="OUT.jsonl")
    parser.add_argument("folder", metavar="FOLDER")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio import``; return the exit status."""
    folder = args.folder
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: no such folder")
    source = _open_source(args.jsonl)
    problems: list[tuple[str, str]] = []
    counts: Counter[str] = Counter()
    reported = 0
    bar = terminal_bar(None, not args.quiet, "import")

    def report() -> None:
        nonlocal reported
        for label, problem in problems[reported:]:
            say(bar, f"{label}: {problem}")
        reported = len(problems)

    try:
        with source:
            jobs = _import_jobs(source, folder, problems, counts)
            for label, problem in ordered_map(_write_header, jobs, io_workers()):
                if problem is None:
                    counts["written"] += 1
                else:
                    problems.append((label, problem))
                if bar is not None:
                    bar.update()
                report()
    except UnicodeDecodeError as err:
        problems.append((args.jsonl, f"not UTF-8 text ({err.reason})"))
    finally:
        if bar is not None:
            bar.close()
    report()
    missing = sum(problem == "missing" for _, problem in problems)
    print(
        f"imported {counts['written']:,} headers into {folder}: {missing:,} files missing, "
        f"{len(problems) - missing:,} failed, {counts['skipped']:,} records skipped (no header, or "
        "unreadable at export)"
    )
    return EXIT_BAD if problems else EXIT_OK
