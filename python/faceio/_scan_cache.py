"""The incremental scan cache: a folder's rows kept in one hidden file in the folder.

A cached read (:func:`read_through`) stats every file, serves the rows of the files whose
``(size, mtime_ns, ctime_ns, inode, device)`` still match what the cache holds, reads only the
others with the caller's reader, and writes the cache anew when a row was added or dropped. It
is generic over the reader: any function from a list of paths to a :class:`pyarrow.Table` of
one row per path, in order. docs/format.md ("The scan cache") gives the rules and why they are
enough.

The file (:mod:`faceio._cache_file`) is an Arrow IPC stream, uncompressed, followed by a
trailer: the stream's length, a CRC-32 of its bytes and a magic number. It is read whole into
memory (not mapped: a file cut short under a mapping kills the process with SIGBUS), checked
against its CRC, and its columns used where they lie, without a copy or a decode; it is
written whole and renamed over the old one. For 200,000 faces (185 MiB) that is 0.15 s to
read and check and 0.15 s to write, the cheapest of the formats measured (docs/format.md); a
change of any size costs the same, so a 1% change needs no second file of recent rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from faceio import _core
from faceio._cache_file import KEY_FIELDS as _KEY_FIELDS
from faceio._cache_file import POOL as _POOL
from faceio._cache_file import discard as _discard
from faceio._cache_file import load as _load
from faceio._cache_file import metadata as _metadata
from faceio._cache_file import open_temp as _open_temp
from faceio._cache_file import sweep as _sweep
from faceio._cache_file import write as _write
from faceio._files import CACHE_NAME
from faceio.arrow import text_array

__all__ = ["CACHE_NAME", "CacheReport", "read_through"]

_log = logging.getLogger("faceio.cache")

# Where an input's row comes from.
_FRESH, _CACHED = 0, 1


@dataclass(frozen=True, slots=True)
class CacheReport:
    """What a cached read did.

    Attributes
    ----------
    hits : int
        Rows served from the cache.
    read : int
        Files read by the reader (new, changed, or not cacheable).
    dropped : int
        Cached rows dropped: of removed, renamed or changed files.
    written : bool
        Whether the cache file was written.
    ignored : str
        Why an existing cache file was not used (``""`` when it was, or there was none).
    """

    hits: int
    read: int
    dropped: int
    written: bool
    ignored: str


def _stat_keys(folder: str, names: Sequence[str]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Give which files ``stat`` (links followed) found, and their keys as five arrays.

    One ``stat`` per file, the floor for this key, in the core on all cores (0.12-0.25 s for
    200,000 files on tmpfs on two busy cores, where a Python loop took 0.3-0.6 s); a failed
    one gives no key (the reader meets the same error and gives the file's error row).
    """
    # One buffer of NUL-ended names: a str each took the core 0.1 s more to take in.
    joined = "\0".join(names)
    try:
        if joined.count("\0") != max(len(names) - 1, 0):
            raise ValueError("a name holds a NUL")
        blob = os.fsencode(joined + "\0") if names else b""
    except (ValueError, UnicodeError):
        # A name holding a NUL, or a str no file name encodes to, names no file: looked up
        # as "", which is never found.
        blob = b"".join(_name_bytes(n) + b"\0" for n in names)
    columns = np.frombuffer(_core.stat_keys(folder, blob, len(names)), np.int64).reshape(
        6, len(names)
    )
    found = columns[0] != 0
    size, mtime, ctime = columns[1], columns[2], columns[3]
    return found, (size, mtime, ctime, columns[4].view(np.uint64), columns[5].view(np.uint64))


def _name_bytes(name: str) -> bytes:
    """Give a file name's bytes, or ``b""`` for one that can name no file."""
    try:
        encoded = os.fsencode(name)
    except UnicodeError:
        return b""
    return b"" if b"\0" in encoded else encoded


