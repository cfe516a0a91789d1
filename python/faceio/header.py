"""The face header: the alignment data faceswap stores in each extracted face PNG.

The dataclasses mirror faceswap's ``PNGHeader`` family field for field; the field order is part of
the byte format, because ``str(header.to_dict())`` is what goes into the PNG (docs/format.md,
"The face header"). The fields are defined once, in the Rust core's schema (rust/face.rs).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from faceio import _core
from faceio.errors import HeaderSchemaError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from typing_extensions import Self

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


# The schema, from the Rust core (rust/face.rs): per class (role, faceio's class name, fields),
# each field as (name, kind, required, index of its nested class or None). It is the one
# definition of the fields: the dataclasses below must list the same names in the same order
# (tests/test_header.py checks it), and their to_dict, from_dict and == follow each field's kind.
_SCHEMA: tuple[tuple[str, str, tuple[tuple[str, str, bool, int | None], ...]], ...] = (
    _core.HEADER_SCHEMA
)
_HEADER = 0
_ROLE_INDEX = {role: index for index, (role, _, _) in enumerate(_SCHEMA)}


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
        # A value beyond float32's range becomes ±inf, as the core's fast path makes it; numpy
        # warns of it, which under -W error would escape as a RuntimeWarning.
        with np.errstate(over="ignore"):
            return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as err:
        raise HeaderSchemaError(f"{where}: not a numeric array ({err})") from None


def _arrays_equal(a: Any, b: Any) -> bool:
    import numpy as np

    # NaN equals NaN here, so that from_dict(h.to_dict()) == h holds for any header.
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # non-numeric arrays cannot hold NaN
        return bool(np.array_equal(a, b))


def _build(index: int, data: Any, where: str, classes: tuple[type[Any], ...]) -> Any:
    """Build the object of schema class ``index`` from its plain-Python form, by keyword.

    Unknown or missing keys, and values that do not fit a field's kind, raise
    :class:`HeaderSchemaError` naming the field; ``classes`` gives the class of each role.
    """
    fields_ = _SCHEMA[index][2]
    required = tuple(name for name, _, needed, _ in fields_ if needed)
    optional = tuple(name for name, _, needed, _ in fields_ if not needed)
    _check_keys(data, required, optional, where)
    kwargs = {}
    for name, kind, _, sub in fields_:
        if name in data:
            at = name if index == _HEADER else f"{where}.{name}"
            kwargs[name] = _from_plain(kind, sub, data[name], at, classes)
    return classes[index](**kwargs)


def _from_plain(
    kind: str, sub: int | None, value: Any, where: str, classes: tuple[type[Any], ...]
) -> Any:
    """One field's value from its plain form, as the field's kind says (see rust/face.rs)."""
    if kind == "array":
        return _float32(value, where)
    if kind == "dims":
        if value is None:
            return None
        try:
            return tuple(value)
        except TypeError:
            raise HeaderSchemaError(f"{where}: expected a list of ints or None") from None
    if kind == "object" and sub is not None:
        return _build(sub, value, where, classes)
    if kind in ("objects", "arrays"):
        entries = value or {}
        if not isinstance(entries, dict):
            raise HeaderSchemaError(f"{where}: expected a dict, got {type(value).__name__}")
        if kind == "arrays":
            return {k: _float32(v, f"{where}[{k!r}]") for k, v in entries.items()}
        if sub is not None:
            return {k: _build(sub, v, f"{where}[{k!r}]", classes) for k, v in entries.items()}
    return value


def _to_plain(kind: str, value: Any) -> Any:
    """One field's plain-Python form: arrays as nested lists, objects as dicts, dims a list."""
    if kind == "array":
        return value.tolist()
    if kind == "dims":
        return None if value is None else list(value)
    if kind == "object":
        return value.to_dict()
    if kind == "objects":
        return {k: v.to_dict() for k, v in value.items()}
    if kind == "arrays":
        return {k: v.tolist() for k, v in value.items()}
    return value


def _same(kind: str, a: Any, b: Any) -> bool:
    """Whether two values of a field are equal (arrays element-wise, NaN equal to NaN)."""
    if kind == "array":
        return _arrays_equal(a, b)
    if kind == "arrays":
        return bool(a.keys() == b.keys() and all(_arrays_equal(v, b[k]) for k, v in a.items()))
    return bool(a == b)


