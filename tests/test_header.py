from __future__ import annotations

import numpy as np
import pytest

import faceio
from faceio import HeaderSchemaError, PNGAlignments, PNGHeader, PNGSource
from tests.conftest import make_header


def test_to_dict_is_plain_python_in_field_order(header: PNGHeader) -> None:
    d = header.to_dict()
    assert list(d) == ["alignments", "source"]
    assert list(d["alignments"]) == ["x", "y", "w", "h", "landmarks_xy", "mask", "identity"]
    assert list(d["source"]) == [
        "alignments_version",
        "original_filename",
        "face_index",
        "source_filename",
        "source_is_video",
        "source_frame_dims",
    ]
    mask = next(iter(d["alignments"]["mask"].values()))
    assert list(mask) == [
        "mask",
        "affine_matrix",
        "interpolator",
        "stored_size",
        "stored_centering",
    ]
    assert d["source"]["source_frame_dims"] == [1080, 1920]
    lm = d["alignments"]["landmarks_xy"]
    assert isinstance(lm, list) and isinstance(lm[0], list) and type(lm[0][0]) is float
    assert lm == header.alignments.landmarks_xy.tolist()
    assert type(d["alignments"]["identity"]["vggface2"][0]) is float


def test_round_trip_and_types(header: PNGHeader) -> None:
    back = PNGHeader.from_dict(header.to_dict())
    assert back == header
    assert back.alignments.landmarks_xy.dtype == np.float32
    assert back.alignments.landmarks_xy.shape == (68, 2)
    mask = next(iter(back.alignments.mask.values()))
    assert mask.affine_matrix.dtype == np.float32 and mask.affine_matrix.shape == (2, 3)
    assert back.alignments.identity["vggface2"].dtype == np.float32
    assert back.source.source_frame_dims == (1080, 1920)
    assert isinstance(back.source.source_frame_dims, tuple)


def test_equality_sees_array_differences(rng: np.random.Generator, header: PNGHeader) -> None:
    other = PNGHeader.from_dict(header.to_dict())
    other.alignments.landmarks_xy[0, 0] += 1
    assert other != header
    assert header != make_header(rng)


def test_defaults_for_mask_and_identity() -> None:
    a = PNGAlignments.from_dict({"x": 1, "y": 2, "w": 3, "h": 4, "landmarks_xy": [[0.0, 1.0]]})
    assert a.mask == {} and a.identity == {}


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d.update(extra=1), "unknown key"),
        (lambda d: d.pop("source"), "missing required key"),
        (lambda d: d["alignments"].pop("x"), "alignments: missing"),
        (lambda d: d["alignments"].update(bogus=2), "alignments: unknown"),
        (lambda d: d["source"].pop("face_index"), "source: missing"),
        (lambda d: d["alignments"].update(landmarks_xy="abc"), "landmarks_xy"),
        (lambda d: d["alignments"]["mask"]["mask_0"].pop("mask"), "mask['mask_0']"),
    ],
)
def test_from_dict_rejects_bad_keys(header: PNGHeader, mutate, needle: str) -> None:
    d = header.to_dict()
    mutate(d)
    with pytest.raises(ValueError) as info:
        PNGHeader.from_dict(d)
    assert isinstance(info.value, HeaderSchemaError)
    assert needle in str(info.value)


def test_source_dataclass_eq() -> None:
    s = PNGSource(2.4, "a.png", 0, "b.png", True, (10, 20))
    assert PNGSource.from_dict(s.to_dict()) == s


def test_dataclasses_follow_the_core_schema() -> None:
    """The schema is defined once, in the core: each dataclass lists the same fields, in order."""
    import dataclasses

    from faceio import _core

    assert [role for role, _, _ in _core.HEADER_SCHEMA] == [
        "header",
        "alignments",
        "source",
        "mask",
    ]
    for role, name, schema_fields in _core.HEADER_SCHEMA:
        cls = getattr(faceio, name)
        assert getattr(faceio.HeaderClasses(), role) is cls
        fields = dataclasses.fields(cls)
        assert [f.name for f in fields] == [f[0] for f in schema_fields], name
        required = [
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            for f in fields
        ]
        assert required == [f[2] for f in schema_fields], name
        for field_name, kind, _, nested in schema_fields:
            assert (nested is not None) == (kind in ("object", "objects")), field_name


def test_schema_errors_of_the_right_type() -> None:
    d = make_header(np.random.default_rng(3)).to_dict()
    d["source"]["source_frame_dims"] = 1080
    with pytest.raises(faceio.HeaderSchemaError, match=r"source\.source_frame_dims"):
        PNGHeader.from_dict(d)
    d = make_header(np.random.default_rng(3)).to_dict()
    d["alignments"]["landmarks_xy"] = [[10**400, 1]]
    with pytest.raises(faceio.HeaderSchemaError, match=r"alignments\.landmarks_xy"):
        PNGHeader.from_dict(d)
