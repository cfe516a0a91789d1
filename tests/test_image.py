"""Pixel functions of faceio.image: read_image, read_image_batch, thumbnails, batch colour."""

from __future__ import annotations

import logging
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

import faceio
from faceio import MetadataNotFound, PNGHeader
from faceio.errors import HeaderSchemaError
from faceio.image import (
    batch_convert_color,
    encode_image,
    generate_thumbnail,
    read_image,
    read_image_batch,
)
from faceio.metadata import png_read_meta
from tests.conftest import make_header


def write(path: Path, image: np.ndarray, ext: str | None = None) -> Path:
    ok, data = cv2.imencode(ext or path.suffix, image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


def no_faceio_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("faceio")]


@pytest.fixture
def bgr(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)


# ----------------------------------------------------- conversions (docs/format.md, "Pixels")
def test_bgr_png_round_trip(tmp_path: Path, bgr: np.ndarray) -> None:
    image = read_image(write(tmp_path / "a.png", bgr), raise_error=True)
    assert image.dtype == np.uint8 and image.shape == (24, 32, 3)
    np.testing.assert_array_equal(image, bgr)


def test_gray_becomes_bgr(tmp_path: Path, bgr: np.ndarray) -> None:
    gray = bgr[:, :, 0].copy()
    image = read_image(write(tmp_path / "g.png", gray), raise_error=True)
    np.testing.assert_array_equal(image, np.repeat(gray[:, :, None], 3, axis=2))


def test_alpha_is_dropped(tmp_path: Path, rng: np.random.Generator) -> None:
    bgra = rng.integers(0, 256, (20, 10, 4), dtype=np.uint8)
    image = read_image(write(tmp_path / "a.png", bgra), raise_error=True)
    assert image.shape == (20, 10, 3) and image.flags.c_contiguous
    np.testing.assert_array_equal(image, bgra[:, :, :3])


def test_16bit_is_scaled(tmp_path: Path, rng: np.random.Generator) -> None:
    img16 = rng.integers(0, 65536, (16, 12, 3), dtype=np.uint16)
    img16[0, 0] = 0
    img16[0, 1] = 65535
    image = read_image(write(tmp_path / "deep.png", img16), raise_error=True)
    expected = np.clip(img16.astype(np.float32) / 65535 * 255, 0, 255).astype(np.uint8)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected)
    assert image[0, 0, 0] == 0 and image[0, 1, 0] == 255


def test_16bit_gray_with_alpha_channel(tmp_path: Path, rng: np.random.Generator) -> None:
    img16 = rng.integers(0, 65536, (16, 12, 4), dtype=np.uint16)
    image = read_image(write(tmp_path / "deep.png", img16), raise_error=True)
    expected = np.clip(img16[:, :, :3].astype(np.float32) / 65535 * 255, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(image, expected)
    gray16 = img16[:, :, 0].copy()
    image = read_image(write(tmp_path / "gray.png", gray16), raise_error=True)
    expected = np.clip(gray16.astype(np.float32) / 65535 * 255, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(image, np.repeat(expected[:, :, None], 3, axis=2))


def test_a_jpeg_keeps_its_stored_pixels_whatever_its_exif_orientation(tmp_path: Path) -> None:
    """A phone's JPEG stores its pixels landscape and says "turn 90 degrees" in EXIF. faceswap's
    read_image decodes with IMREAD_UNCHANGED, which does not turn it (cv2.imread would):
    read_image and read_image_batch give the pixels as stored."""
    image = np.zeros((40, 60, 3), np.uint8)
    image[:10, :20] = 255
    image[20:, 30:] = (0, 0, 255)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    # An APP1 segment: "Exif", then a TIFF IFD with Orientation (tag 0x0112) = 6.
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    app1 = b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd
    data = encoded.tobytes()
    data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]
    path = tmp_path / "phone.jpg"
    path.write_bytes(data)
    assert cv2.imread(str(path)).shape == (60, 40, 3)  # the orientation is there, and read
    expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert expected.shape == (40, 60, 3)
    np.testing.assert_array_equal(read_image(path, raise_error=True), expected)
    np.testing.assert_array_equal(faceio.read_image_batch([path, path])[1], expected)


def test_float_is_clipped_and_scaled(tmp_path: Path, rng: np.random.Generator) -> None:
    img = (rng.random((16, 12, 3)) * 1.6 - 0.3).astype(np.float32)
    image = read_image(write(tmp_path / "f.tiff", img), raise_error=True)
    expected = np.clip(np.clip(img, 0.0, 1.0) * 255, 0, 255).astype(np.uint8)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, expected)
    assert (expected == 0).any() and (expected == 255).any()


