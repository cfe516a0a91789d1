"""Sizes turned by the EXIF Orientation, as cv2.imread (faceswap's read_image_meta) turns them.

The Exif blocks are written here byte by byte from the TIFF/EXIF layout (docs/format.md, "Image
sizes and EXIF orientation") into images that cv2.imencode made, never by a library that writes
EXIF. Every expected size is OpenCV's own: the shape of ``cv2.imread(path)``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceio

# Stored 40 wide and 24 high: turned, 24 wide and 40 high.
HEIGHT, WIDTH = 24, 40
ORIENTATION = 0x0112


def _image() -> np.ndarray:
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    image[:8, :10] = 255
    image[12:, 20:] = (0, 0, 255)
    return image


def entry(tag: int, kind: int, count: int, value: bytes) -> tuple[int, int, int, bytes]:
    """An IFD entry; ``value`` is its 4 value bytes as stored."""
    assert len(value) == 4
    return tag, kind, count, value


def short(value: int, little: bool = True) -> bytes:
    return struct.pack("<HH" if little else ">HH", value, 0)


def long(value: int, little: bool = True) -> bytes:
    return struct.pack("<I" if little else ">I", value)


def exif_block(
    entries: list[tuple[int, int, int, bytes]],
    *,
    little: bool = True,
    mark: bytes | None = None,
    ifd: int = 8,
    count: int | None = None,
    next_ifd: int = 0,
    tail: bytes = b"",
) -> bytes:
    """A TIFF header and IFD0 as EXIF lays them out: byte-order mark, 42, IFD0's offset from
    the block's start; the entry count, 12-byte entries, the next IFD's offset."""
    e = "<" if little else ">"
    head = (mark or (b"II" if little else b"MM")) + struct.pack(e + "HI", 42, ifd)
    body = struct.pack(e + "H", len(entries) if count is None else count)
    for tag, kind, n, value in entries:
        body += struct.pack(e + "HHI", tag, kind, n) + value
    return head + body + struct.pack(e + "I", next_ifd) + tail


def oriented(value: int, little: bool = True) -> bytes:
    return exif_block([entry(ORIENTATION, 3, 1, short(value, little))], little=little)


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def app1_exif(block: bytes) -> bytes:
    return segment(0xE1, b"Exif\0\0" + block)


def jpeg(before_sof: tuple[bytes, ...] = (), after_sof: tuple[bytes, ...] = ()) -> bytes:
    """cv2.imencode's JPEG with segments put right after SOI and right after SOF."""
    ok, encoded = cv2.imencode(".jpg", _image())
    assert ok
    data = encoded.tobytes()
    sof = data.index(b"\xff\xc0")
    sof_end = sof + 2 + struct.unpack(">H", data[sof + 2 : sof + 4])[0]
    return data[:2] + b"".join(before_sof) + data[2:sof_end] + b"".join(after_sof) + data[sof_end:]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_exif(block: bytes) -> bytes:
    ok, encoded = cv2.imencode(".png", _image())
    assert ok
    data = encoded.tobytes()
    idat = data.index(b"IDAT") - 4
    return data[:idat] + png_chunk(b"eXIf", block) + data[idat:]


