"""Type stubs for faceio._core, the Rust extension (built by maturin from rust/).

The public, documented API is in :mod:`faceio`; these functions take already-encoded payloads
and return plain Python objects.
"""

from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from typing import Any, final

__all__ = [
    "DEFAULT_MAX_CHUNK",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_TEXT",
    "HEADER_SCHEMA",
    "META_COLUMNS",
    "MetaBatch",
    "__version__",
    "decode_png",
    "decode_png_batch",
    "get_limits",
    "pack_itxt",
    "parse_literal",
    "png_check_chunks",
    "png_read_face",
    "png_read_meta",
    "png_verify",
    "png_write_meta",
    "read_image_meta",
    "read_image_meta_batch",
    "read_meta_columns",
    "read_meta_columns_and_facts",
    "read_meta_columns_from_bytes",
    "read_scan_facts_batch",
    "set_limits",
    "stat_keys",
    "tiff_read_description",
    "tiff_write_meta",
    "update_png_meta",
    "write_file",
]

#: The package version, from Cargo.toml (the one place it is written).
__version__: str

DEFAULT_MAX_CHUNK: int
DEFAULT_MAX_TEXT: int
DEFAULT_MAX_DEPTH: int
#: The face header's fields (rust/face.rs): per class ``(role, name, fields)``, each field as
#: ``(name, kind, required, index of its nested class or None)``.
HEADER_SCHEMA: tuple[tuple[str, str, tuple[tuple[str, str, bool, int | None], ...]], ...]

#: The table columns the core builds (rust/columns.rs, docs/table.md): ``(name, kind)``.
META_COLUMNS: tuple[tuple[str, str], ...]

#: A column's buffers: ``(name, kind, nulls, validity, offsets, inner_offsets, values)``.
_Column = tuple[str, str, int, bytes | None, bytes | None, bytes | None, bytes]
#: ``(batches, errors, needs)``: batches of ``(rows, columns)``, ``(row, exception)`` pairs and
#: ``(row, prefix length to fetch)`` pairs (see rust/pycolumns.rs).
_Columns = tuple[
    list[tuple[int, list[_Column]]], list[tuple[int, Exception]], list[tuple[int, int]]
]

def pack_itxt(payload: bytes) -> bytes:
    """Build the faceswap iTXt chunk (length, type, data, CRC) for a UTF-8 payload."""

def png_write_meta(image: bytes, payload: bytes) -> bytes:
    """Put a faceswap chunk into a PNG: in place of an existing one, else before the first IDAT."""

def png_read_meta(image: bytes) -> Any:
    """Parse the faceswap payload of an in-memory PNG into plain Python objects.

    Raises MetadataNotFound, PngFormatError or MetadataSyntaxError.
    """

def png_read_face(image: bytes, classes: Sequence[Callable[..., Any]]) -> tuple[bool, Any]:
    """Like png_read_meta; a canonical face header comes back as ``(True, header)``.

    ``header`` is built from ``classes`` (one per entry of ``HEADER_SCHEMA``, in its order),
    each called with its fields as keywords, arrays as float32 numpy arrays; any other payload
    is ``(False, object)``.
    """

def png_verify(image: bytes) -> None:
    """Check every chunk: bounds, CRCs, IHDR first, an IDAT, IEND. Raises PngFormatError."""

def png_check_chunks(image: bytes) -> None:
    """Check that every chunk lies inside the PNG, up to IEND (not the CRCs): PngFormatError."""

def decode_png(data: bytes) -> tuple[bytearray, int, int] | None:
    """Decode an 8-bit RGB/RGBA PNG to BGR: ``(pixels, height, width)``, or None for OpenCV."""

