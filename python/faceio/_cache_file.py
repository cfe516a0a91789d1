"""The scan cache's file: its layout, its checks on reading, and its writing.

An Arrow IPC stream, uncompressed, then a trailer: the stream's length, the CRC-32 of its bytes
and ``FIOC`` (docs/format.md, "The scan cache", "The file"). :mod:`faceio._scan_cache` decides
what goes in it; this module reads one (or says why it is not used) and writes one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import struct
import tempfile
import zlib
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from faceio._files import CACHE_NAME, CACHE_TMP_PREFIX, LEGACY_CACHE_NAMES

__all__ = [
    "CACHE_FORMAT",
    "KEY_FIELDS",
    "MAX_BYTES_FLOOR",
    "MAX_BYTES_PER_FILE",
    "POOL",
    "TEMP_AGE_NS",
    "discard",
    "load",
    "metadata",
    "open_temp",
    "sweep",
    "write",
]

_log = logging.getLogger("faceio.cache")

#: The cache's own layout; a file of another layout is ignored and rewritten.
CACHE_FORMAT = "2"

# What a cache file says about itself, in the stream schema's key-value metadata.
_FORMAT_KEY = b"faceio.cache"
_KIND_KEY = b"faceio.cache.kind"
_FOLDER_KEY = b"faceio.cache.folder"

# After the stream: its length, the CRC-32 of its bytes, and the magic number, last (as
# Parquet's "PAR1"), so that a file cut short or grown is refused before anything is parsed.
_TRAILER = struct.Struct("<QI4s")
_MAGIC = b"FIOC"

# The stat key columns, first in the file; a reader's column may not take these names.
KEY_FIELDS = (
    pa.field("_name", pa.string(), nullable=False),
    pa.field("_size", pa.int64(), nullable=False),
    pa.field("_mtime_ns", pa.int64(), nullable=False),
    pa.field("_ctime_ns", pa.int64(), nullable=False),
    pa.field("_ino", pa.uint64(), nullable=False),
    pa.field("_dev", pa.uint64(), nullable=False),
)

# A cache file larger than this per listed file (plus a floor) is not opened: a hostile or
# foreign file must not make a scan allocate gigabytes. A face's row takes about 1 KiB
# uncompressed (970 bytes measured: 68 landmarks are 548 of them), a sixteenth of this; the
# floor leaves room for sub-folders' rows that a flat scan keeps (see read_through).
MAX_BYTES_PER_FILE = 16 * 1024
MAX_BYTES_FLOOR = 64 * 1024 * 1024

# Rows per record batch written: any size reads as fast; a bound keeps each batch's offsets
# far from 2 GiB.
_BATCH_ROWS = 1 << 16

# A cache's temporary file older than this (by its stamps, against the file system's clock)
# was left by a killed writer and is removed. A live writer's file is older than its reads
# (it is created first, as the clock): a day is far beyond any scan's reads.
TEMP_AGE_NS = 24 * 3600 * 10**9
# The names open_temp's mkstemp gives (eight of its characters between prefix and suffix): the
# sweep removes no other file, whatever its name looks like.
_TEMP_NAME = re.compile(re.escape(CACHE_TMP_PREFIX) + r"[a-z0-9_]{8}\.tmp")

# The cache's two large blocks (the file read, the merged rows) come from the C library's
# allocator, which maps and unmaps them whole: 0.11-0.12 s each for 185 MiB, every time.
# pyarrow's default (mimalloc) took 0.05-0.39 s for the same, most in a new process, where
# `faceio scan --cache` runs.
POOL = pa.system_memory_pool()

# The user whose cache files are trusted (no user ids off POSIX: every file is the user's).
_UID = os.geteuid() if hasattr(os, "geteuid") else 0
_READ_OPTIONS = pa.ipc.IpcReadOptions(use_threads=False)
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(use_threads=False)


class _ForeignCacheError(Exception):
    """A cache file that is not this folder's cache of these rows, or is damaged."""


