"""The incremental scan cache: a folder's rows kept in one hidden Parquet file in the folder.

A cached read (:func:`read_through`) stats every file, serves the rows of the files whose
``(size, mtime_ns, ctime_ns, inode, device)`` still match what the cache holds, reads only the
others with the caller's reader, and rewrites the cache when its rows change. It is generic
over the reader: any function from a list of paths to a :class:`pyarrow.Table` of one row per
path, in order. docs/format.md ("The scan cache") gives the rules and why they are enough.

Why Parquet and not SQLite: the rows are an Arrow table already, and Parquet reads into one
and writes from one column by column in C++ (200,000 rows in a fraction of a second), where
SQLite would hand them to Python row by row. The whole file is rewritten to a temporary file
and renamed over the old one, so a reader always sees a whole cache, two writers never mix
their rows (the last rename wins), and nothing depends on file locks, which network file
systems keep badly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from faceio._files import CACHE_NAME, CACHE_TMP_PREFIX

__all__ = ["CACHE_NAME", "CacheReport", "read_through"]

_log = logging.getLogger("faceio.cache")

#: The cache's own layout; a file of another layout is ignored and rewritten.
CACHE_FORMAT = "1"

# What a cache file says about itself, in the Parquet file's key-value metadata.
_FORMAT_KEY = b"faceio.cache"
_KIND_KEY = b"faceio.cache.kind"
_FOLDER_KEY = b"faceio.cache.folder"

# The stat key columns, first in the file; a reader's column may not take these names.
_KEY_FIELDS = (
    pa.field("_name", pa.string(), nullable=False),
    pa.field("_size", pa.int64(), nullable=False),
    pa.field("_mtime_ns", pa.int64(), nullable=False),
    pa.field("_ctime_ns", pa.int64(), nullable=False),
    pa.field("_ino", pa.uint64(), nullable=False),
    pa.field("_dev", pa.uint64(), nullable=False),
)

# A cache file larger than this per listed file (plus a floor) is not opened: a hostile or
# foreign file must not make a scan allocate gigabytes. A face's row (68 landmarks, names,
# source fields) takes well under 2 KiB.
_MAX_BYTES_PER_FILE = 64 * 1024
_MAX_BYTES_FLOOR = 64 * 1024 * 1024

Key = tuple[int, int, int, int, int]


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
        Cached rows no longer used: removed, renamed or changed files.
    written : bool
        Whether the cache file was rewritten.
    ignored : str
        Why an existing cache file was not used (``""`` when it was, or there was none).
    """

    hits: int
    read: int
    dropped: int
    written: bool
    ignored: str


@dataclass(slots=True)
class _Cached:
    """A cache file whose keys passed every check: each name's row and key.

    Its other columns are read (and their page checksums checked) only when needed: a
    summary needs few of them, and only a rewrite needs all.
    """

    file: pq.ParquetFile
    rows: dict[str, int]
    keys: list[Key]
    types: dict[str, pa.DataType]  # the columns' types in the rows, where the file packs them

    def data(self, columns: list[str]) -> pa.Table:
        """Read ``columns``; :class:`_DamagedCacheError` if they do not decode."""
        try:
            # One thread: pyarrow's pool may otherwise still be finishing a read's cleanup at
            # interpreter exit and abort the process (apache/arrow#34314; seen here as an
            # intermittent SIGABRT after `faceio scan --cache` had printed its summary).
            table = self.file.read(columns=columns, use_threads=False)
        except (OSError, ValueError, pa.ArrowException) as err:
            raise _DamagedCacheError(f"not a readable Parquet file ({err})") from None
        return _unpack_table(table.replace_schema_metadata(None), self.types)


@dataclass(slots=True)
class _Served:
    """The rows of one pass: their data columns in input order, and what the cache gives."""

    data: pa.Table
    hits: list[int]
    misses: list[int]
    keep: set[int]
    dropped: int
    write: bool


def _key(path: str) -> Key | None:
    """Give the identity of a file's content, as ``stat`` (links followed) tells it, or ``None``."""
    try:
        st = os.stat(path)
    except OSError:
        return None  # the reader meets the same error and gives the file's error row
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev


def store_schema(schema: pa.Schema, path_column: str) -> pa.Schema:
    """Give the schema of a cache file for rows of ``schema``: keys first, no path column."""
    clash = {f.name for f in _KEY_FIELDS} & set(schema.names)
    if clash:
        raise ValueError(f"the row schema uses the cache's key column names {sorted(clash)}")
    data = [f for f in schema if f.name != path_column]
    return pa.schema([*_KEY_FIELDS, *data])


def _packed(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` is stored as its values' bytes (see :func:`_pack`)."""
    return bool(
        pa.types.is_list(t)
        and pa.types.is_fixed_size_list(t.value_type)
        and pa.types.is_primitive(t.value_type.value_type)
        and t.value_type.value_type.bit_width % 8 == 0
    )


def _file_schema(stored: pa.Schema) -> pa.Schema:
    """Give the schema of the Parquet file for rows of ``stored``: packed columns as bytes."""
    return pa.schema(
        [pa.field(f.name, pa.large_binary(), f.nullable) if _packed(f.type) else f for f in stored]
    )


def _pack(a: pa.ListArray) -> pa.Array:
    """Store a list of fixed-size lists (the landmarks) as each row's values' bytes.

    Parquet encodes a nested list value by value, with repetition and definition levels: the
    landmarks of 200,000 faces took 0.6-1.9 s to write and 0.2-0.8 s to read; as bytes, 0.15 s
    and 0.1 s (the file a third smaller). Values or points that are null cannot be packed.
    """
    inner_type = a.type.value_type
    off = a.offsets.to_numpy().astype(np.int64)
    inner = a.values.slice(int(off[0]), int(off[-1] - off[0]))
    values = inner.flatten()
    if inner.null_count or values.null_count or len(values) != len(inner) * inner_type.list_size:
        raise ValueError("a null inside a list of points: it cannot be stored as bytes")
    size = inner_type.value_type.bit_width // 8
    data = values.buffers()[1].slice(values.offset * size, len(values) * size)
    offsets = pa.py_buffer((off - off[0]) * (inner_type.list_size * size))
    valid = pc.is_valid(a).buffers()[1] if a.null_count else None
    return pa.Array.from_buffers(
        pa.large_binary(), len(a), [valid, offsets, data], null_count=a.null_count
    )


def _unpack(b: pa.Array, t: pa.DataType) -> pa.Array:
    """Give back the list column :func:`_pack` stored as ``b``."""
    inner_type = t.value_type
    width = inner_type.list_size * (inner_type.value_type.bit_width // 8)
    off = np.frombuffer(b.buffers()[1], np.int64)[b.offset : b.offset + len(b) + 1]
    rel = off - off[0]
    if (rel % width).any():
        raise _DamagedCacheError("a packed list's length is not a whole number of items")
    data = b.buffers()[2].slice(int(off[0]), int(rel[-1])) if len(b) else pa.py_buffer(b"")
    count = int(rel[-1]) // (inner_type.value_type.bit_width // 8)
    values = pa.Array.from_buffers(inner_type.value_type, count, [None, data])
    points = pa.FixedSizeListArray.from_arrays(values, inner_type.list_size)
    mask = pc.is_null(b) if b.null_count else None
    return pa.ListArray.from_arrays(pa.array(rel // width, pa.int32()), points, type=t, mask=mask)


def _pack_table(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if _packed(field.type):
            # One array first: merged rows come as many slices, each packed at some cost.
            column = pa.chunked_array([_pack(table.column(i).combine_chunks())])
            table = table.set_column(
                i, pa.field(field.name, pa.large_binary(), field.nullable), column
            )
    return table


def _unpack_table(table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    for i, field in enumerate(table.schema):
        t = types[field.name]
        if _packed(t):
            column = pa.chunked_array([_unpack(c, t) for c in table.column(i).chunks], t)
            table = table.set_column(i, pa.field(field.name, t, field.nullable), column)
    return table


def _folder_id(folder: str) -> bytes:
    st = os.stat(folder)
    return f"{st.st_dev}:{st.st_ino}".encode()


def _load(
    path: str, schema: pa.Schema, kind: str, folder_id: bytes, files: int
) -> tuple[_Cached | None, str]:
    """Read the cache file if it is wholly ours; else say why not (``""``: there is none)."""
    try:
        # O_NOFOLLOW: a symlink is no cache of ours; O_NONBLOCK: a FIFO does not block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, ""
    except OSError as err:
        return None, f"cannot open it ({err.strerror or err})"
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None, "not a regular file"
    if st.st_size > _MAX_BYTES_FLOOR + _MAX_BYTES_PER_FILE * files:
        os.close(fd)
        return None, f"{st.st_size:,} bytes is too large for {files:,} files"
    try:
        with open(fd, "rb") as f:
            # Read whole, then parsed from memory: through a Python file object pyarrow's
            # reads take four times as long.
            data = f.read()
        return _read_keys(data, schema, kind, folder_id), ""
    except _ForeignCacheError as err:
        return None, str(err)
    except (OSError, ValueError, pa.ArrowException) as err:
        return None, f"not a readable Parquet file ({err})"


class _ForeignCacheError(Exception):
    """A readable Parquet file that is not this folder's cache of these rows."""


class _DamagedCacheError(Exception):
    """A cache file whose data columns do not decode, or fail their checksums."""


def _read_keys(data: bytes, schema: pa.Schema, kind: str, folder_id: bytes) -> _Cached:
    # Page checksums (written by _write) catch damaged pages that still decode.
    pf = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
    meta = pf.schema_arrow.metadata or {}
    if meta.get(_FORMAT_KEY) != CACHE_FORMAT.encode():
        raise _ForeignCacheError("not a faceio cache of this format")
    if meta.get(_KIND_KEY) != kind.encode():
        raise _ForeignCacheError("a cache of other rows (another faceio version or reader)")
    if meta.get(_FOLDER_KEY) != folder_id:
        raise _ForeignCacheError("the cache of another folder")
    if not pf.schema_arrow.remove_metadata().equals(_file_schema(schema)):
        raise _ForeignCacheError("its columns are not the rows' columns")
    table = pf.read(columns=[f.name for f in _KEY_FIELDS], use_threads=False)
    if any(column.null_count for column in table.columns):
        raise _ForeignCacheError("a key is missing")
    names = table.column("_name").to_pylist()
    rows = {name: i for i, name in enumerate(names)}
    if len(rows) != len(names):
        raise _ForeignCacheError("a file name appears twice")
    keys = list(zip(*(table.column(f.name).to_pylist() for f in _KEY_FIELDS[1:]), strict=True))
    return _Cached(pf, rows, keys, {f.name: f.type for f in schema})


def _open_temp(folder: str) -> tuple[int, str, int] | None:
    """Create the cache's next version: ``(fd, path, the file system's clock now)``.

    The file's own timestamp is the clock: files stamped at or after it may change again
    without their stamps changing (see :func:`read_through`). ``None`` if the folder cannot
    be written (a read-only folder still scans, uncached).
    """
    try:
        fd, path = tempfile.mkstemp(prefix=CACHE_TMP_PREFIX, suffix=".tmp", dir=folder)
    except OSError as err:
        _log.debug("%s: the scan cache is not written (%s)", folder, err.strerror or err)
        return None
    try:
        st = os.fstat(fd)
        # The folder's read and write bits, not mkstemp's 0600: whoever may list the faces'
        # folder may read the cache of their headers.
        os.fchmod(fd, stat.S_IMODE(os.stat(folder).st_mode) & 0o666)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return fd, path, max(st.st_mtime_ns, st.st_ctime_ns)


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
        Each file's name from ``folder`` (unique): the cache's key with the file's stat.
    paths : sequence of str
        Each file's path as the caller gave it; the output's ``path_column`` holds these.
    read : callable
        The reader: a list of paths to a table of ``schema``, one row per path, in order.
    schema : pyarrow.Schema
        The rows' schema.
    kind : str
        Names the reader and its version: a cache of another kind is ignored.
    columns : sequence of str, optional
        The columns to give (default: all of ``schema``'s); the others are cached all the
        same, but not read from the cache unless it is rewritten.
    path_column : str
        The column the cache does not store and fills from ``paths``.
    error_columns : sequence of str
        Rows where one of these is not null are never cached, so that a failed read is tried
        again and its message names the path as given.

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
    cache_path = os.path.join(folder, CACHE_NAME)
    temp = _open_temp(folder)
    try:
        # Stat before reading: a file changed after its stat is read again next time.
        keys = [_key(p) for p in paths]
        cached, ignored = _load(cache_path, stored, kind, folder_id, len(paths))
        clock = temp[2] if temp is not None else None
        job = (names, paths, keys, read, schema, stored, wanted, clock, error_columns)
        try:
            served = _serve(cached, bool(ignored), *job)
        except _DamagedCacheError as err:
            ignored = str(err)
            served = _serve(None, True, *job)
        if ignored:
            _log.debug("%s: scan cache ignored: %s", cache_path, ignored)
        written = False
        if temp is not None and served.write:
            rows = sorted({i for i, row in enumerate(served.hits) if row >= 0} | served.keep)
            table = _stored_table(served.data, rows, names, keys, stored, kind, folder_id)
            written, temp = _write(temp, cache_path, table), None  # _write closes it
    finally:
        if temp is not None:
            os.close(temp[0])
            with contextlib.suppress(OSError):
                os.unlink(temp[1])
    hit_count = len(paths) - len(served.misses)
    report = CacheReport(hit_count, len(served.misses), served.dropped, written, ignored)
    return _with_paths(served.data.select(wanted), paths, schema, path_column), report


def _serve(
    cached: _Cached | None,
    rewrite: bool,
    names: Sequence[str],
    paths: Sequence[str],
    keys: list[Key | None],
    read: Callable[[list[str]], pa.Table],
    schema: pa.Schema,
    stored: pa.Schema,
    wanted: list[str],
    clock: int | None,
    error_columns: Sequence[str],
) -> _Served:
    """Read the files the cache cannot give, take the others from it, and merge them.

    ``clock`` is the cache's clock, or ``None`` when it cannot be written; ``rewrite``: it is
    to be written even if no row changes (it was found unusable). The data columns come back
    in full when the cache is to be rewritten, else only the ``wanted`` ones.
    """
    hits = _hits(names, keys, cached)
    misses = [i for i, row in enumerate(hits) if row < 0]
    fresh = read([paths[i] for i in misses]) if misses else schema.empty_table()
    if fresh.num_rows != len(misses) or not fresh.schema.equals(schema):
        raise ValueError("the cache's reader gave rows that do not match its paths or schema")
    keep = _cacheable(fresh, misses, keys, error_columns, clock) if clock is not None else set()
    hit_rows = [row for row in hits if row >= 0]
    dropped = len(cached.rows) - len(set(hit_rows)) if cached is not None else 0
    write = clock is not None and bool(keep or dropped or rewrite)
    data_names = stored.names[len(_KEY_FIELDS) :] if write else wanted
    data_schema = pa.schema([stored.field(n) for n in data_names])
    from_cache = cached.data(data_names) if cached and hit_rows else None
    data = _assemble(hits, from_cache, fresh.select(data_names), data_schema)
    return _Served(data, hits, misses, keep, dropped, write)


def _hits(names: Sequence[str], keys: list[Key | None], cached: _Cached | None) -> list[int]:
    """Each file's row in the cache if its key is unchanged, else -1."""
    if cached is None:
        return [-1] * len(names)
    rows, stored = cached.rows, cached.keys
    out = []
    for name, key in zip(names, keys, strict=True):
        row = rows.get(name, -1)
        out.append(row if row >= 0 and key is not None and stored[row] == key else -1)
    return out


def _assemble(
    hits: list[int], from_cache: pa.Table | None, fresh: pa.Table, schema: pa.Schema
) -> pa.Table:
    """Merge the cached rows that ``hits`` names and the fresh rows, in input order."""
    if from_cache is None or not from_cache.num_rows:
        return fresh.cast(schema) if fresh.num_rows else schema.empty_table()
    picks, miss = [], 0
    for row in hits:
        if row >= 0:
            picks.append((0, row))
        else:
            picks.append((1, miss))
            miss += 1
    return _gather([from_cache, fresh.cast(schema) if fresh.num_rows else from_cache], picks)


def _gather(parts: list[pa.Table], picks: list[tuple[int, int]]) -> pa.Table:
    """Give the rows ``picks`` names (``(part, row)`` each), in order, from tables of one schema.

    The picks mostly run in order (a listing sorted as the cache is), so the result is slices
    of the parts, joined without a copy; a ``take`` copies every row (0.3-0.7 s for 200,000
    faces) and is left for picks in no order.
    """
    if not picks:
        return parts[0].slice(0, 0)
    runs: list[tuple[int, int, int]] = []  # part, first row, count
    for part, row in picks:
        if runs and runs[-1][0] == part and runs[-1][1] + runs[-1][2] == row:
            runs[-1] = (part, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((part, row, 1))
    if len(runs) == 1 and runs[0][1:] == (0, parts[runs[0][0]].num_rows):
        return parts[runs[0][0]]
    if len(runs) <= max(64, len(picks) // 16):
        return pa.concat_tables([parts[p].slice(first, n) for p, first, n in runs])
    starts = [0]
    for table in parts:
        starts.append(starts[-1] + table.num_rows)
    order = pa.array([starts[p] + row for p, row in picks], pa.int64())
    return pa.concat_tables(parts).take(order)


def _cacheable(
    fresh: pa.Table, misses: list[int], keys: list[Key | None], errors: Sequence[str], clock: int
) -> set[int]:
    """Pick the inputs whose fresh rows may be cached: no error, stamped before ``clock``."""
    failed = [False] * len(misses)
    for column in errors:
        valid = fresh.column(column).is_valid().to_pylist()
        failed = [a or b for a, b in zip(failed, valid, strict=True)]
    keep = set()
    for j, i in enumerate(misses):
        key = keys[i]
        if key is None or failed[j]:
            continue
        if max(key[1], key[2]) < clock:
            keep.add(i)
    return keep


def _stored_table(
    data: pa.Table,
    rows: list[int],
    names: Sequence[str],
    keys: list[Key | None],
    stored: pa.Schema,
    kind: str,
    folder_id: bytes,
) -> pa.Table:
    """Build the cache file's table: the key and data columns of ``rows`` (one per name)."""
    seen: set[str] = set()
    unique = []
    for i in rows:
        if names[i] not in seen:
            seen.add(names[i])
            unique.append(i)
    picked = [keys[i] for i in unique]
    columns = [pa.array([names[i] for i in unique], pa.string())]
    for n, field in enumerate(_KEY_FIELDS[1:]):
        columns.append(pa.array([k[n] for k in picked if k is not None], field.type))
    columns.extend(_gather([data], [(0, i) for i in unique]).columns)
    meta = {_FORMAT_KEY: CACHE_FORMAT.encode(), _KIND_KEY: kind.encode(), _FOLDER_KEY: folder_id}
    return pa.Table.from_arrays(columns, schema=stored.with_metadata(meta))


def _write(temp: tuple[int, str, int], cache_path: str, table: pa.Table) -> bool:
    """Write the cache to its temporary file, rename it over the old; ``False`` if it fails.

    The temporary file is closed, and removed unless renamed, whatever happens.
    """
    fd, temp_path, _ = temp
    try:
        with open(fd, "wb") as f:
            table = _pack_table(table)
            # lz4 and no statistics (nothing filters on them): of snappy, lz4, zstd and none,
            # with and without, the fastest to write and read back together (200,000 faces,
            # landmarks nested: lz4 0.6-1.0 s to write, 0.25-0.35 s to read; zstd 1.0-1.5 s
            # and 0.3-0.8 s; snappy 0.8-0.9 s and 0.4-0.7 s).
            pq.write_table(
                table, f, compression="lz4", write_statistics=False, write_page_checksum=True
            )
        # A reader has the old file or the new one, whole; of two writers the last rename wins.
        os.replace(temp_path, cache_path)
    except (OSError, ValueError, pa.ArrowException) as err:
        # ValueError: a reader whose points may be null (they cannot be packed): not cached.
        _log.debug("%s: the scan cache is not written (%s)", cache_path, err)
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        return False
    return True


def _with_paths(data: pa.Table, paths: Sequence[str], schema: pa.Schema, column: str) -> pa.Table:
    """Put the paths as given back into the rows, where ``schema`` has them."""
    index = schema.get_field_index(column)
    if index >= 0:
        field = schema.field(index)
        data = data.add_column(index, field, pa.array(paths, field.type))
    return data.replace_schema_metadata(schema.metadata)