def store_schema(schema: pa.Schema, path_column: str) -> pa.Schema:
    """Give the schema of a cache file for rows of ``schema``: keys first, no path column."""
    clash = {f.name for f in _KEY_FIELDS} & set(schema.names)
    if clash:
        raise ValueError(f"the row schema uses the cache's key column names {sorted(clash)}")
    data = [f for f in schema if f.name != path_column]
    return pa.schema([*_KEY_FIELDS, *data])


def _folder_id(folder: str) -> bytes:
    st = os.stat(folder)
    return f"{st.st_dev}:{st.st_ino}".encode()


@dataclass(slots=True)
class _Job:
    """What one cached read works on: the inputs, their keys, the reader and the schemas."""

    folder: str
    folder_id: bytes
    kind: str
    names: pa.Array
    paths: Sequence[str]
    found: np.ndarray
    keys: tuple[np.ndarray, ...]
    read: Callable[[list[str]], pa.Table]
    schema: pa.Schema
    stored: pa.Schema
    wanted: list[str]
    path_column: str
    clock: int | None  # None: no cache file is written
    error_columns: Sequence[str]
    keep_subfolders: bool


@dataclass(slots=True)
class _Served:
    """The rows of one pass, and where each came from.

    ``source[i]`` says where input ``i``'s row is (:data:`_FRESH` or :data:`_CACHED`) and
    ``row[i]`` which row of that part (a fresh row's place among the files read); ``parts``
    are the fresh rows and the cache's, in the stored data columns (``cached``: the cache's
    rows with their keys). ``keep`` marks the fresh rows to cache, ``kept`` the cache's rows
    that no input used but that stay (a flat read's rows of sub-folders).
    """

    source: np.ndarray
    row: np.ndarray
    keep: np.ndarray
    kept: np.ndarray
    dropped: int
    parts: list[pa.Table | None]
    cached: pa.Table | None


def read_through(
    folder: str,
    names: Sequence[str],
    paths: Sequence[str],
    read: Callable[[list[str]], pa.Table],
    schema: pa.Schema,
    *,
    kind: str,
    columns: Sequence[str] | None = None,
    path_column: str = "path",
    error_columns: Sequence[str] = ("error",),
    subfolders_listed: bool = True,
    cache_temps: Sequence[str] = (),
    use: Callable[[pa.Table], object] | None = None,
) -> tuple[pa.Table, CacheReport]:
    """Give ``read(paths)``'s table, reading only the files the folder's cache cannot give.

    A cached row is used when its file's name and ``(size, mtime_ns, ctime_ns, inode,
    device)`` (``stat`` with links followed) are what they were when it was read. Rows of files
    stamped no earlier than the cache's own writing began are not cached, since such a file
    could change again within the same clock tick, keeping its stamps (git's "racy clean"
    rule, with the file system's own clock: the cache's temporary file's stamp).

    Parameters
    ----------
    folder : str
        The folder whose cache file (:data:`CACHE_NAME`) is used and rewritten.
    names : sequence of str
        Each file's name from ``folder``: the cache's key with the file's stat.
    paths : sequence of str
        Each file's path as the caller gave it; the output's ``path_column`` holds these.
    read : callable
        The reader: a list of paths to a table of ``schema``, one row per path, in order.
    schema : pyarrow.Schema
        The rows' schema.
    kind : str
        Names the reader and its version: a cache of another kind is ignored.
    columns : sequence of str, optional
        The columns to give (default: all of ``schema``'s but ``path_column``, which is
        always given where ``schema`` has it).
    path_column : str
        The column the cache does not store and fills from ``paths``.
    error_columns : sequence of str
        Rows where one of these is not null are never cached, so that a failed read is tried
        again and its message names the path as given.
    subfolders_listed : bool
        Whether ``names`` lists the sub-folders' files too. When not, the cache's rows of
        files in sub-folders (names holding ``/``) are kept as they are, for a recursive read.
    cache_temps : sequence of str
        Names of the cache's temporary files that the caller's listing saw in ``folder``:
        those older than a day, left by killed writers, are removed.
    use : callable, optional
        Called with the table before this returns, while the cache file is written on a
        second thread (its result is not kept; what it raises is raised here once the file
        is written): a caller's work on the table overlaps the write.

    Returns
    -------
    tuple
        The table (``path_column`` and ``columns``), one row per path in order, and a
        :class:`CacheReport`.

    Raises
    ------
    OSError
        If ``folder`` cannot be looked at. A cache that cannot be read or written is only
        logged (logger ``faceio.cache``, level DEBUG).
    """
    if len(names) != len(paths):
        raise ValueError("names and paths differ in length")
    stored = store_schema(schema, path_column)
    wanted = [n for n in stored.names[len(_KEY_FIELDS) :] if columns is None or n in columns]
    folder_id = _folder_id(folder)
    temp = _open_temp(folder)
    try:
        path = os.path.join(folder, CACHE_NAME)
        # The cache is read and checked while the files are stat'ed: both wait on the kernel
        # or run in C with the GIL released (0.1-0.15 s each for 200,000 faces).
        with ThreadPoolExecutor(1, thread_name_prefix="faceio-cache") as pool:
            loading = pool.submit(_load, path, stored, kind, folder_id, len(paths))
            # Stat before reading: a file changed after its stat is read again next time.
            found, keys = _stat_keys(folder, names)
            cached, ignored = loading.result()
        if ignored:
            _log.debug("%s: scan cache ignored: %s", path, ignored)
        job = _Job(
            folder,
            folder_id,
            kind,
            text_array(names),
            paths,
            found,
            keys,
            read,
            schema,
            stored,
            wanted,
            path_column,
            temp[2] if temp is not None else None,
            error_columns,
            not subfolders_listed,
        )
        served = _serve(job, cached)
        if temp is not None:
            _sweep(folder, cache_temps, temp[2])
            if not (ignored or served.dropped or served.keep.any()):
                _discard(temp)  # nothing to write
                temp = None
        owned, temp = temp, None
        result, written = _finish(job, served, owned, use)
    finally:
        if temp is not None:
            _discard(temp)
    misses = int(np.count_nonzero(served.source == _FRESH))
    report = CacheReport(len(paths) - misses, misses, served.dropped, written, ignored)
    return result, report


