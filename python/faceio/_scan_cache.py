"""The incremental scan cache: a folder's rows kept in hidden Parquet files in the folder.

A cached read (:func:`read_through`) stats every file, serves the rows of the files whose
``(size, mtime_ns, ctime_ns, inode, device)`` still match what the cache holds, reads only the
others with the caller's reader, and writes what changed. It is generic over the reader: any
function from a list of paths to a :class:`pyarrow.Table` of one row per path, in order.
docs/format.md ("The scan cache") gives the rules and why they are enough.

The rows live in two files: the cache (:data:`CACHE_NAME`) and, once it is large, a small file
of the rows read since it was written (:data:`CACHE_DELTA_NAME`). A change to a few files of a
large folder rewrites only the small one, and the large one only when the recent rows and its
unused ones pass a share of it. Every row carries its own file's key, so any cached row, in
either file, is right exactly when its key is: the two files need no link between them, and a
write that loses a race loses rows, never correctness.

Why Parquet and not SQLite: the rows are an Arrow table already, and Parquet reads into one
and writes from one column by column in C++ (200,000 rows in a fraction of a second), where
SQLite would hand them to Python row by row. Each file is rewritten whole to a temporary file
and renamed over the old one, so a reader always sees a whole file, two writers never mix
their rows (the last rename wins), and nothing depends on file locks, which network file
systems keep badly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from faceio._cache_pack import DamagedCacheError as _DamagedCacheError
from faceio._cache_pack import file_schema as _file_schema
from faceio._cache_pack import pack_table as _pack_table
from faceio._cache_pack import unpack_table as _unpack_table
from faceio._files import CACHE_DELTA_NAME, CACHE_NAME, CACHE_TMP_PREFIX

__all__ = ["CACHE_DELTA_NAME", "CACHE_NAME", "CacheReport", "read_through"]

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

# A cache of fewer rows than this is rewritten whole on every change (a fraction of a second),
# so a small folder keeps one file. A larger one takes its changes in the delta file until
# the delta's rows and the cache's unused rows pass 1/_DELTA_SHARE of its rows: 200,000 faces
# rewritten whole cost 0.8-1.0 s (every column read, merged, written); 2,000 in the delta,
# 0.05 s. The unused rows cost only space and a little time until then.
_DELTA_MIN_ROWS = 4096
_DELTA_SHARE = 8

# Where an input's row comes from.
_FRESH, _BASE, _DELTA = 0, 1, 2


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
        Cached rows not used: of removed, renamed or changed files (in a large cache they
        stay until it is next rewritten whole).
    written : bool
        Whether a cache file was written.
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
    """A cache file whose keys passed every check: its names and keys, as arrays.

    Its other columns are read (and their page checksums checked) only when needed: a
    summary needs few of them, and only a rewrite needs all.
    """

    file: pq.ParquetFile
    names: pa.Array  # string
    keys: tuple[np.ndarray, ...]  # size, mtime_ns, ctime_ns (int64), ino, dev (uint64)
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

    def match(self, names: pa.Array, found: np.ndarray, keys: tuple[np.ndarray, ...]) -> np.ndarray:
        """Give each listed file's row here if its name and key are unchanged, else -1."""
        if not len(self.names):
            return np.full(len(names), -1, np.int64)
        # One hash join and five array compares: a loop over 200,000 names took 0.2 s.
        index = pc.index_in(names, value_set=self.names).fill_null(-1).to_numpy()
        index = index.astype(np.int64)
        row = np.maximum(index, 0)
        same = found & (index >= 0)
        for listed, cached in zip(keys, self.keys, strict=True):
            same &= cached[row] == listed
        return np.where(same, index, -1)


@dataclass(slots=True)
class _Served:
    """The rows of one pass, and where each came from.

    ``source[i]`` says where input ``i``'s row is (:data:`_FRESH`, :data:`_BASE`, :data:`_DELTA`)
    and ``row[i]`` which row of that part (a fresh row's place among the files read). ``parts``
    are the fresh, cache and delta rows in the columns the write needs (``None``: not read).
    """

    data: pa.Table
    source: np.ndarray
    row: np.ndarray
    keep: np.ndarray
    dropped: int
    write: str  # "", "delta" or "full"
    parts: list[pa.Table | None]


class _NoStat:
    """What stands for a file whose ``stat`` failed (its ``found`` is false)."""

    st_size = st_mtime_ns = st_ctime_ns = st_ino = st_dev = 0


def _stat_keys(folder: str, names: Sequence[str]) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """Give which files ``stat`` (links followed) found, and their keys as five arrays.

    One ``stat`` per file, the floor for this key; a failed one gives no key (the reader
    meets the same error and gives the file's error row).
    """
    missing = _NoStat()
    stats: list[os.stat_result | _NoStat] = []
    # Each name looked up from the open folder, not its whole path from the root: 0.32 s
    # rather than 0.47 s for 200,000 files on tmpfs.
    with _open_folder(folder) as at:
        targets = names if at is not None else [os.path.join(folder, n) for n in names]
        for target in targets:
            try:
                stats.append(os.stat(target, dir_fd=at))
            except OSError:
                stats.append(missing)
    n = len(stats)
    found = np.fromiter([s is not missing for s in stats], np.bool_, n)
    keys = (
        np.fromiter([s.st_size for s in stats], np.int64, n),
        np.fromiter([s.st_mtime_ns for s in stats], np.int64, n),
        np.fromiter([s.st_ctime_ns for s in stats], np.int64, n),
        np.fromiter([s.st_ino for s in stats], np.uint64, n),
        np.fromiter([s.st_dev for s in stats], np.uint64, n),
    )
    return found, keys


