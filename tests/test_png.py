"""PNG metadata: identical bytes by docs/format.md's rules, every text-chunk form, hostile input."""

from __future__ import annotations

import re
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import faceio
from faceio import (
    MetadataNotFound,
    MetadataSyntaxError,
    MetadataValueError,
    PngFormatError,
    PNGHeader,
    pack_to_itxt,
    png_read_meta,
    png_write_meta,
    read_image_meta,
)
from tests.conftest import (
    PNG_SIG,
    chunk,
    encode_png,
    insert_before_idat,
    itxt_rule,
    make_header,
    split_chunks,
)


def test_pack_to_itxt_identical_bytes(header: PNGHeader) -> None:
    payload = str(header.to_dict()).encode("utf-8")
    assert pack_to_itxt(header) == itxt_rule(payload)
    assert pack_to_itxt(header.to_dict()) == itxt_rule(payload)
    assert pack_to_itxt(payload) == itxt_rule(payload)
    assert pack_to_itxt({"é": "ü"}) == itxt_rule("{'é': 'ü'}".encode())


def test_png_write_meta_identical_bytes(png_bytes: bytes, header: PNGHeader) -> None:
    payload = str(header.to_dict()).encode("utf-8")
    expected = insert_before_idat(png_bytes, itxt_rule(payload))
    assert png_write_meta(png_bytes, header) == expected
    assert png_write_meta(png_bytes, payload) == expected


def test_encode_image_with_metadata_identical_bytes(rng, header: PNGHeader) -> None:
    import cv2

    image = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    plain = cv2.imencode(".png", image)[1].tobytes()
    got = faceio.encode_image(image, ".png", metadata=header)
    assert got == insert_before_idat(plain, itxt_rule(str(header.to_dict()).encode()))
    assert faceio.encode_image(image, ".PNG", metadata=header.to_dict()) == got
    with pytest.raises(ValueError, match=r"only be written to \.png and \.tif"):
        faceio.encode_image(image, ".jpg", metadata=header)
    assert faceio.encode_image(image, ".jpg")[:2] == b"\xff\xd8"


def test_write_replaces_existing_header(png_bytes: bytes, header: PNGHeader) -> None:
    once = png_write_meta(png_bytes, {"a": 1})
    twice = png_write_meta(once, header)
    assert twice == png_write_meta(png_bytes, header)
    assert png_read_meta(twice) == header


def test_read_round_trip(png_bytes: bytes, header: PNGHeader) -> None:
    data = insert_before_idat(png_bytes, itxt_rule(str(header.to_dict()).encode()))
    got = png_read_meta(data)
    assert isinstance(got, PNGHeader)
    assert got == header
    other = {"matrix": [[1.0, 0.0, 2.5]], "frame": "x.png"}
    assert png_read_meta(png_write_meta(png_bytes, other)) == other


def _via_general_path(data: bytes) -> object:
    """png_read_meta as the plain rule gives it: the parsed dict, then from_dict."""
    obj = faceio._core.png_read_meta(data)
    return PNGHeader.from_dict(obj) if set(obj) == {"alignments", "source"} else obj


def _assert_same_header(a: PNGHeader, b: PNGHeader) -> None:
    assert a == b
    assert str(a.to_dict()) == str(b.to_dict())  # same payload text, NaN included
    for x, y in [
        (a.alignments.landmarks_xy, b.alignments.landmarks_xy),
        *((a.alignments.identity[k], b.alignments.identity[k]) for k in a.alignments.identity),
        *(
            (a.alignments.mask[k].affine_matrix, b.alignments.mask[k].affine_matrix)
            for k in a.alignments.mask
        ),
    ]:
        assert x.dtype == y.dtype == np.float32 and x.shape == y.shape
        assert x.flags.writeable
        np.testing.assert_array_equal(x, y)
    assert type(a.source.source_frame_dims) is type(b.source.source_frame_dims)