def load(
    path: str, schema: pa.Schema, kind: str, folder_id: bytes, files: int
) -> tuple[pa.Table | None, str]:
    """Read the cache file if it is wholly ours; else say why not (``""``: there is none)."""
    try:
        # O_NOFOLLOW: a symlink is no cache of ours; O_NONBLOCK: a FIFO does not block the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, ""
    except OSError as err:
        return None, f"cannot open it ({err.strerror or err})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "not a regular file"
        # Rows whose keys match are trusted, so only this user's own file is: in a folder
        # others may write to, anyone could rename a file of forged rows over the cache.
        if st.st_uid != _UID:
            return None, f"owned by another user (uid {st.st_uid})"
        if st.st_size > MAX_BYTES_FLOOR + MAX_BYTES_PER_FILE * files:
            return None, f"{st.st_size:,} bytes is too large for {files:,} files"
        data = _read_whole(fd, st.st_size)
        return _parse(data, schema, kind, folder_id), ""
    except _ForeignCacheError as err:
        return None, str(err)
    except (OSError, ValueError, pa.ArrowException) as err:
        return None, f"not a readable cache file ({err})"
    finally:
        os.close(fd)


def _read_whole(fd: int, size: int) -> pa.Buffer:
    """Read ``size`` bytes of a file into one Arrow buffer.

    Arrow's buffers are aligned, so the columns are used in place (a ``bytes`` object's data
    is not, and the reader would copy them). :class:`_ForeignCacheError` if the file ends
    before.
    """
    data = pa.allocate_buffer(size, memory_pool=POOL)
    view = memoryview(data)
    got = 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if not n:
            raise _ForeignCacheError("cut short while it was read")
        got += n
    return data


def _parse(data: pa.Buffer, schema: pa.Schema, kind: str, folder_id: bytes) -> pa.Table:
    """Check a cache file's bytes and give its rows; :class:`_ForeignCacheError` if not ours."""
    if data.size < _TRAILER.size:
        raise _ForeignCacheError("too short to be a cache file")
    length, crc, magic = _TRAILER.unpack(data[data.size - _TRAILER.size :].to_pybytes())
    if magic != _MAGIC or length != data.size - _TRAILER.size:
        raise _ForeignCacheError("not a faceio cache file (no trailer)")
    stream = data[:length]
    # Every byte but the trailer's, which are checked above: any damaged byte is refused.
    if zlib.crc32(stream) != crc:
        raise _ForeignCacheError("damaged: its CRC-32 does not match")
    table = _read_stream(stream, schema, kind, folder_id)
    # Offsets and UTF-8 checked (0.03 s for 200,000 rows): a file with a good CRC may still
    # have been made by someone else, and its columns are used in place.
    table.validate(full=True)
    if any(table.column(f.name).null_count for f in KEY_FIELDS):
        raise _ForeignCacheError("a key is missing")
    if pc.count_distinct(table.column("_name")).as_py() != table.num_rows:
        raise _ForeignCacheError("a file name appears twice")
    return table.replace_schema_metadata(None)


def _read_stream(stream: pa.Buffer, schema: pa.Schema, kind: str, folder_id: bytes) -> pa.Table:
    """Read the stream's rows, its schema and each message checked before any batch is read.

    Message by message, so that nothing of a file that is not ours is unpacked: its schema and
    metadata are checked first, and a record batch only when its body is stored as it is. A
    compressed body (which the stream format allows and faceio never writes) would be unpacked
    to whatever size it claims: 73 KB made 2.2 GiB.
    """
    reader = pa.ipc.MessageReader.open_stream(stream)
    first = reader.read_next_message()
    if first.type != "schema":
        raise _ForeignCacheError("not an Arrow stream of rows (no schema first)")
    found = pa.ipc.read_schema(first)
    meta = found.metadata or {}
    if meta.get(_FORMAT_KEY) != CACHE_FORMAT.encode():
        raise _ForeignCacheError("not a faceio cache of this format")
    if meta.get(_KIND_KEY) != kind.encode():
        raise _ForeignCacheError("a cache of other rows (another faceio version or reader)")
    if meta.get(_FOLDER_KEY) != folder_id:
        raise _ForeignCacheError("the cache of another folder")
    if not found.remove_metadata().equals(schema):
        raise _ForeignCacheError("its columns are not the rows' columns")
    while True:
        try:
            message = reader.read_next_message()
        except StopIteration:
            break
        if message.type != "record batch" or _compressed(message.metadata.to_pybytes()):
            raise _ForeignCacheError(f"holds a {message.type} message that faceio never writes")
    # Checked: now read (the bodies are used in place). No thread pool: pyarrow's may still be
    # finishing a task's cleanup at interpreter exit and abort the process (apache/arrow#34314;
    # seen as an intermittent SIGABRT after `faceio scan --cache` had printed its summary).
    return pa.ipc.open_stream(stream, options=_READ_OPTIONS).read_all()


