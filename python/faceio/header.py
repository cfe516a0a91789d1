"""The face header: the alignment data faceswap stores in each extracted face PNG.

The dataclasses mirror faceswap's ``PNGHeader`` family field for field; the field order is part of
the byte format, because ``str(header.to_dict())`` is what goes into the PNG (COMPAT.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, Protocol

from faceio.errors import HeaderSchemaError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# numpy is imported where arrays are made, not here: `import faceio` and a metadata-only scan
# (plain dicts) never load it, which keeps their start-up at a fifth.

__all__ = [
    "HeaderClasses",
    "MaskAlignmentsFile",
    "PNGAlignments",
    "PNGHeader",
    "PNGSource",
    "SupportsToDict",
    "get_header_classes",
    "set_header_classes",
]

CenteringType = Literal["face", "head", "legacy"]


class SupportsToDict(Protocol):
    """A header object: anything whose ``to_dict()`` gives the header's plain-Python form.

    faceio's :class:`PNGHeader` is one; so are faceswap's own header classes.
    """

    def to_dict(self) -> dict[str, Any]:
        """Return the plain-Python form (what ``str()`` turns into the payload)."""
        ...


def _check_keys(
    data: Any, required: tuple[str, ...], optional: tuple[str, ...], where: str
) -> None:
    """Raise :class:`HeaderSchemaError` unless ``data`` is a dict with exactly the given keys."""
    if not isinstance(data, dict):
        raise HeaderSchemaError(f"{where}: expected a dict, got {type(data).__name__}")
    keys = data.keys()
    missing = [k for k in required if k not in keys]
    if missing:
        raise HeaderSchemaError(f"{where}: missing required key(s) {missing}")
    if len(keys) > len(required):
        unknown = [k for k in keys if k not in required and k not in optional]
        if unknown:
            raise HeaderSchemaError(f"{where}: unknown key(s) {unknown}")


def _float32(value: Any, where: str) -> npt.NDArray[np.float32]:
    """Convert a nested list of numbers to a float32 array, naming the field on failure."""
    import numpy as np

    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise HeaderSchemaError(f"{where}: not a numeric array ({err})") from None


def _arrays_equal(a: Any, b: Any) -> bool:
    import numpy as np

    # NaN equals NaN here, so that from_dict(h.to_dict()) == h holds for any header.
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # non-numeric arrays cannot hold NaN
        return bool(np.array_equal(a, b))


@dataclass(eq=False, slots=True)
class MaskAlignmentsFile:
    """A stored mask of a face.

    Parameters
    ----------
    mask : bytes
        The zlib-compressed uint8 mask of shape ``(stored_size, stored_size)``.
    affine_matrix : numpy.ndarray
        float32 ``(2, 3)`` matrix that maps the mask onto its source frame.
    interpolator : int
        The OpenCV interpolator to use when warping the mask.
    stored_size : int
        Height and width of the stored mask.
    stored_centering : {"face", "head", "legacy"}
        The centering the mask was stored at.
    """

    mask: bytes
    affine_matrix: npt.NDArray[np.float32]
    interpolator: int
    stored_size: int
    stored_centering: CenteringType

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, keys in field order, arrays as nested lists."""
        return {
            "mask": self.mask,
            "affine_matrix": self.affine_matrix.tolist(),
            "interpolator": self.interpolator,
            "stored_size": self.stored_size,
            "stored_centering": self.stored_centering,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "mask") -> MaskAlignmentsFile:
        """Build from the plain-Python form; unknown or missing keys raise ``ValueError``."""
        _check_keys(data, _MASK_FIELDS, (), where)
        return cls(
            mask=data["mask"],
            affine_matrix=_float32(data["affine_matrix"], f"{where}.affine_matrix"),
            interpolator=data["interpolator"],
            stored_size=data["stored_size"],
            stored_centering=data["stored_centering"],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskAlignmentsFile):
            return NotImplemented
        return (
            self.mask == other.mask
            and _arrays_equal(self.affine_matrix, other.affine_matrix)
            and self.interpolator == other.interpolator
            and self.stored_size == other.stored_size
            and self.stored_centering == other.stored_centering
        )


