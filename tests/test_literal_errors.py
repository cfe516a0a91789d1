"""Payloads that parse but that Python cannot build, through every reader.

An unknown ``\\N{...}`` name, a decimal int over Python's digit limit, an unhashable dict key:
``ast.literal_eval`` raises ``SyntaxError``, ``ValueError`` or ``TypeError`` for these. faceio
raises ``MetadataSyntaxError`` from every reader, naming the file (when there is one) and the
payload offset of the value, with Python's own exception as its cause where there is one; the
batch readers report the file and go on.
"""

from __future__ import annotations

import ast
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import faceio
from faceio import MetadataSyntaxError
from faceio._core import parse_literal
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header

_HUGE = "7" * (sys.get_int_max_str_digits() + 1)


def _face_payload(field: str, literal: str) -> str:
    """A face header's payload whose ``source`` field ``field`` holds the text ``literal``."""
    data = make_header(np.random.default_rng(3), n_masks=1, n_landmarks=4).to_dict()
    data["source"][field] = "@MARK@"
    return str(data).replace("'@MARK@'", literal)


# (payload, the bad value's text in it, the type of Python's exception chained, if any)
CASES = {
    "face header, unknown character name": (
        _face_payload("original_filename", "'\\N{NO SUCH CHARACTER}'"),
        "'\\N{NO SUCH CHARACTER}'",
        UnicodeDecodeError,
    ),
    "face header, int over the digit limit": (
        _face_payload("face_index", _HUGE),
        _HUGE,
        ValueError,
    ),
    "plain dict, unknown character name": (
        "{'x': [1, 'a', 'b' '\\N{NOPE}']}",
        "'b' '\\N{NOPE}'",
        UnicodeDecodeError,
    ),
    "plain dict, negative int over the digit limit": (
        f"{{'x': (1, -{_HUGE})}}",
        _HUGE,
        ValueError,
    ),
    "plain dict, unhashable key": ("{'x': 1, (1, [2]): 3}", "(1, [2])", None),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, int, type[BaseException] | None]:
    """A bad payload, the offset of its bad value, and the cause's type."""
    payload, bad, cause = CASES[request.param]
    # Python refuses each of these payloads (the premise of the tests).
    with pytest.raises((SyntaxError, ValueError, TypeError)):
        ast.literal_eval(payload)
    return payload, payload.index(bad), cause


def _png(payload: str, seed: int = 0) -> bytes:
    return insert_before_idat(
        encode_png(np.random.default_rng(seed)), itxt_rule(payload.encode("utf-8"))
    )


def _good_face(seed: int) -> str:
    return str(make_header(np.random.default_rng(seed), n_masks=1, n_landmarks=4).to_dict())


def check(
    err: BaseException, path: str | None, offset: int, cause: type[BaseException] | None
) -> None:
    """``err`` is a MetadataSyntaxError for ``path`` at ``offset``, chained to ``cause``."""
    assert isinstance(err, MetadataSyntaxError), repr(err)
    assert err.path == path
    assert err.offset == offset
    if path is not None:
        assert path in str(err)
    if cause is not None:
        chain: list[BaseException] = []
        link: BaseException | None = err
        while link is not None:
            chain.append(link)
            link = link.__cause__
        assert any(isinstance(e, cause) for e in chain), chain


def test_in_memory_readers(case: tuple[str, int, Any]) -> None:
    payload, offset, cause = case
    data = _png(payload)
    for read in (faceio.png_read_meta, faceio.read_png_meta):
        with pytest.raises(MetadataSyntaxError) as info:
            read(data)
        check(info.value, None, offset, cause)
    with pytest.raises(MetadataSyntaxError) as info:
        parse_literal(payload)
    check(info.value, None, offset, cause)


def test_file_readers_name_the_file(tmp_path: Path, case: tuple[str, int, Any]) -> None:
    payload, offset, cause = case
    path = tmp_path / "bad face.png"
    path.write_bytes(_png(payload))
    with pytest.raises(MetadataSyntaxError) as info:
        faceio.read_image_meta(path)
    check(info.value, str(path), offset, cause)
    with pytest.raises(MetadataSyntaxError) as info:
        faceio.read_image(str(path), raise_error=True, with_metadata=True)
    check(info.value, str(path), offset, cause)