@pytest.mark.parametrize("seed", range(6))
def test_fast_header_path_equals_from_dict(png_bytes: bytes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    hdr = make_header(rng, n_masks=seed % 4, identity_len=[0, 3, 512][seed % 3])
    d = hdr.to_dict()
    if seed == 1:
        d["alignments"]["landmarks_xy"] = [[1, 2], [3, 4]]  # ints become float32
        d["alignments"].pop("identity")
        d["source"]["source_frame_dims"] = None
    if seed == 2:
        d["alignments"]["identity"]["big"] = [1e300, -1e-300, float("nan"), True]
        d["alignments"]["mask"] = None
        d = {"source": d["source"], "alignments": d["alignments"]}  # key order is free
    data = png_write_meta(png_bytes, d)
    fast = png_read_meta(data)
    with np.errstate(over="ignore"):  # numpy warns when 1e300 becomes float32 inf
        expected = _via_general_path(data)
    _assert_same_header(fast, expected)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["alignments"].update(landmarks_xy=[[1.0, 2.0], [3.0]]),
        lambda d: d["alignments"].update(landmarks_xy=[]),
        lambda d: d["alignments"]["identity"].update(x=[[[1.0]]]),
        lambda d: d["source"].update(source_frame_dims=(5, 6)),
    ],
)
def test_other_shapes_take_the_general_path_with_same_result(png_bytes, header, mutate) -> None:
    d = header.to_dict()
    mutate(d)
    data = png_write_meta(png_bytes, d)
    try:
        expected = _via_general_path(data)
    except ValueError as err:
        with pytest.raises(type(err), match=re.escape(str(err))):
            png_read_meta(data)
        return
    got = png_read_meta(data)
    assert got == expected
    assert got.alignments.landmarks_xy.shape == expected.alignments.landmarks_xy.shape


def test_schema_errors_still_name_the_field(png_bytes: bytes, header: PNGHeader) -> None:
    d = header.to_dict()
    d["alignments"]["landmarks_xy"] = [["a", "b"]]
    with pytest.raises(faceio.HeaderSchemaError, match="landmarks_xy"):
        png_read_meta(png_write_meta(png_bytes, d))
    d = header.to_dict()
    d["source"]["extra"] = 1
    with pytest.raises(faceio.HeaderSchemaError, match="source: unknown key"):
        png_read_meta(png_write_meta(png_bytes, d))


def test_read_non_finite_floats(png_bytes: bytes) -> None:
    meta = {"v": [float("nan"), float("inf"), -float("inf"), 1e-320]}
    got = png_read_meta(png_write_meta(png_bytes, meta))
    assert np.isnan(got["v"][0]) and got["v"][1:] == [float("inf"), -float("inf"), 1e-320]


def test_no_header_is_metadata_not_found(png_bytes: bytes) -> None:
    with pytest.raises(MetadataNotFound, match="no faceswap iTXt chunk") as info:
        png_read_meta(png_bytes)
    assert isinstance(info.value, AssertionError) and isinstance(info.value, ValueError)


def _with_text_chunk(png_bytes: bytes, kind: bytes, data: bytes) -> bytes:
    return insert_before_idat(png_bytes, chunk(kind, data))


def test_reads_text_ztxt_and_compressed_itxt(png_bytes: bytes, header: PNGHeader) -> None:
    text = str(header.to_dict())
    # tEXt is Latin-1; the payload of a header with ASCII names is ASCII.
    t = _with_text_chunk(png_bytes, b"tEXt", b"faceswap\0" + text.encode("latin-1"))
    assert png_read_meta(t) == header
    z = _with_text_chunk(
        png_bytes, b"zTXt", b"faceswap\0\0" + zlib.compress(text.encode("latin-1"))
    )
    assert png_read_meta(z) == header
    ci = _with_text_chunk(
        png_bytes, b"iTXt", b"faceswap\0\x01\x00en\0Faceswap\0" + zlib.compress(text.encode())
    )
    assert png_read_meta(ci) == header


def test_itxt_bytes_inside_other_chunks_are_not_chunks(png_bytes: bytes) -> None:
    decoy = itxt_rule(b"{'decoy': True}")
    data = _with_text_chunk(png_bytes, b"tEXt", b"Comment\0" + decoy)
    # ...and inside IDAT data too: replace the IDAT's content with bytes that spell a chunk.
    pos, _, idat = next(c for c in split_chunks(data) if c[1] == b"IDAT")
    data = data[:pos] + chunk(b"IDAT", decoy + idat[8:-4]) + data[pos + len(idat) :]
    with pytest.raises(MetadataNotFound):
        png_read_meta(data)


def test_other_itxt_keywords_are_skipped(png_bytes: bytes) -> None:
    data = _with_text_chunk(png_bytes, b"iTXt", b"Comment\0\0\0\0\0hello")
    data = insert_before_idat(data, itxt_rule(b"{'k': 1}"))
    assert png_read_meta(data) == {"k": 1}


def _assert_names(err: BaseException, *needles: str) -> None:
    for n in needles:
        assert n in str(err), f"{n!r} not in {err}"