def _finish(
    job: _Job, served: _Served, temp: tuple[int, str, int] | None, use: Callable[..., object] | None
) -> tuple[pa.Table, bool]:
    """Give the caller's table, and write the cache from ``temp`` (closed whatever happens).

    Returns the table and whether the file was written; calls ``use`` on the table, when given,
    while the file is merged and written on a second thread.
    """
    if temp is None:
        data = _gather_arrays(served.parts, served.source, served.row)
        result = _with_paths(data.select(job.wanted), job.paths, job.schema, job.path_column)
        if use is not None:
            use(result)
        return result, False
    if use is None:
        data, written = _save(temp, job, served)
        return _with_paths(data.select(job.wanted), job.paths, job.schema, job.path_column), written
    # The caller's work and the file's merge and write overlap: both mostly run in C with the
    # GIL released (`faceio scan --cache` counts its facts meanwhile: 0.1-0.2 s of 0.4-0.5 s).
    with ThreadPoolExecutor(1, thread_name_prefix="faceio-cache") as pool:
        saving = pool.submit(_save, temp, job, served)
        parts = [None if p is None else p.select(job.wanted) for p in served.parts]
        data = _gather_arrays(parts, served.source, served.row)
        result = _with_paths(data, job.paths, job.schema, job.path_column)
        try:
            use(result)
        except BaseException:
            # The caller's exception is the one raised; the write still ends first (a failed
            # one removes its temporary file), and its own failure only goes to the log.
            try:
                saving.result()
            except Exception as err:
                _log.debug("Cache file of '%s' not written: %s", job.folder, err)
            raise
        written = saving.result()[1]
    return result, written


