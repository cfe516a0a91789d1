"""Face metadata in PNG and TIFF files: pack, write, read, update.

The byte work (chunk walking, CRCs, the Python-literal parser, TIFF IFD rewriting, parallel
folder reads) is done by the Rust extension :mod:`faceio._core`; this module adapts its inputs
and outputs to faceswap's ``lib.image`` API (docs/format.md: "The faceswap chunk in PNG",
"TIFF").
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TypeVar

from faceio import _core
from faceio.errors import (
    MetadataNotFound,
    MetadataSyntaxError,
    MetadataValueError,
    UnsupportedFormatError,
)
from faceio.header import (
    PNGHeader,
    SupportsToDict,
    header_classes_tuple,
    header_from_dict,
    is_face_header,
)

__all__ = [
    "get_limits",
    "pack_to_itxt",
    "png_read_meta",
    "png_write_meta",
    "read_image_meta",
    "read_image_meta_batch",
    "read_png_meta",
    "set_limits",
    "tiff_read_meta",
    "tiff_write_meta",
    "update_existing_metadata",
    "verify_png",
]

Metadata = SupportsToDict | dict[str, Any] | bytes

#: The deepest nesting set_limits allows: parsing recurses per level on threads with 2 MiB
#: stacks, which this keeps well inside.
MAX_DEPTH_CEILING = 1000
StrPath = str | os.PathLike[str]
_T = TypeVar("_T")


# The value types whose str() is a literal that the payload parser (and ast.literal_eval) reads
# back as an equal value. Exact types: a subclass (numpy's float64, an IntEnum) has its own repr.
_LITERAL_ATOMS: frozenset[type] = frozenset({str, bytes, int, float, complex, bool, type(None)})
# The bytes a faceswap iTXt chunk's data holds besides the payload (keyword, flags, NULs).
_ITXT_OVERHEAD = len(_core.pack_itxt(b"")) - 12
# The same for JSON (TIFF descriptions): tuples are written as lists, which is what faceswap's
# reader gets back too.
_JSON_ATOMS: frozenset[type] = frozenset({str, int, float, bool, type(None)})


def _unstorable(value: Any, atoms: frozenset[type], depth: int) -> tuple[list[str], str] | None:
    """Find a value that ``atoms`` and dict/list/tuple cannot store; ``None`` if all can.

    Returns the key path, innermost key first, and the offending type's name (``""`` when the
    nesting goes deeper than ``depth``, which the reader would refuse).
    """
    kind = type(value)
    if kind in atoms:
        return None
    if depth <= 0:
        return [], ""
    if kind is dict:
        for key, item in value.items():
            if type(key) not in atoms and (atoms is _JSON_ATOMS or type(key) is not tuple):
                return [f"[{key!r}]"], f"key of type {type(key).__name__}"
            if type(key) is tuple:
                found = _unstorable(key, atoms, depth - 1)
                if found is not None:
                    return [f"[{key!r}]"], f"key holding a {found[1] or 'deep value'}"
            if type(item) not in atoms:
                found = _unstorable(item, atoms, depth - 1)
                if found is not None:
                    found[0].append(f"[{key!r}]")
                    return found
        return None
    if kind is list or kind is tuple:
        for index, item in enumerate(value):
            if type(item) not in atoms:
                found = _unstorable(item, atoms, depth - 1)
                if found is not None:
                    found[0].append(f"[{index}]")
                    return found
        return None
    module = "" if kind.__module__ == "builtins" else f"{kind.__module__}."
    return [], module + kind.__qualname__


def _check_storable(data: dict[str, Any], atoms: frozenset[type], form: str, hint: str) -> None:
    """Raise :class:`MetadataValueError` naming the first value ``form`` cannot hold."""
    depth = _core.get_limits()["max_depth"]
    found = _unstorable(data, atoms, depth)
    if found is None:
        return
    parts, what = found
    where = "".join(reversed(parts)) or "the header"
    if what in ("set", "frozenset"):
        # str() of a set is a literal, but its order (string hashing) changes from run to run,
        # so the same header would not give the same bytes twice.
        reason = f"{where} is a {what}, whose order changes from run to run: use a sorted list"
    elif what:
        reason = f"{where} is a {what}, which {form} cannot hold: {hint}"
    else:
        reason = (
            f"{where} is nested more than {depth} levels deep, past the readers' limit "
            "(faceio.set_limits(max_depth=...))"
        )
    raise MetadataValueError(f"metadata cannot be written, no reader could read it back: {reason}")


def _as_plain(metadata: Any, parameter: str) -> dict[str, Any] | bytes:
    """Bytes as they are; a dict; any header object through its ``to_dict()``."""
    if isinstance(metadata, (bytes, bytearray, memoryview)):
        return bytes(metadata)
    if isinstance(metadata, dict):
        return metadata
    to_dict = getattr(metadata, "to_dict", None)
    if callable(to_dict):
        plain = to_dict()
        if isinstance(plain, dict):
            return plain
        raise TypeError(
            f"{parameter}: {type(metadata).__name__}.to_dict() returned "
            f"{type(plain).__name__}, not a dict"
        )
    raise TypeError(
        f"{parameter} must be a header object (with to_dict()), a dict or bytes, "
        f"not {type(metadata).__name__}"
    )


def _payload(metadata: Metadata, parameter: str = "metadata") -> bytes:
    """Encode metadata as the PNG payload: ``str(dict)`` as UTF-8; bytes are kept as-is.

    A dict (or a header object's ``to_dict()``) is checked to hold only values whose ``str()``
    reads back: anything else raises :class:`MetadataValueError` naming its key path.
    """
    plain = _as_plain(metadata, parameter)
    if isinstance(plain, bytes):
        return _fits_a_chunk(plain)
    _check_storable(
        plain,
        _LITERAL_ATOMS,
        "a Python literal",
        "convert it to plain Python values (ndarray.tolist(), to_dict()) first",
    )
    return _fits_a_chunk(str(plain).encode("utf-8"))


def _fits_a_chunk(payload: bytes) -> bytes:
    """Give ``payload`` back if the readers take its chunk, else raise MetadataValueError."""
    limit = _core.get_limits()["max_chunk"]
    size = len(payload) + _ITXT_OVERHEAD
    if size > limit:
        raise MetadataValueError(
            f"metadata cannot be written, no reader could read it back: its chunk would hold "
            f"{size:,} bytes, over the readers' {limit:,}-byte limit "
            "(faceio.set_limits(max_chunk=...))"
        )
    return payload


def _as_header(data: Any) -> Any:
    """Turn a face header into a header object; return any other payload as parsed."""
    return header_from_dict(data) if is_face_header(data) else data


def pack_to_itxt(metadata: Metadata) -> bytes:
    """Pack metadata into a complete faceswap PNG iTXt chunk.

    Parameters
    ----------
    metadata : header object | dict | bytes
        The header to store. A dict (or header) is written as ``str(dict)``; bytes are used as
        the UTF-8 payload as they are.

    Returns
    -------
    bytes
        The chunk: length, ``iTXt``, ``faceswap`` keyword and flags, payload, CRC.
    """
    return _core.pack_itxt(_payload(metadata))


def png_write_meta(image: bytes, data: Metadata) -> bytes:
    """Write faceswap metadata into PNG bytes.

    The chunk goes immediately before the first IDAT chunk (or replaces an existing faceswap
    chunk); every other byte is unchanged.

    Parameters
    ----------
    image : bytes
        An encoded PNG.
    data : header object | dict | bytes
        The metadata to store.

    Returns
    -------
    bytes
        The PNG with the metadata.

    Raises
    ------
    faceio.PngFormatError
        If ``image`` is not a well-formed PNG.
    """
    return _core.png_write_meta(image, _payload(data))


def png_read_meta(image: bytes) -> PNGHeader | dict[str, Any]:
    """Read the faceswap metadata of PNG bytes.

    Parameters
    ----------
    image : bytes
        An encoded PNG.

    Returns
    -------
    PNGHeader | dict
        A :class:`PNGHeader` for an extracted face, or the stored dict for any other data
        (for example a patch writer's matrices).

    Raises
    ------
    faceio.MetadataNotFound
        If the PNG has no faceswap chunk (also an ``AssertionError``).
    faceio.PngFormatError
        If the PNG is malformed (offset and chunk named).
    faceio.MetadataSyntaxError
        If the payload is not a valid Python literal, or holds a value Python cannot build
        (an unhashable key, an unknown Unicode character name, an int over its digit limit),
        with the payload offset; Python's own exception, if any, is its ``__cause__``.
    """
    is_face, data = _core.png_read_face(image, header_classes_tuple())
    header: PNGHeader | dict[str, Any] = data if is_face else _as_header(data)
    return header


def read_png_meta(image: bytes) -> dict[str, Any]:
    """Read the size and the stored faceswap metadata of PNG bytes, as they are stored.

    The in-memory twin of :func:`read_image_meta`: the same dict, where :func:`png_read_meta`
    (faceswap's function) raises for a PNG without metadata and turns a face header into a
    header object. Tools that show or re-export headers exactly as written use this one.

    Parameters
    ----------
    image : bytes
        An encoded PNG.

    Returns
    -------
    dict
        ``{"width": int, "height": int}``, plus ``"itxt"`` (the stored value, not a
        :class:`PNGHeader`) when the PNG carries faceswap metadata.

    Raises
    ------
    faceio.PngFormatError
        If the PNG is malformed up to its faceswap chunk (offset and chunk named).
    faceio.MetadataSyntaxError
        If the payload is not a valid Python literal, or holds a value Python cannot build
        (an unhashable key, an unknown Unicode character name, an int over its digit limit),
        with the payload offset; Python's own exception, if any, is its ``__cause__``.
    """
    meta: dict[str, Any] = {}
    try:
        meta["itxt"] = _core.png_read_meta(image)
    except MetadataNotFound:
        pass
    # Either way the walk has checked that a 13-byte IHDR with a good CRC and a non-zero size
    # comes right after the 8-byte signature: width and height are its first 8 data bytes.
    width, height = struct.unpack_from(">II", image, 16)
    return {"width": width, "height": height, **meta}


def verify_png(image: bytes) -> None:
    """Check the structure of PNG bytes: every chunk's bounds and CRC.

    Unlike the readers, which stop at the faceswap chunk and check only the CRCs they use, this
    walks the whole file. It does not decode pixels or look at the metadata.

    Parameters
    ----------
    image : bytes
        An encoded PNG.

    Raises
    ------
    faceio.PngFormatError
        At the first fault (offset and chunk named): a wrong signature, a first chunk that is
        not a 13-byte IHDR, a chunk running past the end, a CRC mismatch, no IDAT chunk, or no
        IEND chunk.
    """
    _core.png_verify(image)


def _size_by_decoding(path: StrPath, cause: UnsupportedFormatError) -> dict[str, int]:
    """Width and height of an image whose header faceio cannot read, by decoding it.

    Decoded as faceswap's reader decodes it (``cv2.imread``'s ``IMREAD_COLOR``): turned as its
    EXIF orientation says (docs/format.md, "Image sizes and EXIF orientation").
    """
    import cv2
    import numpy as np

    from faceio.image import _read_bytes  # not at the top: faceio.image imports this module

    name = os.fspath(path)
    # _read_bytes, not np.fromfile: it refuses a named pipe instead of waiting on it forever.
    data = np.frombuffer(_read_bytes(name), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as err:  # its own limits: a few bytes may claim 60000 x 60000 pixels
        reason = (str(err).strip().splitlines() or ["no reason given"])[-1]
        raise UnsupportedFormatError(
            f"{name}: OpenCV refused the image ({reason}); faceio cannot read its size either "
            f"({cause})",
            path=name,
        ) from err
    if image is None:
        raise UnsupportedFormatError(
            f"{name}: not an image faceio or OpenCV can read ({cause})", path=name
        ) from None
    return {"width": int(image.shape[1]), "height": int(image.shape[0])}


def read_image_meta(filename: StrPath) -> dict[str, Any]:
    """Read an image's size and, for a face PNG, its faceswap metadata.

    Only the bytes needed are read: for a PNG, the signature, IHDR and the faceswap chunk. Other
    formats (JPEG, BMP, TIFF, WebP) give their size from their headers, as ``cv2.imread`` (the
    decode faceswap sizes them by) gives it: turned as their EXIF orientation says where OpenCV
    turns them (docs/format.md, "Image sizes and EXIF orientation"); anything else is decoded
    with OpenCV.

    Parameters
    ----------
    filename : str or os.PathLike
        The image file.

    Returns
    -------
    dict
        ``{"width": int, "height": int}``, plus ``"itxt"`` (the stored dict, not a
        :class:`PNGHeader`) when the PNG carries faceswap metadata.

    Raises
    ------
    faceio.PngFormatError, faceio.MetadataSyntaxError
        For a malformed ``.png`` (wrong signature included) or payload (as
        :func:`png_read_meta` says), naming the file.
    OSError
        If the file cannot be read.
    """
    try:
        return _core.read_image_meta(filename)
    except UnsupportedFormatError as err:
        return _size_by_decoding(filename, err)


def read_image_meta_batch(
    filenames: Iterable[StrPath], errors: Literal["raise", "collect"] = "raise"
) -> Iterator[tuple[StrPath, dict[str, Any] | Exception]]:
    """Read many images' metadata in parallel, yielding results in input order.

    Files are read and parsed on all cores with the GIL released, a chunk at a time, so the
    first result arrives quickly and memory stays bounded for any number of files.

    Parameters
    ----------
    filenames : iterable of str or os.PathLike
        The image files.
    errors : {"raise", "collect"}
        ``"raise"`` (the default, as faceswap does): raise the first failure, after yielding every
        earlier file. ``"collect"``: yield ``(path, exception)`` for a failed file and go on;
        a bad file never ends the iteration.

    Yields
    ------
    tuple
        ``(filename, metadata)`` as :func:`read_image_meta` returns it, or
        ``(filename, exception)`` with ``errors="collect"``.
    """
    if errors not in ("raise", "collect"):
        raise ValueError(f"errors must be 'raise' or 'collect', not {errors!r}")
    return _iter_batch(list(filenames), errors == "collect")


def _iter_batch(
    paths: list[StrPath], collect: bool
) -> Iterator[tuple[StrPath, dict[str, Any] | Exception]]:
    for path, result in _core.read_image_meta_batch(paths):
        result = sized(path, result)
        if isinstance(result, Exception) and not collect:
            raise result
        yield path, result


def sized(path: StrPath, result: _T) -> _T | dict[str, int] | Exception:
    """Return a batch reader's ``result`` for ``path``, sized by decoding if need be.

    The core gives ``UnsupportedFormatError`` for a format whose header faceio cannot read;
    the image is then decoded for its size.
    """
    if not isinstance(result, UnsupportedFormatError):
        return result
    try:
        return _size_by_decoding(path, result)
    except (OSError, ValueError) as err:
        return err


def tiff_write_meta(image: bytes, data: Metadata) -> bytes:
    """Write metadata into a TIFF's ImageDescription (tag 270).

    Parameters
    ----------
    image : bytes
        A little-endian, single-IFD TIFF without an ImageDescription, as OpenCV writes.
    data : header object | dict | bytes
        A dict (or header, as its dict) is stored as ASCII JSON; bytes as they are.

    Returns
    -------
    bytes
        The TIFF with the description added.

    Raises
    ------
    faceio.TiffFormatError
        For a malformed or unsupported TIFF (big-endian, BigTIFF, several IFDs, tag present).
    """
    plain = _as_plain(data, "data")
    if isinstance(plain, bytes):
        payload = plain
    else:
        _check_storable(
            plain,
            _JSON_ATOMS,
            "JSON",
            "a TIFF description is JSON, which has no such type (faceswap's masks are bytes: "
            "store such headers in PNG files)",
        )
        payload = json.dumps(plain, ensure_ascii=True).encode("ascii")
        # A value of 4 bytes or less would sit inside the IFD entry, where faceswap's reader
        # does not look; JSON allows trailing spaces, so pad it out of line.
        payload = payload.ljust(5)
    return _core.tiff_write_meta(image, payload)


def tiff_read_meta(image: bytes) -> dict[str, Any]:
    """Read the JSON stored in a TIFF's ImageDescription (tag 270).

    Parameters
    ----------
    image : bytes
        An encoded TIFF.

    Returns
    -------
    dict
        The stored data.

    Raises
    ------
    faceio.MetadataNotFound
        If the TIFF has no ImageDescription.
    faceio.MetadataSyntaxError
        If the description is not valid JSON.
    """
    raw = _core.tiff_read_description(image)
    try:
        stored: dict[str, Any] = json.loads(raw)
        return stored
    except ValueError as err:
        offset = getattr(err, "pos", None)
        raise MetadataSyntaxError(
            f"TIFF ImageDescription is not valid JSON ({err})", offset=offset
        ) from None


def update_existing_metadata(filename: StrPath, metadata: Metadata) -> None:
    """Replace the faceswap metadata of a face PNG on disk, crash-safely.

    Every other chunk is kept byte for byte. The new file is written to a uniquely named
    temporary file in the same folder, flushed to disk, renamed over the original and the folder
    flushed: a crash leaves either the old file or the new one. On any failure before the rename
    the original is untouched and no temporary file is left behind; a failure flushing the
    folder is raised after the rename (the file is then wholly new, but may not be on disk yet).
    A temporary file left by a killed process is removed by a later update or save in that
    folder once it is a minute old and no live process holds its lock (docs/format.md,
    "Placement").

    The new file keeps the owner (where the process may set it), the mode (setuid and setgid
    bits included, unless the owner could not be kept) and the extended attributes (ACLs
    included; outside ``user.``, those the system will not let the process set are left to
    it). A symlink stays a symlink (its target is updated). A file with several hard links is
    replaced under this name only: the other names keep the old file. Rewriting the shared file
    in place instead would keep the links but lose the guarantee that a crash leaves a whole
    file.

    Parameters
    ----------
    filename : str or os.PathLike
        The face PNG.
    metadata : header object | dict | bytes
        The new header.

    Raises
    ------
    faceio.UnsupportedFormatError
        If ``filename`` is not a regular file (a named pipe, socket or device).
    faceio.PngFormatError
        If the file is not a well-formed PNG.
    OSError
        If the file cannot be read or the new one written; the original is then unchanged.
    """
    _core.update_png_meta(filename, _payload(metadata))


def set_limits(
    *, max_chunk: int | None = None, max_text: int | None = None, max_depth: int | None = None
) -> None:
    """Adjust the limits that protect against hostile files (process-wide).

    Parameters
    ----------
    max_chunk : int, optional
        Largest faceswap text chunk read, in bytes (default 16 MiB).
    max_text : int, optional
        Largest decompressed text of a zTXt or compressed iTXt chunk, in bytes (default 16 MiB).
    max_depth : int, optional
        Deepest container nesting in a payload (default 64, at most 1000).
    """
    for name, value in (("max_chunk", max_chunk), ("max_text", max_text), ("max_depth", max_depth)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int, not {value!r}")
    if max_depth is not None and max_depth > MAX_DEPTH_CEILING:
        raise ValueError(
            f"max_depth must be at most {MAX_DEPTH_CEILING} (the parser recurses once per level)"
        )
    _core.set_limits(max_chunk=max_chunk, max_text=max_text, max_depth=max_depth)


def get_limits() -> dict[str, int]:
    """Return the limits in force: ``{"max_chunk": ..., "max_text": ..., "max_depth": ...}``."""
    return _core.get_limits()