def test_truncated_at_every_chunk_boundary(tmp_path: Path, png_bytes: bytes, header) -> None:
    data = insert_before_idat(png_bytes, itxt_rule(str(header.to_dict()).encode()))
    chunks = split_chunks(data)
    header_end = next(pos + len(c) for pos, kind, c in chunks if kind == b"iTXt")
    cuts = sorted({0, 4, 8} | {pos for pos, _, _ in chunks} | {pos + 6 for pos, _, _ in chunks})
    for cut in cuts:
        cut_data = data[:cut]
        path = tmp_path / f"cut{cut}.png"
        path.write_bytes(cut_data)
        if cut >= header_end:
            # The header is whole: metadata reads stop at it and give it back.
            assert png_read_meta(cut_data) == header
            assert read_image_meta(path)["itxt"] == header.to_dict()
            continue
        with pytest.raises(PngFormatError) as by_bytes:
            png_read_meta(cut_data)
        with pytest.raises(PngFormatError) as by_path:
            read_image_meta(path)
        assert str(path) in str(by_path.value)
        assert by_path.value.path == str(path)
        assert str(by_bytes.value) in str(by_path.value)


def test_bad_crc(png_bytes: bytes) -> None:
    data = bytearray(insert_before_idat(png_bytes, itxt_rule(b"{'a': 1}")))
    pos = next(p for p, k, _ in split_chunks(bytes(data)) if k == b"iTXt")
    data[pos + 12 + 14] ^= 0x01  # flip a payload bit
    with pytest.raises(PngFormatError) as info:
        png_read_meta(bytes(data))
    _assert_names(info.value, "CRC mismatch", "iTXt", f"byte {pos}")


def test_length_field_ffffffff(png_bytes: bytes) -> None:
    ihdr_end = 8 + 25
    data = png_bytes[:ihdr_end] + struct.pack(">I", 0xFFFFFFFF) + b"iTXt" + b"faceswap\0"
    with pytest.raises(PngFormatError) as info:
        png_read_meta(data)
    _assert_names(info.value, "4294967295", "2^31-1", f"byte {ihdr_end}")


def test_100mb_payload_claim(tmp_path: Path, png_bytes: bytes) -> None:
    ihdr_end = 8 + 25
    data = (
        png_bytes[:ihdr_end]
        + struct.pack(">I", 100_000_000)
        + b"iTXtfaceswap\0\0\0\0\0{"
        + b" " * 1000
    )
    with pytest.raises(PngFormatError) as info:
        png_read_meta(data)
    _assert_names(info.value, "100000000", "limit")
    path = tmp_path / "claim.png"
    path.write_bytes(data)
    with pytest.raises(PngFormatError):
        read_image_meta(path)


def test_limits_are_adjustable(png_bytes: bytes) -> None:
    data = png_write_meta(png_bytes, {"a": "x" * 1000})
    before = faceio.get_limits()
    try:
        faceio.set_limits(max_chunk=500)
        with pytest.raises(PngFormatError, match="500-byte limit"):
            png_read_meta(data)
        faceio.set_limits(max_depth=2)
        with pytest.raises(MetadataSyntaxError, match="nesting deeper than 2"):
            # as bytes: the writers refuse a dict nested past the limit
            png_read_meta(png_write_meta(png_bytes, b"{'a': [[1]]}"))
    finally:
        faceio.set_limits(**before)
    assert png_read_meta(data) == {"a": "x" * 1000}
    with pytest.raises(ValueError):
        faceio.set_limits(max_depth=0)
    with pytest.raises(ValueError, match="at most 1000"):
        faceio.set_limits(max_depth=1001)


def test_writers_refuse_a_chunk_the_readers_would_refuse(tmp_path: Path, png_bytes: bytes) -> None:
    """The chunk's data is the keyword, five bytes of flags and empty fields, and the payload:
    one that fits ``max_chunk`` exactly is written and reads back, one byte more is refused by
    every writer, and a file being updated keeps its bytes."""
    overhead = len(b"faceswap") + len(b"\0" + b"\0\0" + b"\0" + b"\0")
    before = faceio.get_limits()
    path = tmp_path / "face.png"
    path.write_bytes(png_bytes)
    try:
        faceio.set_limits(max_chunk=2000)
        fits = b"'" + b"x" * (2000 - overhead - 2) + b"'"
        assert png_read_meta(png_write_meta(png_bytes, fits)) == fits[1:-1].decode()
        for over in (fits[:-1] + b"x'", {"a": "x" * 2000}):
            with pytest.raises(MetadataValueError, match="2,000-byte limit"):
                pack_to_itxt(over)
            with pytest.raises(MetadataValueError, match="2,000-byte limit"):
                png_write_meta(png_bytes, over)
            with pytest.raises(MetadataValueError, match="2,000-byte limit"):
                faceio.update_existing_metadata(str(path), over)
            assert path.read_bytes() == png_bytes
    finally:
        faceio.set_limits(**before)


