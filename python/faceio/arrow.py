"""Face headers as an Arrow table: one row per file, flat typed columns (docs/table.md).

Needs ``pyarrow`` (``pip install faceio[arrow]``). The Rust core reads and parses the files on
all cores with the GIL released and packs each column into Arrow's memory layout; this module
wraps those buffers as arrays without copying them or building a Python object per file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import pyarrow as pa

from faceio import _core

__all__ = ["meta_schema", "read_meta_table"]

#: Files read per call into the core: enough to keep every core busy, few enough that the
#: parsed payloads in flight stay small.
_GROUP = 1024

#: The Arrow type of each kind of column the core builds.
_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "points": pa.list_(pa.list_(pa.float32(), 2)),
    "pair": pa.list_(pa.int64(), 2),
    "string_list": pa.list_(pa.string()),
    "int64_list": pa.list_(pa.int64()),
}

StrPath = str | os.PathLike[str]


def meta_schema() -> pa.Schema:
    """Give the schema of :func:`read_meta_table`'s tables (docs/table.md).

    Returns
    -------
    pyarrow.Schema
        ``path`` first, the columns the core builds (in ``faceio._core.META_COLUMNS``), then
        ``error_type`` and ``error``; every column but ``path`` nullable.
    """
    fields = [pa.field("path", pa.string(), nullable=False)]
    fields += [pa.field(name, _TYPES[kind]) for name, kind in _core.META_COLUMNS]
    fields += [pa.field("error_type", pa.string()), pa.field("error", pa.string())]
    return pa.schema(fields)


def read_meta_table(
    paths_or_folder: StrPath | Iterable[StrPath],
    errors: Literal["raise", "collect"] = "collect",
    cache: bool = False,
) -> pa.Table:
    """Read the face headers of many files into one table, a row per file in input order.

    Parameters
    ----------
    paths_or_folder : str, os.PathLike or iterable of them
        A folder (its ``.png``, ``.tif`` and ``.tiff`` files, sorted by name, sub-folders not
        read), or the files to read.
    errors : {"collect", "raise"}
        ``"collect"`` (the default): a file that cannot be read or whose header does not fit
        the columns gets a row with ``error_type`` and ``error`` set (the exception's class
        name and message). ``"raise"``: raise the first such exception instead.
    cache : bool
        For a folder: keep its scan cache (``.faceio-cache.arrow``, docs/format.md, "The
        scan cache", shared with ``faceio scan --cache``) and read only the files that are
        new or changed since it was written. The table is the same either way.

    Returns
    -------
    pyarrow.Table
        Of :func:`meta_schema`'s schema.

    Raises
    ------
    ValueError
        For ``cache=True`` with files rather than a folder.
    faceio.FaceioError, OSError
        With ``errors="raise"``, the first file's failure.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', not {errors!r}")
    folder = None
    paths: list[StrPath]
    names: list[str] = []
    cache_temps: list[str] = []
    if isinstance(paths_or_folder, (str, os.PathLike)) and os.path.isdir(paths_or_folder):
        folder = os.fspath(paths_or_folder)
        names = _list_faces(folder, cache_temps)
        # os.path.join's result for a bare name, in a fraction of its time (0.28 s for
        # 200,000 names, most of a cached read's listing).
        base = os.path.join(folder, "")
        paths = [base + name for name in names]
    elif isinstance(paths_or_folder, (str, os.PathLike)):
        paths = [paths_or_folder]
    else:
        paths = list(paths_or_folder)
    if cache:
        if folder is None:
            raise ValueError("read_meta_table(cache=True) needs a folder: its cache is kept there")
        from faceio._folder_cache import cached_meta_table

        table = cached_meta_table(folder, names, [os.fspath(p) for p in paths], cache_temps)
        if errors == "raise":
            _raise_first(table, paths)
        return table
    return _read_files_table(paths, stop_at_error=errors == "raise")


def _list_faces(folder: str, cache_temps: list[str]) -> list[str]:
    """List the names of the face files directly in ``folder``, sorted.

    The scan cache's temporary files seen go to ``cache_temps``, for the cache to sweep.
    """
    from faceio._files import list_folder
    from faceio.cli._common import FACE_EXTENSIONS

    names, _ = list_folder(folder, FACE_EXTENSIONS, cache_temps)
    return names


def _raise_first(table: pa.Table, paths: Sequence[StrPath]) -> None:
    """Raise the first failed row's exception, read again to have the exception itself.

    A failed file is never cached, so its row is as fresh as the table; a file that reads
    well by the time it is read again (replaced in between) still fails the call, with the
    row's message.
    """
    import pyarrow.compute as pc

    from faceio.errors import FaceioError

    first = int(pc.index(table.column("error_type").is_valid(), True).as_py())
    if first < 0:
        return
    _, failures, _ = _core.read_meta_columns([paths[first]])
    if failures:
        raise failures[0][1]
    kind, message = (table.column(c)[first].as_py() for c in ("error_type", "error"))
    raise FaceioError(f"{kind}: {message} (the file changed since, and reads now)")


def _read_files_table(
    paths: Sequence[StrPath],
    stop_at_error: bool = False,
    facts: list[tuple[Any, ...] | None] | None = None,
) -> pa.Table:
    """Read the table of ``paths`` (rows in input order, ``path`` the path as given).

    With ``stop_at_error``, the first failed file's exception is raised as soon as its group
    is read; the files after that group are not read. ``facts``, when given, is extended with
    each file's scan facts from the same read, as ``read_scan_facts_batch`` gives them for a
    face header, else ``None`` (``_core.read_meta_columns_and_facts``).
    """
    names = [os.fsdecode(os.fspath(p)) for p in paths]
    batches: list[pa.RecordBatch] = []
    for start in range(0, len(names), _GROUP):
        group = names[start : start + _GROUP]
        if facts is None:
            result = _core.read_meta_columns(group)
        else:
            packed, failures, needs, group_facts = _core.read_meta_columns_and_facts(group)
            result = packed, failures, needs
            facts += group_facts
        if stop_at_error and result[1]:
            raise min(result[1], key=lambda failure: failure[0])[1]
        batches += _to_batches(group, result)
    return pa.Table.from_batches(batches, schema=meta_schema())


def _to_batches(names: Sequence[str], result: Any) -> list[pa.RecordBatch]:
    """Record batches of the core's columns for ``names`` (see ``rust/pycolumns.rs``)."""
    packed, failures, _ = result
    error_type: list[str | None] = [None] * len(names)
    error: list[str | None] = [None] * len(names)
    for row, exc in failures:
        error_type[row] = type(exc).__name__
        error[row] = str(exc)
    schema = meta_schema()
    out = []
    start = 0
    for rows, columns in packed:
        stop = start + rows
        arrays = [text_array(names[start:stop])]
        arrays += [_array(rows, *column[1:]) for column in columns]
        arrays.append(pa.array(error_type[start:stop], pa.string()))
        arrays.append(text_array(error[start:stop]))
        out.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
        start = stop
    return out


def text_array(values: Sequence[Any], kind: pa.DataType | None = None) -> pa.Array:
    r"""Give an array of ``values`` (strings by default), lone surrogates written as ``\udcff``.

    Arrow's strings are UTF-8, which a ``str`` holding a lone surrogate is not: ``os.fsdecode``
    keeps a file name's undecodable bytes so (``b"\xff.png"`` is ``"\udcff.png"``). Such a
    name is written with its surrogates escaped, rather than failing the table.
    """
    kind = pa.string() if kind is None else kind
    try:
        return pa.array(values, kind)
    except UnicodeEncodeError:
        escape = "backslashreplace"
        text = [v.encode(errors=escape).decode() if isinstance(v, str) else v for v in values]
        return pa.array(text, kind)


def _last(offsets: bytes) -> int:
    """Give the last of native int32 offsets: how many items the children hold."""
    return int.from_bytes(offsets[-4:], sys.byteorder, signed=True)


def _array(
    rows: int,
    kind: str,
    nulls: int,
    validity: bytes | None,
    offsets: bytes | None,
    inner: bytes | None,
    values: bytes,
) -> pa.Array:
    """One column from the core's buffers, without a copy."""
    head = [None if validity is None else pa.py_buffer(validity)]
    data = pa.py_buffer(values)
    kind_type = _TYPES[kind]
    if kind in ("int64", "float64", "bool"):
        return pa.Array.from_buffers(kind_type, rows, [*head, data], null_count=nulls)
    if kind == "pair":
        child = pa.Array.from_buffers(pa.int64(), 2 * rows, [None, data])
        return pa.Array.from_buffers(kind_type, rows, head, null_count=nulls, children=[child])
    assert offsets is not None  # every other kind has offsets
    off = pa.py_buffer(offsets)
    if kind == "string":
        return pa.Array.from_buffers(kind_type, rows, [*head, off, data], null_count=nulls)
    count = _last(offsets)
    if kind == "points":
        floats = pa.Array.from_buffers(pa.float32(), 2 * count, [None, data])
        child = pa.FixedSizeListArray.from_arrays(floats, 2)
    elif kind == "int64_list":
        child = pa.Array.from_buffers(pa.int64(), count, [None, data])
    else:
        assert inner is not None  # a list of strings has the strings' offsets
        child = pa.Array.from_buffers(pa.string(), count, [None, pa.py_buffer(inner), data])
    return pa.Array.from_buffers(kind_type, rows, [*head, off], null_count=nulls, children=[child])
