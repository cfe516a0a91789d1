"""The incremental scan cache: a folder's rows kept in one hidden file in the folder.

A cached read (:func:`read_through`) stats every file, serves the rows of the files whose
``(size, mtime_ns, ctime_ns, inode, device)`` still match what the cache holds, reads only the
others with the caller's reader, and writes the cache anew when a row was added or dropped. It
is generic over the reader: any function from a list of paths to a :class:`pyarrow.Table` of
one row per path, in order. docs/format.md ("The scan cache") gives the rules and why they are
enough.

The file (:mod:`faceio._cache_file`) is an Arrow IPC stream, uncompressed, followed by a
trailer: the stream's length, a CRC-32 of its bytes and a magic number. It is read a record
batch at a time (not mapped: a file cut short under a mapping kills the process with SIGBUS),
checked against its CRC, and only the columns the caller asked for are held, with the keys; it
is written anew, a record batch at a time, and renamed over the old one. For 200,000 faces
(185 MiB) that is 0.15 s to read and check and 0.15 s to write, the cheapest of the formats
measured (docs/format.md); a change of any size costs the same, so a 1% change needs no second
file of recent rows. Neither the file nor the merged rows are ever held whole: a scan holds
the keys and its facts (37 MiB of the 185), and a record batch or two while it writes.
"""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from faceio import _core
from faceio._cache_file import BATCH_ROWS as _BATCH_ROWS
from faceio._cache_file import KEY_FIELDS as _KEY_FIELDS
from faceio._cache_file import POOL as _POOL
from faceio._cache_file import Loaded as _Loaded
from faceio._cache_file import StaleCacheError as _StaleCacheError
from faceio._cache_file import Writer as _Writer
from faceio._cache_file import discard as _discard
from faceio._cache_file import load as _load
from faceio._cache_file import metadata as _metadata
from faceio._cache_file import open_temp as _open_temp
from faceio._cache_file import sweep as _sweep
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


class _Fresh:
    """The files the cache cannot give (the misses), read :data:`_BATCH_ROWS` at a time.

    Each chunk is read with the caller's reader, its rows checked and put in the stored
    columns (keys first), ``keep`` set for them (whether each is cached), and the columns asked
    for kept for the caller's table; the stored rows go to the cache's writer, which frees them
    once written. All of a cold scan's fresh rows were held until the file was written: 185 MiB
    for 200,000 faces, besides the columns asked for.
    """

    def __init__(self, job: _Job, misses: np.ndarray) -> None:
        self.job = job
        self.misses = misses
        #: Whether each miss's row is cached (set as its chunk is read).
        self.keep = np.zeros(len(misses), np.bool_)
        #: Each chunk read: its first miss and its stored rows, until the writer takes them.
        self.pending: list[tuple[int, pa.Table]] = []
        self._wanted: list[pa.Table] = []
        self._read = 0

    @property
    def done(self) -> bool:
        """Whether every miss is read."""
        return self._read == len(self.misses)

    def next(self) -> tuple[int, pa.Table]:
        """Read the next chunk; give its first miss and its rows as stored."""
        job, start = self.job, self._read
        picked = self.misses[start : start + _BATCH_ROWS]
        fresh = job.read([job.paths[i] for i in picked.tolist()])
        if fresh.num_rows != len(picked) or not fresh.schema.equals(job.schema):
            raise ValueError("the cache's reader gave rows that do not match its paths or schema")
        if job.clock is not None:
            keep = _cacheable(fresh, picked, job) & _same_keys_after(job, picked)
            self.keep[start : start + len(picked)] = keep
        # The fresh rows as the file stores them: their keys, then the data columns in the
        # stored types (a reader's may differ in nullability).
        data_names = job.stored.names[len(_KEY_FIELDS) :]
        data = fresh.select(data_names).cast(pa.schema([job.stored.field(c) for c in data_names]))
        keys = [job.names.take(pa.array(picked, pa.int64()))]
        for key, field in zip(job.keys, _KEY_FIELDS[1:], strict=True):
            keys.append(pa.array(key[picked], field.type))
        columns = [*(pa.chunked_array([k]) for k in keys), *data.columns]
        stored = pa.Table.from_arrays(columns, schema=job.stored)
        self._wanted.append(stored.select(job.wanted))
        self._read += len(picked)
        return start, stored

    def table(self) -> pa.Table:
        """Give the columns asked for of every miss, in order (once all are read)."""
        if not self._wanted:
            return pa.schema([self.job.stored.field(c) for c in self.job.wanted]).empty_table()
        return pa.concat_tables(self._wanted)