def test_deepest_allowed_nesting_parses_on_worker_threads(tmp_path: Path, png_bytes: bytes) -> None:
    """At the ceiling, recursion fits the stacks of the batch reader's threads."""
    before = faceio.get_limits()
    payload = b"[" * 1000 + b"1" + b"]" * 1000
    path = tmp_path / "deep.png"
    path.write_bytes(insert_before_idat(png_bytes, itxt_rule(payload)))
    try:
        faceio.set_limits(max_depth=1000)
        [(_, meta)] = list(faceio.read_image_meta_batch([path]))
        depth, value = 0, meta["itxt"]
        while isinstance(value, list):
            depth, value = depth + 1, value[0]
        assert (depth, value) == (1000, 1)
    finally:
        faceio.set_limits(**before)


def test_missing_iend(png_bytes: bytes) -> None:
    with pytest.raises(PngFormatError, match="without an IEND"):
        png_read_meta(png_bytes[:-12])


def test_itxt_without_nul(png_bytes: bytes) -> None:
    data = _with_text_chunk(png_bytes, b"iTXt", b"faceswap" + b"x" * 100)
    with pytest.raises(PngFormatError) as info:
        png_read_meta(data)
    _assert_names(info.value, "iTXt", "no NUL")


def test_deep_nesting(png_bytes: bytes) -> None:
    data = insert_before_idat(png_bytes, itxt_rule(b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(MetadataSyntaxError) as info:
        png_read_meta(data)
    _assert_names(info.value, "nesting deeper than 64", "payload byte 64", "iTXt chunk at byte")


def test_syntax_error_names_offset(png_bytes: bytes) -> None:
    data = insert_before_idat(png_bytes, itxt_rule(b"{'a': 1 'b': 2}"))
    with pytest.raises(MetadataSyntaxError) as info:
        png_read_meta(data)
    assert info.value.offset == 8
    _assert_names(info.value, "payload byte 8", "expected ',' or '}'")


@pytest.mark.parametrize(
    "data",
    [b"", b"GIF89a" + b"\0" * 40, PNG_SIG, PNG_SIG + b"\0\0\0\x0dIHDR"],
)
def test_not_png_or_empty(data: bytes) -> None:
    with pytest.raises(PngFormatError):
        png_read_meta(data)


def test_first_chunk_must_be_ihdr(png_bytes: bytes) -> None:
    data = PNG_SIG + chunk(b"tEXt", b"a\0b") + png_bytes[8:]
    with pytest.raises(PngFormatError, match="first chunk must be a 13-byte IHDR"):
        png_read_meta(data)


def test_png_read_meta_and_read_image_meta_agree(tmp_path: Path, rng, header) -> None:
    """The bytes reader and the file reader give the same answer on odd files too."""
    base = encode_png(rng)
    payload = str(header.to_dict()).encode()
    variants = {
        "plain": insert_before_idat(base, itxt_rule(payload)),
        "none": base,
        # A faceswap chunk after IDAT (moved there by another tool) is still found.
        "after_idat": base[:-12] + itxt_rule(payload) + base[-12:],
        "ztxt": insert_before_idat(base, chunk(b"zTXt", b"faceswap\0\0" + zlib.compress(payload))),
        "bad_crc": insert_before_idat(base, itxt_rule(payload)[:-1] + b"\0"),
        "syntax": insert_before_idat(base, itxt_rule(b"{'a': }")),
    }
    for name, data in variants.items():
        path = tmp_path / f"{name}.png"
        path.write_bytes(data)
        try:
            by_bytes = png_read_meta(data)
            by_bytes = by_bytes.to_dict() if isinstance(by_bytes, PNGHeader) else by_bytes
        except MetadataNotFound:
            by_bytes = None
        except ValueError as err:
            with pytest.raises(type(err)):
                read_image_meta(path)
            continue
        assert read_image_meta(path).get("itxt") == by_bytes, name


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "cut", "insert"]), st.integers(0, 10**6), st.binary(max_size=8)
        ),
        min_size=1,
        max_size=3,
    )
)
def test_bytes_and_file_readers_agree_on_damaged_files(edits) -> None:
    """png_read_meta and read_image_meta give the same answer on any damaged face."""
    rng = np.random.default_rng(0)
    data = bytearray(
        insert_before_idat(
            encode_png(rng, 8, 8),
            itxt_rule(str(make_header(rng, n_masks=1, identity_len=8).to_dict()).encode()),
        )
    )
    for kind, pos, blob in edits:
        pos %= len(data) + 1
        if kind == "flip" and pos < len(data):
            data[pos] ^= blob[0] if blob else 0xFF
        elif kind == "cut":
            del data[pos:]
        else:
            data[pos:pos] = blob
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.png"
        path.write_bytes(bytes(data))
        try:
            by_bytes = repr(faceio._core.png_read_meta(bytes(data)))
        except MetadataNotFound:
            by_bytes = None
        except (ValueError, TypeError) as err:
            with pytest.raises(type(err)):
                read_image_meta(path)
            return
        got = read_image_meta(path).get("itxt")
        assert (None if got is None else repr(got)) == by_bytes


