"""Differential fuzzing of the payload parser against Python's own ``ast.literal_eval``.

Texts are generated from the grammar (nested containers; every string and bytes prefix, quote
and escape, ``\\N{...}`` included; implicit concatenation across newlines and comments inside
brackets; ints in every base and of any size; floats; complex sums; signs; comments and every
kind of blank) and by mutating those texts and real face payloads. For each text:

- when ``literal_eval`` accepts it, ``faceio._core.parse_literal`` gives an equal value (same
  types all the way down, NaN equal to NaN, the sign of zero kept);
- when ``literal_eval`` raises, ``parse_literal`` raises a ``FaceioError``; any other exception
  fails the test.

The one documented difference is faceio's extension (docs/format.md, "The payload grammar"):
``nan``, ``inf``, ``nanj`` and ``infj`` read as the values ``str()`` writes them for. The
expected value is ``literal_eval`` of the text's tree with those names replaced by constants.

CI runs 150 examples per test (a few seconds); ``FACEIO_FUZZ_EXAMPLES=200000`` runs a long
campaign.
"""

from __future__ import annotations

import ast
import functools
import os
import unicodedata
import warnings
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import faceio
from faceio import FaceioError
from faceio._core import parse_literal
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header

_EXAMPLES = int(os.environ.get("FACEIO_FUZZ_EXAMPLES", "150"))
_FUZZ = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class _Refused:
    """What a reader gave for a text it refused."""


REFUSED = _Refused()

# faceio's extension: names standing for the non-finite values str() writes.
_EXTENSION = {
    "nan": lambda: float("nan"),
    "inf": lambda: float("inf"),
    "nanj": lambda: complex(0.0, float("nan")),
    "infj": lambda: complex(0.0, float("inf")),
}


