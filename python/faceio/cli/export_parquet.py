"""``faceio export --format parquet``: every header of a folder as one Parquet table.

The table is :func:`faceio.read_meta_table`'s (docs/table.md), with ``path`` the file's name as
the JSON-lines export gives it (the path from FOLDER). Needs pyarrow (``faceio[arrow]``).
"""

from __future__ import annotations

import contextlib
import os
import sys

from faceio._files import FolderEntry, FolderListing
from faceio.cli._common import EXIT_BAD, EXIT_OK, UsageError, plural, subfolder_note


def write_parquet(listing: FolderListing, entries: list[FolderEntry], out_path: str) -> int:
    """Write the table of ``entries`` to ``out_path`` (whole, or not at all); the exit status."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from faceio.arrow import _read_files_table, meta_schema, text_array
    except ImportError as err:
        raise UsageError(
            f"--format parquet needs pyarrow: pip install 'faceio[arrow]' ({err})"
        ) from None
    readable = [e for e in entries if e.error is None]
    table = _read_files_table([e.path for e in readable])
    # Entries the listing could not look at (a dangling link, a loop) are rows with an error,
    # in their place in the listing.
    unlisted = [
        {"path": e.path, "error_type": type(e.error).__name__, "error": str(e.error)}
        for e in entries
        if e.error is not None
    ]
    if unlisted:
        table = pa.concat_tables([table, pa.Table.from_pylist(unlisted, schema=meta_schema())])
        place = {e.path: i for i, e in enumerate(entries)}
        keys = pa.array([place[p] for p in table.column("path").to_pylist()])
        table = table.take(pc.sort_indices(keys))
    names = [e.name for e in readable] if not unlisted else [e.name for e in entries]
    # A name's undecodable bytes (kept by os.fsdecode as lone surrogates) written escaped.
    table = table.set_column(0, meta_schema().field("path"), text_array(names))
    from faceio.cli.export import open_descriptor, output_target

    where = output_target(out_path)
    target, via_part = (out_path, False) if isinstance(where, int) else where
    part = f"{target}.part" if via_part else target
    done = False
    try:
        if isinstance(where, int):  # -o /dev/stdout, /dev/fd/N: as the shell opened it
            with open_descriptor(out_path, where, "wb") as sink:
                pq.write_table(table, sink)
        else:
            pq.write_table(table, part)
        if via_part:
            os.replace(part, target)
        done = True
    except OSError as err:
        raise UsageError(f"{out_path}: cannot write ({err.strerror or err})") from None
    finally:
        if not done and via_part:  # failed or interrupted (Ctrl-C): no partial file left
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
    bad = table.column("error_type").is_valid()
    failed = int(pc.sum(bad).as_py() or 0)
    faces = int(
        pc.sum(pc.and_(table.column("header_bytes").is_valid(), pc.invert(bad))).as_py() or 0
    )
    without = table.num_rows - failed - faces
    notes = [f"{without:,} without header", f"{failed:,} unreadable"]
    note = subfolder_note(listing)
    if note:
        notes.append(note)
    print(
        f"exported {faces:,} headers from {plural(len(entries), 'face file')} to {out_path} "
        f"({'; '.join(notes)})",
        file=sys.stderr,
    )
    return EXIT_BAD if failed else EXIT_OK
