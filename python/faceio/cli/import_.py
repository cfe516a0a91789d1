"""``faceio import``: write the headers of an export file back into a folder's faces."""

from __future__ import annotations

import argparse
import itertools
import json
import marshal
import os
import stat
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from faceio import _core
from faceio._parallel import io_workers, ordered_map
from faceio.cli._common import EXIT_BAD, EXIT_OK, FACE_FILES, UsageError, check_folder
from faceio.cli._faces import is_tiff
from faceio.cli._output import reason, say, terminal_bar
from faceio.cli.records import restore_unchecked, unedited, value_digest
from faceio.errors import FaceioError, HeaderSchemaError, MetadataNotFound
from faceio.header import PNGHeader
from faceio.metadata import (
    tiff_read_meta,
    tiff_write_meta,
    update_existing_metadata,
)

#: Stands for the header of a file that has none, or whose header cannot be read.
_ABSENT = object()

#: Records compared at a time: enough to keep every core reading, little memory.
_CHUNK = 256


class _Job(NamedTuple):
    """One write an export file asks for."""

    name: str  # as the record gives it
    path: str
    line: int  # the record's line in the export file
    payload: Any  # None until parsed, for an unedited sealed line
    is_face: bool  # a "header" record's face header: checked against the schema before writing
    digest: str | None = None  # the value digest of an unedited sealed line
    text: str = ""  # that line, parsed only if the file no longer holds the value


def _safe_name(name: str) -> bool:
    """Check for a name inside the folder: a record cannot name a path outside it.

    A record names a file directly in the folder, or (from ``export -r``) a path below it with
    ``/`` between the parts; no part may be empty, ``.`` or ``..``. A symlink in the folder
    (to a file, or to a folder on the way) is written through, as every faceio writer writes
    through one and as export read through it: its target is the face the name stands for.
    """
    if not name or "\0" in name or os.path.isabs(name):
        return False
    parts = name.split("/")
    return all(
        part not in ("", ".", "..")
        and os.sep not in part
        and (os.altsep is None or os.altsep not in part)
        for part in parts
    )


def _same(current: Any, payload: Any) -> bool:
    """Whether a file's header already is ``payload``: same types, values and key order.

    ``==`` is not enough (``1 == 1.0 == True``, dict order ignored) and ``str()`` of a 30 KB
    header costs ~280 µs (every float's shortest repr); see :func:`value_digest`. A NaN that
    differs only in its bits compares unequal: the file is rewritten, which is harmless.
    """
    if current is _ABSENT:
        return False
    try:
        return marshal.dumps(current, 2) == marshal.dumps(payload, 2)
    except ValueError:  # a value marshal cannot write: treat it as a change
        return False


def _tiff_header(path: str) -> tuple[bytes, Any]:
    """Read a TIFF (links followed): its bytes and its header, or :data:`_ABSENT`."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return data, tiff_read_meta(data)
    except MetadataNotFound:
        return data, _ABSENT


def _read_ahead(jobs: Iterator[_Job]) -> Iterator[tuple[list[_Job], Iterator[Any]]]:
    """Yield the jobs a chunk at a time, each with the batch reader of its PNG files.

    A chunk's reader is started before the next chunk's records are parsed: the core reads
    and parses those files on the other cores, the GIL released, while this thread parses
    JSON. That is far cheaper than a thread per file when most files are unchanged.
    """
    pending = None
    while chunk := list(itertools.islice(jobs, _CHUNK)):
        reader = _core.read_image_meta_batch([job.path for job in chunk if not is_tiff(job.path)])
        if pending is not None:
            yield pending
        pending = (chunk, reader)
    if pending is not None:
        yield pending


def _current_headers(jobs: list[_Job], reader: Iterator[Any]) -> list[Any]:
    """Read the header each job's file holds now (:data:`_ABSENT`: none, or unreadable)."""
    current: list[Any] = []
    for job in jobs:
        if is_tiff(job.path):
            try:
                current.append(_tiff_header(job.path)[1])
            except (OSError, FaceioError):
                current.append(_ABSENT)
            continue
        _, meta = next(reader)
        # Unreadable: let the write say what is wrong, or mend a header that does not parse.
        current.append(_ABSENT if isinstance(meta, Exception) else meta.get("itxt", _ABSENT))
    return current


def _write_tiff(path: str, payload: Any) -> None:
    """Write a header into a TIFF that has none, crash-safely (a symlink stays a symlink)."""
    data, current = _tiff_header(path)
    if current is not _ABSENT:
        raise ValueError(
            "the TIFF already holds a different header; faceio writes an ImageDescription "
            "only into a TIFF without one"
        )
    # tiff_write_meta refuses, naming the field, a value JSON cannot hold (mask bytes).
    _core.write_file(path, tiff_write_meta(data, payload))  # it writes through a symlink


def _parse(job: _Job, problems: list[tuple[str, str]]) -> _Job | None:
    """Parse the record of an unedited sealed line whose file no longer holds its value."""
    try:
        _, payload, is_face = restore_unchecked(json.loads(job.text))
    except ValueError as err:
        problems.append((f"line {job.line}", reason(err)))
        return None
    return job._replace(payload=payload, is_face=is_face, digest=None, text="")


def _to_write(
    chunk: list[_Job], reader: Iterator[Any], problems: list[tuple[str, str]], counts: Counter[str]
) -> list[_Job]:
    """Keep the jobs whose file does not hold their header yet, and whose header is good."""
    todo = []
    for job, now in zip(chunk, _current_headers(chunk, reader), strict=True):
        if job.digest is not None:
            if now is not _ABSENT and value_digest(now) == job.digest:
                counts["unchanged"] += 1
                continue
            parsed = _parse(job, problems)
            if parsed is None or parsed.payload is None:
                counts["skipped"] += parsed is not None
                continue
            job = parsed
        if _same(now, job.payload):
            counts["unchanged"] += 1
            continue
        try:
            if job.is_face:
                PNGHeader.from_dict(job.payload)
        except HeaderSchemaError as err:
            problems.append((f"line {job.line}", reason(err)))
            continue
        todo.append(job)
    return todo