def decode_png_batch(
    paths: Sequence[str | PathLike[str]],
    classes: Sequence[Callable[..., Any]] | None = None,
    size: tuple[int, int] | None = None,
) -> tuple[
    bytearray | None, int, int, bytes, dict[int, BaseException | tuple[int, int]], list[Any] | None
]:
    """Decode same-sized images to one BGR buffer on all cores: 8-bit RGB/RGBA PNGs here.

    The size is the first file's, or ``size`` (height, width). Returns ``(pixels, height,
    width, status, problems, headers)``: ``status`` has a byte per file (0 decoded, 1 left for
    OpenCV, 2 a PNG of another size, 3 failed, 4 not read after a failure); ``problems`` maps a
    failed file's index to its exception and an odd-sized one's to its ``(height, width)``.
    With ``classes``, ``headers[i]`` is each file's header as ``png_read_face`` gives it
    (built from ``classes``, or the payload as parsed), built while the others decode; else
    None. ``pixels`` is None, and nothing is read, when no size is given and the first file is
    not one decoded here.
    """

def parse_literal(text: bytes | str) -> Any:
    """Parse Python-literal text (as ``ast.literal_eval`` does, plus nan and inf)."""

def read_image_meta(path: str | PathLike[str]) -> dict[str, Any]:
    """Width, height and (for a face PNG) the parsed faceswap payload under ``"itxt"``.

    Raises UnsupportedFormatError for formats whose size it cannot read from the header.
    """

@final
class MetaBatch(Iterator[tuple[Any, dict[str, Any] | Exception]]):
    """Iterator of ``(path, dict)`` or ``(path, exception)`` in input order."""

    def __iter__(self) -> MetaBatch: ...
    def __next__(self) -> tuple[Any, dict[str, Any] | Exception]: ...

def read_image_meta_batch(paths: Sequence[str | PathLike[str]], chunk_size: int = 64) -> MetaBatch:
    """Read many files' metadata on all cores, the GIL released, streamed in chunks."""

def read_scan_facts_batch(
    paths: Sequence[str | PathLike[str]], chunk_size: int = 64
) -> Iterator[tuple[Any, dict[str, Any] | tuple[Any, ...] | Exception]]:
    """read_image_meta_batch for faceio scan: a face header's scan facts replace its dict."""

def read_meta_columns(paths: Sequence[str | PathLike[str]]) -> _Columns:
    """Face header columns of many files (docs/table.md), read on all cores, GIL released."""

def read_meta_columns_and_facts(
    paths: Sequence[str | PathLike[str]],
) -> tuple[
    list[tuple[int, list[_Column]]],
    list[tuple[int, Exception]],
    list[tuple[int, int]],
    list[tuple[Any, ...] | None],
]:
    """read_meta_columns, and each face header's scan facts from the same reads (else None)."""

def read_meta_columns_from_bytes(
    names: Sequence[str | PathLike[str]], blobs: Sequence[bytes], whole: Sequence[bool]
) -> _Columns:
    """Like read_meta_columns for files given as bytes (all of a file, or its first bytes)."""

def stat_keys(folder: str | PathLike[str], names: bytes, count: int) -> bytes:
    """Stat ``count`` NUL-ended names for the scan cache: six int64 key columns in turn."""

def tiff_write_meta(image: bytes, payload: bytes) -> bytes:
    """Insert an ImageDescription holding ``payload`` into a single-IFD little-endian TIFF."""

def tiff_read_description(image: bytes) -> bytes:
    """Return the ImageDescription bytes of a TIFF, trailing NULs removed."""

def update_png_meta(path: str | PathLike[str], payload: bytes) -> None:
    """Rewrite a PNG file with its faceswap chunk replaced or inserted, crash-safely."""

def write_file(path: str | PathLike[str], data: bytes) -> None:
    """Write a file crash-safely: unique temporary file, fsync, rename, fsync of the folder."""

def set_limits(
    *, max_chunk: int | None = None, max_text: int | None = None, max_depth: int | None = None
) -> None:
    """Replace the limits for hostile input; None keeps a limit as it is."""

def get_limits() -> dict[str, int]:
    """Return the limits in force."""