@dataclass(eq=False, slots=True)
class PNGAlignments:
    """A face's alignment data.

    Parameters
    ----------
    x, y, w, h : int
        The face's bounding box in the source frame.
    landmarks_xy : numpy.ndarray
        float32 ``(N, 2)`` landmark coordinates.
    mask : dict[str, MaskAlignmentsFile]
        Stored masks by name.
    identity : dict[str, numpy.ndarray]
        float32 identity vectors by name.
    """

    x: int
    y: int
    w: int
    h: int
    landmarks_xy: npt.NDArray[np.float32]
    mask: dict[str, MaskAlignmentsFile] = field(default_factory=dict)
    identity: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, keys in field order, arrays as nested lists."""
        return {
            "x": self.x,
            "y": self.y,
            "w": self.w,
            "h": self.h,
            "landmarks_xy": self.landmarks_xy.tolist(),
            "mask": {k: v.to_dict() for k, v in self.mask.items()},
            "identity": {k: v.tolist() for k, v in self.identity.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "alignments") -> PNGAlignments:
        """Build from the plain-Python form; unknown or missing keys raise ``ValueError``."""
        _check_keys(data, _ALIGNMENTS_REQUIRED, ("mask", "identity"), where)
        masks = data.get("mask") or {}
        identity = data.get("identity") or {}
        if not isinstance(masks, dict) or not isinstance(identity, dict):
            raise HeaderSchemaError(f"{where}: 'mask' and 'identity' must be dicts")
        return cls(
            x=data["x"],
            y=data["y"],
            w=data["w"],
            h=data["h"],
            landmarks_xy=_float32(data["landmarks_xy"], f"{where}.landmarks_xy"),
            mask={
                k: MaskAlignmentsFile.from_dict(v, f"{where}.mask[{k!r}]") for k, v in masks.items()
            },
            identity={k: _float32(v, f"{where}.identity[{k!r}]") for k, v in identity.items()},
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PNGAlignments):
            return NotImplemented
        return (
            (self.x, self.y, self.w, self.h) == (other.x, other.y, other.w, other.h)
            and _arrays_equal(self.landmarks_xy, other.landmarks_xy)
            and self.mask == other.mask
            and self.identity.keys() == other.identity.keys()
            and all(_arrays_equal(v, other.identity[k]) for k, v in self.identity.items())
        )


@dataclass(slots=True)
class PNGSource:
    """Where a face came from.

    Parameters
    ----------
    alignments_version : float
        Version of the alignments file format the face was extracted with.
    original_filename : str
        The face's file name when it was extracted.
    face_index : int
        Index of the face within its source frame.
    source_filename : str
        The frame (or video) file name the face was extracted from.
    source_is_video : bool
        Whether the source was a video.
    source_frame_dims : tuple[int, int]
        ``(height, width)`` of the source frame.
    """

    alignments_version: float
    original_filename: str
    face_index: int
    source_filename: str
    source_is_video: bool
    source_frame_dims: tuple[int, int] | None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, keys in field order, tuples as lists."""
        dims = self.source_frame_dims
        return {
            "alignments_version": self.alignments_version,
            "original_filename": self.original_filename,
            "face_index": self.face_index,
            "source_filename": self.source_filename,
            "source_is_video": self.source_is_video,
            "source_frame_dims": None if dims is None else list(dims),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "source") -> PNGSource:
        """Build from the plain-Python form; unknown or missing keys raise ``ValueError``."""
        _check_keys(data, _SOURCE_FIELDS, (), where)
        dims = data["source_frame_dims"]
        return cls(
            alignments_version=data["alignments_version"],
            original_filename=data["original_filename"],
            face_index=data["face_index"],
            source_filename=data["source_filename"],
            source_is_video=data["source_is_video"],
            source_frame_dims=None if dims is None else tuple(dims),
        )


