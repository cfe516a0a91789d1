"""How the commands print: lines above the progress bar, columns, one-line reasons, JSON lines."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from faceio._progress import progress_bar
from faceio.errors import HeaderSchemaError, MetadataNotFound, MetadataSyntaxError

#: The reason given for a PNG without a faceswap chunk.
NO_HEADER = "no faceswap header"


def terminal_bar(total: int | None, enabled: bool, desc: str) -> Any:
    """Make a tqdm bar on stderr, or ``None`` when off (``-q``, stderr not a terminal)."""
    return progress_bar(total, desc, enabled=enabled, terminal_only=True)


def say(bar: Any, line: str, file: IO[str] | None = None) -> None:
    """Print a line of output, above the progress bar if there is one."""
    if bar is not None:
        bar.write(line, file=file or sys.stdout)
    else:
        print(line, file=file or sys.stdout)


def reason(err: BaseException, path: str | None = None) -> str:
    """One line saying what is wrong with a file, without the file name the caller prints."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    # The core names a path whose bytes are not UTF-8 with U+FFFD for them, where Python's
    # name holds lone surrogates (os.fsdecode): either way it is the caller's name.
    names = {path, os.fsencode(path).decode("utf-8", "replace")} if path is not None else set()
    for name in names:
        if text.startswith(f"{name}: "):
            text = text[len(name) + 2 :]
            break
    if isinstance(err, MetadataNotFound):
        return NO_HEADER
    if isinstance(err, MetadataSyntaxError):
        return f"header does not parse: {text}"
    if isinstance(err, HeaderSchemaError):
        return f"header does not match the face schema: {text}"
    return text


def json_line(record: Any) -> str:
    """One compact JSON line (no newline), non-ASCII text kept as it is.

    A line whose text holds a lone surrogate (a file name's undecodable bytes, as
    ``os.fsdecode`` keeps them, or one escaped in a header) has no UTF-8 form: it is written
    with every non-ASCII character escaped, which JSON reads back the same.
    """
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    if line.isascii():
        return line
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(record, ensure_ascii=True, separators=(",", ":"))
    return line


def table(rows: Sequence[tuple[str, ...]], indent: int = 2, titled: bool = False) -> list[str]:
    """Lay rows out in columns: text left-aligned, numbers right-aligned (after a title row)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    body = rows[1:] if titled else rows
    numeric = [all(_is_number(row[i]) for row in body) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ]
        out.append((" " * indent + "  ".join(cells)).rstrip())
    return out


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "").isdigit() or text == ""