def test_float_gray(tmp_path: Path, rng: np.random.Generator) -> None:
    img = rng.random((9, 7)).astype(np.float32)
    image = read_image(write(tmp_path / "f.tif", img), raise_error=True)
    expected = (np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)
    np.testing.assert_array_equal(image, np.repeat(expected[:, :, None], 3, axis=2))


def test_unicode_and_space_path(tmp_path: Path, bgr: np.ndarray) -> None:
    folder = tmp_path / "dossier été 顔"
    folder.mkdir()
    path = write(folder / "visage ü.jpg", bgr)
    image = read_image(str(path), raise_error=True)
    assert image.shape == bgr.shape
    np.testing.assert_array_equal(read_image(path), image)


# ------------------------------------------------------------------ errors
def test_missing_file_logged_or_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "missing file.png"
    with caplog.at_level(logging.ERROR, logger="faceio.image"):
        assert read_image(path) is None
    assert str(path) in caplog.text
    with pytest.raises(FileNotFoundError, match=r"missing file\.png"):
        read_image(path, raise_error=True)


@pytest.mark.parametrize("content", [b"", b"this is not an image at all"])
def test_undecodable_logged_or_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="faceio.image"):
        assert read_image(path) is None
        assert read_image(path, with_metadata=True) is None
    assert len(caplog.records) == 2
    assert all(str(path) in record.getMessage() for record in caplog.records)
    with pytest.raises(ValueError, match=r"broken\.png"):
        read_image(path, raise_error=True)


def test_with_metadata(tmp_path: Path, rng: np.random.Generator, bgr: np.ndarray) -> None:
    header = make_header(rng)
    path = tmp_path / "face.png"
    path.write_bytes(encode_image(bgr, ".png", metadata=header))
    image, meta = read_image(path, raise_error=True, with_metadata=True)
    np.testing.assert_array_equal(image, bgr)
    assert isinstance(meta, PNGHeader) and meta == header
    result = read_image(path, with_metadata=True)
    assert result is not None and result[1] == header


def test_with_metadata_no_header(
    tmp_path: Path, bgr: np.ndarray, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "plain.png", bgr)
    with pytest.raises(MetadataNotFound, match=r"plain\.png"):
        read_image(path, raise_error=True, with_metadata=True)
    with pytest.raises(AssertionError):  # faceswap callers catch this
        read_image(path, raise_error=True, with_metadata=True)
    with caplog.at_level(logging.ERROR, logger="faceio.image"):
        assert read_image(path, with_metadata=True) is None
    assert str(path) in caplog.text
    # Without metadata the same file reads fine.
    np.testing.assert_array_equal(read_image(path, raise_error=True), bgr)


# ------------------------------------------------------------------ read_image_batch
def make_batch(tmp_path: Path, count: int, shape: tuple[int, int] = (20, 30)) -> list[str]:
    paths = []
    for i in range(count):
        image = np.full((*shape, 3), i, dtype=np.uint8)
        image[0, 0] = (i, 255 - i, 7)
        paths.append(str(write(tmp_path / f"img_{i:03d}.png", image)))
    return paths


def test_batch_order_and_shape(tmp_path: Path) -> None:
    paths = make_batch(tmp_path, 23)
    shuffled = paths[::-1][:5] + paths[5:]
    batch = read_image_batch(shuffled)
    assert batch.shape == (len(shuffled), 20, 30, 3) and batch.dtype == np.uint8
    for i, path in enumerate(shuffled):
        np.testing.assert_array_equal(batch[i], read_image(path, raise_error=True))
    assert no_faceio_threads()