# ------------------------------------------------------------ writers refuse what cannot be read
class _Color(__import__("enum").IntEnum):
    RED = 1


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        (np.zeros((2, 2), dtype=np.float32), "numpy.ndarray"),
        ({1, 2}, "set"),
        (frozenset(), "frozenset"),
        (np.float64(1.5), "numpy.float64"),
        (np.int64(3), "numpy.int64"),
        (_Color.RED, "_Color"),
        (
            faceio.PNGSource(2.4, "a.png", 0, "b.png", False, (4, 5)),
            "faceio.header.PNGSource",
        ),
        (object(), "object"),
    ],
)
def test_writers_refuse_values_no_reader_can_parse(
    tmp_path: Path, png_bytes: bytes, header: PNGHeader, bad: object, shown: str
) -> None:
    # What str() would have written is no literal: literal_eval refuses it (or, for a set,
    # its order follows string hashing, so the bytes change from run to run).
    d = header.to_dict()
    d["alignments"]["identity"]["vggface2"][7] = bad
    where = re.escape("['alignments']['identity']['vggface2'][7] is a ") + r"\S*" + re.escape(shown)
    path = tmp_path / "face.png"
    original = png_write_meta(png_bytes, header)
    path.write_bytes(original)
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    for write in (
        lambda: pack_to_itxt(d),
        lambda: png_write_meta(png_bytes, d),
        lambda: faceio.encode_image(image, ".png", metadata=d),
        lambda: faceio.update_existing_metadata(path, d),
    ):
        with pytest.raises(faceio.MetadataValueError, match=where):
            write()
    assert path.read_bytes() == original
    assert list(tmp_path.iterdir()) == [path]


def test_writers_refuse_bad_keys_and_name_them(png_bytes: bytes) -> None:
    with pytest.raises(
        faceio.MetadataValueError, match=r"\['a'\]\[\(1, np\.int8\(2\)\)\] is a key"
    ):
        pack_to_itxt({"a": {(1, np.int8(2)): 0}})
    with pytest.raises(faceio.MetadataValueError, match=r"\['a'\]\[np\.str_\('k'\)\] is a key"):
        pack_to_itxt({"a": {np.str_("k"): 0}})


def test_every_literal_type_is_written_and_read_back(png_bytes: bytes) -> None:
    import ast

    d = {
        "str": "é \n ' \" \\ \x00 \U0001f600",
        "bytes": bytes(range(256)),
        "ints": [0, -1, 2**70, -(2**64)],
        "floats": [0.1, -0.0, 1e-310, 1.7976931348623157e308],
        "complex": [1j, complex(2.5, -3)],
        "consts": [True, False, None],
        "tuple": (1, ("x", b"y"), ()),
        "empty": [[], {}, ()],
        (1, "t"): {2.5: "float key", None: "none key", b"k": "bytes key", False: 0},
    }
    chunk = pack_to_itxt(d)
    payload = chunk[8 + 13 : -4].decode("utf-8")
    assert ast.literal_eval(payload) == d
    assert png_read_meta(insert_before_idat(png_bytes, chunk)) == d


def test_writers_refuse_nesting_the_reader_refuses(png_bytes: bytes) -> None:
    depth = faceio.get_limits()["max_depth"]

    def nested(levels: int) -> dict[str, object]:
        value: object = 1
        for _ in range(levels - 1):
            value = [value]
        return {"k": value}

    png = png_write_meta(png_bytes, nested(depth))
    assert png_read_meta(png) == nested(depth)
    # One level more, written as bytes (taken as they are): the reader refuses it.
    deeper = b"{'k': " + b"[" * depth + b"1" + b"]" * depth + b"}"
    with pytest.raises(MetadataSyntaxError):
        png_read_meta(png_write_meta(png_bytes, deeper))
    with pytest.raises(faceio.MetadataValueError, match=f"more than {depth} levels"):
        png_write_meta(png_bytes, nested(depth + 1))
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(faceio.MetadataValueError, match=r"^.*\['self'\]\['self'\]"):
        pack_to_itxt(loop)
