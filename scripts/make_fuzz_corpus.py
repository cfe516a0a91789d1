"""Write the seed corpora of the fuzz targets (``fuzz/``) from real faces, deterministically.

Each target gets its own folder, ``OUT/<target>/``:

- ``png_meta``: the bundled sample faces, a small face written by faceio, and the same header
  in each text-chunk form the reader takes (tEXt, zTXt, compressed iTXt), after the first
  IDAT, twice, and not at all; images with an EXIF Orientation for the header reader by
  content (a JPEG's APP1 in both byte orders, before and after SOF; a PNG's eXIf; a WebP's
  EXIF chunk; a TIFF's tag 274), and a bare Exif block;
- ``literal``: the payload texts of those faces, and short texts with every kind of value;
- ``tiff_rewrite``: TIFFs that OpenCV encodes (colour, grey, alpha, several strips), one
  that already has a description, one with its IFD first, and one with an Exif IFD;
- ``png_decode``: small PNGs in every colour type, 16-bit, interlaced, and a face.

Needs faceio (built), numpy and OpenCV. ``.ci/run`` runs it before fuzzing; by hand::

    python scripts/make_fuzz_corpus.py [OUT_FOLDER]   # default: fuzz/corpus
"""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

import faceio
from faceio import MaskAlignmentsFile, PNGAlignments, PNGHeader, PNGSource

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "python" / "faceio" / "samples"
PNG_SIG = b"\x89PNG\r\n\x1a\n"
# The seven passes of Adam7 interlacing: first row, first column, row step, column step.
ADAM7 = (
    (0, 0, 8, 8),
    (0, 4, 8, 8),
    (4, 0, 8, 4),
    (0, 2, 4, 4),
    (2, 0, 4, 2),
    (0, 1, 2, 2),
    (1, 0, 2, 1),
)

# Short payloads: each kind of value the grammar has, in the spellings that are easy to get wrong.
LITERALS = (
    "{'a': [1, 2.5, None, True, False, ...]}",
    "[0, -1, 9223372036854775807, -9223372036854775808, 99999999999999999999, 0x_ff, 0o17, 0b1]",
    "[0.1, -0.0, 1e300, 5e-324, 1_000.5, .5, 1., 1e400, nan, -inf, inf]",
    "[2j, -0j, 1+2j, -1-2.5j, 0x1ffffffffffffffff+1j, nanj, infj]",
    r"""['it\'s', "q", '''tri\nple''', r'\d', u'\u20ac\U0001F600\xe9\101', '\ud800', 'é']""",
    r"[b'\x00\xff\n\t\\', rb'\x', B'a' b'b', b'\777']",
    "('\\N{BULLET}' # a comment\n 'x', '\\N{EM DASH}')",
    "{1, 'a', (2, 3)}",
    "[set(), {}, (), [], (1,), ((1,),), [[[[]]]], {(1, 2): {b'k': [{3}]}}]",
    "1, 'two', [3]",
    "  # leading comment\n{'k': (1,\n 2)}  # trailing\n",
    "'a' \\\n 'b'",
)


def chunk(kind: bytes, data: bytes) -> bytes:
    """Return a PNG chunk: length, type, data and the CRC of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def split_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """Return the (type, whole chunk) pairs of a well-formed PNG."""
    out: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        out.append((png[pos + 4 : pos + 8], png[pos : pos + 12 + length]))
        pos += 12 + length
    return out


def payload_of(png: bytes) -> bytes:
    """Return the text of a PNG's uncompressed faceswap iTXt chunk."""
    for kind, whole in split_chunks(png):
        if kind == b"iTXt" and whole[8:17] == b"faceswap\0":
            return whole[8 + len(b"faceswap") + 5 : -4]
    raise ValueError("no faceswap iTXt chunk")


def with_chunk(png: bytes, new: bytes, after_idat: bool = False) -> bytes:
    """Return a PNG without its faceswap chunk, with ``new`` before (or after) the first IDAT."""
    parts = [whole for _, whole in split_chunks(png) if whole[8:17] != b"faceswap\0"]
    kinds = [whole[4:8] for whole in parts]
    at = kinds.index(b"IDAT") + (1 if after_idat else 0)
    return PNG_SIG + b"".join(parts[:at]) + new + b"".join(parts[at:])


