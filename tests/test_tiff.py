"""TIFF ImageDescription: identical bytes by docs/format.md ("TIFF"), clear errors for others."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceio
from faceio import (
    MetadataNotFound,
    MetadataSyntaxError,
    TiffFormatError,
    tiff_read_meta,
    tiff_write_meta,
)

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}


def rule_insert(tiff: bytes, payload: bytes) -> bytes:
    """docs/format.md, "TIFF", written out independently with struct."""
    (ifd,) = struct.unpack("<I", tiff[4:8])
    (n,) = struct.unpack("<H", tiff[ifd : ifd + 2])
    ifd_end = ifd + 2 + 12 * n + 4
    new_entry = struct.pack("<HHII", 270, 2, len(payload), len(tiff) + 12)
    entries, placed = [], False
    for i in range(n):
        tag, kind, count, value = struct.unpack("<HHII", tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i])
        if tag > 270 and not placed:
            entries.append(new_entry)
            placed = True
        if count * TYPE_SIZES[kind] > 4 and value >= ifd_end:
            value += 12
        entries.append(struct.pack("<HHII", tag, kind, count, value))
    if not placed:
        entries.append(new_entry)
    return tiff[:ifd] + struct.pack("<H", n + 1) + b"".join(entries) + tiff[ifd_end - 4 :] + payload


@pytest.fixture
def tiff_bytes(rng) -> bytes:
    image = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    return cv2.imencode(".tif", image)[1].tobytes()


def test_write_identical_bytes(tiff_bytes: bytes) -> None:
    meta = {"matrix": [[1.0, 0.5, -2.0]], "name": "é"}
    payload = json.dumps(meta, ensure_ascii=True).encode("ascii")
    expected = rule_insert(tiff_bytes, payload)
    assert tiff_write_meta(tiff_bytes, meta) == expected
    assert tiff_write_meta(tiff_bytes, payload) == expected


def test_opencv_decodes_written_file_and_read_round_trips(tiff_bytes: bytes, rng) -> None:
    meta = {"a": [1, 2, 3], "b": "text"}
    out = tiff_write_meta(tiff_bytes, meta)
    assert tiff_read_meta(out) == meta
    before = cv2.imdecode(np.frombuffer(tiff_bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    after = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(before, after)


def test_encode_image_tif_with_metadata(rng) -> None:
    image = (rng.random((8, 9, 3)) * 255).astype(np.uint8)
    plain = cv2.imencode(".tif", image)[1].tobytes()
    meta = {"k": 1.5}
    got = faceio.encode_image(image, ".TIF", metadata=meta)
    assert got == rule_insert(plain, json.dumps(meta).encode())


def test_trailing_nul_tolerated(tiff_bytes: bytes) -> None:
    out = tiff_write_meta(tiff_bytes, b'{"x": 1}\0')
    assert tiff_read_meta(out) == {"x": 1}


def test_no_description(tiff_bytes: bytes) -> None:
    with pytest.raises(MetadataNotFound, match="no ImageDescription"):
        tiff_read_meta(tiff_bytes)


def test_description_not_json(tiff_bytes: bytes) -> None:
    with pytest.raises(MetadataSyntaxError, match="not valid JSON"):
        tiff_read_meta(tiff_write_meta(tiff_bytes, b"{'python': 1}"))


def _patch(data: bytes, at: int, fmt: str, value: int) -> bytes:
    return data[:at] + struct.pack(fmt, value) + data[at + struct.calcsize(fmt) :]


def test_unsupported_forms(tiff_bytes: bytes) -> None:
    (ifd,) = struct.unpack("<I", tiff_bytes[4:8])
    (n,) = struct.unpack("<H", tiff_bytes[ifd : ifd + 2])
    cases = {
        "big-endian": b"MM" + tiff_bytes[2:],
        "BigTIFF": _patch(tiff_bytes, 2, "<H", 43),
        "outside the file": _patch(tiff_bytes, 4, "<I", len(tiff_bytes) + 100),
        "several IFDs": _patch(tiff_bytes, ifd + 2 + 12 * n, "<I", 8),
        "runs past the end": _patch(tiff_bytes, ifd + 2 + 12 * 2 + 8, "<I", len(tiff_bytes) - 2),
        "already has an ImageDescription": tiff_write_meta(tiff_bytes, {"a": 1}),
        "empty file": b"",
        "not a TIFF": b"GIF89a" + b"\0" * 20,
    }
    for needle, data in cases.items():
        with pytest.raises(TiffFormatError) as info:
            tiff_write_meta(data, {"a": 1})
        assert needle in str(info.value), (needle, str(info.value))


def test_truncations_never_crash(tiff_bytes: bytes) -> None:
    out = tiff_write_meta(tiff_bytes, {"a": 1})
    for cut in range(0, len(out), 7):
        try:
            tiff_read_meta(out[:cut])
        except (TiffFormatError, MetadataNotFound, MetadataSyntaxError):
            pass


def test_size_of_a_tiff_whose_width_has_several_values(tmp_path: Path) -> None:
    """ImageWidth with 3 values holds an offset, not the width: never reported as the size.

    (An input the tiff_rewrite fuzz target found: faceio reported an offset, 204, as the width.)
    """
    import cv2
    import numpy as np

    from faceio import UnsupportedFormatError, read_image_meta

    seed = Path(__file__).parent.parent / "fuzz/seeds/tiff_rewrite/image-width-three-values"
    path = tmp_path / "odd.tif"
    path.write_bytes(seed.read_bytes())
    decoded = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        with pytest.raises(UnsupportedFormatError, match=r"odd\.tif"):
            read_image_meta(path)
    else:
        assert read_image_meta(path) == {"width": decoded.shape[1], "height": decoded.shape[0]}


def _entry(tag: int, kind: int, count: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag, kind, count) + value.ljust(4, b"\0")


def _tiff_with_exif(comment_after_main_ifd: bool) -> tuple[bytes, np.ndarray, bytes]:
    """A 4x4 RGB strip TIFF whose Exif IFD (one UserComment) lies before the main IFD; the
    comment's bytes before the main IFD or after it. Returns the file, its pixels (BGR) and
    the comment."""
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    comment = b"ASCII\0\0\0made by camera X, serial 12345"
    strip = pixels[:, :, ::-1].tobytes()  # stored as RGB
    exif_at = 8
    exif_end = exif_at + 2 + 12 + 4
    before = b"" if comment_after_main_ifd else comment
    main_at = exif_end + len(before)
    n_main = 11
    main_end = main_at + 2 + 12 * n_main + 4
    bits_at, strip_at = main_end, main_end + 6
    comment_at = strip_at + len(strip) if comment_after_main_ifd else exif_end
    exif = struct.pack("<H", 1) + _entry(37510, 7, len(comment), struct.pack("<I", comment_at))
    entries = [
        _entry(256, 3, 1, struct.pack("<H", 4)),
        _entry(257, 3, 1, struct.pack("<H", 4)),
        _entry(258, 3, 3, struct.pack("<I", bits_at)),
        _entry(259, 3, 1, struct.pack("<H", 1)),
        _entry(262, 3, 1, struct.pack("<H", 2)),
        _entry(273, 4, 1, struct.pack("<I", strip_at)),
        _entry(277, 3, 1, struct.pack("<H", 3)),
        _entry(278, 3, 1, struct.pack("<H", 4)),
        _entry(279, 4, 1, struct.pack("<I", len(strip))),
        _entry(284, 3, 1, struct.pack("<H", 1)),
        _entry(34665, 4, 1, struct.pack("<I", exif_at)),
    ]
    main = struct.pack("<H", n_main) + b"".join(entries) + b"\0" * 4
    data = b"II*\0" + struct.pack("<I", main_at) + exif + b"\0" * 4 + before + main
    data += struct.pack("<HHH", 8, 8, 8) + strip
    if comment_after_main_ifd:
        data += comment
    return data, pixels, comment


def _exif_comment(tiff: bytes) -> bytes:
    """The UserComment of the Exif IFD, found by walking the file's offsets."""
    (main_at,) = struct.unpack_from("<I", tiff, 4)
    (n,) = struct.unpack_from("<H", tiff, main_at)
    for i in range(n):
        tag, _, _, value = struct.unpack_from("<HHII", tiff, main_at + 2 + 12 * i)
        if tag == 34665:
            _, _, count, at = struct.unpack_from("<HHII", tiff, value + 2)
            return tiff[at : at + count]
    raise AssertionError("no Exif IFD")