def webp_with_exif(block: bytes, flags: int = 0x08) -> bytes:
    """An extended WebP: VP8X (canvas of the image, the Exif flag), cv2's image chunk, EXIF."""
    ok, encoded = cv2.imencode(".webp", _image(), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok
    simple = encoded.tobytes()
    assert simple[12:16] in (b"VP8 ", b"VP8L")
    vp8x = bytes([flags, 0, 0, 0]) + (WIDTH - 1).to_bytes(3, "little")
    vp8x += (HEIGHT - 1).to_bytes(3, "little")
    exif = b"EXIF" + struct.pack("<I", len(block)) + block + b"\0" * (len(block) % 2)
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + simple[12:] + exif
    return b"RIFF" + struct.pack("<I", len(body)) + body


def tiff_with_orientation(orientation: tuple[int, int, bytes] | None, little: bool = True) -> bytes:
    """An uncompressed 8-bit RGB TIFF of the image, with tag 274 (type, count, value bytes)."""
    e = "<" if little else ">"
    pixels = cv2.cvtColor(_image(), cv2.COLOR_BGR2RGB).tobytes()
    entries = [
        (256, 3, 1, short(WIDTH, little)),
        (257, 3, 1, short(HEIGHT, little)),
        (258, 3, 3, b"BPS!"),
        (259, 3, 1, short(1, little)),
        (262, 3, 1, short(2, little)),
        (273, 4, 1, b"PIX!"),
        (277, 3, 1, short(3, little)),
        (278, 3, 1, short(HEIGHT, little)),
        (279, 4, 1, long(len(pixels), little)),
    ]
    if orientation is not None:
        entries.insert(6, (274, *orientation))
    ifd_end = 8 + 2 + 12 * len(entries) + 4
    bps = struct.pack(e + "HHH", 8, 8, 8)
    fixed = [(t, k, n, long(ifd_end, little) if v == b"BPS!" else v) for t, k, n, v in entries]
    fixed = [
        (t, k, n, long(ifd_end + len(bps), little) if v == b"PIX!" else v) for t, k, n, v in fixed
    ]
    return exif_block(fixed, little=little, tail=bps + pixels)


def imread_size(path: Path) -> dict[str, int]:
    image = cv2.imread(str(path))
    assert image is not None, f"OpenCV cannot read {path.name}"
    return {"width": image.shape[1], "height": image.shape[0]}


def faceswap_size(path: Path) -> dict[str, int]:
    """faceswap's read_image_meta rule for the size: IHDR for a .png name, else cv2.imread."""
    if path.suffix.lower() == ".png":
        width, height = struct.unpack(">II", path.read_bytes()[16:24])
        return {"width": width, "height": height}
    return imread_size(path)


def sizes(path: Path) -> tuple[dict[str, int], dict[str, int]]:
    """faceio's size from read_image_meta and from read_image_meta_batch."""
    single = faceio.read_image_meta(path)
    [(_, batch)] = list(faceio.read_image_meta_batch([path]))
    assert isinstance(batch, dict)
    pick = ("width", "height")
    return {k: single[k] for k in pick}, {k: batch[k] for k in pick}


TURNED = {"width": HEIGHT, "height": WIDTH}
STORED = {"width": WIDTH, "height": HEIGHT}


@pytest.mark.parametrize("little", [True, False], ids=["II", "MM"])
@pytest.mark.parametrize("value", range(1, 9))
def test_jpeg_size_is_turned_as_cv2_imread_turns_it(
    tmp_path: Path, value: int, little: bool
) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg((app1_exif(oriented(value, little)),)))
    want = imread_size(path)
    assert want == (TURNED if value >= 5 else STORED)
    assert faceswap_size(path) == want
    assert sizes(path) == (want, want)
    # The pixels come as stored, as faceswap's read_image (IMREAD_UNCHANGED) gives them.
    image = faceio.read_image(path, raise_error=True)
    assert (image.shape[1], image.shape[0]) == (STORED["width"], STORED["height"])


