"""Face headers of files anywhere fsspec reaches, as a Dask DataFrame (docs/table.md).

Needs ``pip install faceio[dask]`` (dask, distributed, fsspec, pyarrow), and the fsspec
back-end of the storage (``s3fs``, ``gcsfs``, ...). Each partition of files is one task: it
fetches the first 64 KiB of every file concurrently (fsspec's ``cat_ranges``), then only the
bytes still missing of a file whose faceswap chunk ends past them, and parses them in the Rust
core with the GIL released (``_core.read_meta_columns_from_bytes``), giving the rows
:func:`faceio.read_meta_table` gives for the same files.
"""

from __future__ import annotations

import glob as _glob
import os
from collections.abc import Sequence
from typing import Any

import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa

from faceio import _core
from faceio.arrow import _to_batches, meta_schema

__all__ = ["FIRST_FETCH", "read_meta"]

#: Bytes fetched first from each file: IHDR and a face's header chunk, nearly always.
FIRST_FETCH = 64 * 1024

#: After this many rounds of asking for more, a file's prefix at least doubles each round, so
#: that a file of many chunks before its header takes few requests.
_EXACT_ROUNDS = 4


def read_meta(
    urls_or_glob: str | Sequence[str],
    partition_size: int = 1000,
    storage_options: dict[str, Any] | None = None,
) -> dd.DataFrame:
    """Read the face headers of many files into a Dask DataFrame, a row per file.

    Parameters
    ----------
    urls_or_glob : str or sequence of str
        fsspec URLs or paths (``s3://bucket/faces/*.png``, ``memory://...``, local paths): a
        glob (its matches, sorted), a folder (its ``.png``, ``.tif`` and ``.tiff`` files,
        sorted), one file, or a list of files, read in the order given. All of one file
        system.
    partition_size : int
        Files per partition; each partition is one task.
    storage_options : dict, optional
        Passed to fsspec for the file system (credentials, ``client_kwargs``, ...).

    Returns
    -------
    dask.dataframe.DataFrame
        Columns of :func:`faceio.arrow.meta_schema` as ``pandas.ArrowDtype``; ``path`` is the
        URL of each file (as given in a list, else with its protocol). A file that cannot be
        fetched or read has ``error_type`` and ``error`` set. The index is each file's position
        in the list (0 to n - 1), with known divisions.
    """
    if partition_size < 1:
        raise ValueError(f"partition_size must be at least 1, not {partition_size}")
    options = dict(storage_options or {})
    urls = _expand(urls_or_glob, options)
    starts = list(range(0, len(urls), partition_size))
    parts = [urls[i : i + partition_size] for i in starts]
    meta = _frame(meta_schema().empty_table())
    if not parts:
        return dd.from_pandas(meta, npartitions=1)
    # The index is each file's position in the list, as a table's row number is, so the
    # divisions are known (``frame.loc[i]`` reads one partition) and partitions never repeat
    # an index value.
    return dd.from_map(
        _read_partition,
        parts,
        starts,
        args=(options,),
        meta=meta,
        divisions=(*starts, len(urls) - 1),
        label="faceio-read-meta",
        enforce_metadata=False,
    )


def _expand(urls_or_glob: str | Sequence[str], options: dict[str, Any]) -> list[str]:
    """Expand the URLs of ``read_meta`` into the list of files."""
    if not isinstance(urls_or_glob, str):
        return [os.fspath(u) for u in urls_or_glob]
    fs, path = fsspec.core.url_to_fs(urls_or_glob, **options)
    if _glob.has_magic(path):
        found = sorted(fs.glob(path))
    elif fs.isdir(path):
        from faceio.cli._common import FACE_EXTENSIONS

        found = sorted(p for p in fs.find(path, maxdepth=1) if p.lower().endswith(FACE_EXTENSIONS))
    else:
        return [urls_or_glob]
    return [fs.unstrip_protocol(p) for p in found]