@contextlib.contextmanager
def _open_folder(folder: str) -> Iterator[int | None]:
    """Give a descriptor of ``folder`` to look names up from (``None`` where not supported)."""
    if os.stat not in os.supports_dir_fd:
        yield None
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


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
    names = table.column("_name").combine_chunks()
    if pc.count_distinct(names).as_py() != len(names):
        raise _ForeignCacheError("a file name appears twice")
    keys = tuple(table.column(f.name).to_numpy() for f in _KEY_FIELDS[1:])
    return _Cached(pf, names, keys, {f.name: f.type for f in schema})


def _open_temp(folder: str) -> tuple[int, str, int] | None:
    """Create a cache file's next version: ``(fd, path, the file system's clock now)``.

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
        # The folder's read bits, not mkstemp's 0600: whoever may list the faces' folder may
        # read the cache of their headers. Only the owner writes it, even in a folder all may
        # write to: rows are trusted when their keys match, so others must not add any.
        os.fchmod(fd, (stat.S_IMODE(os.stat(folder).st_mode) & 0o444) | stat.S_IWUSR)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return fd, path, max(st.st_mtime_ns, st.st_ctime_ns)


@dataclass(slots=True)
class _Job:
    """What one cached read works on: the inputs, their keys, the reader and the schemas."""

    names: pa.Array
    paths: Sequence[str]
    found: np.ndarray
    keys: tuple[np.ndarray, ...]
    read: Callable[[list[str]], pa.Table]
    schema: pa.Schema
    stored: pa.Schema
    wanted: list[str]
    clock: int | None  # None: no cache file is written
    error_columns: Sequence[str]


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
        The folder whose cache files (:data:`CACHE_NAME`, :data:`CACHE_DELTA_NAME`) are used
        and rewritten.
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
    temp = _open_temp(folder)
    written = False
    try:
        # Stat before reading: a file changed after its stat is read again next time.
        found, keys = _stat_keys(folder, names)
        base, delta, ignored = _load_both(folder, stored, kind, folder_id, len(paths))
        clock = temp[2] if temp is not None else None
        names_array = pa.array(names, pa.string())
        job = _Job(
            names_array, paths, found, keys, read, schema, stored, wanted, clock, error_columns
        )
        try:
            served = _serve(job, base, delta, bool(ignored))
        except _DamagedCacheError as err:
            ignored = str(err)
            served = _serve(job, None, None, True)
        if ignored:
            _log.debug("%s: scan cache ignored: %s", os.path.join(folder, CACHE_NAME), ignored)
        if temp is not None and served.write:
            table = _stored_table(job, served, kind, folder_id)
            written, temp = _save(temp, folder, served.write, table), None  # _save closes it
    finally:
        if temp is not None:
            os.close(temp[0])
            with contextlib.suppress(OSError):
                os.unlink(temp[1])
    misses = int(np.count_nonzero(served.source == _FRESH))
    report = CacheReport(len(paths) - misses, misses, served.dropped, written, ignored)
    return _with_paths(served.data.select(wanted), paths, schema, path_column), report


def _load_both(
    folder: str, stored: pa.Schema, kind: str, folder_id: bytes, files: int
) -> tuple[_Cached | None, _Cached | None, str]:
    """Load the cache and its delta (only with a cache); say why one was not used, if so."""
    base, ignored = _load(os.path.join(folder, CACHE_NAME), stored, kind, folder_id, files)
    if base is None:
        return None, None, ignored
    delta, why = _load(os.path.join(folder, CACHE_DELTA_NAME), stored, kind, folder_id, files)
    return base, delta, f"{CACHE_DELTA_NAME}: {why}" if why else ""


def _save(temp: tuple[int, str, int], folder: str, what: str, table: pa.Table) -> bool:
    """Write ``table`` as the cache (``what`` is ``"full"``) or its delta; ``False`` if not."""
    delta_path = os.path.join(folder, CACHE_DELTA_NAME)
    written = _write(
        temp, os.path.join(folder, CACHE_NAME) if what == "full" else delta_path, table
    )
    if written and what == "full":
        # Its rows are in the new cache now. A delta written meanwhile by another scan may go
        # too: it held only rows, which are read again.
        with contextlib.suppress(OSError):
            os.unlink(delta_path)
    return written


def _serve(job: _Job, base: _Cached | None, delta: _Cached | None, rewrite: bool) -> _Served:
    """Read the files the cache cannot give, take the others from it, and merge them.

    ``rewrite``: the cache is to be written whole even if no row changes (a file of it was
    found unusable). The data columns come back in full where a write needs them.
    """
    n = len(job.paths)
    source = np.full(n, _FRESH, np.int8)
    row = np.full(n, -1, np.int64)
    # The delta's rows are the newer: where both files hold a good row for a name (the same
    # file's, by its key), either would do.
    for part, cached in ((_BASE, base), (_DELTA, delta)):
        if cached is not None:
            rows = cached.match(job.names, job.found, job.keys)
            hit = rows >= 0
            source[hit], row[hit] = part, rows[hit]
    misses = np.flatnonzero(source == _FRESH)
    row[misses] = np.arange(len(misses))
    fresh = (
        job.read([job.paths[i] for i in misses.tolist()])
        if len(misses)
        else job.schema.empty_table()
    )
    if fresh.num_rows != len(misses) or not fresh.schema.equals(job.schema):
        raise ValueError("the cache's reader gave rows that do not match its paths or schema")
    keep = np.zeros(n, np.bool_)
    if job.clock is not None:
        keep[misses[_cacheable(fresh, misses, job)]] = True
    used = [_used(source, row, part, c) for part, c in ((_BASE, base), (_DELTA, delta))]
    dropped = sum((len(c.names) if c else 0) - u for c, u in zip((base, delta), used, strict=True))
    write = _plan(job.clock is not None, rewrite, base, used, int(keep.sum()), dropped)
    everything = job.stored.names[len(_KEY_FIELDS) :]
    # The columns each part is read in: all where its rows are written, else the wanted ones.
    cols = [everything if write else job.wanted]
    cols.append(everything if write == "full" else job.wanted)
    cols.append(everything if write else job.wanted)
    parts: list[pa.Table | None] = [_fresh_part(fresh, job.stored, cols[0])]
    for part, cached in ((_BASE, base), (_DELTA, delta)):
        needed = cached is not None and bool(np.any(source == part))
        parts.append(cached.data(cols[part]) if cached is not None and needed else None)
    data = _gather_arrays([None if p is None else p.select(job.wanted) for p in parts], source, row)
    return _Served(data, source, row, keep, dropped, write, parts)


def _used(source: np.ndarray, row: np.ndarray, part: int, cached: _Cached | None) -> int:
    """Count the rows of a cache file that some input is served from."""
    if cached is None:
        return 0
    seen = np.zeros(len(cached.names), np.bool_)
    seen[row[source == part]] = True  # a name given twice is one row (np.unique: 40 ms)
    return int(np.count_nonzero(seen))


def _plan(
    can_write: bool, rewrite: bool, base: _Cached | None, used: list[int], new: int, dropped: int
) -> str:
    """Say what to write: ``""`` (nothing), ``"delta"`` or ``"full"`` (the cache, no delta).

    ``used``: the rows of the cache and of the delta served; ``new``: fresh rows to keep.
    """
    if not can_write or not (rewrite or new or dropped):
        return ""
    if rewrite or base is None or len(base.names) < _DELTA_MIN_ROWS:
        return "full"
    delta_rows = used[1] + new
    unused_base = len(base.names) - used[0]
    if delta_rows + unused_base > len(base.names) // _DELTA_SHARE:
        return "full"
    # Only the cache's own unused rows changed: they wait for its next whole rewrite.
    return "delta" if new or dropped > unused_base else ""


def _fresh_part(fresh: pa.Table, stored: pa.Schema, columns: list[str]) -> pa.Table:
    """Give the fresh rows in the stored columns' types (a reader's may differ in nullability)."""
    return fresh.select(columns).cast(pa.schema([stored.field(c) for c in columns]))


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


def _stored_table(job: _Job, served: _Served, kind: str, folder_id: bytes) -> pa.Table:
    """Build the table of the cache file to write: keys and data of the rows it keeps.

    The whole cache keeps every row served or read (and cacheable); a delta, the rows that
    are not in the cache: its own and those just read.
    """
    parts = list(served.parts)
    if served.write == "full":
        picked = (served.source != _FRESH) | served.keep
    else:
        picked = (served.source == _DELTA) | served.keep
        parts[_BASE] = None  # read in the wanted columns only, and no row of it goes
    take = np.flatnonzero(picked)
    names = job.names.take(pa.array(take, pa.int64()))
    if pc.count_distinct(names).as_py() != len(names):
        # A name given twice (not in a listing): its first row only.
        first: dict[str, int] = {}
        for i, name in enumerate(names.to_pylist()):
            first.setdefault(name, i)
        take = take[sorted(first.values())]
        names = job.names.take(pa.array(take, pa.int64()))
    columns = [names]
    for key, field in zip(job.keys, _KEY_FIELDS[1:], strict=True):
        columns.append(pa.array(key[take], field.type))
    columns.extend(_gather_arrays(parts, served.source[take], served.row[take]).columns)
    meta = {_FORMAT_KEY: CACHE_FORMAT.encode(), _KIND_KEY: kind.encode(), _FOLDER_KEY: folder_id}
    return pa.Table.from_arrays(columns, schema=job.stored.with_metadata(meta))


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