class _ExtensionNames(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:
        make = _EXTENSION.get(node.id)
        return node if make is None else ast.copy_location(ast.Constant(make()), node)


def python_value(text: str) -> Any:
    """``ast.literal_eval(text)``, with faceio's extension names read as constants."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes: accepted with a warning
        try:
            # What literal_eval does with a str: strip spaces and tabs, parse an expression.
            tree = ast.parse(text.lstrip(" \t"), mode="eval")
            return ast.literal_eval(_ExtensionNames().visit(tree))
        except (SyntaxError, ValueError, TypeError, OverflowError, MemoryError, RecursionError):
            return REFUSED


def faceio_value(text: str | bytes) -> Any:
    """``parse_literal(text)``; a ``FaceioError`` is a refusal, anything else escapes."""
    try:
        return parse_literal(text)
    except FaceioError:
        return REFUSED


def canon(value: Any) -> Any:
    """A comparable form of a parsed value: exact types, float bits (any NaN alike), set items
    in a fixed order."""
    kind = type(value)
    if kind is float:
        return (kind, "nan" if value != value else value.hex())
    if kind is complex:
        return (kind, canon(value.real), canon(value.imag))
    if kind is list or kind is tuple:
        return (kind, tuple(canon(item) for item in value))
    if kind is dict:
        return (kind, tuple((canon(k), canon(v)) for k, v in value.items()))
    if kind is set:
        return (kind, tuple(sorted(repr(canon(item)) for item in value)))
    return (kind, value)


def agree(text: str) -> None:
    """faceio and ``literal_eval`` agree on ``text`` (a str and its UTF-8 bytes)."""
    expected = python_value(text)
    got = faceio_value(text)
    if expected is REFUSED:
        assert got is REFUSED, f"faceio accepts what Python refuses: {text!r} -> {got!r}"
    else:
        assert got is not REFUSED, f"faceio refuses what Python accepts: {text!r}"
        assert canon(got) == canon(expected), (text, got, expected)
    encoded = text.encode("utf-8", "surrogatepass")
    assert canon(faceio_value(encoded)) == canon(got), text


# ---- the grammar, as text ------------------------------------------------------------------


@functools.cache
def _choices(good: tuple[str, ...], bad: tuple[str, ...], odds: int) -> st.SearchStrategy[str]:
    # Good choices repeated so that a bad one comes about 1 time in `odds`, in one draw (the
    # draws, not the parsing, are most of a test's time); good ones first, as Hypothesis
    # favours the start of the list.
    weight = max(1, round((odds - 1) * len(bad) / len(good)))
    return st.sampled_from(list(good) * weight + list(bad))


def pick(draw: st.DrawFn, good: list[str], bad: list[str], odds: int = 12) -> str:
    """One of ``good``, or now and then (1 in ``odds``) one of ``bad``: most texts stay valid,
    so both sides of every rule are reached."""
    return draw(_choices(tuple(good), tuple(bad), odds))


# Blanks between tokens on one line, and those only brackets allow (newlines, comments, line
# continuations); a comment may hold any UTF-8.
_INLINE = ["", "", "", " ", "  ", "\t", "\x0c", " \t"]
_ANYWHERE = ["\n", "\r\n", "\r", " # c\n", "#\n", "\\\n", " \\\r\n", "\n\t\n", "# é 😀\n"]
_ANYWHERE += ["\n \x0c"]


@st.composite
def gap(draw: st.DrawFn, inside: bool) -> str:
    """A blank: inside brackets any kind, at the top level one-line ones (others rarely)."""
    if inside:
        return draw(st.sampled_from(_INLINE + _ANYWHERE))
    return pick(draw, _INLINE, _ANYWHERE, odds=20)


@st.composite
def digits_with_underscores(draw: st.DrawFn, digits: str) -> str:
    """Underscores between digits, as Python allows; rarely where it does not."""
    if len(digits) < 2 or draw(st.integers(0, 3)) < 3:
        return digits
    out = list(digits)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 9)) == 9:  # anywhere, maybe doubled
            out.insert(draw(st.integers(0, len(out))), draw(st.sampled_from(["_", "__"])))
        else:
            at = draw(st.integers(1, len(out) - 1))
            if out[at - 1] != "_" and out[at] != "_":
                out.insert(at, "_")
    return "".join(out)


@st.composite
def int_literals(draw: st.DrawFn) -> str:
    n = draw(
        st.integers(0, 300)
        | st.integers(0, 2**130)
        | st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**53 + 1])
        | st.integers(2**64, 2**1100)
    )
    base = draw(st.sampled_from(["", "", "0x", "0X", "0o", "0O", "0b", "0B"]))
    if base == "":
        body = str(n)
        if draw(st.integers(0, 15)) == 15:
            body = draw(st.sampled_from(["0", "00", "0_0"])) + body  # leading zeros
    else:
        body = format(n, base[1].lower())
        if draw(st.booleans()):
            body = body.upper()
        if draw(st.integers(0, 7)) == 7:
            body = "_" + body  # allowed right after the prefix
    return base + draw(digits_with_underscores(body))


@st.composite
def huge_decimal_ints(draw: st.DrawFn) -> str:
    """Around Python's limit of 4,300 digits for decimal int conversion."""
    count = draw(st.integers(4290, 4310))
    lead = draw(st.sampled_from("0123456789"))
    return lead + "7" * (count - 1)


@st.composite
def float_literals(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return repr(draw(st.floats(allow_nan=False, allow_infinity=False)))
    whole = pick(draw, ["", "0", "1", "00", "12", "1_0", "123456789012345678901"], ["1__0", "1_"])
    frac = pick(draw, ["", "5", "25", "0_5", "1234567890123456789"], ["_5", "5_"])
    exp = pick(draw, ["", "", "e5", "E-3", "e+0_1", "e400", "e-400", "E308"], ["e", "e1_", "e+"])
    if not whole and not frac:
        whole = "7"
    dot = "." if (frac or not exp or draw(st.booleans())) else ""
    return whole + dot + frac + exp


@st.composite
def number_literals(draw: st.DrawFn) -> str:
    real = draw(int_literals() | float_literals())
    if draw(st.integers(0, 4)) == 4:
        real += draw(st.sampled_from(["j", "J"]))
    sign = pick(draw, ["", "", "", "-", "+", "- ", "-\t"], ["--", "+-", "-+"])
    return sign + real


@st.composite
def complex_literals(draw: st.DrawFn, inside: bool) -> str:
    """``real ± imaginary``, the real part in any base (big ints too), maybe parenthesised."""
    real = pick(draw, ["", "-", "+"], ["--"]) + draw(int_literals() | float_literals())
    imag = draw(float_literals() | int_literals()) + pick(draw, ["j", "J"], [""])
    op = pick(draw, ["+", "-"], ["*", "+-", "++"])
    text = real + draw(gap(inside)) + op + draw(gap(inside)) + imag
    if draw(st.booleans()):
        text = pick(draw, ["(", "(", "( "], ["-(", "+("]) + text + ")"
    return text


def _unicode_names() -> st.SearchStrategy[str]:
    """Names of real characters (any case), aliases, named sequences, and names of nothing."""
    real = st.integers(0, 0x10FFFF).map(lambda cp: unicodedata.name(chr(cp), "SPACE"))
    fixed = st.sampled_from(
        [
            "BULLET",
            "bullet",
            "Em Dash",
            "LATIN CAPITAL LETTER GHA",  # an alias
            "NULL",  # an alias of U+0000
            "CJK UNIFIED IDEOGRAPH-4E00",
            "cjk unified ideograph-4e00",
            "HANGUL SYLLABLE GAG",
        ]
    )
    bad = st.sampled_from(
        [
            "LATIN CAPITAL LETTER A WITH MACRON AND GRAVE",  # a named sequence: refused
            "NOPE",
            "",
            " BULLET",
            "BULL_ET",
            "BULLET\\",
            "BULLÉT",
            "BULLET}",
        ]
    )
    return real | real.map(str.lower) | fixed | bad


_STR_GOOD = [
    "a", " ", "é", "€", "😀", "\t", "#", "{", "}", "\\\\", "\\'", '\\"', "\\a", "\\b", "\\f",
    "\\n", "\\r", "\\t", "\\v", "\\x41", "\\xff", "\\xFf", "\\0", "\\7", "\\101", "\\777",
    "\\u00e9", "\\ud800", "\\udfff", "\\U0001F600", "\\q", "\\8", "\\\\N{BULLET}", "\\\n",
    "\\\r\n", "\x7f", "\x0c",
]  # fmt: skip
_STR_BAD = ["'", '"', "\\xF", "\\x", "\\U00110000", "\\u12", "\\N", "\\N{", "\n", "\r", "\x00"]
_PREFIXES = ["", "", "", "r", "R", "u", "U", "b", "B", "br", "Br", "rB", "RB"]


def _is_bytes(literal: str) -> bool:
    return "b" in literal[: len(literal) - len(literal.lstrip("rRuUbBfF"))].lower()


@st.composite
def one_string_literal(draw: st.DrawFn) -> str:
    prefix = pick(draw, _PREFIXES, ["f", "ur", "bu", "rr"], odds=30)
    quote = draw(st.sampled_from(["'", '"', "'''", '"""']))
    is_bytes = "b" in prefix.lower()
    pieces = []
    for _ in range(draw(st.integers(0, 6))):
        if not is_bytes and draw(st.integers(0, 3)) == 3:
            pieces.append("\\N{" + draw(_unicode_names()) + "}")
            continue
        piece = pick(draw, _STR_GOOD, _STR_BAD, odds=25)
        if is_bytes and not piece.isascii() and draw(st.integers(0, 7)) < 7:
            piece = "b"  # non-ASCII in bytes: an error, now and then
        pieces.append(piece)
    return prefix + quote + "".join(pieces) + quote


@st.composite
def string_literals(draw: st.DrawFn, inside: bool) -> str:
    """One to three literals, joined (implicit concatenation) across blanks."""
    parts = draw(st.lists(one_string_literal(), min_size=1, max_size=3))
    if draw(st.integers(0, 7)) < 7:  # mixing bytes and str is an error: now and then
        parts = [p for p in parts if _is_bytes(p) == _is_bytes(parts[0])]
    return "".join(part + draw(gap(inside)) for part in parts[:-1]) + parts[-1]


_NAMES = ["True", "False", "None", "...", "nan", "inf", "-inf", "nanj", "-infj", "set()"]
_NAMES += ["set ( )", "-nan", "1+nanj", "-1.5-infj", "0x10+infj"]
_BAD_NAMES = ["set(1)", "true", "Ellipsis", "..", "-True", "inf+1j", "nan+nan", "x"]


@st.composite
def atoms(draw: st.DrawFn, inside: bool) -> str:
    """A single value's text; ``inside`` brackets, blanks in it may span lines."""
    kind = draw(st.integers(0, 40))
    if kind < 10:
        return draw(number_literals())
    if kind < 16:
        return draw(complex_literals(inside))
    if kind < 36:
        return draw(string_literals(inside))
    if kind < 40:
        return pick(draw, _NAMES, _BAD_NAMES)
    return draw(huge_decimal_ints())


@st.composite
def containers(draw: st.DrawFn, items: st.SearchStrategy[str]) -> str:
    """A list, tuple, set, dict or parenthesised value of ``items``, blanks anywhere."""
    kind = draw(st.sampled_from(["[]", "()", "{}", "{:}", "{:}", "(paren)"]))
    values = draw(st.lists(items, max_size=4))

    def g() -> str:
        return draw(gap(True))

    if kind == "(paren)":
        return "(" + g() + (values[0] if values else "") + g() + ")"
    if kind == "{:}":
        # Keys are mostly scalars; a container key (unhashable unless a tuple of scalars) is
        # an error Python raises while building the dict.
        keys = [draw(atoms(True)) if draw(st.integers(0, 5)) < 5 else draw(items) for _ in values]
        values = [f"{k}{g()}:{g()}{v}" for k, v in zip(keys, values, strict=True)]
    if kind == "{}" and values and draw(st.integers(0, 3)) < 3:
        values = [draw(atoms(True)) for _ in values]  # set items: mostly hashable too
    seps = [g() + pick(draw, [","], [",,", "", ":"], odds=40) + g() for _ in values]
    body = "".join(v + s for v, s in zip(values, seps, strict=True))
    if values and draw(st.booleans()):
        body = body.rstrip(",\t \x0c")  # no trailing comma (a 1-tuple then is a grouping)
    return kind[0] + g() + body + kind[-1]


def values() -> st.SearchStrategy[str]:
    """A value of nested containers."""
    return st.recursive(atoms(True), containers, max_leaves=8)


_LEADING = ["", "", "", " ", "\t", "\x0c", "\t\x0c", "\x0c\x0c", "\n", " \n", "# c\n", "\r\n"]
_LEADING += ["\\\n", "#\n\t\n", "\n\x0c", "\x0c\n\t\n"]
_BAD_LEADING = ["\x0c\t", "\x0c ", "\n ", "\n\x0c\t", " \x0c\t"]
_TRAILING = ["", "", "\n", " ", "# c", "\n\n", "\t", "\x0c", "\r", "\n\x0c", "#é", "\n# c"]
_BAD_TRAILING = ["\n ", "\n\t", " \\\n", "\\", "\n\x0c\t"]


@st.composite
def payload_texts(draw: st.DrawFn) -> str:
    """A whole text: leading and trailing blanks, a value or a bare tuple."""
    body = draw(values() | atoms(False))
    if draw(st.integers(0, 9)) == 9:
        body += draw(gap(False)) + "," + draw(gap(False)) + draw(values())
    lead = pick(draw, _LEADING, _BAD_LEADING)
    return lead + body + pick(draw, _TRAILING, _BAD_TRAILING)


# ---- mutations -----------------------------------------------------------------------------

_SNIPPETS = [
    "[", "]", "(", ")", "{", "}", ",", ":", "'", '"', "\\", "\\N{BULLET}", "\\N{NOPE}", "\n",
    "#", " ", "\t", "\x0c", "\r", "-", "+", "j", "e", "0x", "_", ".", "...", "1", "9" * 30,
    "nan", "None", "b", "r", "[1]", "{1}", "set()", "é", "\x00", "'\\N{BULLET}'\n'x'",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """``text`` with one to four random edits: delete, insert, replace, duplicate."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        end = min(len(text), at + draw(st.integers(0, 8)))
        edit = draw(st.sampled_from(["delete", "insert", "insert", "replace", "duplicate"]))
        if edit == "delete":
            text = text[:at] + text[end:]
        elif edit == "duplicate":
            text = text[:end] + text[at:end] + text[end:]
        else:
            snippet = draw(st.sampled_from(_SNIPPETS))
            text = text[:at] + snippet + (text[end:] if edit == "replace" else text[at:])
    return text


@functools.cache
def face_payload(seed: int) -> str:
    """A small real face header's payload (masks, landmarks, identity), as faceswap writes it."""
    header = make_header(
        np.random.default_rng(seed),
        n_masks=seed % 2,
        n_landmarks=1 + seed % 5,
        identity_len=seed % 4,
    )
    return str(header.to_dict())


# ---- the tests -----------------------------------------------------------------------------


@_FUZZ
@given(payload_texts())
def test_generated_texts_agree_with_literal_eval(text: str) -> None:
    agree(text)


@_FUZZ
@given(payload_texts().flatmap(mutated))
def test_mutated_texts_agree_with_literal_eval(text: str) -> None:
    agree(text)


@_FUZZ
@given(st.integers(0, 15).flatmap(lambda seed: mutated(face_payload(seed))))
def test_mutated_face_payloads_agree_through_every_reader(text: str) -> None:
    agree(text)
    # The same payload in a face PNG, through the public readers (face headers are built as
    # objects there): a value, or a faceio exception; never anything else.
    image = insert_before_idat(_PNG, itxt_rule(text.encode("utf-8", "surrogatepass")))
    refused = python_value(text) is REFUSED
    for read in (faceio.png_read_meta, faceio.read_png_meta):
        try:
            read(image)
        except FaceioError:
            continue
        assert not refused, f"{read.__name__} accepts what Python refuses: {text!r}"


@_FUZZ
@given(
    st.integers(0, 15).map(face_payload) | payload_texts(),
    st.lists(st.tuples(st.integers(0, 10**6), st.binary(min_size=1, max_size=3)), max_size=3),
)
def test_texts_with_raw_bytes_agree(text: str, edits: list[tuple[int, bytes]]) -> None:
    """Raw bytes anywhere (in strings, comments, between tokens): Python decodes the payload
    as UTF-8 first (as faceswap does), and so must faceio."""
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for at, raw in edits:
        comment = data.find(b"#")
        # Every other edit lands in a comment, if there is one: rare among random positions.
        at = comment + 1 if comment >= 0 and at % 2 else at % (len(data) + 1)
        data[at:at] = raw
    try:
        decoded = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        assert faceio_value(bytes(data)) is REFUSED, bytes(data)
        return
    agree(decoded)


_PNG = encode_png(np.random.default_rng(5), 8, 8)
