"""Pixel I/O: reading, encoding, thumbnails and colour conversion.

The conversions are those of docs/format.md, "Pixels".

OpenCV is imported on first use, so ``import faceio`` stays fast for metadata-only scripts.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import numpy as np

from faceio import _core
from faceio._parallel import cpu_count, ordered_map
from faceio.errors import FaceioError, MetadataNotFound, UnsupportedFormatError
from faceio.header import (
    PNGHeader,
    SupportsToDict,
    header_classes_tuple,
    header_from_dict,
    is_face_header,
)
from faceio.metadata import png_read_meta, png_write_meta, tiff_write_meta

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "batch_convert_color",
    "encode_image",
    "generate_thumbnail",
    "hex_to_rgb",
    "read_image",
    "read_image_batch",
    "rgb_to_hex",
]

logger = logging.getLogger(__name__)

_METADATA_EXTENSIONS = (".png", ".tif")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_image(
    image: npt.NDArray[Any],
    extension: str,
    encoding_args: tuple[int, ...] | None = None,
    metadata: SupportsToDict | dict[str, Any] | bytes | None = None,
) -> bytes:
    """Encode an image, optionally with faceswap metadata.

    Parameters
    ----------
    image : numpy.ndarray
        The image, BGR channel order.
    extension : str
        The file extension to encode to, e.g. ``".png"``.
    encoding_args : tuple[int, ...], optional
        Arguments for ``cv2.imencode``.
    metadata : header object | dict | bytes, optional
        Metadata to store; only for ``.png`` (iTXt chunk) and ``.tif`` (ImageDescription). A
        header object is stored through its ``to_dict()``. Empty metadata (``{}``, ``b""``)
        is ignored, as faceswap ignores it.

    Returns
    -------
    bytes
        The encoded image.

    Raises
    ------
    ValueError
        If metadata is given for another extension, or OpenCV cannot encode the image.
    """
    import cv2

    ext = extension.lower()
    if isinstance(metadata, (dict, bytes, bytearray, memoryview)) and not len(metadata):
        metadata = None
    if metadata is not None and ext not in _METADATA_EXTENSIONS:
        raise ValueError(f"metadata can only be written to .png and .tif images, not {extension!r}")
    ok, encoded = cv2.imencode(extension, image, list(encoding_args or ()))
    if not ok:
        raise ValueError(f"OpenCV could not encode the image as {extension!r}")
    data = encoded.tobytes()
    if metadata is None:
        return data
    if ext == ".png":
        return png_write_meta(data, metadata)
    return tiff_write_meta(data, metadata)


def hex_to_rgb(hex_code: str) -> tuple[int, int, int]:
    """Convert a hex colour code to an ``(R, G, B)`` tuple.

    Parameters
    ----------
    hex_code : str
        Six hex digits with an optional leading ``#``, e.g. ``"#0d25ac"``.

    Returns
    -------
    tuple[int, int, int]
        The colour, e.g. ``(13, 37, 172)``.
    """
    digits = hex_code[1:] if hex_code.startswith("#") else hex_code
    if len(digits) != 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"not a 6-digit hex colour code: {hex_code!r}")
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def rgb_to_hex(rgb: tuple[int, int, int]) -> str:
    """Convert an ``(R, G, B)`` tuple to a hex colour code.

    Parameters
    ----------
    rgb : tuple[int, int, int]
        Channel values 0 to 255, e.g. ``(0, 255, 255)``.

    Returns
    -------
    str
        The code with a leading ``#``, e.g. ``"#00ffff"``.
    """
    values = tuple(rgb)
    if len(values) != 3 or any(int(v) != v or not 0 <= v <= 255 for v in values):
        raise ValueError(f"not an (R, G, B) tuple of 0-255 integers: {rgb!r}")
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in values))


# ---------------------------------------------------------------------------------- reading
StrPath = str | os.PathLike[str]
Metadata = PNGHeader | dict[str, Any]


# Opening a named pipe waits for a writer, forever and beyond Ctrl-C's reach in a worker
# thread: O_NONBLOCK makes the open return at once, so the type is checked on the descriptor
# (fstat, not a stat of the path that a swap of the file could race) before any read.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _read_bytes(filename: str) -> bytes:
    """Read a whole regular file (the read releases the GIL; any path the OS accepts works).

    Raises
    ------
    faceio.UnsupportedFormatError
        For a named pipe, socket or device, before reading a byte of it.
    IsADirectoryError
        For a folder, as ``open`` does.
    """
    fd = os.open(filename, _OPEN_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), filename)
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a file")
            raise UnsupportedFormatError(
                f"{filename}: not a regular file ({kind}); faceio reads images from regular "
                "files only",
                path=filename,
            )
        if _NONBLOCK:
            # Blocking reads again: a network or FUSE file system may honour the flag.
            os.set_blocking(fd, True)
        # Unbuffered: FileIO.readall sizes its buffer from fstat, one copy less than
        # BufferedReader. FileIO owns the descriptor once built.
        handle = open(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return handle.read()


def _to_bgr_uint8(image: np.ndarray) -> npt.NDArray[np.uint8]:
    """Convert a decoded image to 3-channel BGR uint8 (docs/format.md, "Pixels").

    Grayscale (and gray + alpha) becomes BGR, an alpha channel is dropped, integer images whose
    dtype maximum is not 255 are scaled by ``astype(float32) / dtype_max * 255``, float images are
    clipped to 0..1 (NaN taken as 0) then multiplied by 255; the result is clipped to 0..255 and
    truncated to uint8.
    """
    if image.ndim == 2:
        image = image[:, :, None]
    # The channels kept (gray stays one until it is 8-bit: a 16-bit image is scaled on a
    # third of the pixels, and its float copy is a third the size).
    channels = image.shape[2]
    gray = channels in (1, 2)  # gray or gray + alpha
    image = image[:, :, :1] if gray else image[:, :, :3]
    if image.dtype != np.uint8:
        # In place on one float32 copy: the same operations, in the same order, as
        # astype(float32) / dtype_max * 255, then clipped (no full-size temporaries besides).
        scaled = image.astype(np.float32)
        if np.issubdtype(image.dtype, np.floating):
            np.nan_to_num(scaled, copy=False, nan=0.0)
            np.clip(scaled, 0.0, 1.0, out=scaled)
        else:
            scaled /= np.float32(np.iinfo(image.dtype).max)
        scaled *= 255
        np.clip(scaled, 0, 255, out=scaled)
        image = scaled.astype(np.uint8)
    if gray:
        return np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image)


def _decode(data: bytes, filename: str) -> npt.NDArray[np.uint8]:
    """Decode encoded image bytes to BGR uint8, with the GIL released.

    8-bit RGB and RGBA PNGs (every extracted face) go to the Rust core, about twice as fast
    as OpenCV and with the same pixels; everything else, and a PNG the core cannot decode
    (OpenCV then names the problem), to OpenCV.
    """
    import cv2

    if not data:
        raise ValueError(f"Unable to read image '{filename}': the file is empty")
    if data.startswith(_PNG_SIGNATURE):
        fast = _core.decode_png(data)
        if fast is not None:
            pixels, height, width = fast
            return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, 3)
        # libpng allocates what a chunk's length field claims (2 GB for a forged IDAT of a
        # 1 KB file) before it finds the file too short: a PNG whose chunks do not fit in it
        # is refused here.
        try:
            _core.png_check_chunks(data)
        except FaceioError as err:
            raise type(err)(
                f"Unable to read image '{filename}': {err}", path=filename, offset=err.offset
            ) from err
    # As faceswap decodes (docs/format.md, "Pixels"): depth and alpha kept for the conversion
    # below, and an EXIF orientation not applied.
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:  # its limits, such as a header claiming too many pixels
        reason = (str(err).strip().splitlines() or ["no reason given"])[-1]
        raise ValueError(f"Unable to read image '{filename}': OpenCV refused it: {reason}") from err
    if image is None:
        raise ValueError(f"Unable to read image '{filename}': OpenCV cannot decode it")
    return _to_bgr_uint8(image)


def _read_meta(data: bytes, filename: str) -> Metadata:
    """Parse the faceswap header of PNG bytes; errors are re-raised naming the file."""
    try:
        return png_read_meta(data)
    except MetadataNotFound as err:
        raise MetadataNotFound(
            f"'{filename}' has no faceswap metadata: {err}", path=filename
        ) from err
    except FaceioError as err:
        raise type(err)(
            f"Invalid faceswap metadata in '{filename}': {err}", path=filename, offset=err.offset
        ) from err


@overload
def read_image(
    filename: StrPath, raise_error: Literal[False] = False, with_metadata: Literal[False] = False
) -> npt.NDArray[np.uint8] | None: ...


@overload
def read_image(
    filename: StrPath, raise_error: Literal[True], with_metadata: Literal[False] = False
) -> npt.NDArray[np.uint8]: ...


@overload
def read_image(
    filename: StrPath, raise_error: Literal[False] = False, *, with_metadata: Literal[True]
) -> tuple[npt.NDArray[np.uint8], Metadata] | None: ...


@overload
def read_image(
    filename: StrPath, raise_error: Literal[True], with_metadata: Literal[True]
) -> tuple[npt.NDArray[np.uint8], Metadata]: ...


@overload
def read_image(
    filename: StrPath, raise_error: bool = False, with_metadata: bool = False
) -> npt.NDArray[np.uint8] | tuple[npt.NDArray[np.uint8], Metadata] | None: ...


def read_image(
    filename: StrPath, raise_error: bool = False, with_metadata: bool = False
) -> npt.NDArray[np.uint8] | tuple[npt.NDArray[np.uint8], Metadata] | None:
    """Read an image file as 3-channel BGR ``uint8``.

    The file is read once and decoded (8-bit RGB/RGBA PNGs by the Rust core, anything else by
    OpenCV with ``IMREAD_UNCHANGED``, as faceswap decodes it: a JPEG's EXIF orientation is not
    applied); the result is converted as docs/format.md ("Pixels") says: grayscale becomes
    BGR, an alpha channel is dropped, 16-bit (any integer type whose maximum is not 255) is
    scaled by ``value / dtype_max * 255`` and float is clipped to 0..1 then multiplied by 255,
    truncated to ``uint8``. Paths with spaces or non-ASCII characters work.

    Parameters
    ----------
    filename : str or os.PathLike
        Full path to the image.
    raise_error : bool, optional
        ``True``: raise on any failure. ``False`` (default): log an error naming the file and
        return ``None``.
    with_metadata : bool, optional
        Also return the faceswap metadata of a ``.png`` face, parsed from the same bytes.
        Default ``False``.

    Returns
    -------
    numpy.ndarray or tuple or None
        The ``(H, W, 3)`` BGR ``uint8`` image; with ``with_metadata`` the tuple
        ``(image, metadata)`` where ``metadata`` is a :class:`~faceio.PNGHeader` (or the stored
        dict for a non-face payload). ``None`` on failure when ``raise_error`` is ``False``,
        including a file without faceswap metadata when ``with_metadata`` is ``True``.

    Raises
    ------
    OSError
        If the file cannot be read (``FileNotFoundError``, ``PermissionError``...), when
        ``raise_error`` is ``True``.
    ValueError
        If OpenCV cannot decode the file (message naming it), when ``raise_error`` is ``True``.
    faceio.MetadataNotFound
        With ``with_metadata`` and ``raise_error``, if the file has no faceswap metadata (the
        message names the file; also an ``AssertionError``). Other malformed metadata raises the
        matching :class:`~faceio.FaceioError`.

    Examples
    --------
    >>> image = read_image("/path/to/image.png", raise_error=True)
    >>> face, header = read_image("/path/to/face.png", raise_error=True, with_metadata=True)
    """
    path = os.fspath(filename)
    try:
        data = _read_bytes(path)
        image = _decode(data, path)
        if not with_metadata:
            return image
        return image, _read_meta(data, path)
    except Exception as err:
        if raise_error:
            raise
        message = str(err)
        if path in message:
            logger.error("%s", message)
        else:
            logger.error("Error while reading image '%s': %s", path, message)
        return None


@overload
def read_image_batch(
    filenames: Sequence[StrPath], with_metadata: Literal[False] = False
) -> npt.NDArray[np.uint8]: ...


@overload
def read_image_batch(
    filenames: Sequence[StrPath], with_metadata: Literal[True]
) -> tuple[npt.NDArray[np.uint8], list[Metadata]]: ...


def read_image_batch(
    filenames: Sequence[StrPath], with_metadata: bool = False
) -> npt.NDArray[np.uint8] | tuple[npt.NDArray[np.uint8], list[Metadata]]:
    """Load a batch of same-sized images into one ``(N, H, W, 3)`` array, in input order.

    Files are read and decoded on one thread per core with the GIL released, each straight
    into its slot of a preallocated array: 8-bit RGB and RGBA PNGs (every extracted face) by
    the Rust core, anything else by OpenCV. Each image is converted as :func:`read_image` does.
    With ``with_metadata`` each file's header is parsed from the bytes already read (one read
    per file), and the header objects are built while the rest of the batch still decodes.

    Parameters
    ----------
    filenames : sequence of str or os.PathLike
        Full paths to the images.
    with_metadata : bool, optional
        Also return the faceswap metadata of each face. Default ``False``.

    Returns
    -------
    numpy.ndarray or tuple
        The ``(N, H, W, 3)`` BGR ``uint8`` batch (``(0, 0, 0, 3)`` for no files); with
        ``with_metadata`` the tuple ``(batch, metadata)`` where ``metadata`` is a list of
        :class:`~faceio.PNGHeader`, one per file.

    Raises
    ------
    OSError
        If a file cannot be read.
    ValueError
        If a file cannot be decoded (message naming it), or if the images do not all have the
        shape of the first one (message naming the first file that differs).
    faceio.MetadataNotFound
        With ``with_metadata``, if a file has no faceswap metadata (message naming it).

    Examples
    --------
    >>> images = read_image_batch(["/path/to/image_1.png", "/path/to/image_2.png"])
    >>> images.shape
    (2, 64, 64, 3)
    >>> images, metadata = read_image_batch(filenames, with_metadata=True)
    """
    paths = [os.fspath(name) for name in filenames]
    if not paths:
        empty = np.empty((0, 0, 0, 3), dtype=np.uint8)
        return (empty, []) if with_metadata else empty
    classes = header_classes_tuple() if with_metadata else None
    pixels, height, width, status, problems, headers = _batch_buffer(paths, classes, None)
    first = None
    if pixels is None:
        # The first file is not one the core decodes: OpenCV gives the batch its size.
        first = _decode(_read_bytes(paths[0]), paths[0])
        size = first.shape[:2]
        pixels, height, width, status, problems, headers = _batch_buffer(paths, classes, size)
    if pixels is None:  # pragma: no cover - the core always allocates when given a size
        raise RuntimeError("faceio internal error: no batch buffer for a sized batch")
    batch = np.frombuffer(pixels, dtype=np.uint8).reshape(len(paths), height, width, 3)
    if first is not None:
        batch[0] = first
    if headers is not None:
        _finish_headers(paths, headers, problems)
    _decode_the_rest(paths, batch, status, problems, 0 if first is None else 1, with_metadata)
    if with_metadata:
        return batch, cast("list[Metadata]", headers)
    return batch


def _batch_buffer(paths: list[str], classes: Any, size: tuple[int, int] | None) -> Any:
    """Call the core's batch decode, which sizes one buffer for all from the first file.

    Raises
    ------
    MemoryError
        If that buffer cannot be had, naming the batch and its first file (whose header may
        also claim a size its pixels do not have).
    """
    try:
        if size is None:
            return _core.decode_png_batch(paths, classes)
        return _core.decode_png_batch(paths, classes, size)
    except MemoryError as err:
        raise MemoryError(
            f"Unable to read {len(paths):,} images: no memory for a batch of that many of the "
            f"size of the first, '{paths[0]}'"
        ) from err


# What decode_png_batch says of each file (its status bytes).
_DECODED, _OPENCV, _OTHER_SIZE, _FAILED, _NOT_READ = 0, 1, 2, 3, 4


def _decode_the_rest(
    paths: list[str],
    batch: npt.NDArray[np.uint8],
    status: bytes,
    problems: dict[int, BaseException | tuple[int, int]],
    skip: int,
    with_metadata: bool,
) -> None:
    """Decode with OpenCV the files the core left, and raise the batch's first problem.

    The problem raised is the first in input order: a file that failed in the core (its error
    as the core gives it), has another size, or that OpenCV cannot decode. Files the core did
    not read because a later one failed first are read here, so that none is passed over.
    """
    stop = min(problems, default=len(paths))

    def load(i: int) -> npt.NDArray[np.uint8]:
        data = _read_bytes(paths[i])
        image = _decode(data, paths[i])
        if with_metadata and status[i] == _NOT_READ:
            _read_meta(data, paths[i])  # for its error, if any: the batch raises anyway
        return image

    todo = [i for i in range(skip, stop) if status[i] in (_OPENCV, _NOT_READ)]
    if todo:
        decoded = ordered_map(load, todo, min(cpu_count(), len(todo)), name="faceio-read-batch")
        # closing: an exception raised here must not leave the pool's threads to the collector
        with contextlib.closing(decoded):
            for i, image in zip(todo, decoded, strict=True):
                if image.shape != batch.shape[1:]:
                    _raise_size_mismatch(paths, i, image.shape, batch.shape[1:])
                batch[i] = image
    if stop < len(paths):
        problem = problems[stop]
        if isinstance(problem, BaseException):
            raise problem
        _raise_size_mismatch(paths, stop, (*problem, 3), batch.shape[1:])


def _raise_size_mismatch(
    paths: list[str], index: int, shape: tuple[int, ...], expected: tuple[int, ...]
) -> None:
    raise ValueError(
        f"read_image_batch: '{paths[index]}' has shape {shape} but '{paths[0]}' has shape "
        f"{expected}: all images of a batch must have the same size"
    )


def _finish_headers(
    paths: list[str], headers: list[Any], problems: dict[int, BaseException | tuple[int, int]]
) -> None:
    """Build the header objects of the payloads the core left as dicts (not its canonical form).

    A payload with a face header's keys that does not hold one is a problem of its file, in
    input order with the others.
    """
    for index, header in enumerate(headers[: min(problems, default=len(paths))]):
        if not is_face_header(header):
            continue
        try:
            headers[index] = header_from_dict(header)
        except FaceioError as err:
            path = paths[index]
            problems[index] = type(err)(
                f"Invalid faceswap metadata in '{path}': {err}", path=path, offset=err.offset
            )
            return


# ---------------------------------------------------------------------------------- helpers
def generate_thumbnail(
    image: npt.NDArray[np.uint8], size: int = 96, quality: int = 60
) -> npt.NDArray[np.uint8]:
    """Generate a JPEG thumbnail of an image.

    The image is resized to ``size`` x ``size`` (``INTER_AREA`` when its height is larger than
    ``size``, ``INTER_CUBIC`` when it is smaller; not resized when already that size) and
    encoded as a JPEG.

    Parameters
    ----------
    image : numpy.ndarray
        Three-channel BGR image.
    size : int, optional
        Width and height of the thumbnail in pixels. Default 96.
    quality : int, optional
        JPEG quality (0-100). Default 60.

    Returns
    -------
    numpy.ndarray
        The JPEG bytes as the ``uint8`` array that ``cv2.imencode`` returns.

    Raises
    ------
    ValueError
        If OpenCV cannot encode the image.
    """
    import cv2

    height, width = image.shape[:2]
    thumbnail: npt.NDArray[Any] = image
    if (height, width) != (size, size):
        interpolation = cv2.INTER_CUBIC if height < size else cv2.INTER_AREA
        thumbnail = cv2.resize(image, (size, size), interpolation=interpolation)
    ok, encoded = cv2.imencode(".jpg", thumbnail, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("OpenCV could not encode the thumbnail as JPEG")
    return encoded


def batch_convert_color(batch: npt.NDArray[Any], color_space: str) -> npt.NDArray[Any]:
    """Convert a batch of images from one colour space to another in one OpenCV call.

    The ``(N, H, W, C)`` batch is viewed as one ``(N * H, W, C)`` image, converted with
    ``cv2.cvtColor(..., cv2.COLOR_<color_space>)`` and reshaped back, which is much faster than
    converting image by image.

    Parameters
    ----------
    batch : numpy.ndarray
        The ``(N, H, W, C)`` batch (``uint8`` or ``float32``; 8-bit conversions lose some
        precision, prefer ``float32`` for round trips).
    color_space : str
        The OpenCV conversion name without its ``COLOR_`` prefix, e.g. ``"BGR2LAB"``.

    Returns
    -------
    numpy.ndarray
        The converted ``(N, H, W, C')`` batch.

    Raises
    ------
    ValueError
        If ``batch`` is not 4-dimensional or ``color_space`` is not an OpenCV conversion.

    Examples
    --------
    >>> images_lab = batch_convert_color(images_bgr, "BGR2LAB")
    """
    import cv2

    if batch.ndim != 4:
        raise ValueError(f"batch must have shape (N, H, W, C), not {batch.shape}")
    code = getattr(cv2, f"COLOR_{color_space}", None)
    if not isinstance(code, int):
        raise ValueError(f"{color_space!r} is not an OpenCV colour conversion (cv2.COLOR_...)")
    count, height, width, channels = batch.shape
    converted = cv2.cvtColor(batch.reshape(count * height, width, channels), code)
    return converted.reshape(count, height, width, -1)
