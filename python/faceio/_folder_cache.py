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
import sys
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from faceio import __version__
from faceio._files import FolderEntry, FolderListing
from faceio._scan_cache import CacheReport, read_through
from faceio.arrow import _read_files_table, meta_schema, text_array
from faceio.cli._faces import read_metas
from faceio.cli.scan import Facts, _ScanStats, file_facts

__all__ = ["FACT_COLUMNS", "add_rows", "cached_meta_table", "cached_rows", "folder_schema"]

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
    pa.field("scan_origin", pa.string()),
    pa.field("scan_video", pa.bool_()),
    pa.field("scan_original", pa.string()),
]

# Names the cache's rows: a cache written by another faceio version is not used (what a column
# holds may have changed without its type changing); raise the number for such a change
# between versions. 2: a JPEG, WebP or TIFF's width and height are turned as its EXIF
# orientation says (docs/format.md, "Image sizes and EXIF orientation").
_KIND = f"faceio-folder/2 faceio {__version__}"

# Chunks a column may come in for add_rows to count it as it is: a cache file's batches of
# 8,192 rows make 123 for a million faces.
_FEW_CHUNKS = 256


def _kind() -> str:
    r"""Name the rows as this process would read them.

    A payload with a ``\N{...}`` name or a long int is built by Python (docs/table.md),
    whose Unicode tables and decimal digit limit (which a caller may change at any time)
    decide its row: a row read under other ones is not used.
    """
    # CPython before 3.10.7 has no digit limit (and no function to ask for it).
    digits = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    return f"{_KIND} unicode {unicodedata.unidata_version} int-digits {digits}"


#: What precedes a path's last part: the listing joins a folder and a name with ``os.sep``
#: (``/`` on POSIX, where a name may hold ``\\``; either on Windows). ``(?s)``: a name may hold
#: a newline.
_UP_TO_LAST_SEP = "(?s)^.*/" if os.sep == "/" else r"(?s)^.*[/\\]"


def folder_schema() -> pa.Schema:
    """Give the cached rows' schema: :func:`faceio.arrow.meta_schema`'s columns, the facts."""
    return pa.schema([*meta_schema(), *FACT_COLUMNS])


def _read_rows(paths: list[str]) -> pa.Table:
    """Read files into rows of :func:`folder_schema`: the table's columns and the facts.

    A PNG face header's facts come from the table's own read of the file; every other file
    (no face header, a failure, a TIFF, a payload Python builds) is read again by the scan's
    reader, which decides its facts as ``faceio scan`` does.
    """
    if not paths:
        return folder_schema().empty_table()
    read: list[tuple[Any, ...] | None] = []
    table = _read_files_table(paths, facts=read)
    facts: list[Facts | None] = [
        None if f is None else file_facts(p, f) for p, f in zip(paths, read, strict=True)
    ]
    again = [i for i, f in enumerate(facts) if f is None]
    # The entry's name only tells read_metas which files are TIFF.
    entries = [FolderEntry(os.path.basename(paths[i]), paths[i]) for i in again]
    for i, (entry, meta) in zip(again, read_metas(entries, facts=True), strict=True):
        facts[i] = file_facts(entry.path, meta)
    for field, values in zip(FACT_COLUMNS, zip(*facts, strict=True), strict=True):
        table = table.append_column(field, text_array(values, field.type))
    return table


def cached_rows(
    folder: str,
    names: Sequence[str],
    paths: Sequence[str],
    columns: Sequence[str],
    *,
    recursive: bool = False,
    cache_temps: Sequence[str] = (),
    use: Callable[[pa.Table], object] | None = None,
) -> tuple[pa.Table, CacheReport]:
    """Give ``path`` and ``columns`` of ``paths`` (named ``names`` from ``folder``), cached.

    A row is cached only when neither reader failed on the file (``error`` and
    ``scan_error`` null): a failure is read again each time, and names the path as given.
    ``recursive``: whether ``names`` lists the sub-folders' files (when not, the cache's rows
    of them stay for the next recursive scan); ``cache_temps``: the cache's temporary files
    the listing saw, swept when old; ``use``: called on the table while the cache is written
    (:func:`faceio._scan_cache.read_through`).
    """
    return read_through(
        folder,
        names,
        paths,
        _read_rows,
        folder_schema(),
        kind=_kind(),
        columns=columns,
        error_columns=("error", "scan_error"),
        subfolders_listed=recursive,
        cache_temps=cache_temps,
        use=use,
    )


def cached_meta_table(
    folder: str, names: Sequence[str], paths: Sequence[str], cache_temps: Sequence[str] = ()
) -> pa.Table:
    """Give :func:`faceio.read_meta_table`'s table of ``paths``, cached.

    ``names``: the files' names in ``folder``, listed flat.
    """
    table, report = cached_rows(
        folder, names, paths, meta_schema().names[1:], cache_temps=cache_temps
    )
    _log.debug("%s: scan cache: %s", folder, report)
    return table


