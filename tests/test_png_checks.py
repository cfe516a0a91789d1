"""read_png_meta and verify_png: the stored dict of PNG bytes, and the whole-file check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import faceio
from faceio import (
    MetadataSyntaxError,
    PngFormatError,
    PNGHeader,
    read_image_meta,
    read_png_meta,
    verify_png,
)
from tests.conftest import PNG_SIG, chunk, encode_png, insert_before_idat, itxt_rule, split_chunks


def with_payload(png: bytes, payload: bytes) -> bytes:
    return insert_before_idat(png, itxt_rule(payload))


def test_public_names() -> None:
    for name in ("read_png_meta", "verify_png"):
        assert name in faceio.__all__ and callable(getattr(faceio, name))


@pytest.mark.parametrize(
    "payload",
    [None, b"{'matrix': (1.5, 2), 'raw': b'\\x00'}", b"None", b"[1, 2]"],
    ids=["no-chunk", "dict", "none-literal", "list"],
)
def test_read_png_meta_is_read_image_meta_for_bytes(
    tmp_path: Path, rng: np.random.Generator, payload: bytes | None
) -> None:
    png = encode_png(rng, h=24, w=40)
    data = png if payload is None else with_payload(png, payload)
    path = tmp_path / "face.png"
    path.write_bytes(data)
    got = read_png_meta(data)
    assert got == read_image_meta(path)
    assert (got["width"], got["height"]) == (40, 24)
    assert list(got) == (["width", "height"] if payload is None else ["width", "height", "itxt"])


def test_read_png_meta_gives_the_stored_dict(rng: np.random.Generator, header: PNGHeader) -> None:
    data = with_payload(encode_png(rng), str(header.to_dict()).encode())
    payload = read_png_meta(data)["itxt"]
    assert type(payload) is dict  # not a header object, as png_read_meta gives
    assert PNGHeader.from_dict(payload) == header == faceio.png_read_meta(data)


def test_read_png_meta_errors(rng: np.random.Generator) -> None:
    png = encode_png(rng)
    with pytest.raises(PngFormatError, match="signature"):
        read_png_meta(b"GIF89a not a png")
    with pytest.raises(PngFormatError, match="IHDR"):
        read_png_meta(PNG_SIG + chunk(b"IDAT", b"") + chunk(b"IEND", b""))
    with pytest.raises(PngFormatError):
        read_png_meta(png[:20])
    with pytest.raises(MetadataSyntaxError):
        read_png_meta(with_payload(png, b"{'a': [1, 2"))


def test_verify_png_accepts_good_files(rng: np.random.Generator, header: PNGHeader) -> None:
    png = encode_png(rng)
    verify_png(png)
    verify_png(with_payload(png, str(header.to_dict()).encode()))


def test_verify_png_checks_what_the_readers_skip(rng: np.random.Generator) -> None:
    data = bytearray(with_payload(encode_png(rng), b"{'k': 1}"))
    idat = next(pos for pos, kind, _ in split_chunks(bytes(data)) if kind == b"IDAT")
    data[idat + 8] ^= 0xFF  # pixel data after the header: only the IDAT CRC can tell
    bad = bytes(data)
    assert read_png_meta(bad)["itxt"] == {"k": 1}
    with pytest.raises(PngFormatError, match="CRC mismatch in IDAT"):
        verify_png(bad)


def test_verify_png_structure_errors(rng: np.random.Generator) -> None:
    png = encode_png(rng)
    chunks = split_chunks(png)
    ihdr = chunks[0][2]
    iend = chunks[-1][2]
    with pytest.raises(PngFormatError, match="signature"):
        verify_png(b"\x00" + png[1:])
    with pytest.raises(PngFormatError, match="IEND"):
        verify_png(png[: -len(iend)])
    with pytest.raises(PngFormatError, match="IDAT"):
        verify_png(PNG_SIG + ihdr + iend)
    with pytest.raises(PngFormatError):
        verify_png(png[:-6])  # IEND cut inside its CRC