@dataclass(eq=False, slots=True)
class PNGHeader:
    """The whole faceswap header of an extracted face.

    Parameters
    ----------
    alignments : PNGAlignments
        The face's alignment data.
    source : PNGSource
        Where the face came from.
    """

    alignments: PNGAlignments
    source: PNGSource

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form: what ``str()`` turns into the PNG payload."""
        return {"alignments": self.alignments.to_dict(), "source": self.source.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PNGHeader:
        """Build from the plain-Python form.

        Raises
        ------
        ValueError
            (:class:`faceio.HeaderSchemaError`) for unknown or missing keys or non-numeric
            arrays, naming the field.
        """
        _check_keys(data, ("alignments", "source"), (), "header")
        return cls(
            alignments=PNGAlignments.from_dict(data["alignments"]),
            source=PNGSource.from_dict(data["source"]),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PNGHeader):
            return NotImplemented
        return self.alignments == other.alignments and self.source == other.source


_MASK_FIELDS = tuple(f.name for f in fields(MaskAlignmentsFile))
_ALIGNMENTS_REQUIRED = ("x", "y", "w", "h", "landmarks_xy")
_SOURCE_FIELDS = tuple(f.name for f in fields(PNGSource))


# numpy's array type and float32 dtype, looked up on first use: importing faceio does not
# import numpy.
_NUMPY: tuple[Any, Any] | None = None


def _array(spec: tuple[bytearray, tuple[int, ...]]) -> npt.NDArray[np.float32]:
    """Wrap float32 bytes from the Rust core as a writable array of the given shape."""
    global _NUMPY
    if _NUMPY is None:
        import numpy as np

        _NUMPY = (np.ndarray, np.dtype(np.float32))
    ndarray, float32 = _NUMPY
    data, shape = spec
    # One constructor over the buffer costs a third of frombuffer + reshape; a batch of
    # headers builds four arrays per face.
    return ndarray(shape, float32, data)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class HeaderClasses:
    """The classes that faceio's readers build face headers from.

    Every field defaults to faceio's own class. A host application (faceswap, for one) sets its
    own with :func:`set_header_classes`; each class is called by keyword with the field names of
    faceio's class of the same role.

    Parameters
    ----------
    header : type
        Built as ``header(alignments=..., source=...)``.
    alignments : type
        Built as ``alignments(x=, y=, w=, h=, landmarks_xy=, mask=, identity=)``.
    source : type
        Built as ``source(alignments_version=, original_filename=, face_index=,
        source_filename=, source_is_video=, source_frame_dims=)``.
    mask : type
        Built as ``mask(mask=, affine_matrix=, interpolator=, stored_size=, stored_centering=)``.
    """

    header: type[Any] = PNGHeader
    alignments: type[Any] = PNGAlignments
    source: type[Any] = PNGSource
    mask: type[Any] = MaskAlignmentsFile


_FACEIO_CLASSES = HeaderClasses()
# The classes the readers build; replaced whole (never mutated), so a reader on another thread
# sees either the old set or the new one.
_classes = _FACEIO_CLASSES


def _check_host_class(cls: Any, own: type[Any], role: str) -> None:
    """Refuse a class that cannot be built by keyword with the fields of faceio's ``own``."""
    import inspect

    if not isinstance(cls, type):
        raise TypeError(f"set_header_classes: {role} must be a class, not {cls!r}")
    names = [f.name for f in fields(own)]
    try:
        inspect.signature(cls).bind(**dict.fromkeys(names))
    except TypeError as err:
        raise TypeError(
            f"set_header_classes: {role} class {cls.__qualname__} cannot be built with the "
            f"keywords {names} ({err})"
        ) from None
    except ValueError:  # no signature to inspect (a builtin): trust it
        pass