def _write_header(job: _Job) -> tuple[str, str | None]:
    """Write one header; ``(file name, problem or None)``, never raises."""
    try:
        if is_tiff(job.path):
            _write_tiff(job.path, job.payload)
        else:
            # repr: a payload that is a str is written as the literal of one (for the rest,
            # str and repr are the same, dicts included).
            update_existing_metadata(job.path, repr(job.payload).encode("utf-8"))
    except FileNotFoundError:
        return job.name, "missing"
    except (OSError, ValueError, TypeError) as err:
        return job.name, reason(err, job.path)
    return job.name, None


def _target(folder: str, name: str) -> tuple[str, tuple[int, int] | None, str | None]:
    """Find the file a record names: its path, its identity, or why it cannot be written."""
    path = os.path.join(folder, *name.split("/"))
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return path, None, "missing"
    except OSError as err:
        return path, None, reason(err, path)
    if stat.S_ISDIR(info.st_mode):
        return path, None, "is a folder, not a file"
    if not stat.S_ISREG(info.st_mode):
        return path, None, "not a regular file"
    return path, (info.st_dev, info.st_ino), None


def _import_jobs(
    source: IO[bytes], folder: str, problems: list[tuple[str, str]], counts: Counter[str]
) -> Iterator[_Job]:
    """Yield the writes an export file asks for; bad lines and missing files go to ``problems``.

    Two records for one file (a name and a symlink to it, two hard links) are refused: the
    later would silently undo an edit of the earlier. The first one is written.
    """
    seen: dict[tuple[int, int], tuple[str, int]] = {}
    for number, raw in enumerate(source, 1):
        # Decoded line by line: a byte that is not UTF-8 spoils its own line only.
        try:
            line = raw.decode("utf-8").replace("\r\n", "\n")
        except UnicodeDecodeError as err:
            problems.append((f"line {number}", f"not UTF-8 text ({err.reason})"))
            continue
        if not line.strip():
            continue
        sealed = unedited(line)
        if sealed is not None:  # parsed later, only if the file no longer holds its value
            name, digest = sealed
            job = _Job(name, "", number, None, False, digest, line)
        else:
            try:
                name, payload, is_face = restore_unchecked(json.loads(line))
            except ValueError as err:
                problems.append((f"line {number}", reason(err)))
                continue
            job = _Job(name, "", number, payload, is_face)
        if not _safe_name(name):
            problems.append((f"line {number}", f"{name!r} is not a path inside the folder"))
            continue
        if job.digest is None and job.payload is None:
            counts["skipped"] += 1
            continue
        path, identity, problem = _target(folder, name)
        if identity is None:
            problems.append((name, problem or "missing"))
            continue
        if identity in seen:
            first, first_line = seen[identity]
            counts["refused"] += 1
            problems.append(
                (
                    f"line {number}",
                    f"{name} is the same file as {first} (line {first_line}): refused, "
                    "one record per file",
                )
            )
            continue
        seen[identity] = (name, number)
        yield job._replace(path=path)


def _open_source(jsonl: str) -> IO[bytes]:
    """Open the export file (its lines decoded one at a time); missing, or a folder: usage."""
    try:
        return open(jsonl, "rb")
    except FileNotFoundError:
        raise UsageError(f"{jsonl}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{jsonl}: is a folder, not a file") from None
    except OSError as err:
        raise UsageError(f"{jsonl}: cannot read ({err.strerror or err})") from None


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``import`` command to the parser."""
    parser = commands.add_parser(
        "import",
        parents=[common],
        help="write headers from an export back into the files",
        description="Write each header of an export file back into the file of the same name "
        f"(or path, from export -r) in FOLDER ({FACE_FILES}), crash-safely: every other byte "
        "of the file is kept. A file that already holds the header (same values, types and "
        "order) is left alone and counted as unchanged. Files that are missing, records that "
        "do not parse, a second record for a file already written (a symlink or hard link to "
        "it), and writes that fail (a TIFF header JSON cannot hold, such as mask bytes) are "
        "listed, one per line, and give exit status 1.",
    )
    parser.add_argument("jsonl", metavar="OUT.jsonl")
    parser.add_argument("folder", metavar="FOLDER")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio import``; return the exit status."""
    folder = args.folder
    check_folder(folder)
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
            for chunk, reader in _read_ahead(jobs):
                changed = _to_write(chunk, reader, problems, counts)
                if bar is not None:
                    bar.update(len(chunk) - len(changed))
                report()
                for label, problem in ordered_map(_write_header, changed, io_workers()):
                    if problem is None:
                        counts["written"] += 1
                    else:
                        problems.append((label, problem))
                    if bar is not None:
                        bar.update()
                    report()
    finally:
        if bar is not None:
            bar.close()
    report()
    missing = sum(problem == "missing" for _, problem in problems)
    failed = len(problems) - missing - counts["refused"]
    print(
        f"imported {counts['written']:,} headers into {folder}: {counts['unchanged']:,} unchanged "
        f"(left alone), {missing:,} files missing, {failed:,} failed, {counts['refused']:,} "
        f"refused (a second record for one file), {counts['skipped']:,} records skipped (no "
        "header, or unreadable at export)"
    )
    return EXIT_BAD if problems else EXIT_OK