def _save(temp: tuple[int, str, int], job: _Job, served: _Served) -> tuple[pa.Table, bool]:
    """Merge the rows and write the cache file from ``temp``, which this closes whatever happens.

    Gives every input's row, in input order, and whether the file was written.
    """
    try:
        full, table = _merge(job, served)
    except BaseException:
        _discard(temp)
        raise
    if table is None:
        _discard(temp)
        return full, False
    return full, _write(temp, job.folder, table)


def _serve(job: _Job, cached: pa.Table | None) -> _Served:
    """Read the files the cache cannot give, take the others from it, and merge them."""
    n = len(job.paths)
    source = np.full(n, _FRESH, np.int8)
    row = _match(cached, job) if cached is not None else np.full(n, -1, np.int64)
    source[row >= 0] = _CACHED
    misses = np.flatnonzero(row < 0)
    row[misses] = np.arange(len(misses))
    fresh = (
        job.read([job.paths[i] for i in misses.tolist()])
        if len(misses)
        else job.schema.empty_table()
    )
    if fresh.num_rows != len(misses) or not fresh.schema.equals(job.schema):
        raise ValueError("the cache's reader gave rows that do not match its paths or schema")
    keep = np.zeros(n, np.bool_)
    if job.clock is not None and len(misses):
        keep[misses[_cacheable(fresh, misses, job) & _same_keys_after(job, misses)]] = True
    kept = np.zeros(0 if cached is None else cached.num_rows, np.bool_)
    dropped = 0
    if cached is not None:
        used = np.zeros(cached.num_rows, np.bool_)
        used[row[source == _CACHED]] = True  # a name given twice is one row
        if job.keep_subfolders:
            in_sub = pc.match_substring(cached.column("_name"), "/").to_numpy(False)
            kept = in_sub & ~used
        dropped = cached.num_rows - int(np.count_nonzero(used | kept))
    # The fresh rows in the stored columns' types (a reader's may differ in nullability).
    data_names = job.stored.names[len(_KEY_FIELDS) :]
    parts: list[pa.Table | None] = [
        fresh.select(data_names).cast(pa.schema([job.stored.field(c) for c in data_names])),
        None if cached is None else cached.select(data_names),
    ]
    return _Served(source, row, keep, kept, dropped, parts, cached)


def _same_keys_after(job: _Job, misses: np.ndarray) -> np.ndarray:
    """Whether each file read still has the key it was stat'ed with before its read.

    A key is its file's, links followed: a symlink retargeted between the stat and the read
    (which no stamp of either target shows) would store the second target's row under the
    first's key, served once the link points back. Stat'ed again after the read, such a row
    is not cached (the read files only: 2,000 of a 1% change take milliseconds).
    """
    names = job.names.take(pa.array(misses, pa.int64())).to_pylist()
    found, keys = _stat_keys(job.folder, names)
    same: np.ndarray = found == job.found[misses]
    for before, after in zip(job.keys, keys, strict=True):
        same &= before[misses] == after
    return same


def _match(cached: pa.Table, job: _Job) -> np.ndarray:
    """Give each input's row in the cache if its name and key are unchanged, else -1."""
    # One hash join and five array compares: a loop over 200,000 names took 0.2 s.
    index = pc.index_in(job.names, value_set=cached.column("_name")).fill_null(-1)
    index = index.to_numpy().astype(np.int64)
    row = np.maximum(index, 0)
    same = job.found & (index >= 0)
    for listed, field in zip(job.keys, _KEY_FIELDS[1:], strict=True):
        same &= cached.column(field.name).to_numpy()[row] == listed
    return np.where(same, index, -1)


def _gather(parts: list[pa.Table], picks: list[tuple[int, int]]) -> pa.Table:
    """Give the rows ``picks`` names (``(part, row)`` each), in order, from tables of one schema."""
    source = np.array([p for p, _ in picks], np.int8)
    row = np.array([r for _, r in picks], np.int64)
    return _gather_arrays(list(parts), source, row)


