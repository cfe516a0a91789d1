"""Reading face files for the commands: PNG headers (iTXt) and TIFF headers (ImageDescription).

Every command reads a file's stored metadata into the dict :func:`faceio.read_image_meta`
returns (``width``, ``height`` and, when there is a header, ``itxt``), whether the header came
from a PNG chunk or a TIFF description, so that what follows does not care which. The face
schema check is here too, so that ``scan`` and ``verify`` give one verdict.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal, overload

from faceio import _core
from faceio._core import HEADER_SCHEMA
from faceio._files import FolderEntry
from faceio.errors import MetadataNotFound
from faceio.header import PNGHeader
from faceio.metadata import (
    read_image_meta,
    read_image_meta_batch,
    read_png_meta,
    sized,
    tiff_read_meta,
)

_TIFF = (".tif", ".tiff")


def is_tiff(name: str) -> bool:
    """Whether a face file is read as a TIFF (by its name, as the listing took it)."""
    return name.lower().endswith(_TIFF)


def _add_tiff_header(path: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Add a TIFF's ImageDescription header to the size the batch reader gave."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        return {**meta, "itxt": tiff_read_meta(data)}
    except MetadataNotFound:
        return meta


@overload
def read_metas(
    entries: list[FolderEntry], *, facts: Literal[False] = False
) -> Iterator[tuple[FolderEntry, dict[str, Any] | Exception]]: ...


@overload
def read_metas(
    entries: list[FolderEntry], *, facts: bool
) -> Iterator[tuple[FolderEntry, dict[str, Any] | tuple[Any, ...] | Exception]]: ...


def read_metas(
    entries: list[FolderEntry], *, facts: bool = False
) -> Iterator[tuple[FolderEntry, dict[str, Any] | tuple[Any, ...] | Exception]]:
    """Read every entry's size and header, in order; a failure is yielded, not raised.

    PNG files go through the parallel batch reader; a TIFF's description is read here, after
    the batch has given its size (TIFF faces are rare: no need to batch them). With ``facts``,
    a PNG whose payload has exactly a face header's shape gives, in place of its dict, the
    tuple of scan facts the core took of it on its reading thread (``scan.file_facts`` takes
    either): ``scan`` then builds no objects of the header, nor checks its schema again.
    """
    paths = [entry.path for entry in entries if entry.error is None]
    results: Iterator[tuple[Any, dict[str, Any] | tuple[Any, ...] | Exception]]
    if facts:
        results = ((p, sized(p, r)) for p, r in _core.read_scan_facts_batch(paths))
    else:
        results = read_image_meta_batch(paths, errors="collect")
    for entry in entries:
        if entry.error is not None:
            yield entry, entry.error
            continue
        _, meta = next(results)
        if is_tiff(entry.name) and isinstance(meta, dict):
            try:
                meta = _add_tiff_header(entry.path, meta)
            except (OSError, ValueError) as err:
                meta = err
        yield entry, meta


def file_meta(path: str, data: bytes) -> dict[str, Any]:
    """Give the metadata dict of a face file read whole: a PNG's, or a TIFF's size and header.

    Raises
    ------
    OSError, faceio.FaceioError
        If the file is not a well-formed PNG or TIFF (or a TIFF's size cannot be read again).
    """
    if not is_tiff(path):
        return read_png_meta(data)
    meta = read_image_meta(path)
    size = {"width": meta["width"], "height": meta["height"]}
    try:
        return {**size, "itxt": tiff_read_meta(data)}
    except MetadataNotFound:
        return size


def face_header(payload: Any) -> PNGHeader:
    """Check a face-shaped payload against the face schema and build it, as ``verify`` does.

    Raises
    ------
    faceio.HeaderSchemaError
        Naming the field that does not fit.
    """
    return PNGHeader.from_dict(payload)


def check_face(payload: Any) -> None:
    """Give :func:`face_header`'s verdict on a payload without building the header.

    ``scan`` checks every header of a folder: building numpy arrays and dataclasses for each
    would double its time. A header in the form faceswap writes (exact keys, float lists of a
    regular shape) is checked here in plain Python, a form that ``from_dict`` always accepts;
    anything else goes to ``from_dict`` itself, so the verdict, and the message, are the ones
    ``verify`` gives.

    Raises
    ------
    faceio.HeaderSchemaError
        Naming the field that does not fit.
    """
    if not plain_face(payload):
        PNGHeader.from_dict(payload)


def plain_face(payload: Any) -> bool:
    """Whether a payload is a face header in the plain form faceswap writes.

    That is: the schema's keys, each array a list of numbers or of equal-length lists of
    numbers (so no tuple in it), each name-to-value field a dict or ``None``. Such a payload
    always passes ``PNGHeader.from_dict``; ``False`` says nothing either way.
    """
    return _plain_object(0, payload)


# Per schema class: the required keys, the allowed keys, and (name, kind, nested class) of the
# fields whose value is checked ("value" fields hold anything).
_CLASSES = [
    (
        frozenset(name for name, _, needed, _ in fields if needed),
        frozenset(name for name, _, _, _ in fields),
        tuple((name, kind, sub or 0) for name, kind, _, sub in fields if kind != "value"),
    )
    for _, _, fields in HEADER_SCHEMA
]

_ABSENT = object()


def _plain_array(value: Any) -> bool:
    """Whether ``value`` is a list of numbers, or a list of equal-length lists of numbers.

    Those always convert to float32. ``sum`` tells, in a C loop, that every item is a number a
    float can hold (an int past 2**1024 overflows, as it does in numpy; a string, a list, a
    complex number give no float): four times faster than looking at each item's type.
    """
    if type(value) is not list:
        return False
    try:
        if not value or type(value[0]) is not list:
            return type(sum(value, 0.0)) is float
        if set(map(type, value)) != {list} or len(set(map(len, value))) != 1:
            return False
        return type(sum(itertools.chain.from_iterable(value), 0.0)) is float
    except (TypeError, OverflowError):
        return False


def _plain_object(index: int, data: Any) -> bool:
    """Whether ``data`` is schema class ``index`` in the plain form ``from_dict`` accepts."""
    required, allowed, checked = _CLASSES[index]
    if type(data) is not dict or not required <= data.keys() <= allowed:
        return False
    # Plain loops, no generators: this runs for every face of a scan.
    for name, kind, sub in checked:
        value = data.get(name, _ABSENT)
        if value is _ABSENT:
            continue
        if kind == "array":
            if not _plain_array(value):
                return False
        elif kind == "dims":
            if value is not None and type(value) is not list and type(value) is not tuple:
                return False
        elif kind == "object":
            if not _plain_object(sub, value):
                return False
        elif value is not None:  # "objects" or "arrays": a dict of them, or None for none
            if type(value) is not dict:
                return False
            for item in value.values():
                if not (_plain_array(item) if kind == "arrays" else _plain_object(sub, item)):
                    return False
    return True
