"""Stand-in for faceswap's ``lib.align.objects``: header dataclasses on a to/from-dict base.

Written for faceio's tests from the published field names and behaviour: ``to_dict`` turns
arrays into lists, nested objects into dicts and tuples into lists; ``from_dict`` checks the
keys and turns lists back into float32 arrays, tuples and nested objects.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, SerialBase):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


@dataclass
class SerialBase:
    """Base with ``to_dict`` and ``from_dict``, like faceswap's ``DataclassDict``."""

    # field name -> how to rebuild it from its plain form
    _rebuild: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        if not set(data) <= names or not required <= set(data):
            raise ValueError(f"{cls.__name__}: keys {sorted(data)} do not fit {sorted(names)}")
        kwargs = {}
        for name, value in data.items():
            rebuild = cls._rebuild.get(name)
            kwargs[name] = value if rebuild is None else rebuild(value)
        return cls(**kwargs)


def _float32(value: Any) -> np.ndarray:
    return np.array(value, dtype=np.float32)


@dataclass
class MaskAlignmentsFile(SerialBase):
    mask: bytes
    affine_matrix: np.ndarray
    interpolator: int
    stored_size: int
    stored_centering: str

    _rebuild: ClassVar[dict[str, Any]] = {"affine_matrix": _float32}


@dataclass
class PNGAlignments(SerialBase):
    x: int
    y: int
    w: int
    h: int
    landmarks_xy: np.ndarray
    mask: dict[str, MaskAlignmentsFile] = field(default_factory=dict)
    identity: dict[str, np.ndarray] = field(default_factory=dict)

    _rebuild: ClassVar[dict[str, Any]] = {
        "landmarks_xy": _float32,
        "mask": lambda masks: {k: MaskAlignmentsFile.from_dict(v) for k, v in masks.items()},
        "identity": lambda ids: {k: _float32(v) for k, v in ids.items()},
    }


@dataclass
class PNGSource(SerialBase):
    alignments_version: float
    original_filename: str
    face_index: int
    source_filename: str
    source_is_video: bool
    source_frame_dims: tuple[int, int]

    _rebuild: ClassVar[dict[str, Any]] = {"source_frame_dims": tuple}


@dataclass
class PNGHeader(SerialBase):
    alignments: PNGAlignments
    source: PNGSource

    _rebuild: ClassVar[dict[str, Any]] = {
        "alignments": PNGAlignments.from_dict,
        "source": PNGSource.from_dict,
    }