@dataclass(slots=True)
class _Served:
    """The rows of one pass, and where each came from.

    ``source[i]`` says where input ``i``'s row is (:data:`_FRESH` or :data:`_CACHED`) and
    ``row[i]`` which row of that part: of the misses (``fresh``), or of the cache's
    (``cached``). ``kept`` marks the cache's rows that no input used but that stay (a flat
    read's rows of sub-folders). ``repeated``: whether a name is given twice, where the pass
    had to ask (:func:`_repeated`), else ``None``.
    """

    source: np.ndarray
    row: np.ndarray
    kept: np.ndarray
    dropped: int
    fresh: _Fresh
    cached: _Loaded | None
    repeated: bool | None


class _Chunks:
    """The fresh rows, handed from the reading (calling) thread to the cache's writer's.

    The chunks read before the writer starts, then at most two more between the threads:
    reading runs ahead of writing by no more. The reader ends with :meth:`end`, or
    :meth:`abort` when it fails (the writer then stops, and discards the file).
    """

    _END, _ABORT = object(), object()

    def __init__(self, first: list[tuple[int, pa.Table]]) -> None:
        self._first = list(first)
        self._queue: queue.Queue[object] = queue.Queue(2)
        self._ended = False

    def put(self, chunk: tuple[int, pa.Table]) -> None:
        self._queue.put(chunk)

    def end(self) -> None:
        self._queue.put(self._END)

    def abort(self) -> None:
        self._queue.put(self._ABORT)

    def get(self) -> tuple[int, pa.Table]:
        """Give the next chunk (the writer's thread); :class:`_AbortedError` if reading failed."""
        if self._first:
            return self._first.pop(0)
        item = self._queue.get()
        if item is self._END or item is self._ABORT:
            self._ended = True
            if item is self._ABORT:
                raise _AbortedError
            raise ValueError("the cache's writer asked for more rows than were read")
        assert isinstance(item, tuple)
        return item

    def drain(self) -> None:
        """Take the chunks still coming until the reading ends (the writer's thread, last)."""
        self._first.clear()
        while not self._ended:
            item = self._queue.get()
            self._ended = item is self._END or item is self._ABORT


class _AbortedError(Exception):
    """The reading failed: the cache's writer stops."""


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
    cached: _Loaded | None = None
    try:
        path = os.path.join(folder, CACHE_NAME)
        # The cache is read and checked while the files are stat'ed: both wait on the kernel
        # or run in C with the GIL released (0.1-0.15 s each for 200,000 faces).
        with ThreadPoolExecutor(1, thread_name_prefix="faceio-cache") as pool:
            loading = pool.submit(_load, path, stored, kind, folder_id, len(paths), wanted)
            try:
                # Stat before reading: a file changed after its stat is read again next time.
                found, keys = _stat_keys(folder, names)
            finally:
                cached, ignored = loading.result()  # its file closed below, whatever happens
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
        required = bool(ignored or served.dropped)
        if temp is not None:
            _sweep(folder, cache_temps, temp[2])
            # Once every miss is read (_serve reads the first _BATCH_ROWS, so a small change is
            # read whole by now) it is known whether anything changed; else the writer decides
            # at its end, having written the file meanwhile.
            if served.fresh.done and not (required or served.fresh.keep.any()):
                _discard(temp)  # nothing to write
                temp = None
        owned, temp = temp, None
        result, written = _finish(job, served, owned, use, required)
    finally:
        if temp is not None:
            _discard(temp)
        if cached is not None:
            cached.close()
    misses = int(np.count_nonzero(served.source == _FRESH))
    report = CacheReport(len(paths) - misses, misses, served.dropped, written, ignored)
    return result, report


def _finish(
    job: _Job,
    served: _Served,
    temp: tuple[int, str, int] | None,
    use: Callable[..., object] | None,
    required: bool,
) -> tuple[pa.Table, bool]:
    """Read the rest of the misses, give the caller's table, and write the cache from ``temp``.

    ``temp`` is closed whatever happens; ``required``: whether the file is written even if no
    fresh row is cached. Returns the table and whether the file was written; calls ``use`` on
    the table, when given, while the file is written on a second thread.
    """
    fresh = served.fresh
    if temp is None:
        fresh.pending.clear()
        while not fresh.done:
            fresh.next()  # only the columns asked for are kept
        result = _result(job, served)
        if use is not None:
            use(result)
        return result, False
    chunks = _Chunks(fresh.pending)
    fresh.pending.clear()
    # The reading, the caller's work and the file's writing overlap: they mostly run in C with
    # the GIL released (`faceio scan --cache` counts its facts meanwhile: 0.1-0.2 s of 0.4-0.5 s).
    with ThreadPoolExecutor(1, thread_name_prefix="faceio-cache") as pool:
        saving = pool.submit(_save, temp, job, served, chunks, required)
        ended = False
        try:
            while not fresh.done:
                chunks.put(fresh.next())
            chunks.end()
            ended = True
            result = _result(job, served)
            if use is not None:
                use(result)
        except BaseException:
            # The caller's exception (or the reader's) is the one raised; the write still ends
            # first (a failed one removes its temporary file), and its own failure only goes to
            # the log.
            if not ended:
                chunks.abort()
            try:
                saving.result()
            except Exception as err:
                _log.debug("Cache file of '%s' not written: %s", job.folder, err)
            raise
        written = saving.result()
    return result, written