def small_header() -> PNGHeader:
    """Return a complete face header, small: four landmarks, one 8x8 mask, a short identity."""
    rng = np.random.default_rng(12)
    mask = (rng.random((8, 8)) > 0.5).astype(np.uint8) * 255
    return PNGHeader(
        alignments=PNGAlignments(
            x=10,
            y=-3,
            w=40,
            h=41,
            landmarks_xy=(rng.random((4, 2)) * 64).astype(np.float32),
            mask={
                "components": MaskAlignmentsFile(
                    mask=zlib.compress(mask.tobytes()),
                    affine_matrix=rng.normal(size=(2, 3)).astype(np.float32),
                    interpolator=3,
                    stored_size=8,
                    stored_centering="face",
                )
            },
            identity={"vggface2": rng.normal(size=4).astype(np.float32)},
        ),
        source=PNGSource(
            alignments_version=2.3,
            original_filename="frame_000001_0.png",
            face_index=0,
            source_filename="frame_000001.png",
            source_is_video=True,
            source_frame_dims=(72, 128),
        ),
    )


def image(
    h: int, w: int, channels: int, dtype: type[np.unsignedinteger[Any]] = np.uint8
) -> npt.NDArray[np.unsignedinteger[Any]]:
    """Return a deterministic gradient image (a plane if ``channels`` is 1)."""
    top = int(np.iinfo(dtype).max)
    y, x = np.mgrid[0:h, 0:w]
    planes = [(y * 37 + x * 11 + c * 71) % 256 * (top // 255) for c in range(channels)]
    out: npt.NDArray[np.unsignedinteger[Any]] = np.stack(planes, axis=-1).astype(dtype)
    return out[..., 0] if channels == 1 else out


def encode(ext: str, img: npt.NDArray[np.unsignedinteger[Any]]) -> bytes:
    """Return ``img`` encoded by OpenCV."""
    ok, data = cv2.imencode(ext, img)
    if not ok:
        raise RuntimeError(f"OpenCV could not encode {ext}")
    return bytes(data.tobytes())


def interlaced_png(rgb: npt.NDArray[np.unsignedinteger[Any]]) -> bytes:
    """Return an 8-bit RGB PNG with Adam7 interlacing (which OpenCV does not write)."""
    h, w, _ = rgb.shape
    raw = b""
    for y0, x0, dy, dx in ADAM7:
        sub = rgb[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return PNG_SIG + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def sample_faces() -> list[bytes]:
    """Return the bundled sample faces, in name order."""
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.png"))]


def ifd_first_tiff() -> bytes:
    """Return a 2x2 RGB TIFF in two strips, its IFD first and every value after it.

    OpenCV puts the IFD last; with it first, a rewrite moves each out-of-line value and offset.
    """
    tags = (
        (256, 3, 1, 2),
        (257, 3, 1, 2),
        (258, 3, 3, None),  # BitsPerSample: 3 SHORTs, out of line
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 2, None),  # StripOffsets: 2 LONGs, out of line
        (277, 3, 1, 3),
        (278, 3, 1, 1),
        (279, 4, 2, None),  # StripByteCounts
        (284, 3, 1, 1),
    )
    after = 8 + 2 + 12 * len(tags) + 4
    bps, offsets, counts, strips = after, after + 6, after + 14, after + 22
    values = {258: bps, 273: offsets, 279: counts}
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        ifd += struct.pack("<HHII", tag, kind, count, values[tag] if value is None else value)
    tail = struct.pack("<3H", 8, 8, 8) + struct.pack("<2I", strips, strips + 6)
    tail += struct.pack("<2I", 6, 6) + bytes(range(12))
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + tail


def exif_tiff() -> bytes:
    """Return a 2x2 grey TIFF with an Exif IFD (one UserComment) between the header and the IFD.

    Seeds the sub-IFD walk a rewrite makes (a sub-IFD reaching past the main IFD is refused).
    """
    comment = b"ASCII\0\0\0seed"
    exif = struct.pack("<H", 1) + struct.pack("<HHII", 37510, 7, len(comment), 8 + 18)
    exif += struct.pack("<I", 0) + comment
    main_at = 8 + len(exif)
    tags = (
        (256, 3, 1, 2),
        (257, 3, 1, 2),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, None),  # StripOffsets: the pixels right after the IFD
        (277, 3, 1, 1),
        (278, 3, 1, 2),
        (279, 4, 1, 4),
        (34665, 4, 1, 8),  # the Exif IFD
    )
    strip = main_at + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        ifd += struct.pack("<HHII", tag, kind, count, strip if value is None else value)
    pixels = bytes((0, 85, 170, 255))
    return b"II*\0" + struct.pack("<I", main_at) + exif + ifd + struct.pack("<I", 0) + pixels


def exif_block(orientation: int, little: bool = True) -> bytes:
    """Return an Exif block: a TIFF header and IFD0 with an XResolution and an Orientation.

    The XResolution's rational follows the IFD, so the walk reads a value outside IFD0 first.
    """
    e = "<" if little else ">"
    ifd = struct.pack(e + "H", 2)
    ifd += struct.pack(e + "HHII", 282, 5, 1, 8 + 2 + 24 + 4)
    ifd += struct.pack(e + "HHIHH", 274, 3, 1, orientation, 0)
    ifd += struct.pack(e + "I", 0) + struct.pack(e + "II", 72, 1)
    return (b"II" if little else b"MM") + struct.pack(e + "HI", 42, 8) + ifd


def oriented_seeds() -> list[bytes]:
    """Return images whose EXIF Orientation (6) turns their size, in each format that has one."""
    img = image(12, 7, 3)
    jpg = encode(".jpg", img)
    sof = jpg.index(b"\xff\xc0")
    sof_end = sof + 2 + struct.unpack(">H", jpg[sof + 2 : sof + 4])[0]
    app1 = [
        b"\xff\xe1" + struct.pack(">H", 8 + len(block)) + b"Exif\0\0" + block
        for block in (exif_block(6), exif_block(6, little=False))
    ]
    png = encode(".png", img)
    webp = encode(".webp", img)
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes((8, 0, 0, 0))
    height, width = img.shape[:2]
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    block = exif_block(6)
    body = b"WEBP" + vp8x + webp[12:] + b"EXIF" + struct.pack("<I", len(block)) + block
    return [
        jpg[:2] + app1[0] + jpg[2:],
        jpg[:sof_end] + app1[1] + jpg[sof_end:],
        with_chunk(png, chunk(b"eXIf", exif_block(6))),
        b"RIFF" + struct.pack("<I", len(body)) + body,
        tiff_with_orientation(img),
        block,
    ]


def tiff_with_orientation(img: npt.NDArray[np.unsignedinteger[Any]]) -> bytes:
    """Return an uncompressed TIFF of ``img`` (8-bit, 3 channels) with Orientation 6."""
    height, width = img.shape[:2]
    pixels = img.tobytes()
    tags = [
        (256, 3, 1, width),
        (257, 3, 1, height),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (273, 4, 1, None),
        (274, 3, 1, 6),
        (277, 3, 1, 3),
        (278, 3, 1, height),
        (279, 4, 1, len(pixels)),
    ]
    strip = 8 + 2 + 12 * len(tags) + 4
    ifd = struct.pack("<H", len(tags))
    for tag, kind, count, value in tags:
        ifd += struct.pack("<HHII", tag, kind, count, strip if value is None else value)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + pixels


def png_meta_seeds(face: bytes) -> list[bytes]:
    """Return the PNG walker's seeds: real faces and the header in every chunk form."""
    text = payload_of(face)
    z = zlib.compress(text)
    forms = [
        chunk(b"tEXt", b"faceswap\0" + text),
        chunk(b"zTXt", b"faceswap\0\0" + z),
        chunk(b"iTXt", b"faceswap\0\x01\0en\0face\0" + z),
    ]
    seeds = [
        *sample_faces(),
        face,
        with_chunk(face, b""),
        with_chunk(face, forms[0], after_idat=True),
    ]
    seeds += [with_chunk(face, form) for form in forms]
    seeds.append(with_chunk(face, chunk(b"tEXt", b"Comment\0hi") + forms[1] + forms[0]))
    return seeds + oriented_seeds()


def encode_face() -> bytes:
    """Return a small face PNG (16x16 pixels, a small header) as faceio writes it."""
    return faceio.encode_image(image(16, 16, 3), ".png", metadata=small_header())


def main(out: Path) -> None:
    """Write every target's seeds under ``out``."""
    face = encode_face()
    faces = [face, *sample_faces()]
    small = {"rgb": image(8, 8, 3), "rgba": image(8, 8, 4), "grey": image(8, 8, 1)}
    tiff = encode(".tif", image(6, 5, 3))
    corpora: dict[str, list[bytes]] = {
        "png_meta": png_meta_seeds(face),
        "literal": [payload_of(f) for f in faces] + [t.encode() for t in LITERALS],
        "tiff_rewrite": [
            tiff,
            encode(".tif", small["grey"]),
            encode(".tif", small["rgba"]),
            encode(".tif", image(160, 40, 3)),  # several strips: an offset array outside the IFD
            ifd_first_tiff(),
            exif_tiff(),
            faceio.tiff_write_meta(tiff, {"alignments": {"x": 1}}),
        ],
        "png_decode": [
            face,
            *(encode(".png", img) for img in small.values()),
            encode(".png", image(8, 8, 3, np.uint16)),
            encode(".png", image(1, 1, 3)),
            interlaced_png(image(9, 11, 3)),
        ],
    }
    for target, seeds in corpora.items():
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            # Named by content, as libFuzzer names what it adds, so reruns add nothing twice.
            folder.joinpath(hashlib.sha1(seed).hexdigest()).write_bytes(seed)
        print(f"{folder}: {len(seeds)} seeds")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "corpus")