def _compressed(metadata: bytes) -> bool:
    """Whether a record batch message's header (a flatbuffer) gives its body a compression.

    pyarrow tells a message's kind, not this, and unpacks a compressed body as it reads it. The
    header is Arrow's ``Message`` table (format/Message.fbs): field 1 the header's kind (3, a
    record batch), field 2 the ``RecordBatch`` table, whose field 3 is ``compression``, absent
    in a stream written without one. Anything out of bounds is damage.
    """

    def at(fmt: str, pos: int) -> int:
        if not 0 <= pos <= len(metadata) - struct.calcsize(fmt):
            raise _ForeignCacheError("a message header out of bounds")
        value: int = struct.unpack_from(fmt, metadata, pos)[0]
        return value

    def field(table: int, index: int) -> int | None:
        """Position of a table's field ``index``, or ``None`` if absent."""
        vtable = table - at("<i", table)
        slot = 4 + 2 * index
        if slot + 2 > at("<H", vtable):
            return None
        offset = at("<H", vtable + slot)
        return table + offset if offset else None

    root = at("<I", 0)
    kind, header = field(root, 1), field(root, 2)
    if kind is None or at("<B", kind) != 3 or header is None:
        raise _ForeignCacheError("a record batch message without its header")
    batch = header + at("<I", header)
    return field(batch, 3) is not None


def open_temp(folder: str) -> tuple[int, str, int] | None:
    """Create the cache file's next version: ``(fd, path, the file system's clock now)``.

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


def discard(temp: tuple[int, str, int]) -> None:
    """Close and remove a temporary file that is not renamed into place."""
    os.close(temp[0])
    with contextlib.suppress(OSError):
        os.unlink(temp[1])


def metadata(kind: str, folder_id: bytes) -> dict[bytes, bytes]:
    """Give the schema metadata of a cache file of rows of ``kind`` for the folder ``folder_id``."""
    return {_FORMAT_KEY: CACHE_FORMAT.encode(), _KIND_KEY: kind.encode(), _FOLDER_KEY: folder_id}


class _CrcFile:
    """A file that the IPC writer writes to, keeping the CRC-32 and length of what it wrote.

    The CRC is taken as the bytes go by: no second pass over the file, and no copy of it in
    memory (0.20-0.24 s to write 200,000 faces, against 0.23-0.37 s for a buffer first).
    """

    closed = False

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.crc = 0
        self.length = 0

    def write(self, data: bytes | memoryview) -> int:
        self.crc = zlib.crc32(data, self.crc)
        self.length += len(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def write(temp: tuple[int, str, int], folder: str, table: pa.Table) -> bool:
    """Write the cache to its temporary file, rename it over the old; ``False`` if it fails.

    The temporary file is closed, and removed unless renamed, whatever happens. The files of
    an older faceio's cache go once the new one is in place.
    """
    fd, temp_path, _ = temp
    path = os.path.join(folder, CACHE_NAME)
    try:
        try:
            out = _CrcFile(fd)
            sink = pa.PythonFile(out, mode="w")
            with pa.ipc.new_stream(sink, table.schema, options=_WRITE_OPTIONS) as writer:
                writer.write_table(table, max_chunksize=_BATCH_ROWS)
            os.write(fd, _TRAILER.pack(out.length, out.crc, _MAGIC))
        finally:
            os.close(fd)
        # A reader has the old file or the new one, whole; of two writers the last rename wins.
        os.replace(temp_path, path)
    except (OSError, ValueError, pa.ArrowException) as err:
        _log.debug("%s: the scan cache is not written (%s)", path, err)
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        return False
    for legacy in LEGACY_CACHE_NAMES:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, legacy))
    return True


def sweep(folder: str, names: Sequence[str], clock: int) -> None:
    """Remove the cache's temporary files among ``names`` stamped a day or more before ``clock``.

    The stamps are compared with the file system's own clock (the new temporary file's), not
    this machine's, which a network file system's need not agree with.
    """
    for name in names:
        if not _TEMP_NAME.fullmatch(name):
            continue  # named like ours, but not by mkstemp: someone else's file
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
            if (
                stat.S_ISREG(st.st_mode)
                and max(st.st_mtime_ns, st.st_ctime_ns) < clock - TEMP_AGE_NS
            ):
                os.unlink(path)
                _log.debug("%s: removed, a scan cache's temporary file left a day ago", path)
        except OSError:
            continue