def test_exif_before_the_main_ifd_is_kept_whole() -> None:
    data, pixels, comment = _tiff_with_exif(comment_after_main_ifd=False)
    assert _exif_comment(data) == comment
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), pixels)
    out = faceio.tiff_write_meta(data, {"face": 1})
    assert faceio.tiff_read_meta(out) == {"face": 1}
    assert _exif_comment(out) == comment
    assert np.array_equal(cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR), pixels)


def test_a_sub_ifd_reaching_past_the_main_ifd_is_refused() -> None:
    # The rewrite moves everything after the main IFD by 12 bytes, and offsets inside a
    # sub-IFD are not moved: its value would be read from the wrong bytes.
    data, _, comment = _tiff_with_exif(comment_after_main_ifd=True)
    assert _exif_comment(data) == comment
    with pytest.raises(TiffFormatError, match="sub-IFD"):
        faceio.tiff_write_meta(data, {"face": 1})


def _ifd(entries: list[tuple[int, int, int, int]], next_ifd: int = 0) -> bytes:
    body = b"".join(struct.pack("<HHII", *e) for e in entries)
    return struct.pack("<H", len(entries)) + body + struct.pack("<I", next_ifd)


def test_sub_ifds_pointing_many_times_at_one_array_are_refused_at_once() -> None:
    """A hostile file: a sub-IFD of 300 SubIFDs entries, each an array of 100,000 pointers
    back to it (400 KB). The walk refuses it within a bounded number of offsets, instead of
    queueing 30 million of them."""
    count, entries = 100_000, 300
    array_at = 8
    sub_at = array_at + 4 * count
    sub = _ifd([(330, 4, count, array_at)] * entries)
    main_at = sub_at + len(sub)
    main = _ifd([(256, 4, 1, 1), (257, 4, 1, 1), (34665, 4, 1, sub_at)])
    data = b"II*\0" + struct.pack("<I", main_at) + struct.pack("<I", sub_at) * count + sub + main
    with pytest.raises(TiffFormatError, match="too many offsets"):
        faceio.tiff_write_meta(data, {"a": 1})


def test_sub_ifds_nested_past_the_walk_are_refused() -> None:
    """A chain of sub-IFDs (each naming the next) five deep, the last after the main IFD:
    refused, not left half checked (its bytes would move, its link would not)."""
    one = 2 + 12 + 4
    subs_at = [8 + i * one for i in range(4)]
    main_at = 8 + 4 * one
    main = _ifd([(256, 4, 1, 1), (257, 4, 1, 1), (34665, 4, 1, subs_at[0])])
    last_at = main_at + len(main)
    chain = [subs_at[1], subs_at[2], subs_at[3], last_at]
    subs = b"".join(_ifd([(0x9000 + i, 7, 4, 0)], chain[i]) for i in range(4))
    last = _ifd([(0x9286, 7, 8, last_at + one)]) + b"COMMENT!"
    data = b"II*\0" + struct.pack("<I", main_at) + subs + main + last
    with pytest.raises(TiffFormatError, match="nested more than 4 deep"):
        faceio.tiff_write_meta(data, {"a": 1})