def _result(job: _Job, served: _Served) -> pa.Table:
    """Give every input's row (the path and the columns asked for), in input order.

    Slices of the fresh rows and of the cache's, joined without a copy.
    """
    cached = None if served.cached is None else served.cached.table.select(job.wanted)
    data = _gather_arrays([served.fresh.table(), cached], served.source, served.row)
    return _with_paths(data, job.paths, job.schema, job.path_column)


def _save(
    temp: tuple[int, str, int], job: _Job, served: _Served, chunks: _Chunks, required: bool
) -> bool:
    """Write the cache file from ``temp``, which this closes whatever happens.

    Takes the fresh rows from ``chunks`` as it needs them, and all of them before it returns.
    Gives whether the file was written: not if it is not ``required`` and no fresh row was
    cached after all (nothing changed), nor if the cache's file changed since it was read.
    """
    writer = None
    try:
        skip = _merge(job, served)
        schema = job.stored.with_metadata(_metadata(job.kind, job.folder_id))
        writer = _Writer(temp, job.folder, schema)
        for batch in _batches(job, served, skip, chunks):
            if not writer.writing:
                return False  # it failed, and said why
            writer.add(batch)
        if required or served.fresh.keep.any():
            return writer.commit()
        writer.discard()
        return False
    except BaseException as err:
        if writer is not None:
            writer.discard()
        else:
            _discard(temp)
        if isinstance(err, (_StaleCacheError, _AbortedError)):
            _log.debug("%s: the scan cache is not written (%s)", job.folder, err)
            return False
        raise
    finally:
        chunks.drain()


def _serve(job: _Job, cached: _Loaded | None) -> _Served:
    """Say where each input's row is, and read the first of the files the cache cannot give.

    All of them when a name is given twice (not in a listing: which of its rows is cached
    depends on them all, :func:`_merge`).
    """
    n = len(job.paths)
    table = None if cached is None else cached.table
    source = np.full(n, _FRESH, np.int8)
    row = _match(table, job) if table is not None else np.full(n, -1, np.int64)
    source[row >= 0] = _CACHED
    misses = np.flatnonzero(row < 0)
    row[misses] = np.arange(len(misses))
    kept = np.zeros(0 if table is None else table.num_rows, np.bool_)
    dropped = 0
    if table is not None:
        used = np.zeros(table.num_rows, np.bool_)
        used[row[source == _CACHED]] = True  # a name given twice is one row
        if job.keep_subfolders:
            in_sub = pc.match_substring(table.column("_name"), "/").to_numpy(False)
            kept = in_sub & ~used
        dropped = table.num_rows - int(np.count_nonzero(used | kept))
    fresh = _Fresh(job, misses)
    if not fresh.done:
        fresh.pending.append(fresh.next())
    repeated = None if fresh.done else _repeated(job)
    if repeated:
        while not fresh.done:
            fresh.pending.append(fresh.next())
    return _Served(source, row, kept, dropped, fresh, cached, repeated)


def _repeated(job: _Job) -> bool:
    """Whether a name is given twice.

    Asked only where it matters: the hash of every name takes 0.02-0.05 s of an unchanged
    re-scan of 200,000 faces.
    """
    return bool(pc.count_distinct(job.names).as_py() != len(job.names))


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


def _merge(job: _Job, served: _Served) -> np.ndarray | None:
    """Give which inputs' rows the cache file leaves out for an earlier one of the same name.

    ``None`` when every name is given once, as a listing gives them (then every input whose
    row is cached or kept is written, :func:`_batches`). Else every miss is read (by
    :func:`_serve`): of a name given twice, the first row that is cached or kept is written.
    """
    repeated = served.repeated
    if not (_repeated(job) if repeated is None else repeated):
        return None
    fresh = served.fresh
    assert fresh.done
    taken = served.source == _CACHED
    taken[fresh.misses] = fresh.keep
    take = np.flatnonzero(taken)
    names = job.names.take(pa.array(take, pa.int64())).to_pylist()
    first: dict[str, int] = {}
    for i, name in zip(take.tolist(), names, strict=True):
        first.setdefault(name, i)
    skip = np.ones(len(taken), np.bool_)
    skip[list(first.values())] = False
    return skip