class _HeaderPart:
    """``to_dict``, ``from_dict`` and ``==`` of the header classes, from the schema."""

    __slots__ = ()
    _role: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form, keys in field order, arrays as nested lists."""
        fields_ = _SCHEMA[_ROLE_INDEX[self._role]][2]
        return {name: _to_plain(kind, getattr(self, name)) for name, kind, _, _ in fields_}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str | None = None) -> Self:
        """Build from the plain-Python form.

        Raises
        ------
        ValueError
            (:class:`faceio.HeaderSchemaError`) for unknown or missing keys or values that do
            not fit a field (a non-numeric array, say), naming the field.
        """
        index = _ROLE_INDEX[cls._role]
        classes = tuple(
            cls if i == index else own for i, own in enumerate(_FACEIO_CLASSES.as_tuple())
        )
        built: Self = _build(index, data, where or cls._role, classes)
        return built

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        fields_ = _SCHEMA[_ROLE_INDEX[self._role]][2]
        return all(
            _same(kind, getattr(self, name), getattr(other, name)) for name, kind, _, _ in fields_
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(eq=False, slots=True)
class MaskAlignmentsFile(_HeaderPart):
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

    _role: ClassVar[str] = "mask"

    mask: bytes
    affine_matrix: npt.NDArray[np.float32]
    interpolator: int
    stored_size: int
    stored_centering: CenteringType


@dataclass(eq=False, slots=True)
class PNGAlignments(_HeaderPart):
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

    _role: ClassVar[str] = "alignments"

    x: int
    y: int
    w: int
    h: int
    landmarks_xy: npt.NDArray[np.float32]
    mask: dict[str, MaskAlignmentsFile] = field(default_factory=dict)
    identity: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class PNGSource(_HeaderPart):
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

    _role: ClassVar[str] = "source"

    alignments_version: float
    original_filename: str
    face_index: int
    source_filename: str
    source_is_video: bool
    source_frame_dims: tuple[int, int] | None


@dataclass(eq=False, slots=True)
class PNGHeader(_HeaderPart):
    """The whole faceswap header of an extracted face.

    Parameters
    ----------
    alignments : PNGAlignments
        The face's alignment data.
    source : PNGSource
        Where the face came from.
    """

    _role: ClassVar[str] = "header"

    alignments: PNGAlignments
    source: PNGSource


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

    def as_tuple(self) -> tuple[type[Any], ...]:
        """Return the classes in the order of the core's schema (how the core takes them)."""
        return tuple(getattr(self, role) for role, _, _ in _SCHEMA)


_FACEIO_CLASSES = HeaderClasses()
# The classes the readers build, and the same in schema order; replaced whole (never mutated),
# so a reader on another thread sees either the old set or the new one.
_classes = _FACEIO_CLASSES
_classes_tuple = _FACEIO_CLASSES.as_tuple()


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
    global _classes, _classes_tuple
    chosen = HeaderClasses(
        header=header or PNGHeader,
        alignments=alignments or PNGAlignments,
        source=source or PNGSource,
        mask=mask or MaskAlignmentsFile,
    )
    for role in ("header", "alignments", "source", "mask"):
        _check_host_class(getattr(chosen, role), getattr(_FACEIO_CLASSES, role), role)
    previous, _classes, _classes_tuple = _classes, chosen, chosen.as_tuple()
    return previous


def get_header_classes() -> HeaderClasses:
    """Return the classes the readers build face headers from (see :func:`set_header_classes`)."""
    return _classes


def is_header_object(value: object) -> bool:
    """Whether ``value`` is a face header object: faceio's, or of the class set in its place."""
    return isinstance(value, (PNGHeader, _classes.header))


def header_classes_tuple() -> tuple[type[Any], ...]:
    """Return the classes in force, in the order of the core's schema (what ``_core`` takes)."""
    return _classes_tuple


def header_from_dict(data: dict[str, Any]) -> Any:
    """Build a header object of the classes in force from a face header's plain-Python form.

    Raises :class:`HeaderSchemaError` naming the field that does not fit.
    """
    return _build(_HEADER, data, "header", _classes_tuple)


def is_face_header(data: object) -> bool:
    """Whether a parsed payload has the shape of a face header (rather than other data)."""
    return isinstance(data, dict) and len(data) == 2 and "alignments" in data and "source" in data