def test_batch_with_metadata(tmp_path: Path, rng: np.random.Generator) -> None:
    headers, paths = [], []
    for i in range(9):
        header = make_header(rng, name=f"face_{i}.png")
        path = tmp_path / f"face_{i}.png"
        path.write_bytes(encode_image(np.full((16, 16, 3), i, np.uint8), ".png", metadata=header))
        headers.append(header)
        paths.append(path)
    batch, metas = read_image_batch(paths, with_metadata=True)
    assert batch.shape == (9, 16, 16, 3)
    assert [int(img[0, 0, 0]) for img in batch] == list(range(9))
    assert metas == headers and all(isinstance(m, PNGHeader) for m in metas)


def test_batch_missing_header_names_file(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = make_batch(tmp_path, 3)
    with pytest.raises(MetadataNotFound, match=r"img_000\.png"):
        read_image_batch(paths, with_metadata=True)


@pytest.mark.parametrize(
    ("shapes", "odd"),
    [
        ([(20, 30)] * 5 + [(21, 30)] * 3, 5),
        ([(10, 10)] + [(20, 30)] * 6, 1),
        ([(20, 30)] * 3 + [(20, 31)] + [(20, 30)] * 3, 3),
    ],
)
def test_batch_size_mismatch(tmp_path: Path, shapes: list[tuple[int, int]], odd: int) -> None:
    paths = [
        str(write(tmp_path / f"s_{i}.png", np.zeros((*shape, 3), np.uint8)))
        for i, shape in enumerate(shapes)
    ]
    with pytest.raises(ValueError, match=f"s_{odd}.png") as excinfo:
        read_image_batch(paths)
    assert "same size" in str(excinfo.value)
    assert no_faceio_threads()


def test_batch_without_memory_names_its_first_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One buffer is sized for the batch from its first file: when it cannot be had (a large
    first image, or one whose header claims a size), the MemoryError says which file set it."""
    from faceio import _core

    paths = [write(tmp_path / f"{i}.png", np.zeros((8, 8, 3), np.uint8)) for i in range(3)]

    def no_memory(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(_core, "decode_png_batch", no_memory)
    with pytest.raises(MemoryError, match=r"3 images.*of the size of the first, '.*0\.png'"):
        faceio.read_image_batch(paths)


def test_batch_failed_file(tmp_path: Path) -> None:
    paths = make_batch(tmp_path, 12)
    Path(paths[4]).write_bytes(b"garbage")
    Path(paths[9]).write_bytes(b"garbage too")
    with pytest.raises(ValueError, match=r"img_004\.png"):
        read_image_batch(paths)
    paths[2] = str(tmp_path / "nope.png")
    with pytest.raises(FileNotFoundError, match=r"nope\.png"):
        read_image_batch(paths)
    assert no_faceio_threads()


def _opencv_bgr(path: str) -> np.ndarray:
    """The independent expectation: OpenCV's decode, alpha dropped."""
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_UNCHANGED)
    return image[:, :, :3]


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (64, 64)])
def test_rust_png_path_equals_opencv(
    tmp_path: Path, rng: np.random.Generator, channels: int, shape: tuple[int, int]
) -> None:
    """8-bit BGR and BGRA faces take the Rust decoder, and give exactly OpenCV's pixels."""
    from faceio import _core

    paths = []
    for i in range(7):
        image = (rng.random((*shape, channels)) * 255).astype(np.uint8)
        image[: shape[0] // 2] //= 16  # some smooth, some noisy rows: every PNG filter is used
        level = [0, 1, 9][i % 3]
        path = tmp_path / f"c{channels}_{i}.png"
        path.write_bytes(cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level])[1])
        paths.append(str(path))
    assert _core.decode_png_batch(paths)[3] == bytes(len(paths))  # every file decoded in Rust
    batch = read_image_batch(paths)
    assert batch.flags.writeable and batch.flags.c_contiguous
    np.testing.assert_array_equal(batch, np.stack([_opencv_bgr(p) for p in paths]))


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (64, 64)])
def test_read_image_rust_png_path_equals_opencv(
    tmp_path: Path, rng: np.random.Generator, channels: int, shape: tuple[int, int]
) -> None:
    """Single reads (read_image, the loaders) of 8-bit BGR/BGRA faces take the Rust decoder."""
    from faceio import _core

    for level in (0, 1, 9):
        image = (rng.random((*shape, channels)) * 255).astype(np.uint8)
        image[: shape[0] // 2] //= 16
        path = tmp_path / f"one_{channels}_{level}.png"
        path.write_bytes(cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, level])[1])
        assert _core.decode_png(path.read_bytes()) is not None
        got = read_image(path, raise_error=True)
        assert got.flags.writeable and got.flags.c_contiguous and got.dtype == np.uint8
        np.testing.assert_array_equal(got, _opencv_bgr(str(path)))