def set_header_classes(
    header: type[Any] | None = None,
    alignments: type[Any] | None = None,
    source: type[Any] | None = None,
    mask: type[Any] | None = None,
) -> HeaderClasses:
    """Make every reader build face headers from the given classes (process-wide).

    ``png_read_meta``, ``read_image(with_metadata=True)``, ``read_image_batch(with_metadata=True)``
    and ``FacesLoader`` then return ``header`` objects whose parts are ``alignments``, ``source``
    and ``mask`` objects, built by keyword from the fields the Rust core parsed (no Python dict
    in between). A role left as ``None`` gets faceio's own class; calling it with no argument
    restores faceio's classes. The writers accept such objects through their ``to_dict()``.
    ``faceio.faceswap`` calls this with faceswap's classes when it is imported.

    Parameters
    ----------
    header, alignments, source, mask : type, optional
        Replacements for :class:`PNGHeader`, :class:`PNGAlignments`, :class:`PNGSource` and
        :class:`MaskAlignmentsFile`; each must accept the same field names as keywords.

    Returns
    -------
    HeaderClasses
        The classes in force before the call (pass its fields back to restore them).

    Raises
    ------
    TypeError
        If a class cannot be called with its role's field names as keywords.
    """
    global _classes
    chosen = HeaderClasses(
        header=header or PNGHeader,
        alignments=alignments or PNGAlignments,
        source=source or PNGSource,
        mask=mask or MaskAlignmentsFile,
    )
    for role in ("header", "alignments", "source", "mask"):
        _check_host_class(getattr(chosen, role), getattr(_FACEIO_CLASSES, role), role)
    previous, _classes = _classes, chosen
    return previous


def get_header_classes() -> HeaderClasses:
    """Return the classes the readers build face headers from (see :func:`set_header_classes`)."""
    return _classes


def is_header_object(value: object) -> bool:
    """Whether ``value`` is a face header object: faceio's, or of the class set in its place."""
    return isinstance(value, (PNGHeader, _classes.header))


def header_from_parts(parts: tuple[Any, ...]) -> Any:
    """Build a header from the pieces ``_core.png_read_face`` returns for a canonical payload.

    The core has already checked the keys (the same rules as :meth:`PNGHeader.from_dict`) and
    packed the arrays as float32, so this only assembles the objects, of the classes in force
    (:func:`set_header_classes`), by keyword.
    """
    c = _classes
    mask_cls = c.mask
    x, y, w, h, landmarks, masks, identity, source = parts
    version, original, face_index, source_name, is_video, dims = source
    return c.header(
        alignments=c.alignments(
            x=x,
            y=y,
            w=w,
            h=h,
            landmarks_xy=_array(landmarks),
            mask={
                name: mask_cls(
                    mask=mask,
                    affine_matrix=_array(affine),
                    interpolator=interp,
                    stored_size=size,
                    stored_centering=centering,
                )
                for name, mask, affine, interp, size, centering in masks
            },
            identity={name: _array(vector) for name, vector in identity},
        ),
        source=c.source(
            alignments_version=version,
            original_filename=original,
            face_index=face_index,
            source_filename=source_name,
            source_is_video=is_video,
            source_frame_dims=dims,
        ),
    )


def header_from_dict(data: dict[str, Any]) -> Any:
    """Build a header object of the classes in force from a face header's plain-Python form.

    The dict is checked by :meth:`PNGHeader.from_dict` (a :class:`HeaderSchemaError` names the
    bad field) and converted field by field when other classes are set.
    """
    own = PNGHeader.from_dict(data)
    c = _classes
    if c is _FACEIO_CLASSES:
        return own
    al, src = own.alignments, own.source
    return c.header(
        alignments=c.alignments(
            x=al.x,
            y=al.y,
            w=al.w,
            h=al.h,
            landmarks_xy=al.landmarks_xy,
            mask={
                name: c.mask(**{f.name: getattr(m, f.name) for f in fields(m)})
                for name, m in al.mask.items()
            },
            identity=al.identity,
        ),
        source=c.source(**{f.name: getattr(src, f.name) for f in fields(src)}),
    )


def is_face_header(data: object) -> bool:
    """Whether a parsed payload has the shape of a face header (rather than other data)."""
    return isinstance(data, dict) and len(data) == 2 and "alignments" in data and "source" in data
