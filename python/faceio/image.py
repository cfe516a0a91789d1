"""Pixel I/O with OpenCV: encoding with metadata, colour helpers.

OpenCV is imported on first use, so ``import faceio`` stays fast for metadata-only scripts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from faceio.header import PNGHeader
from faceio.metadata import png_write_meta, tiff_write_meta

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["encode_image", "hex_to_rgb", "rgb_to_hex"]

_METADATA_EXTENSIONS = (".png", ".tif")


def encode_image(
    image: npt.NDArray[np.generic],
    extension: str,
    encoding_args: tuple[int, ...] | None = None,
    metadata: PNGHeader | dict[str, Any] | bytes | None = None,
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
    metadata : PNGHeader | dict | bytes, optional
        Metadata to store; only for ``.png`` (iTXt chunk) and ``.tif`` (ImageDescription).

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