def _gather_arrays(parts: list[pa.Table | None], source: np.ndarray, row: np.ndarray) -> pa.Table:
    """Give row ``row[i]`` of part ``source[i]`` for each ``i``, in order (parts of one schema).

    The rows mostly run in order (a listing sorted as the cache is), so the result is slices
    of the parts, joined without a copy; a ``take`` copies every row (0.3-0.7 s for 200,000
    faces) and is left for rows in no order. A part that is ``None`` gives no row.
    """
    present = [p for p in parts if p is not None]
    n = len(source)
    if not n:
        return present[0].slice(0, 0)
    starts = np.flatnonzero(
        np.concatenate([[True], (source[1:] != source[:-1]) | (row[1:] != row[:-1] + 1)])
    )
    if len(starts) == 1 and row[0] == 0:
        whole = parts[int(source[0])]
        if whole is not None and whole.num_rows == n:
            return whole
    if len(starts) <= max(64, n // 16):
        ends = np.append(starts[1:], n)
        slices = []
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            part = parts[int(source[s])]
            assert part is not None  # a row is picked from it
            slices.append(part.slice(int(row[s]), e - s))
        return pa.concat_tables(slices)
    sizes = np.array([0 if p is None else p.num_rows for p in parts], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = pa.array(offsets[source] + row, pa.int64())
    return pa.concat_tables(present).take(order)


def _cacheable(fresh: pa.Table, misses: np.ndarray, job: _Job) -> np.ndarray:
    """Pick the fresh rows that may be cached: a key, no error, stamped before the clock."""
    ok = job.found[misses].copy()
    for column in job.error_columns:
        ok &= fresh.column(column).is_null().to_numpy()
    stamp = np.maximum(job.keys[1][misses], job.keys[2][misses])
    assert job.clock is not None  # only a cache that is written keeps rows
    cacheable: np.ndarray = ok & (stamp < job.clock)
    return cacheable


def _merge(job: _Job, served: _Served) -> tuple[pa.Table, pa.Table | None]:
    """Give every input's row in input order, and the cache file's table (``None``: none).

    The file holds every row served or read (and cacheable), in input order, then the
    cache's rows kept unused (a flat read's rows of sub-folders). The rows are merged as
    slices and copied once into one block, which both the file and the caller take: written
    as slices, the file took three times the bytes, and a copy of each run of rows cost
    more than all the data (0.3-0.6 s for the 4,000 runs of a 1% change).
    """
    merged = _gather_arrays(served.parts, served.source, served.row)
    try:
        full = merged.combine_chunks(memory_pool=_POOL)
    except pa.ArrowException as err:  # offsets past 2 GiB: tens of millions of rows
        _log.debug("the scan cache is not written (%s)", err)
        return merged, None
    take = np.flatnonzero((served.source == _CACHED) | served.keep)
    names = job.names.take(pa.array(take, pa.int64()))
    if pc.count_distinct(names).as_py() != len(names):
        # A name given twice (not in a listing): its first row only.
        first: dict[str, int] = {}
        for i, name in enumerate(names.to_pylist()):
            first.setdefault(name, i)
        take = take[sorted(first.values())]
        names = job.names.take(pa.array(take, pa.int64()))
    rows = full if len(take) == full.num_rows else full.take(pa.array(take, pa.int64()))
    columns = [names]
    for key, field in zip(job.keys, _KEY_FIELDS[1:], strict=True):
        columns.append(pa.array(key[take], field.type))
    table = pa.Table.from_arrays([*columns, *rows.columns], schema=job.stored)
    if served.cached is not None and served.kept.any():
        table = pa.concat_tables([table, served.cached.filter(served.kept)])
    return full, table.replace_schema_metadata(_metadata(job.kind, job.folder_id))


def _with_paths(data: pa.Table, paths: Sequence[str], schema: pa.Schema, column: str) -> pa.Table:
    """Put the paths as given back into the rows, where ``schema`` has them."""
    index = schema.get_field_index(column)
    if index >= 0:
        field = schema.field(index)
        data = data.add_column(index, field, text_array(paths, field.type))
    return data.replace_schema_metadata(schema.metadata)
