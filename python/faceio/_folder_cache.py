"""The folder's one cache, shared by ``read_meta_table(cache=True)`` and ``faceio scan --cache``.

A cached row holds both what :func:`faceio.read_meta_table` gives for a file (its columns but
``path``) and the :class:`faceio.cli.scan.Facts` the scan summary takes from it (columns
``scan_*``): a file is read by both readers when either needs it, so that one file in the
folder serves both, and a summary from the cache is the one ``faceio scan`` gives without it
(the facts come from the same function either way). The cache itself is
:mod:`faceio._scan_cache`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import pyarrow as pa

from faceio._files import FolderEntry
from faceio._scan_cache import CacheReport, read_through
from faceio.arrow import _read_files_table, meta_schema
from faceio.cli._faces import read_metas
from faceio.cli.scan import Facts, file_facts

__all__ = ["FACT_COLUMNS", "cached_meta_table", "cached_rows", "folder_schema", "rows_facts"]

_log = logging.getLogger("faceio.cache")

#: The scan facts' columns, in :class:`Facts` field order.
FACT_COLUMNS = [
    pa.field("scan_kind", pa.string()),
    pa.field("scan_error", pa.string()),
    pa.field("scan_size", pa.string()),
    pa.field("scan_landmarks", pa.int64()),
    pa.field("scan_masks", pa.list_(pa.string())),
    pa.field("scan_identity", pa.list_(pa.string())),
    pa.field("scan_version", pa.string()),
    pa.field("scan_frame", pa.string()),
    pa.field("scan_video", pa.bool_()),
    pa.field("scan_original", pa.string()),
]

# Names the cache's rows: a cache of other columns (another faceio) is not used. Raise it when
# what a column holds changes without its type changing.
_KIND = "faceio-folder/1"


def folder_schema() -> pa.Schema:
    """Give the cached rows' schema: :func:`faceio.arrow.meta_schema`'s columns, the facts."""
    return pa.schema([*meta_schema(), *FACT_COLUMNS])


def _read_rows(paths: list[str]) -> pa.Table:
    """Read files into rows of :func:`folder_schema`: the table's columns and the facts."""
    if not paths:
        return folder_schema().empty_table()
    table = _read_files_table(paths)
    # The entry's name only tells read_metas which files are TIFF.
    entries = [FolderEntry(os.path.basename(p), p) for p in paths]
    facts = [file_facts(e.path, meta) for e, meta in read_metas(entries)]
    for field, values in zip(FACT_COLUMNS, zip(*facts, strict=True), strict=True):
        table = table.append_column(field, pa.array(values, field.type))
    return table


def cached_rows(
    folder: str, names: Sequence[str], paths: Sequence[str], columns: Sequence[str]
) -> tuple[pa.Table, CacheReport]:
    """Give ``path`` and ``columns`` of ``paths`` (named ``names`` from ``folder``), cached.

    A row is cached only when neither reader failed on the file (``error`` and
    ``scan_error`` null): a failure is read again each time, and names the path as given.
    """
    return read_through(
        folder,
        names,
        paths,
        _read_rows,
        folder_schema(),
        kind=_KIND,
        columns=columns,
        error_columns=("error", "scan_error"),
    )


def cached_meta_table(folder: str, paths: Sequence[str]) -> pa.Table:
    """Give :func:`faceio.read_meta_table`'s table of ``paths``, files of ``folder``, cached."""
    names = [os.path.basename(p) for p in paths]
    table, report = cached_rows(folder, names, paths, meta_schema().names[1:])
    _log.debug("%s: scan cache: %s", folder, report)
    return table


def rows_facts(table: pa.Table) -> list[Facts]:
    """Turn the facts columns of :func:`cached_rows`' table back into :class:`Facts`."""
    columns = [table.column(field.name).to_pylist() for field in FACT_COLUMNS]
    return [Facts(*row) for row in zip(*columns, strict=True)]