def test_metadata_batch_collects_and_goes_on(tmp_path: Path, case: tuple[str, int, Any]) -> None:
    payload, offset, cause = case
    paths = []
    for i in range(40):  # past the first chunk of the batch reader
        path = tmp_path / f"face_{i:02d}.png"
        path.write_bytes(_png(payload if i in (1, 35) else _good_face(i), seed=i))
        paths.append(str(path))
    results = list(faceio.read_image_meta_batch(paths, errors="collect"))
    assert [p for p, _ in results] == paths
    for i, (path, result) in enumerate(results):
        if i in (1, 35):
            assert isinstance(result, Exception)
            check(result, path, offset, cause)
        else:
            assert isinstance(result, dict)
            assert result["itxt"] == ast.literal_eval(_good_face(i))
    # Raise mode: every file before the bad one, then its error naming it.
    seen = []
    with pytest.raises(MetadataSyntaxError) as info:
        for path, _ in faceio.read_image_meta_batch(paths):
            seen.append(path)
    assert seen == paths[:1]
    check(info.value, paths[1], offset, cause)


def test_pixel_batch_names_the_file(tmp_path: Path, case: tuple[str, int, Any]) -> None:
    payload, offset, cause = case
    paths = []
    for i, text in enumerate([_good_face(0), payload, _good_face(2)]):
        path = tmp_path / f"face_{i}.png"
        path.write_bytes(_png(text, seed=i))
        paths.append(str(path))
    with pytest.raises(MetadataSyntaxError) as info:
        faceio.read_image_batch(paths, with_metadata=True)
    check(info.value, paths[1], offset, cause)
    # Without metadata the payload is not looked at.
    assert faceio.read_image_batch(paths).shape == (3, 32, 32, 3)


def test_a_folder_of_damaged_payloads_never_stops_the_batch(tmp_path: Path) -> None:
    """Random damage to real payloads, some of it values Python cannot build: collect mode
    yields every file, each a dict or a faceio exception naming it, and agrees with the
    single-file reader file by file."""
    rng = random.Random(12)
    pieces = ["[", "]", "{", "}", ",", ":", "'", "\\N{NOPE}", "\\N{BULLET}", "[1]", "{2}", _HUGE]
    paths = []
    # Damage that parses but cannot be built, as well as random damage.
    unbuildable = [
        ("'original_filename': '", "'original_filename': '\\N{NOPE}"),
        ("'face_index': ", f"'face_index': {_HUGE}"),
        ("'identity': {", "'identity': {[1]: 2, "),
    ]
    for i in range(120):
        text = _good_face(i % 7)
        if i % 3 == 0:
            old, new = unbuildable[i // 3 % 3]
            text = text.replace(old, new, 1)  # the digits run on into the old index
        for _ in range(rng.randint(0, 3)):
            at = rng.randrange(len(text))
            text = text[:at] + rng.choice(pieces) + text[at + rng.randint(0, 3) :]
        path = tmp_path / f"face_{i:03d}.png"
        path.write_bytes(_png(text, seed=i))
        paths.append(str(path))
    results = list(faceio.read_image_meta_batch(paths, errors="collect"))
    assert [p for p, _ in results] == paths
    failed = 0
    for path, result in results:
        try:
            single: dict[str, Any] | Exception = faceio.read_image_meta(path)
        except faceio.FaceioError as err:
            single = err
        if isinstance(result, Exception):
            failed += 1
            assert isinstance(result, faceio.FaceioError) and result.path == path
            assert type(single) is type(result) and str(single) == str(result)
        else:
            assert result == single
    assert 0 < failed < len(paths)


@pytest.mark.parametrize("value", ["1e44", str(10**44), f"-{10**39}", "-3.5e38"])
def test_numbers_beyond_float32_read_as_infinity_on_every_path(value: str) -> None:
    # A float literal goes through the core's fast path, a big int through the dataclasses;
    # both give ±inf, and no warning (pytest turns warnings into errors).
    data = make_header(np.random.default_rng(1), n_masks=0, n_landmarks=2).to_dict()
    data["alignments"]["landmarks_xy"][1][0] = "@MARK@"
    header = faceio.png_read_meta(_png(str(data).replace("'@MARK@'", value)))
    assert isinstance(header, faceio.PNGHeader)
    assert header.alignments.landmarks_xy[1][0] == math.copysign(math.inf, float(value))