def _hostile_jpegs() -> dict[str, bytes]:
    o6 = entry(ORIENTATION, 3, 1, short(6))
    whole = oriented(6)
    # IFD1 right after a one-entry IFD0 (at 8 + 2 + 12 + 4 = 26), holding Orientation 6.
    ifd1_o6 = struct.pack("<H", 1) + struct.pack("<HHI", ORIENTATION, 3, 1) + short(6) + long(0)
    cases = {
        f"truncated_at_{cut}": jpeg((app1_exif(whole[:cut]),))
        for cut in (0, 1, 4, 8, 9, 10, 16, 19, 20, 21)
    }
    cases.update(
        ifd_past_end=jpeg((app1_exif(exif_block([o6], ifd=5000)),)),
        ifd_at_u32_max=jpeg((app1_exif(exif_block([o6], ifd=0xFFFFFFFF)),)),
        ifd_at_0=jpeg((app1_exif(exif_block([o6], ifd=0)),)),
        huge_count_orientation_first=jpeg((app1_exif(exif_block([o6], count=0xFFFF)),)),
        huge_count_orientation_second=jpeg(
            (app1_exif(exif_block([entry(256, 3, 1, short(5)), o6], count=0xFFFF)),)
        ),
        huge_count_no_orientation=jpeg(
            (app1_exif(exif_block([entry(256, 3, 1, short(5))], count=0xFFFF)),)
        ),
        orientation_0=jpeg((app1_exif(oriented(0)),)),
        orientation_9=jpeg((app1_exif(oriented(9)),)),
        orientation_65535=jpeg((app1_exif(oriented(0xFFFF)),)),
        next_ifd_loops_to_itself=jpeg((app1_exif(exif_block([o6], next_ifd=8)),)),
        next_ifd_loop_no_orientation=jpeg(
            (app1_exif(exif_block([entry(256, 3, 1, short(5))], next_ifd=8)),)
        ),
        orientation_in_ifd1_only=jpeg(
            (app1_exif(exif_block([entry(256, 3, 1, short(5))], next_ifd=26, tail=ifd1_o6)),)
        ),
        long_little=jpeg((app1_exif(exif_block([entry(ORIENTATION, 4, 1, long(6))])),)),
        long_big=jpeg(
            (app1_exif(exif_block([entry(ORIENTATION, 4, 1, long(6, False))], little=False)),)
        ),
        wrong_type_ascii=jpeg((app1_exif(exif_block([entry(ORIENTATION, 2, 1, short(6))])),)),
        count_0=jpeg((app1_exif(exif_block([entry(ORIENTATION, 3, 0, short(6))])),)),
        count_2=jpeg((app1_exif(exif_block([entry(ORIENTATION, 3, 2, short(6))])),)),
        twice_1_then_6=jpeg((app1_exif(exif_block([entry(ORIENTATION, 3, 1, short(1)), o6])),)),
        mark_IM_big_endian=jpeg(
            (
                app1_exif(
                    exif_block(
                        [entry(ORIENTATION, 3, 1, short(6, False))], little=False, mark=b"IM"
                    )
                ),
            )
        ),
        mark_MI_little_endian=jpeg((app1_exif(exif_block([o6], mark=b"MI")),)),
        bad_rational_before=jpeg((app1_exif(exif_block([entry(282, 5, 1, long(5000)), o6])),)),
        bad_rational_after=jpeg((app1_exif(exif_block([o6, entry(282, 5, 1, long(5000))])),)),
        bad_text_before=jpeg((app1_exif(exif_block([entry(271, 2, 100, long(5000)), o6])),)),
        xmp_then_exif=jpeg(
            (segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x/>"), app1_exif(whole))
        ),
        exif_1_then_exif_6=jpeg((app1_exif(oriented(1)), app1_exif(whole))),
        exif_without_orientation_then_6=jpeg(
            (app1_exif(exif_block([entry(305, 2, 3, b"ab\0\0")])), app1_exif(whole))
        ),
        empty_app1_then_exif=jpeg((segment(0xE1, b""), app1_exif(whole))),
        exif_after_sof=jpeg(after_sof=(app1_exif(whole),)),
        exif_1_before_6_after_sof=jpeg((app1_exif(oriented(1)),), (app1_exif(whole),)),
        app2_exif=jpeg((segment(0xE2, b"Exif\0\0" + whole),)),
        prefix_exif_0x=jpeg((segment(0xE1, b"Exif\0X" + whole),)),
        prefix_lowercase=jpeg((segment(0xE1, b"exif\0\0" + whole),)),
        junk_bytes_after_sof=jpeg(after_sof=(b"\x00\x12\x34", app1_exif(whole))),
        junk_bytes_before_sof=jpeg((app1_exif(whole), b"\x00\x12")),
    )
    data = jpeg()
    eoi = data.rindex(b"\xff\xd9")
    cases["exif_after_sos"] = data[:eoi] + app1_exif(whole) + data[eoi:]
    return cases


HOSTILE = _hostile_jpegs()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_malformed_or_unusual_exif_gives_what_opencv_gives(tmp_path: Path, name: str) -> None:
    """However the Exif is laid out or broken, the size is cv2.imread's, and nothing raises."""
    path = tmp_path / f"{name}.jpg"
    path.write_bytes(HOSTILE[name])
    want = imread_size(path)
    assert faceswap_size(path) == want
    assert sizes(path) == (want, want)


def test_hostile_exif_in_one_batch(tmp_path: Path) -> None:
    """The batch reader takes them all at once, in order, each as cv2.imread sizes it."""
    paths = []
    for name, data in sorted(HOSTILE.items()):
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(data)
        paths.append(path)
    got = list(faceio.read_image_meta_batch(paths))
    assert [p for p, _ in got] == paths
    for path, meta in got:
        assert isinstance(meta, dict)
        assert {"width": meta["width"], "height": meta["height"]} == imread_size(path), path.name


@pytest.mark.parametrize("value", range(1, 9))
def test_webp_exif_chunk(tmp_path: Path, value: int) -> None:
    path = tmp_path / "photo.webp"
    path.write_bytes(webp_with_exif(oriented(value)))
    want = imread_size(path)
    assert want == (TURNED if value >= 5 else STORED)
    assert faceswap_size(path) == want
    assert sizes(path) == (want, want)
    # Without the VP8X Exif flag, libwebp's demuxer skips the chunk, and so does OpenCV.
    path.write_bytes(webp_with_exif(oriented(value), flags=0))
    assert sizes(path) == (STORED, STORED) == (imread_size(path),) * 2


@pytest.mark.parametrize("value", range(1, 9))
def test_png_exif_counts_only_when_faceswap_decodes(tmp_path: Path, value: int) -> None:
    """faceswap sizes a .png by IHDR, whatever its eXIf says; a PNG under another name by
    cv2.imread, which turns it."""
    data = png_with_exif(oriented(value, little=value % 2 == 0))
    named_png = tmp_path / "face.png"
    named_png.write_bytes(data)
    assert imread_size(named_png) == (TURNED if value >= 5 else STORED)
    assert faceswap_size(named_png) == STORED
    assert sizes(named_png) == (STORED, STORED)
    named_jpg = tmp_path / "face.jpg"
    named_jpg.write_bytes(data)
    want = imread_size(named_jpg)
    assert want == (TURNED if value >= 5 else STORED)
    assert faceswap_size(named_jpg) == want
    assert sizes(named_jpg) == (want, want)


@pytest.mark.parametrize("little", [True, False], ids=["II", "MM"])
@pytest.mark.parametrize(
    ("orientation", "turned"),
    [
        ((3, 1, b"\x06\0\0\0"), True),  # SHORT 6 (both byte orders store it first)
        ((1, 1, b"\x08\0\0\0"), True),  # BYTE 8
        ((3, 1, b"\x02\0\0\0"), False),  # a mirror keeps the size
        ((3, 1, b"\x09\0\0\0"), False),  # out of range: libtiff ignores it
        ((3, 2, b"\x06\0\x06\0"), False),  # two values: ignored
        ((2, 1, b"\x06\0\0\0"), False),  # ASCII: ignored
        (None, False),
    ],
)
def test_tiff_orientation_is_the_size_opencv_decodes(
    tmp_path: Path, orientation: tuple[int, int, bytes] | None, turned: bool, little: bool
) -> None:
    """OpenCV's TIFF decoder turns the image itself. cv2.imread then refuses the result (so
    faceswap's read_image_meta fails: docs/faceswap.md); faceio gives the size of the pixels
    that cv2.imdecode and faceio.read_image give."""
    if orientation is not None and not little:
        kind, count, value = orientation
        # The same values, stored big-endian in the entry's first bytes.
        size = {1: 1, 2: 1, 3: 2}[kind]
        value = b"".join(
            int.from_bytes(value[i : i + size], "little").to_bytes(size, "big")
            for i in range(0, 4, size)
        )
        orientation = (kind, count, value)
    path = tmp_path / "scan.tif"
    path.write_bytes(tiff_with_orientation(orientation, little))
    decoded = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    want = {"width": decoded.shape[1], "height": decoded.shape[0]}
    assert want == (TURNED if turned else STORED)
    image = faceio.read_image(path, raise_error=True)
    assert {"width": image.shape[1], "height": image.shape[0]} == want
    assert sizes(path) == (want, want)
    if not turned:
        assert faceswap_size(path) == want


def test_bmp_has_no_orientation(tmp_path: Path) -> None:
    path = tmp_path / "image.bmp"
    path.write_bytes(cv2.imencode(".bmp", _image())[1].tobytes())
    assert sizes(path) == (STORED, STORED) == (imread_size(path),) * 2


def test_stray_bytes_before_sof_are_skipped_as_libjpeg_skips_them(tmp_path: Path) -> None:
    """Stray bytes between two markers: libjpeg skips them, and so does faceio's walk."""
    path = tmp_path / "stray.jpg"
    path.write_bytes(HOSTILE["junk_bytes_before_sof"])
    assert imread_size(path) == TURNED
    assert sizes(path) == (TURNED, TURNED)


def _odd_lossless_extended() -> bytes:
    """An extended WebP (VP8X, no flags) around a lossless image chunk of an odd size."""
    rng = np.random.default_rng(1)
    for width in range(8, 80):
        image = rng.integers(0, 255, (width, width + 3, 3), np.uint8)
        simple = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
        if struct.unpack_from("<I", simple, 16)[0] % 2:
            height, width = image.shape[:2]
            vp8x = bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
            body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + simple[12:]
            return b"RIFF" + struct.pack("<I", len(body)) + body
    raise AssertionError("no lossless image chunk of an odd size")


def _webp_kinds() -> dict[str, bytes]:
    lossless = cv2.imencode(".webp", _image(), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    lossy = cv2.imencode(".webp", _image(), [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes()
    assert (lossless[12:16], lossy[12:16]) == (b"VP8L", b"VP8 ")
    return {
        "VP8L": lossless,
        "VP8": lossy,
        "VP8X": webp_with_exif(oriented(6)),
        "VP8X_odd_image": _odd_lossless_extended(),
    }


@pytest.mark.parametrize("kind", ["VP8L", "VP8", "VP8X", "VP8X_odd_image"])
def test_webp_cut_short_or_with_a_wrong_riff_size_is_sized_as_opencv_reads_it(
    tmp_path: Path, kind: str
) -> None:
    """Every length the file could be cut to, bytes appended, and every RIFF size up to the
    file's: faceio gives cv2.imread's size where OpenCV reads the file, and no size where it
    cannot (a file cut short, a RIFF that ends inside a chunk before the image or inside it)."""
    data = _webp_kinds()[kind]
    variants = [data[:n] for n in range(1, len(data))] + [data + bytes(k) for k in (1, 2, 9)]
    variants += [data[:4] + struct.pack("<I", r) + data[8:] for r in range(len(data) + 8)]
    path = tmp_path / "image.webp"
    wrong, readable = [], 0
    for blob in variants:
        path.write_bytes(blob)
        image = cv2.imread(str(path))
        want = None if image is None else {"width": image.shape[1], "height": image.shape[0]}
        try:
            meta = faceio.read_image_meta(path)
            got: dict[str, int] | None = {k: meta[k] for k in ("width", "height")}
        except faceio.UnsupportedFormatError:
            got = None
        readable += want is not None
        if got != want:
            wrong.append((len(blob), blob[4:8].hex(), want, got))
    assert wrong == []
    assert 4 <= readable < len(variants) - 4  # both kinds, not a file OpenCV always refuses


def _webp_header_damage() -> dict[str, bytes]:
    """WebPs whose image header or canvas libwebp refuses, each next to one it takes."""
    kinds = _webp_kinds()
    lossy, lossless, extended = kinds["VP8"], kinds["VP8L"], kinds["VP8X_odd_image"]
    cases = {"lossy": lossy, "lossless": lossless, "extended": extended}

    def changed(data: bytes, at: int, change: Callable[[int], int]) -> bytes:
        out = bytearray(data)
        out[at] = change(out[at])
        return bytes(out)

    cases["lossy_inter_frame"] = changed(lossy, 20, lambda b: b | 0x01)
    cases["lossy_profile_7"] = changed(lossy, 20, lambda b: b | 0x0E)
    cases["lossy_not_shown"] = changed(lossy, 20, lambda b: b & ~0x10)
    for version in (1, 4, 7):  # the top 3 bits of the header's 32-bit word
        name = f"lossless_version_{version}"
        cases[name] = changed(lossless, 24, lambda b, v=version: b | v << 5)
    cases["canvas_wider"] = changed(extended, 24, lambda b: b + 1)
    cases["canvas_narrower"] = changed(extended, 24, lambda b: b - 1)
    cases["canvas_taller"] = changed(extended, 27, lambda b: b + 1)
    return cases


@pytest.mark.parametrize("name", sorted(_webp_header_damage()))
def test_a_webp_image_header_or_canvas_libwebp_refuses_is_not_sized(
    tmp_path: Path, name: str
) -> None:
    """A lossy frame that is not a shown key frame of a known profile, a lossless image of
    another version, an extended file whose canvas is not its image's size: OpenCV reads none,
    and faceio gives no size (it gave the header's); the undamaged files agree too."""
    path = tmp_path / "image.webp"
    path.write_bytes(_webp_header_damage()[name])
    image = cv2.imread(str(path))
    if name in ("lossy", "lossless", "extended"):
        assert image is not None
        assert sizes(path) == ({"width": image.shape[1], "height": image.shape[0]},) * 2
        return
    assert image is None
    with pytest.raises(faceio.UnsupportedFormatError):
        faceio.read_image_meta(path)
