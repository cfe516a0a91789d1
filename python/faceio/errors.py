"""The faceio exception family.

Every malformed-data error raised by faceio is a :class:`FaceioError`, itself a
:class:`ValueError`, so code written for faceswap's ``lib.image`` (which raises ``ValueError``
and ``AssertionError``) keeps working. Operating-system errors stay :class:`OSError` subclasses
(``FileNotFoundError``, ``PermissionError``, ``IsADirectoryError``, ...).
"""

from __future__ import annotations

__all__ = [
    "FaceioError",
    "HeaderSchemaError",
    "MetadataNotFound",
    "MetadataSyntaxError",
    "MetadataValueError",
    "PngFormatError",
    "TiffFormatError",
    "UnsupportedFormatError",
]


class FaceioError(ValueError):
    """Base class of faceio's data errors.

    Parameters
    ----------
    message : str
        What is wrong, naming the file, byte offset and chunk or field where known.
    path : str, optional
        The file the error is about, if any.
    offset : int, optional
        The byte offset of the problem (in the file, or in the payload for syntax errors).
    """

    def __init__(self, message: str, path: str | None = None, offset: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset


class PngFormatError(FaceioError):
    """A PNG is malformed: signature, chunk bounds, CRC, text chunk layout or a size limit."""


class MetadataSyntaxError(FaceioError):
    """A faceswap payload is not a valid Python literal (or a TIFF description not valid JSON)."""


class MetadataValueError(FaceioError):
    """A header to be written holds a value that no reader could read back.

    For example a numpy array, a set or a dataclass object inside the dict, which ``str()``
    would write as text that is not a Python literal. The message names the key path.
    """


class TiffFormatError(FaceioError):
    """A TIFF is malformed, or in a form faceio does not rewrite (big-endian, BigTIFF, ...)."""


class MetadataNotFound(FaceioError, AssertionError):  # noqa: N818 - name fixed by the API
    """The file is well formed but carries no faceswap metadata.

    Also an :class:`AssertionError`: faceswap callers catch that to mean "not a faceswap face".
    """


class HeaderSchemaError(FaceioError):
    """A payload parsed, but does not have the fields of a face header (``PNGHeader``)."""


class UnsupportedFormatError(FaceioError):
    """An image whose format faceio cannot read the size of, and OpenCV cannot decode."""