def _batches(
    job: _Job, served: _Served, skip: np.ndarray | None, chunks: _Chunks
) -> Iterator[pa.RecordBatch]:
    """Give the cache file's record batches: the rows of :data:`_BATCH_ROWS` inputs at a time.

    The file holds every row served or read (and cacheable), in input order, then, in batches
    of their own, the cache's rows kept unused (a flat read's rows of sub-folders). A batch's
    rows are gathered from the fresh rows (taken from ``chunks`` as they are needed, dropped
    once written) and from the cache's record batches that hold them, read again from its
    file (the rows mostly run in the file's order, so each is read once and one or two are held
    at a time), as slices, then copied into one block, which is written and freed. Merged
    whole, the rows took a block the size of the file (185 MiB for 200,000 faces) besides the
    file read whole; written as slices, the file took three times the bytes.
    """
    cached, fresh = served.cached, served.fresh
    starts = np.array([0] if cached is None else cached.starts, np.int64)
    old: dict[int, pa.Table] = {}  # the cache's batches held, by number
    new: dict[int, pa.Table] = {}  # the chunks of fresh rows held, by number
    misses_before = np.concatenate([[0], np.cumsum(served.source == _FRESH)])
    n = len(served.source)
    for at in range(0, n, _BATCH_ROWS):
        source = served.source[at : at + _BATCH_ROWS]
        rows = served.row[at : at + _BATCH_ROWS]
        is_new = source == _FRESH
        # The chunks of rows written before are freed; those of this batch's misses are taken.
        new = {c: t for c, t in new.items() if (c + 1) * _BATCH_ROWS > misses_before[at]}
        if is_new.any():
            last = int(rows[is_new][-1]) // _BATCH_ROWS
            while last not in new:
                start, table = chunks.get()
                new[start // _BATCH_ROWS] = table
        taken = ~is_new
        taken[is_new] = fresh.keep[rows[is_new]]
        if skip is not None:
            taken &= ~skip[at : at + _BATCH_ROWS]
        picks = (source[taken] == _FRESH, rows[taken])
        window = _window(picks, starts, cached, old, new)
        if window is not None:
            yield from window.to_batches()
    # The cache's rows kept unused.
    kept = np.flatnonzero(served.kept)
    new.clear()
    for at in range(0, len(kept), _BATCH_ROWS):
        rows = kept[at : at + _BATCH_ROWS]
        window = _window((np.zeros(len(rows), np.bool_), rows), starts, cached, old, new)
        if window is not None:
            yield from window.to_batches()


def _window(
    picks: tuple[np.ndarray, np.ndarray],
    starts: np.ndarray,
    cached: _Loaded | None,
    old: dict[int, pa.Table],
    new: dict[int, pa.Table],
) -> pa.Table | None:
    """Gather the rows ``picks`` names (whether fresh, and which miss or cached row) as one block.

    ``new`` holds the chunks of fresh rows the picks take; ``old`` the cache's batches held,
    updated to those the picks take (the others are freed before more are read).
    """
    is_new, rows = picks
    if not len(rows):
        return None
    rows = rows.copy()
    which = np.searchsorted(starts, rows[~is_new], "right") - 1
    needed = np.unique(which).tolist()
    for k in [k for k in old if k not in needed]:
        del old[k]
    for k in needed:
        if k not in old:
            assert cached is not None  # a row is taken from it
            old[k] = cached.batch(k)
    chunk = rows[is_new] // _BATCH_ROWS
    fresh_chunks = np.unique(chunk).tolist()
    # The parts: the chunks of fresh rows, then the cache's batches, each by number.
    index = np.empty(len(rows), np.int64)
    index[is_new] = np.searchsorted(fresh_chunks, chunk)
    index[~is_new] = len(fresh_chunks) + np.searchsorted(needed, which)
    rows[is_new] -= chunk * _BATCH_ROWS
    rows[~is_new] -= starts[which]
    parts: list[pa.Table | None] = [new[c] for c in fresh_chunks] + [old[k] for k in needed]
    return _gather_arrays(parts, index, rows).combine_chunks(memory_pool=_POOL)


def _with_paths(data: pa.Table, paths: Sequence[str], schema: pa.Schema, column: str) -> pa.Table:
    """Put the paths as given back into the rows, where ``schema`` has them."""
    index = schema.get_field_index(column)
    if index >= 0:
        field = schema.field(index)
        data = data.add_column(index, field, text_array(paths, field.type))
    return data.replace_schema_metadata(schema.metadata)