def add_rows(stats: _ScanStats, listing: FolderListing, table: pa.Table) -> None:
    """Count the facts of ``table`` (a row per readable entry of ``listing``) into ``stats``.

    What ``stats.add`` does a file at a time, with Arrow's kernels over the columns: a Python
    call per file takes longer than the rest of a cached scan. Failed files (rare) still go
    through ``stats.add``, in listing order, which is their order in the summary's errors.
    """
    # Rows merged from the cache and fresh reads come in many slices, which every kernel
    # below would walk one by one (0.13 s became 0.77 s with 4,000): one copy of these
    # small columns first, when they are many (the cache's own batches are a few dozen).
    if max((c.num_chunks for c in table.columns), default=0) > _FEW_CHUNKS:
        table = table.combine_chunks()
    kinds = table.column("scan_kind")
    bad = pc.indices_nonzero(pc.is_in(kinds, pa.array(["error", "schema"]))).to_pylist()
    for at, row in _in_listing_order(listing, bad):
        entry = listing.entries[at]
        if entry.error is not None:  # its row is None
            stats.add(entry.name, file_facts(entry.path, entry.error))
        elif row is not None:
            values = table.slice(row, 1).to_pylist()[0]
            stats.add(entry.name, Facts(*(values[field.name] for field in FACT_COLUMNS)))
    # The rows' own paths end in their names' last part, which is all _add_faces takes. A
    # filter copies every column: none is made where it would keep every row (as it mostly
    # does, in a folder of faces).
    by_kind = _counts(kinds)
    shown = sum(by_kind.get(k, 0) for k in ("none", "other", "face"))
    if shown != table.num_rows:
        table = table.filter(pc.is_in(kinds, pa.array(["none", "other", "face"])))
    stats.files += table.num_rows
    stats.sizes.update(_counts(table.column("scan_size")))
    stats.without_header += by_kind.get("none", 0)
    stats.other_metadata += by_kind.get("other", 0)
    if by_kind.get("face", 0) != table.num_rows:
        table = table.filter(pc.equal(table.column("scan_kind"), "face"))
    _add_faces(stats, table)


def _in_listing_order(listing: FolderListing, bad_rows: list[int]) -> list[tuple[int, int | None]]:
    """Merge the entries that failed in the listing and the ``bad_rows`` of the table.

    Rows stand for the entries without an error, in order. Gives ``(entry's position, row)``
    in listing order, ``row`` ``None`` for an entry that failed in the listing; both kinds
    are rare, so the few are placed without a Python step per file.
    """
    failed = [at for at, entry in enumerate(listing.entries) if entry.error is not None]
    out: list[tuple[int, int | None]] = [(at, None) for at in failed]
    before = 0  # listing failures before the current row's entry
    for row in bad_rows:
        while before < len(failed) and failed[before] <= row + before:
            before += 1
        out.append((row + before, row))
    out.sort(key=lambda item: item[0])
    return out


def _add_faces(stats: _ScanStats, faces: pa.Table) -> None:
    """Count the face rows' facts, as ``_ScanStats._add_face`` does for one."""
    stats.with_header += faces.num_rows
    stats.landmarks.update({str(k): v for k, v in _counts(faces["scan_landmarks"]).items()})
    stats.masks.update(_counts(pc.list_flatten(faces["scan_masks"])))
    stats.identity.update(_counts(pc.list_flatten(faces["scan_identity"])))
    stats.versions.update(_counts(faces["scan_version"]))
    origin = faces["scan_origin"]
    stats.source_faces.update(_counts(origin))
    stats.video_sources.update(pc.unique(origin.filter(faces["scan_video"])).to_pylist())
    # A frame is its origin and name joined as one key; the first row of each key counts a
    # frame for its origin (keys as _add_face makes them, so the same frames are told apart).
    keys = pc.binary_join_element_wise(origin, faces["scan_frame"], "\0")
    firsts = (
        pa.table({"key": keys, "origin": origin})
        .group_by("key", use_threads=False)
        .aggregate([("origin", "first")])
    )
    stats.frames.update(firsts["key"].to_pylist())
    stats.source_frames.update(_counts(firsts["origin_first"]))
    # The last part of the path is the name's, rsplit("/", 1)[-1] in _add_face.
    base = pc.replace_substring_regex(faces["path"], _UP_TO_LAST_SEP, "")
    same = pc.equal(faces["scan_original"], base).fill_null(False)
    stats.renamed += faces.num_rows - pc.sum(same).as_py() if faces.num_rows else 0


def _counts(values: pa.ChunkedArray | pa.Array) -> dict[Any, int]:
    """Count each distinct value (nulls left out)."""
    counted = pc.value_counts(values)
    return dict(
        zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
    )