def _png_claiming(width: int, height: int) -> bytes:
    """A valid 1x1 RGB PNG whose header is rewritten to claim another size."""
    data = bytearray(cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


@pytest.mark.parametrize("size", [(60_000, 60_000), (4_800, 4_800)])
def test_png_claiming_a_huge_size_is_not_allocated(tmp_path: Path, size: tuple[int, int]) -> None:
    """A few bytes may claim any size: the Rust decoder declines before allocating."""
    from faceio import _core

    data = _png_claiming(*size)
    assert _core.decode_png(data) is None
    # Declined before allocating: in a fresh process, the peak memory stays far below the
    # claimed size (4800 x 4800 x 3 is 69 MB; the interpreter with numpy is about 40 MB).
    # (VmHWM, the peak of this process image; ru_maxrss would carry the parent's over.)
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the peak memory")
    probe = (
        "import sys; from faceio import _core; "
        "assert _core.decode_png(sys.stdin.buffer.read()) is None; "
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    peak_kib = int(
        subprocess.run(
            [sys.executable, "-c", probe], input=data, capture_output=True, check=True
        ).stdout
    )
    assert peak_kib < 60 * 1024, peak_kib
    path = tmp_path / "claims.png"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=r"claims\.png"):
        read_image(path, raise_error=True)
    paths = [str(path), *make_batch(tmp_path, 3)]
    assert _core.decode_png_batch(paths)[0] is None  # no batch allocated from its claim
    with pytest.raises(ValueError, match=r"claims\.png"):
        read_image_batch(paths)


def test_corrupt_png_pixels_fall_back_to_opencv_error(tmp_path: Path) -> None:
    path = Path(make_batch(tmp_path, 1)[0])
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF  # inside the last IDAT: its CRC no longer matches
    path.write_bytes(bytes(data))
    from faceio import _core

    assert _core.decode_png(bytes(data)) is None
    assert read_image(path) is None
    with pytest.raises(ValueError, match=r"img_000\.png"):
        read_image(path, raise_error=True)


def test_rust_png_path_headers_equal_single_reads(tmp_path: Path, rng: np.random.Generator) -> None:
    paths = []
    for i in range(5):
        path = tmp_path / f"f{i}.png"
        meta = {"patch": [i, 2.5]} if i == 3 else make_header(rng, name=f"f{i}.png")
        image = (rng.random((12, 10, 3)) * 255).astype(np.uint8)
        path.write_bytes(encode_image(image, ".png", metadata=meta))
        paths.append(str(path))
    batch, metas = read_image_batch(paths, with_metadata=True)
    assert metas == [png_read_meta(Path(p).read_bytes()) for p in paths]
    assert metas[3] == {"patch": [3, 2.5]}
    np.testing.assert_array_equal(batch, np.stack([_opencv_bgr(p) for p in paths]))


def _face_batch(tmp_path: Path, rng: np.random.Generator, count: int) -> list[str]:
    """Small faces with distinct headers, most of them with a face header's shape."""
    paths = []
    for i in range(count):
        path = tmp_path / f"b{i:03d}.png"
        meta = {"other": [i]} if i % 7 == 3 else make_header(rng, n_masks=1, name=f"b{i}.png")
        image = np.full((6, 5, 3), i % 256, np.uint8)
        path.write_bytes(encode_image(image, ".png", metadata=meta))
        paths.append(str(path))
    return paths


def test_rust_png_path_headers_in_order_across_handoffs(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """More files than one hand-off to the converting thread: every header, in input order."""
    from faceio import _core

    paths = _face_batch(tmp_path, rng, 150)
    result = _core.decode_png_batch(paths, faceio.get_header_classes().as_tuple())
    assert result[3] == bytes(150) and len(result[5]) == 150
    faces = [isinstance(header, PNGHeader) for header in result[5]]
    assert faces == [i % 7 != 3 for i in range(150)]
    reversed_paths = paths[::-1]
    batch, metas = read_image_batch(reversed_paths, with_metadata=True)
    assert metas == [png_read_meta(Path(p).read_bytes()) for p in reversed_paths]
    assert [int(image[0, 0, 0]) for image in batch] == [i % 256 for i in range(150)][::-1]


def test_rust_png_path_build_error_reaches_caller(tmp_path: Path, rng: np.random.Generator) -> None:
    from faceio import _core

    paths = _face_batch(tmp_path, rng, 80)
    calls = []

    def header(**fields: object) -> object:
        calls.append(fields)
        if len(calls) == 40:
            raise KeyError("from a header class")
        return fields

    classes = (header, *faceio.get_header_classes().as_tuple()[1:])
    with pytest.raises(KeyError, match="from a header class"):
        _core.decode_png_batch(paths, classes)
    assert len(calls) == 40  # the first error ends the batch: no more headers are built
    assert no_faceio_threads()


@pytest.mark.parametrize("bad", [0, 61, 119])
def test_rust_png_path_failed_file_with_metadata(
    tmp_path: Path, rng: np.random.Generator, bad: int
) -> None:
    """A file whose pixels the core cannot decode goes to OpenCV, which names it."""
    paths = _face_batch(tmp_path, rng, 120)
    # Cut inside the pixel data: the size is still readable (also for the first file, which
    # sets the batch's size), the pixels are not.
    data = Path(paths[bad]).read_bytes()
    Path(paths[bad]).write_bytes(data[: len(data) - 20])
    with pytest.raises(ValueError, match=rf"b{bad:03d}\.png"):
        read_image_batch(paths, with_metadata=True)
    assert no_faceio_threads()


def test_malformed_face_header_in_batch_names_file(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A payload with a face header's keys that does not hold one is not returned as a dict."""
    paths = _face_batch(tmp_path, rng, 40)
    broken = make_header(rng, name="broken.png").to_dict()
    broken["alignments"]["landmarks_xy"] = "not landmarks"
    image = np.zeros((6, 5, 3), np.uint8)
    Path(paths[33]).write_bytes(encode_image(image, ".png", metadata=broken))
    with pytest.raises(HeaderSchemaError, match=r"b033\.png.*landmarks_xy"):
        read_image_batch(paths, with_metadata=True)


def test_other_kinds_fall_back_to_opencv(tmp_path: Path, rng: np.random.Generator) -> None:
    """Grey, 16-bit and JPEG files are not for the Rust decoder; the batch is still right."""
    from faceio import _core

    base = (rng.random((9, 8, 3)) * 255).astype(np.uint8)
    others = {
        "gray.png": cv2.cvtColor(base, cv2.COLOR_BGR2GRAY),
        "deep.png": base.astype(np.uint16) * 257,
    }
    for name, image in others.items():
        paths = [str(write(tmp_path / f"rgb_{i}.png", base)) for i in range(3)]
        paths.append(str(write(tmp_path / name, image)))
        assert _core.decode_png_batch(paths)[3] == bytes([0, 0, 0, 1])  # the last for OpenCV
        batch = read_image_batch(paths)
        np.testing.assert_array_equal(batch[3], read_image(paths[3], raise_error=True))


def test_batch_empty_and_single(tmp_path: Path) -> None:
    assert read_image_batch([]).shape == (0, 0, 0, 3)
    batch, metas = read_image_batch([], with_metadata=True)
    assert batch.shape[0] == 0 and metas == []
    assert read_image_batch(make_batch(tmp_path, 1)).shape == (1, 20, 30, 3)


# ------------------------------------------------------------------ thumbnails
def jpeg(image: np.ndarray, size: int, interpolation: int | None, quality: int) -> np.ndarray:
    if interpolation is not None:
        image = cv2.resize(image, (size, size), interpolation=interpolation)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data


@pytest.mark.parametrize(
    ("side", "size", "quality", "interpolation"),
    [
        (200, 96, 60, cv2.INTER_AREA),
        (50, 96, 60, cv2.INTER_CUBIC),
        (96, 96, 60, None),
        (256, 64, 90, cv2.INTER_AREA),
        (40, 128, 30, cv2.INTER_CUBIC),
    ],
)
def test_thumbnail(
    rng: np.random.Generator, side: int, size: int, quality: int, interpolation: int | None
) -> None:
    image = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    thumb = generate_thumbnail(image, size=size, quality=quality)
    assert thumb.dtype == np.uint8
    np.testing.assert_array_equal(thumb, jpeg(image, size, interpolation, quality))
    assert cv2.imdecode(thumb, cv2.IMREAD_COLOR).shape == (size, size, 3)
    if interpolation is not None:  # the choice of interpolator is visible in the bytes
        other = cv2.INTER_CUBIC if interpolation == cv2.INTER_AREA else cv2.INTER_AREA
        assert not np.array_equal(thumb, jpeg(image, size, other, quality))


def test_thumbnail_defaults(rng: np.random.Generator) -> None:
    image = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    np.testing.assert_array_equal(generate_thumbnail(image), jpeg(image, 96, cv2.INTER_AREA, 60))


# ------------------------------------------------------------------ batch_convert_color
@pytest.mark.parametrize("colorspace", ["BGR2LAB", "BGR2HSV", "BGR2YCrCb", "BGR2RGB"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_batch_convert_color(rng: np.random.Generator, colorspace: str, dtype: type) -> None:
    batch = rng.integers(0, 256, (5, 12, 9, 3), dtype=np.uint8)
    if dtype is np.float32:
        batch = batch.astype(np.float32) / 255
    converted = batch_convert_color(batch, color_space=colorspace)  # faceswap's keyword
    code = getattr(cv2, f"COLOR_{colorspace}")
    expected = np.stack([cv2.cvtColor(image, code) for image in batch])
    assert converted.shape == batch.shape and converted.dtype == batch.dtype
    np.testing.assert_array_equal(converted, expected)


def test_batch_convert_color_errors(rng: np.random.Generator) -> None:
    batch = rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="BGR2NOTHING"):
        batch_convert_color(batch, "BGR2NOTHING")
    with pytest.raises(ValueError, match="N, H, W, C"):
        batch_convert_color(batch[0], "BGR2LAB")


# ------------------------------------------------------------------ encode_image
@pytest.mark.parametrize("empty", [{}, b"", bytearray()])
def test_encode_image_ignores_empty_metadata(rng: np.random.Generator, empty: object) -> None:
    """As faceswap's encode_image: empty metadata writes no chunk, for any extension."""
    image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for ext in (".png", ".tif", ".jpg"):
        plain = cv2.imencode(ext, image)[1].tobytes()
        assert encode_image(image, ext, metadata=empty) == plain
    with pytest.raises(ValueError, match=r"\.jpg"):
        encode_image(image, ".jpg", metadata={"a": 1})


# ------------------------------------------------------------------ mixed batches, per file
def test_mixed_batch_decodes_each_file_where_it_belongs(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    """A JPEG first (OpenCV sizes the batch), RGB PNGs (the core), a 16-bit PNG (OpenCV)."""
    from faceio import _core

    base = (rng.random((9, 8, 3)) * 255).astype(np.uint8)
    paths = [str(write(tmp_path / "first.jpg", base))]
    paths += [str(write(tmp_path / f"rgb_{i}.png", base // (i + 1))) for i in range(4)]
    paths.append(str(write(tmp_path / "deep.png", base.astype(np.uint16) * 257)))
    assert _core.decode_png_batch(paths)[0] is None  # the core cannot size it from a JPEG
    status = _core.decode_png_batch(paths, None, (9, 8))[3]
    assert status == bytes([1, 0, 0, 0, 0, 1])
    batch = read_image_batch(paths)
    np.testing.assert_array_equal(batch, np.stack([read_image(p, raise_error=True) for p in paths]))


def test_batch_raises_the_first_problem_in_input_order(tmp_path: Path) -> None:
    """Whichever file the workers meet first, the error is the first file's in input order."""
    for bad, missing in ((2, 9), (9, 2), (1, 40), (45, 44)):
        paths = make_batch(tmp_path, 48)
        Path(paths[bad]).write_bytes(b"not an image")  # OpenCV's to name
        paths[missing] = str(tmp_path / "gone.png")  # the core's to name
        first = min(bad, missing)
        expected = FileNotFoundError if first == missing else ValueError
        name = "gone" if first == missing else f"img_{bad:03d}"
        with pytest.raises(expected, match=rf"{name}\.png"):
            read_image_batch(paths)
        for path in tmp_path.iterdir():
            path.unlink()
    assert no_faceio_threads()


def test_opencv_file_of_another_size_is_named(tmp_path: Path) -> None:
    paths = make_batch(tmp_path, 5)
    paths[3] = str(write(tmp_path / "odd.jpg", np.zeros((20, 31, 3), np.uint8)))
    with pytest.raises(ValueError, match=r"odd\.jpg' has shape \(20, 31, 3\).*same size"):
        read_image_batch(paths)


# ------------------------------------------------------------------ hostile files
def test_forged_idat_length_is_refused_before_opencv(tmp_path: Path) -> None:
    """An IDAT claiming 0x7fffffff bytes in a small file: refused, not handed to libpng."""
    image = np.zeros((8, 8), np.uint16)  # 16-bit grey: not for the Rust decoder, for OpenCV
    data = bytearray(cv2.imencode(".png", image)[1].tobytes())
    at = data.index(b"IDAT") - 4
    data[at : at + 4] = struct.pack(">I", 0x7FFFFFFF)
    path = tmp_path / "forged.png"
    path.write_bytes(bytes(data))
    with pytest.raises(faceio.PngFormatError, match=r"forged\.png.*IDAT") as excinfo:
        read_image(path, raise_error=True)
    assert excinfo.value.path == str(path)
    good = tmp_path / "good.png"
    good.write_bytes(cv2.imencode(".png", image)[1].tobytes())
    with pytest.raises(faceio.PngFormatError, match=r"forged\.png"):
        read_image_batch([str(good), str(path)])


def test_size_refused_by_opencv_is_a_faceio_error(tmp_path: Path) -> None:
    """A tiny PPM claiming 60000 x 60000: OpenCV's own refusal becomes a faceio error."""
    path = tmp_path / "huge.ppm"
    path.write_bytes(b"P6\n60000 60000\n255\n" + bytes(6))
    with pytest.raises(faceio.UnsupportedFormatError, match=r"huge\.ppm") as excinfo:
        faceio.read_image_meta(path)
    assert excinfo.value.path == str(path) and excinfo.value.__cause__ is not None
    ok = tmp_path / "ok.png"
    ok.write_bytes(cv2.imencode(".png", np.zeros((3, 4, 3), np.uint8))[1].tobytes())
    results = dict(faceio.read_image_meta_batch([path, ok], errors="collect"))
    assert isinstance(results[path], faceio.UnsupportedFormatError)
    assert results[ok] == {"width": 4, "height": 3}
