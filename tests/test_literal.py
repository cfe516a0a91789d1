"""The payload parser against Python's own ast.literal_eval."""

from __future__ import annotations

import ast
import itertools
import math
import sys
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faceio import MetadataSyntaxError
from faceio._core import parse_literal

NON_FINITE_NAMES = {
    "__builtins__": {},
    "nan": float("nan"),
    "inf": float("inf"),
    "nanj": complex(0, float("nan")),
    "infj": complex(0, float("inf")),
    "set": set,
}


def same(a: Any, b: Any) -> bool:
    """Deep equality that also checks types, float signs and NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    if isinstance(a, complex):
        return same(a.real, b.real) and same(a.imag, b.imag)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def literal_eval(text: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.literal_eval(text)


hashables = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.binary(max_size=20),
    lambda inner: st.tuples(inner, inner) | st.tuples(inner),
    max_leaves=4,
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats()
    | st.complex_numbers(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.text(st.sampled_from("'\"\\\n\r\t\x00\x7f\ud800\udfffé€😀 a"))
    | st.binary()
)

values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.lists(inner, max_size=5).map(tuple)
        | st.dictionaries(hashables, inner, max_size=5)
        | st.sets(hashables, max_size=5)
    ),
    max_leaves=25,
)


def agrees_with_literal_eval(text: str) -> None:
    """``parse_literal(text)`` equals ``literal_eval(text)``, or both raise."""
    try:
        expected = literal_eval(text)
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError):
        expected = Exception
    try:
        got = parse_literal(text)
    except (MetadataSyntaxError, TypeError):
        got = Exception
    if expected is Exception or got is Exception:
        assert expected is got, (text, expected, got)
    else:
        assert same(got, expected), (text, got, expected)


def has_non_finite(v: Any) -> bool:
    if isinstance(v, float):
        return not math.isfinite(v)
    if isinstance(v, complex):
        return not (math.isfinite(v.real) and math.isfinite(v.imag))
    if isinstance(v, dict):
        return any(has_non_finite(x) for x in v.values())
    if isinstance(v, (list, tuple, set)):
        return any(has_non_finite(x) for x in v)
    return False


@settings(max_examples=400, deadline=None)
@given(values)
def test_str_round_trip_matches_literal_eval(value: Any) -> None:
    # repr is str for containers (what faceswap writes) and quotes a bare string.
    text = repr(value)
    got = parse_literal(text)
    if has_non_finite(value):
        # literal_eval cannot read these; Python's evaluation with the names bound can.
        expected = eval(text, dict(NON_FINITE_NAMES))
    else:
        expected = literal_eval(text)
    assert same(got, expected), (text, got, expected)
    assert same(parse_literal(text.encode("utf-8", "surrogatepass")), got) or "\\ud" in text


@settings(max_examples=200, deadline=None)
@given(st.floats())
def test_every_float_round_trips(x: float) -> None:
    got = parse_literal(repr(x))
    assert same(got, x)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=60, max_size=700), st.lists(st.floats(width=32), max_size=40))
def test_long_bytes_and_float_lists_match_literal_eval(data: bytes, floats: list[float]) -> None:
    # The shapes of a face header's bulk: compressed masks (long bytes literals, decoded in
    # 64-byte blocks) and landmark / identity lists of floats.
    text = repr(
        {
            "mask": data,
            "floats": floats,
            "rows": [floats[i : i + 2] for i in range(0, len(floats), 2)],
        }
    )
    expected = eval(text, dict(NON_FINITE_NAMES))
    assert same(parse_literal(text), expected)
    assert same(parse_literal(repr(data)), data)


# Pieces of long bytes literals in every spelling the grammar has, not only repr()'s: both
# quotes (the other one is a plain character), every escape, runs of backslashes, upper and
# mixed-case hex, a line continuation, raw tabs and DEL; so that 64-byte blocks split them
# everywhere. Sometimes one piece that is wrong goes in at a random place.
_GOOD_PIECES = [
    "a",
    " ",
    "~",
    "x",
    "7",
    "\\\\",
    "\\'",
    '\\"',
    "\\a",
    "\\b",
    "\\f",
    "\\n",
    "\\r",
    "\\t",
    "\\v",
    "\\x00",
    "\\xff",
    "\\xAb",
    "\\101",
    "\\0",
    "\\q",
    "\\\\\\x41",
    "\\\n",
    "\t",
    "\x7f",
]
_BAD_PIECES = ["\\x9", "\\xg0", "\\XAB", "\n", "\x80", "QUOTE"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_GOOD_PIECES), min_size=20, max_size=160),
    st.sampled_from(["b'", 'b"', "rb'", "b'''", 'B"']),
    st.none() | st.tuples(st.sampled_from(_BAD_PIECES), st.integers(0, 160)),
)
def test_long_bytes_literals_in_every_spelling_match_literal_eval(
    pieces: list[str], opening: str, bad: tuple[str, int] | None
) -> None:
    quote = opening.lstrip("rbB")
    other = "'" if quote == '"' else '"'
    pieces = [other if piece == "~" else piece for piece in pieces]
    if bad is not None:
        pieces.insert(bad[1], quote[0] if bad[0] == "QUOTE" else bad[0])
    text = opening + "".join(pieces) + quote
    try:
        expected = literal_eval(text)
    except (SyntaxError, ValueError):
        expected = Exception
    try:
        got = parse_literal(text)
    except MetadataSyntaxError:
        got = Exception
    assert got == expected, text


@settings(max_examples=500, deadline=None)
@given(st.from_regex(r"\A[0-9]{1,25}\.?[0-9]{0,25}([eE][+-]?[0-9]{1,3})?\Z"))
def test_decimal_literals_match_literal_eval(text: str) -> None:
    # Long mantissas and extreme exponents, where rounding is hardest to get right.
    try:
        expected = literal_eval(text)
    except SyntaxError:  # an int with leading zeros
        with pytest.raises(MetadataSyntaxError):
            parse_literal(text)
        return
    assert same(parse_literal(text), expected), text
    # The same inside a list, signed, as landmarks and identities are written.
    listed = f"[{text}, -{text}]"
    assert same(parse_literal(listed), literal_eval(listed)), listed


# Items of a list of floats and what may stand next to them: the run of float items after
# ", " is read by a loop of its own, which must hand everything else back unread.
_GOOD_ITEMS = ["1.5", "-0.25", ".5", "-.5", "00.5", "1e5", "-3e-05", "1.5j", "2", "1_0.5"]
_GOOD_ITEMS += ["- 1.5", "1.5 ", "'s'", "[1.5, 2.5]", "(1.5,)", "1.5+2j", "-2.5-1j"]
_BAD_ITEMS = ["1.5.5", "--1.5", "1e", "01", "x", "1.5 1"]


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.sampled_from(_GOOD_ITEMS), min_size=1, max_size=7),
    st.lists(st.sampled_from([", ", ", ", ", ", ",", " , ", ",  ", ",\n"]), min_size=8, max_size=8),
    st.sampled_from(["[]", "()", "{}"]),
    st.booleans(),
    st.one_of(st.none(), st.tuples(st.sampled_from(_BAD_ITEMS), st.integers(0, 8))),
)
def test_float_runs_match_literal_eval(
    items: list[str],
    separators: list[str],
    brackets: str,
    trailing: bool,
    bad: tuple[str, int] | None,
) -> None:
    if bad is not None:  # at most 8 items, as many as there are separators
        items.insert(min(bad[1], len(items)), bad[0])
    parts = [item + sep for item, sep in zip(items, separators[: len(items)], strict=True)]
    if not trailing:
        parts[-1] = items[-1]
    text = brackets[0] + "".join(parts) + brackets[1]
    agrees_with_literal_eval(text)


@pytest.mark.parametrize(
    "text",
    [
        "1_0.5_0e1_0",
        "0x_FF",
        "-0o17",
        "0B1_0",
        "(1+2j)",
        "-(1)",
        "(-1-2j)",
        "'a' 'b'",
        "  1",
        "1\n",
        "\n1",
        "[1,\n2]",
        "(1)",
        "((1,),)",
        "{}",
        "set()",
        "...",
        "'''a\nb'''",
        "r'\\n'",
        "b'\\n'",
        "-9223372036854775809",
        "-9223372036854775808",
        "00",
        "-0.0",
        "1e400",
        "1E+5",
        "{'a':1,}",
        "[1,]",
        "'\\x41\\101\\u0041\\U0001F600'",
        "'\\q'",
        "u'x'",
        "Rb'x'",
        "1 # comment",
        "1,2",
        "1,",
        "(1,2,)",
        "[(1+0j)]",
        "1.5j",
        "0j",
        "1_000j",
        "'\\\n'",
        "'\\N{BULLET} and \\N{EM DASH}'",
        "b'\\777'",
        "'\\777'",
        "'a\\\r\nb'",
        "'''x\r\ny\rz'''",
        "(\n1 # c\n,\n)",
        "{'a': {'b': {'c': [1, {2, 3}]}}}",
        "r'''\\''''",
        "1.",
        ".5",
        "1.e3",
        "0e0",
        "00.5",
        "1e-400",
        "4.9e-324",
        "2.2250738585072014e-308",
        "1.7976931348623157e308",
        "123456789012345678901234567890.123456789012345678901234567890",
        "[114.31097412109375, -0.5e-05, 7.0]",
        "[-1.5+2j, 1.5j, 1.5J, 1_0.5, -0.0, - 1.5]",
        "[1.5 # c\n, 2]",
        "[1.5\n, -2.5\n]",
        "{1.5, -2.5}",
        "(1.5, -2.5)",
        "True",
        "None",
        "False",
        "[True, False, None]",
        "{1: 'a', 1.0: 'b'}",
        "{b'x': 2, (1, (2,)): 3}",
        "'é€😀'",
        "0\n#c",
        "0\n \n",
        "\t\n0",
        "0\x0c",
        " \n0",
        "0\r# ",
    ],
)
def test_forms_match_literal_eval(text: str) -> None:
    assert same(parse_literal(text), literal_eval(text))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1 +",
        "[1, 2",
        "{'a' 1}",
        "x",
        "01",
        "1__0",
        "1_",
        "--1",
        "-True",
        "1+2",
        "2j+1",
        "'a' b'b'",
        "'abc",
        "'a\nb'",
        "f'x'",
        "set(1)",
        "{1: 2, 3}",
        "1\n2",
        "b'é'",
        "[1 2]",
        "(1 2)",
        "1 if 2 else 3",
        "1abc",
        "0x",
        "1e",
        "1.5.3",
        "1.5e",
        "1.5_",
        "1._5",
        "1.5x",
        "1.5e5é",
        "[1.5e]",
        "[1.5, 2.5x]",
        "[-1.5.2]",
        "[1.5 2.5]",
        "(1,)(2,)",
        "1,\n2",
        "'\\x4'",
        "'\\u12'",
        "'\\U00110000'",
        "{**a}",
        "1 .real",
        "0b2",
        "[1,,2]",
        "(,)",
        "{,}",
        "a=1",
        "print(1)",
        "'''abc",
        "(1+2j)+3j",
        "-(1+2j)",
        "1+-2j",
        "0\n\t",
        "\n 0",
        "0\\\r",
    ],
)
def test_rejects_what_literal_eval_rejects(text: str) -> None:
    with pytest.raises((SyntaxError, ValueError, TypeError)):
        literal_eval(text)
    with pytest.raises(MetadataSyntaxError):
        parse_literal(text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("{[1]: 2}", "[1]"),
        ("{[1], 2}", "[1]"),
        ("{{1}}", "{1}"),
        ("{1: 2, {}: 3}", "{}"),
        ("{1, set()}", "set()"),
        ("{(1, (2, [3])): 4}", "(1, (2, [3]))"),
        ("[{'a': 1, (1, {2: 3}): 4}]", "(1, {2: 3})"),
    ],
)
def test_unhashable_keys_are_syntax_errors_at_the_key(text: str, key: str) -> None:
    # literal_eval raises TypeError while building the value; faceio refuses the payload with
    # its own exception, pointing at the key.
    with pytest.raises(TypeError):
        literal_eval(text)
    with pytest.raises(MetadataSyntaxError, match="hashable") as info:
        parse_literal(text)
    assert info.value.offset == text.rindex(key)


@pytest.mark.parametrize(
    "text",
    [
        "['\\N{BULLET}'\n'a']",
        "('\\N{BULLET}' # a comment\n 'a')",
        "{'a'\r\n'\\N{EM DASH}': 1}",
        "['a' \\\n '\\N{bullet}']",
        "['\\N{BULLET}'\n\n  # c\n  '\\N{LATIN CAPITAL LETTER GHA}']",
        "'\\ud800\\N{BULLET}\\\\N{BULLET}é\\U0001F600\\x00'",
        "'\\q' '\\N{NULL}'",
        "u'''\\N{CJK UNIFIED IDEOGRAPH-4E00}\n''' r'\\N{BULLET}'",
    ],
)
def test_named_escapes_match_literal_eval(text: str) -> None:
    # Joined across a newline or a comment inside brackets, next to every other kind of
    # content; pytest turns warnings into errors, and faceio gives none.
    assert same(parse_literal(text), literal_eval(text))


@pytest.mark.parametrize(
    "text", ["'\\N{NOPE}'", "['a', '\\N{LATIN CAPITAL LETTER A WITH MACRON AND GRAVE}']"]
)
def test_unknown_character_names_are_syntax_errors(text: str) -> None:
    with pytest.raises(SyntaxError):
        literal_eval(text)
    with pytest.raises(MetadataSyntaxError, match="names no character") as info:
        parse_literal(text)
    assert info.value.offset == text.index("'\\N")
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


@pytest.mark.parametrize("text", ["'\\N{}'", "'\\N{BULLET'", "'\\N{BULL_ET}'", "'\\N{é}'"])
def test_impossible_character_names_are_refused_by_the_parser(text: str) -> None:
    with pytest.raises(SyntaxError):
        literal_eval(text)
    with pytest.raises(MetadataSyntaxError, match="character name") as info:
        parse_literal(text)
    assert info.value.offset == text.index("\\")


def test_decimal_ints_over_pythons_digit_limit() -> None:
    limit = sys.get_int_max_str_digits()
    big = "1" * (limit + 1)
    for text in (big, f"-{big}", f"[0, {big}]"):
        with pytest.raises(SyntaxError):
            literal_eval(text)
        with pytest.raises(MetadataSyntaxError, match="refuses to convert") as info:
            parse_literal(text)
        assert info.value.offset == text.index(big)
        assert isinstance(info.value.__cause__, ValueError)
    # Python's limit is the one that applies, as set at the time.
    sys.set_int_max_str_digits(limit + 10)
    try:
        assert parse_literal(big) == int(big)
    finally:
        sys.set_int_max_str_digits(limit)
    # Only decimal ints have a limit.
    hexadecimal = "0x" + "f" * (limit + 1)
    assert same(parse_literal(hexadecimal), literal_eval(hexadecimal))


@settings(max_examples=500, deadline=None)
@given(
    st.integers(2**53, 2**1100),
    st.sampled_from(["0x", "0o", "0b", "0X", ""]),
    st.sampled_from(["", "-"]),
    st.sampled_from(["+1j", "-2.5j", "+0j"]),
)
def test_complex_with_a_big_real_part_matches_literal_eval(
    n: int, base: str, sign: str, imag: str
) -> None:
    # Python rounds the int to the nearest float once; digit-by-digit arithmetic in floats
    # ended 1 ulp off for big hex, octal and binary ints.
    digits = format(n, base[1:].lower()) if base else str(n)
    text = f"{sign}{base}{digits}{imag}"
    try:
        expected = literal_eval(text)
    except OverflowError:
        with pytest.raises(MetadataSyntaxError):
            parse_literal(text)
        return
    assert same(parse_literal(text), expected), text


@pytest.mark.parametrize(
    "text",
    [
        "0x137021ce6ec9d28663ca828dd5f4b3b2e4b06ce60741c7a8+1j",
        "-0x1597524d6af51e8722c21b6092+1j",
        "0o27767051216614213044116357750723161500034354-2j",
        "0b1011110111000010101011101001101100011110100101110010010010000100001011110111100110100001"
        "10000111011010000001110001101101101001101111000111000001101111000010000100110110100001"
        "011100101000100101000101000011000111010011111110011101101011111001111011000011000100110"
        "100011101100110001000101+0j",
    ],
)
def test_complex_real_parts_that_were_an_ulp_off(text: str) -> None:
    assert same(parse_literal(text), literal_eval(text))


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("\x0c\tTrue", False),  # the tab after a form feed indents the first line
        ("\x0c True", False),
        (" \x0c\tTrue", False),  # literal_eval strips the space, not the form feed
        ("\n\x0c\t1", False),
        ("\t\x0cTrue", True),  # a form feed goes back to column 0
        ("\x0cTrue", True),
        ("\n \x0c1", True),
        ("\x0c\t\n1", True),  # a blank line
    ],
)
def test_form_feeds_in_the_first_lines_indentation(text: str, valid: bool) -> None:
    if valid:
        assert same(parse_literal(text), literal_eval(text))
        return
    with pytest.raises(SyntaxError):
        literal_eval(text)
    with pytest.raises(MetadataSyntaxError, match="indent"):
        parse_literal(text)


def test_every_short_run_of_blanks_before_a_value_matches_literal_eval() -> None:
    # Python's tokenizer counts the first token's indentation through form feeds (back to
    # column 0), tabs and line continuations (the column before the first backslash, if not
    # 0, else the one reached after it), skipping blank and comment lines. All short runs.
    parts = ["", " ", "\t", "\x0c", "\\\n", "\\\r\n", "\n", "#c\n", "\r", " \\\n", "\t\\\n "]
    disagree = []
    for k in range(1, 4):
        for run in itertools.product(parts, repeat=k):
            for value in ("0", "0\n", "0\n ", "0 \\\n", "[\n 0]"):
                text = "".join(run) + value
                try:
                    expected: Any = literal_eval(text)
                except (SyntaxError, ValueError):
                    expected = MetadataSyntaxError
                try:
                    got: Any = parse_literal(text)
                except MetadataSyntaxError:
                    got = MetadataSyntaxError
                if got != expected:
                    disagree.append(text)
    assert disagree == []


@pytest.mark.parametrize(
    "data", [b"[1, # \xff\n 2]", b"1 # caf\xc3\n", b"# \xe2\x82\n1", b"{'a': 1} # \xed\xa0\x80"]
)
def test_invalid_utf8_in_a_comment(data: bytes) -> None:
    # Python decodes the whole text before it tokenizes, comments included (so does faceswap).
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    with pytest.raises(MetadataSyntaxError, match="UTF-8") as info:
        parse_literal(data)
    first_non_ascii = next(i for i, b in enumerate(data) if b >= 0x80)
    assert info.value.offset == first_non_ascii
    # Valid UTF-8 in a comment is fine.
    assert parse_literal("[1, # café 😀\n 2]".encode()) == [1, 2]


@settings(max_examples=1500, deadline=None)
@given(st.text(st.sampled_from("0123456789.,:;()[]{}'\"\\ \n\t#+-_jexbo TrueFalsNo"), max_size=30))
def test_fuzz_agrees_with_literal_eval(text: str) -> None:
    agrees_with_literal_eval(text)


def test_error_offsets() -> None:
    with pytest.raises(MetadataSyntaxError) as info:
        parse_literal("[1, 2, @]")
    assert info.value.offset == 7
    assert "expected a value" in str(info.value)
    with pytest.raises(MetadataSyntaxError, match="expected ',' or ']', found '}'"):
        parse_literal("{'a': [1, 2}")
    with pytest.raises(MetadataSyntaxError, match="opened at byte 6 is never closed"):
        parse_literal("{'a': [1, 2")
    # Floats in lists are read by a fast path; its errors point where the general code's do.
    with pytest.raises(MetadataSyntaxError, match="exponent has no digits") as info:
        parse_literal("[0.5, 1.5e]")
    assert info.value.offset == 10
    with pytest.raises(MetadataSyntaxError, match="ending in 'x'") as info:
        parse_literal("[1.5, -2.5x]")
    assert info.value.offset == 7
    with pytest.raises(MetadataSyntaxError, match="invalid UTF-8") as info:
        parse_literal(b"['ok', 'bad \xff']")
    assert info.value.offset == 12
    for text in (b"\xff", b"1\x00", b"'a\x00'", b"[1, # \x00\n 2]"):
        with pytest.raises(MetadataSyntaxError):
            parse_literal(text)
