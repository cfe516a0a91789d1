"""How the scan cache stores list columns in Parquet: a list of points as its values' bytes.

Parquet encodes a nested list value by value, with repetition and definition levels; the
landmarks of a large folder took 4-10 times as long to write and read that way as bytes.
:mod:`faceio._scan_cache` packs such columns on writing and unpacks them on reading.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DamagedCacheError", "file_schema", "pack_table", "unpack_table"]


class DamagedCacheError(Exception):
    """A cache file whose data columns do not decode, or fail their checksums."""


def _packed(t: pa.DataType) -> bool:
    """Whether a column of type ``t`` is stored as its values' bytes (see :func:`_pack`)."""
    return bool(
        pa.types.is_list(t)
        and pa.types.is_fixed_size_list(t.value_type)
        and pa.types.is_primitive(t.value_type.value_type)
        and t.value_type.value_type.bit_width % 8 == 0
    )


def file_schema(stored: pa.Schema) -> pa.Schema:
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
        raise DamagedCacheError("a packed list's length is not a whole number of items")
    data = b.buffers()[2].slice(int(off[0]), int(rel[-1])) if len(b) else pa.py_buffer(b"")
    count = int(rel[-1]) // (inner_type.value_type.bit_width // 8)
    values = pa.Array.from_buffers(inner_type.value_type, count, [None, data])
    points = pa.FixedSizeListArray.from_arrays(values, inner_type.list_size)
    mask = pc.is_null(b) if b.null_count else None
    return pa.ListArray.from_arrays(pa.array(rel // width, pa.int32()), points, type=t, mask=mask)


def pack_table(table: pa.Table) -> pa.Table:
    """Give ``table`` with its lists of points stored as bytes (a column each, one chunk).

    Raises
    ------
    ValueError
        If a point or a value in one is null (it cannot be stored as bytes).
    """
    for i, field in enumerate(table.schema):
        if _packed(field.type):
            # One array first: merged rows come as many slices, each packed at some cost.
            column = pa.chunked_array([_pack(table.column(i).combine_chunks())])
            table = table.set_column(
                i, pa.field(field.name, pa.large_binary(), field.nullable), column
            )
    return table


def unpack_table(table: pa.Table, types: dict[str, pa.DataType]) -> pa.Table:
    """Give back the table :func:`pack_table` stored, ``types`` naming each column's type.

    Raises
    ------
    DamagedCacheError
        If a packed value is not a whole number of points.
    """
    for i, field in enumerate(table.schema):
        t = types[field.name]
        if _packed(t):
            column = pa.chunked_array([_unpack(c, t) for c in table.column(i).chunks], t)
            table = table.set_column(i, pa.field(field.name, t, field.nullable), column)
    return table
