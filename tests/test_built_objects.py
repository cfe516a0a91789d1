"""How payload objects are built (docs/format.md, "Reading"): same values, cheaper objects.

A payload is a literal: its containers hold only atomic values and each other, so they cannot
sit on a reference cycle and faceio untracks them from the cyclic GC; dict keys met before are
shared str objects. What each reader returns must still equal, type for type, what
``ast.literal_eval`` makes of the same text.
"""

from __future__ import annotations

import ast
import gc
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import faceio
from faceio._core import parse_literal
from tests.conftest import encode_png, make_header

_CONTAINERS = (dict, list, tuple, set)


def _containers(value: Any) -> list[Any]:
    """Every dict, list, tuple and set in ``value``, ``value`` included."""
    found: list[Any] = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _CONTAINERS):
            found.append(v)
            stack.extend(list(v.keys()) + list(v.values()) if isinstance(v, dict) else v)
    return found


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same exact type at every level (``1 == 1.0 == True`` is not enough)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(
            _same(k, kb) and _same(a[k], b[kb]) for k, kb in zip(a, b, strict=True)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


def _write_face(tmp_path: Path, name: str, payload: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(faceio.png_write_meta(encode_png(np.random.default_rng(1)), payload))
    return str(path)


# Every kind of container, nested; sets of atoms and of tuples; an empty one of each kind.
_MIXED = (
    b"{'a': [1.5, -2.0, [3, 4]], 'b': (1, 'x', (b'\\x00', None)), 'c': {1, 2.5, (1, 2)},"
    b" 'd': {'e': {'f': [[0.25, 0.5]]}, 'g': set(), 'h': [], 'i': (), 'j': {}},"
    b" 1: True, (1, 2): ..., 'k': 1+2j}"
)


def test_face_header_containers_untracked(tmp_path: Path) -> None:
    # A face header as faceswap writes it: str() of its dict.
    header = make_header(np.random.default_rng(3))
    text = str(header.to_dict()).encode("utf-8")
    path = _write_face(tmp_path, "face.png", text)
    expected = ast.literal_eval(text.decode("utf-8"))
    [(_, batch)] = list(faceio.read_image_meta_batch([path]))
    for meta in (faceio.read_image_meta(path), batch):
        assert _same(meta["itxt"], expected)
        found = _containers(meta)
        landmarks = meta["itxt"]["alignments"]["landmarks_xy"]
        assert landmarks in found and meta["itxt"]["alignments"] in found
        assert [c for c in found if gc.is_tracked(c)] == []


def test_every_container_kind_untracked(tmp_path: Path) -> None:
    text = _MIXED
    path = _write_face(tmp_path, "mixed.png", text)
    expected = ast.literal_eval(text.decode("utf-8"))
    got = [
        parse_literal(text),
        faceio.read_image_meta(path)["itxt"],
        next(iter(faceio.read_image_meta_batch([path])))[1]["itxt"],
    ]
    for value in got:
        assert _same(value, expected)
        found = _containers(value)
        assert {type(c) for c in found} == {dict, list, tuple, set}
        assert [c for c in found if gc.is_tracked(c)] == []


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=4).map(tuple)
            | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_generated_literals_same_and_untracked(value: Any) -> None:
    text = repr(value)
    got = parse_literal(text)
    assert _same(got, ast.literal_eval(text))
    assert [c for c in _containers(got) if gc.is_tracked(c)] == []


class _Holder:
    """A tracked object that can be weakly referenced."""

    items: list[Any]


def test_cycle_through_untracked_list_leaks_not_crashes(tmp_path: Path) -> None:
    # The documented trade: a cycle a caller makes through a header's list is not collected.
    path = _write_face(tmp_path, "face.png", b"{'xs': [1.0, 2.0]}")
    xs = faceio.read_image_meta(path)["itxt"]["xs"]
    holder = _Holder()
    holder.items = xs
    xs.append(holder)
    ref = weakref.ref(holder)
    del holder, xs
    gc.collect()
    leaked = ref()
    assert leaked is not None
    leaked.items.clear()  # broken by hand, it is freed by reference counting
    del leaked
    assert ref() is None


def test_tracked_result_holds_header(tmp_path: Path) -> None:
    # Objects the caller owns stay tracked: a list of results, and a copy of a header's list.
    path = _write_face(tmp_path, "face.png", b"{'xs': [[1.0], [2.0]]}")
    results = list(faceio.read_image_meta_batch([path]))
    assert gc.is_tracked(results)
    xs = results[0][1]["itxt"]["xs"]
    assert not gc.is_tracked(xs)
    assert gc.is_tracked(list(xs)) and gc.is_tracked(xs.copy())


def test_dict_keys_shared_between_payloads() -> None:
    text = "{'landmarks_xy': [1.0], 'clé': {'mask': 2}}".encode()
    first, second = parse_literal(text), parse_literal(text)
    assert _same(first, ast.literal_eval(text.decode("utf-8")))
    for a, b in zip(first, second, strict=True):
        assert a is b  # one str per key, handed out again
    assert next(iter(first["clé"])) is next(iter(second["clé"]))


def test_many_distinct_keys_and_odd_keys() -> None:
    # More keys than the cache holds, colliding and evicting; long, non-ASCII, escaped keys,
    # a lone surrogate (not shared: built the slow way), and non-str keys.
    keys: list[Any] = [f"k{i}" for i in range(2000)]
    keys += ["x" * 200, "\u00e9t\u00e9", "a\\nb", "\ud800", 5, 2.5, (1, "t"), b"by", None]
    text = "{" + ", ".join(f"{k!r}: {i}" for i, k in enumerate(keys)) + "}"
    for _ in range(2):
        got = parse_literal(text.encode("utf-8", "surrogatepass"))
        assert _same(got, ast.literal_eval(text))
        assert [c for c in _containers(got) if gc.is_tracked(c)] == []