def _frame(table: pa.Table) -> pd.DataFrame:
    """Convert a table to a pandas frame that keeps its Arrow types."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _read_partition(urls: list[str], start: int, options: dict[str, Any]) -> pd.DataFrame:
    """One task: the rows of ``urls``, indexed from ``start`` (their place in the list)."""
    table, _ = read_partition_table(urls, options)
    frame = _frame(table)
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def read_partition_table(urls: list[str], options: dict[str, Any]) -> tuple[pa.Table, int]:
    """Read one partition's rows, and count the bytes fetched for them.

    Parameters
    ----------
    urls : list of str
        The files, all of one file system.
    options : dict
        fsspec storage options.

    Returns
    -------
    tuple
        The table (rows in the order of ``urls``) and the number of bytes fetched.
    """
    fs, _ = fsspec.core.url_to_fs(urls[0], **options)
    paths = [fs._strip_protocol(u) for u in urls]
    blobs = _fetch(fs, paths, [0] * len(paths), [FIRST_FETCH] * len(paths))
    whole = [isinstance(b, bytes) and len(b) < FIRST_FETCH for b in blobs]
    pieces: list[tuple[list[int], pa.Table]] = []
    pending = list(range(len(urls)))
    rounds = 0
    while pending:
        failed = [i for i in pending if not isinstance(blobs[i], bytes)]
        if failed:
            pieces.append(
                (failed, _fetch_errors([urls[i] for i in failed], [blobs[i] for i in failed]))
            )
        ok = [i for i in pending if isinstance(blobs[i], bytes)]
        if not ok:
            break
        names = [urls[i] for i in ok]
        result = _core.read_meta_columns_from_bytes(
            names, [blobs[i] for i in ok], [whole[i] for i in ok]
        )
        table = pa.Table.from_batches(_to_batches(names, result), meta_schema())
        needs = dict(result[2])
        done = [j for j in range(len(ok)) if j not in needs]
        pieces.append(
            ([ok[j] for j in done], table.take(pa.array(done, pa.int64())) if needs else table)
        )
        pending = [ok[j] for j in needs]
        rounds += 1
        _fetch_more(fs, paths, blobs, whole, {ok[j]: n for j, n in needs.items()}, rounds)
    fetched = sum(len(b) for b in blobs if isinstance(b, bytes))
    order = np.concatenate([np.asarray(rows, dtype=np.int64) for rows, _ in pieces])
    table = pa.concat_tables([t for _, t in pieces])
    return table.take(pa.array(np.argsort(order, kind="stable"))), fetched


def _fetch(fs: Any, paths: list[str], starts: list[int], ends: list[int]) -> list[Any]:
    """Fetch byte ranges concurrently (where the file system can): bytes, or the exception."""
    return list(fs.cat_ranges(paths, starts, ends, on_error="return"))


def _fetch_more(
    fs: Any,
    paths: list[str],
    blobs: list[Any],
    whole: list[bool],
    needs: dict[int, int],
    rounds: int,
) -> None:
    """Extend the prefixes in ``needs`` to the length each asks for (or to the file's end)."""
    if not needs:
        return
    rows = list(needs)
    starts = [len(blobs[i]) for i in rows]
    ends = [needs[i] if rounds <= _EXACT_ROUNDS else max(needs[i], 2 * len(blobs[i])) for i in rows]
    more = _fetch(fs, [paths[i] for i in rows], starts, ends)
    for i, start, end, got in zip(rows, starts, ends, more, strict=True):
        if not isinstance(got, bytes):
            got = _refused_range(fs, paths[i], start, got)
            if not isinstance(got, bytes):
                blobs[i] = got
                continue
        blobs[i] += got
        whole[i] = len(got) < end - start


def _refused_range(fs: Any, path: str, start: int, error: BaseException) -> bytes | BaseException:
    """Tell a range refused at the end of a file from a fetch that failed.

    Some stores refuse a range that starts at the end of a file (S3 answers 416) where others
    return no bytes: the prefix already held is then the whole file. Any other failure (the
    network, permissions, the file gone) stays that file's error, so that it is not mistaken
    for a file cut short.
    """
    try:
        size = fs.size(path)
    except Exception:  # the file's own failure explains more than the size lookup's
        return error
    return b"" if size is not None and size <= start else error


def _fetch_errors(urls: list[str], errors: list[BaseException]) -> pa.Table:
    """Rows for files that could not be fetched: the exception's class and message."""
    rows = [
        {"path": u, "error_type": type(e).__name__, "error": str(e)}
        for u, e in zip(urls, errors, strict=True)
    ]
    return pa.Table.from_pylist(rows, schema=meta_schema())
