"""Property test of the table's face columns: face headers with one field replaced, removed or
added, read by read_meta_table, against an independent reading of docs/table.md's rules (a row
of values, or a HeaderSchemaError for a header that does not fit the columns)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faceio
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header

pytest.importorskip("pyarrow")

_EXAMPLES = int(os.environ.get("FACEIO_FUZZ_EXAMPLES", "150"))
_FUZZ = settings(
    max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Values a field is replaced with: every kind a column takes, and kinds none does.
POOL: list[Any] = [
    None,
    0,
    -3,
    2**70,
    1.5,
    float("nan"),
    True,
    "face",
    "",
    b"x",
    [],
    [1, 2],
    [[1, 2], [3, 4]],
    [[1, 2, 3]],
    [[1, 2], [3]],
    [[True, 2.5]],
    [2**70, 1],
    (1080, 1920),
    (1, 2.0),
    {},
    {"a": 1},
    {"n": [0.5, 2]},
]

_IMAGE = encode_png(np.random.default_rng(0), 8, 8)


def _int(v: Any) -> bool:
    return type(v) is int and -(2**63) <= v < 2**63


def _num(v: Any) -> bool:
    return type(v) in (float, bool) or _int(v)


def _array(v: Any) -> tuple[int, ...] | None:
    """The shape of a non-empty numeric 1-D or regular 2-D list (or tuple), else None."""
    if not isinstance(v, (list, tuple)) or not v:
        return None
    if all(_num(x) for x in v):
        return (len(v),)
    rows = [r for r in v if isinstance(r, (list, tuple)) and r and all(_num(x) for x in r)]
    if len(rows) == len(v) and len({len(r) for r in rows}) == 1:
        return (len(v), len(rows[0]))
    return None


def _named(v: Any, ok: Any) -> bool:
    return v is None or (
        isinstance(v, dict) and all(type(k) is str and ok(x) for k, x in v.items())
    )


def _mask_ok(m: Any) -> bool:
    fields = {"mask", "affine_matrix", "interpolator", "stored_size", "stored_centering"}
    return (
        isinstance(m, dict)
        and set(m) == fields
        and _array(m["affine_matrix"]) is not None
        and _int(m["stored_size"])
        and type(m["stored_centering"]) is str
    )


def _fits(d: Any) -> bool:
    """Whether a payload fits the face columns, by docs/table.md and format.md's header."""
    if not isinstance(d, dict) or set(d) != {"alignments", "source"}:
        return False
    al, src = d["alignments"], d["source"]
    box = {"x", "y", "w", "h", "landmarks_xy"}
    source = {"alignments_version", "original_filename", "face_index", "source_filename"}
    source |= {"source_is_video", "source_frame_dims"}
    if not (isinstance(al, dict) and isinstance(src, dict) and set(src) == source):
        return False
    if not (box <= set(al) <= box | {"mask", "identity"}):
        return False
    dims = src["source_frame_dims"]
    return (
        all(_int(al[k]) for k in "xywh")
        and (_array(al["landmarks_xy"]) or (0,))[1:] == (2,)
        and _named(al.get("mask"), _mask_ok)
        and _named(al.get("identity"), lambda a: _array(a) is not None)
        and (type(src["alignments_version"]) is float or _int(src["alignments_version"]))
        and type(src["original_filename"]) is str
        and type(src["source_filename"]) is str
        and _int(src["face_index"])
        and type(src["source_is_video"]) is bool
        and (
            dims is None
            or (isinstance(dims, (list, tuple)) and len(dims) == 2 and all(map(_int, dims)))
        )
    )


def _values(d: dict[str, Any]) -> dict[str, Any]:
    al, src = d["alignments"], d["source"]
    masks = al.get("mask") or {}
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    dims = src["source_frame_dims"]
    return {
        **{k: al[k] for k in "xywh"},
        "landmarks_xy": [[f32(x), f32(y)] for x, y in al["landmarks_xy"]],
        "mask_names": list(masks),
        "mask_stored_sizes": [m["stored_size"] for m in masks.values()],
        "mask_stored_centerings": [m["stored_centering"] for m in masks.values()],
        "identity_names": list(al.get("identity") or {}),
        "alignments_version": float(src["alignments_version"]),
        "original_filename": src["original_filename"],
        "face_index": src["face_index"],
        "source_filename": src["source_filename"],
        "source_is_video": src["source_is_video"],
        "source_frame_dims": None if dims is None else list(dims),
    }


def _slots(d: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Every (dict, key) of a header down to a mask's fields and an identity's vectors."""
    out = [(d, k) for k in d]
    for part in ("alignments", "source"):
        out += [(d[part], k) for k in d[part]]
    for name in ("mask", "identity"):
        entries = d["alignments"].get(name) or {}
        out += [(entries, k) for k in entries]
        if name == "mask":
            out += [(m, k) for m in entries.values() for k in m]
    return out


@_FUZZ
@given(st.data())
def test_face_columns_follow_the_documented_rules(
    tmp_path_factory: Any, data: st.DataObject
) -> None:
    seed = data.draw(st.integers(0, 50))
    header = make_header(np.random.default_rng(seed), n_masks=seed % 3, identity_len=4 * (seed % 2))
    d = header.to_dict()
    where, key = data.draw(st.sampled_from(_slots(d)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "replace":
        where[key] = data.draw(st.sampled_from(POOL))
    elif action == "delete":
        del where[key]
    else:
        where["extra" if data.draw(st.booleans()) else key + "_"] = 1
    payload = str(d).encode()
    path = Path(tmp_path_factory.mktemp("fuzz")) / "face.png"
    path.write_bytes(insert_before_idat(_IMAGE, itxt_rule(payload)))
    (row,) = faceio.read_meta_table([path]).to_pylist()
    assert (row["width"], row["height"], row["header_bytes"]) == (8, 8, len(payload))
    if not _fits(d):
        assert row["error_type"] == "HeaderSchemaError", payload
        return
    assert row["error_type"] is None, row["error"]
    got = {k: row[k] for k in _values(d)}
    assert _same_nan(got) == _same_nan(_values(d)), payload


def _same_nan(v: Any) -> Any:
    """The value with each NaN made a marker, so that NaN compares equal to NaN."""
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, dict):
        return {k: _same_nan(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_same_nan(x) for x in v]
    return v
