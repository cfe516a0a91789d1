"""faceio inside faceswap: host header classes, the one-line drop-in, FaceswapError.

The host is a stand-in package (tests/faceswap_host) with faceswap's field names, a to/from-dict
base and a FaceswapError; its ``lib/image.py`` is the one-line drop-in.
"""

from __future__ import annotations

import importlib
import json
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest

import faceio
from faceio import _imageio as imageio_module
from tests.conftest import encode_png, insert_before_idat, itxt_rule, make_header
from tests.test_package import SEED_NAMES

HOST = Path(__file__).parent / "faceswap_host"


def _forget_host() -> None:
    for name in list(sys.modules):
        if name == "lib" or name.startswith("lib.") or name == "faceio.faceswap":
            del sys.modules[name]


def _import_host() -> SimpleNamespace:
    sys.path.insert(0, str(HOST))
    _forget_host()
    return SimpleNamespace(
        image=importlib.import_module("lib.image"),
        objects=importlib.import_module("lib.align.objects"),
        utils=importlib.import_module("lib.utils"),
    )


def _unbind() -> None:
    faceio.set_header_classes()
    imageio_module._location_error = None
    _forget_host()
    while str(HOST) in sys.path:
        sys.path.remove(str(HOST))


@pytest.fixture
def host() -> Iterator[SimpleNamespace]:
    """faceswap's modules with lib/image.py replaced by the drop-in (undone afterwards)."""
    try:
        yield _import_host()
    finally:
        _unbind()


@pytest.fixture
def objects() -> Iterator[ModuleType]:
    """The host's header classes alone, without the drop-in (faceio's classes stay bound)."""
    sys.path.insert(0, str(HOST))
    _forget_host()
    try:
        yield importlib.import_module("lib.align.objects")
    finally:
        _unbind()


def _host_header(objects: ModuleType, seed: int = 3, **kwargs: Any) -> Any:
    return objects.PNGHeader.from_dict(make_header(np.random.default_rng(seed), **kwargs).to_dict())


def _assert_host_header(value: Any, objects: ModuleType, expected: dict[str, Any]) -> None:
    """``value`` is built of the host's classes and holds exactly ``expected``."""
    assert type(value) is objects.PNGHeader
    assert type(value.alignments) is objects.PNGAlignments
    assert type(value.source) is objects.PNGSource
    assert all(type(m) is objects.MaskAlignmentsFile for m in value.alignments.mask.values())
    assert value.alignments.landmarks_xy.dtype == np.float32
    assert all(v.dtype == np.float32 for v in value.alignments.identity.values())
    assert all(m.affine_matrix.shape == (2, 3) for m in value.alignments.mask.values())
    assert type(value.source.source_frame_dims) is tuple
    assert value.to_dict() == expected


def _tiff(rng: np.random.Generator) -> bytes:
    ok, data = cv2.imencode(".tif", (rng.random((8, 8, 3)) * 255).astype(np.uint8))
    assert ok
    return data.tobytes()


# ------------------------------------------------------------------ 1. writers
def test_every_writer_takes_a_host_header(objects: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    header = _host_header(objects)
    plain = header.to_dict()
    chunk = itxt_rule(str(plain).encode("utf-8"))
    png = encode_png(rng)

    assert faceio.pack_to_itxt(header) == chunk
    assert faceio.png_write_meta(png, header) == insert_before_idat(png, chunk)
    image = (rng.random((16, 16, 3)) * 255).astype(np.uint8)
    encoded = cv2.imencode(".png", image)[1].tobytes()
    assert faceio.encode_image(image, ".png", metadata=header) == insert_before_idat(encoded, chunk)
    # JSON has no bytes, so a TIFF takes a header without masks (faceswap's patch writer
    # stores its own dicts there).
    maskless = _host_header(objects, n_masks=0)
    tiff = _tiff(rng)
    written = faceio.tiff_write_meta(tiff, maskless)
    assert written == faceio.tiff_write_meta(tiff, maskless.to_dict())
    expected = json.loads(json.dumps(maskless.to_dict()))
    assert faceio.tiff_read_meta(written) == expected
    assert faceio.tiff_read_meta(faceio.encode_image(image, ".tif", metadata=maskless)) == expected
    with pytest.raises(
        faceio.MetadataValueError, match=r"\['mask'\]\['mask_0'\]\['mask'\] is a bytes"
    ):
        faceio.tiff_write_meta(tiff, header)

    path = tmp_path / "face.png"
    path.write_bytes(faceio.png_write_meta(png, {"old": 1}))
    faceio.update_existing_metadata(path, header)
    assert path.read_bytes() == insert_before_idat(png, chunk)


def test_a_to_dict_that_gives_no_dict_is_refused(png_bytes: bytes) -> None:
    class Odd:
        def to_dict(self) -> list[int]:
            return [1]

    with pytest.raises(TypeError, match=r"Odd.to_dict\(\) returned list"):
        faceio.pack_to_itxt(Odd())
    with pytest.raises(TypeError, match="header object"):
        faceio.png_write_meta(png_bytes, 3.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------ 2. readers
def test_every_reader_builds_the_host_classes(host: SimpleNamespace, tmp_path: Path) -> None:
    objects = host.objects
    rng = np.random.default_rng(9)
    expected = []
    for i in range(6):
        header = make_header(np.random.default_rng(i), n_masks=i % 3, identity_len=(0, 512)[i % 2])
        expected.append(header.to_dict())
        data = insert_before_idat(encode_png(rng), itxt_rule(str(header.to_dict()).encode()))
        (tmp_path / f"face_{i}.png").write_bytes(data)
    paths = [str(tmp_path / f"face_{i}.png") for i in range(6)]

    for path, plain in zip(paths, expected, strict=True):
        with open(path, "rb") as handle:
            _assert_host_header(host.image.png_read_meta(handle.read()), objects, plain)
        _, header = host.image.read_image(path, raise_error=True, with_metadata=True)
        _assert_host_header(header, objects, plain)
    _, headers = host.image.read_image_batch(paths, with_metadata=True)
    for header, plain in zip(headers, expected, strict=True):
        _assert_host_header(header, objects, plain)
    loaded = list(host.image.FacesLoader(str(tmp_path)).load())
    assert [name for name, *_ in loaded] == paths
    for (_, _, header), plain in zip(loaded, expected, strict=True):
        _assert_host_header(header, objects, plain)


def test_payloads_off_the_fast_path_build_host_classes_too(
    host: SimpleNamespace, png_bytes: bytes
) -> None:
    plain = make_header(np.random.default_rng(2)).to_dict()
    # An empty identity vector: the core leaves that to PNGHeader.from_dict.
    plain["source"]["source_frame_dims"] = (5, 6)
    plain["alignments"]["identity"]["empty"] = []
    data = host.image.png_write_meta(png_bytes, plain)
    is_face, _ = faceio._core.png_read_face(data, faceio.get_header_classes().as_tuple())
    assert not is_face  # the general path
    got = host.image.png_read_meta(data)
    expected = make_header(np.random.default_rng(2)).to_dict()
    expected["source"]["source_frame_dims"] = [5, 6]
    expected["alignments"]["identity"]["empty"] = []
    _assert_host_header(got, host.objects, expected)


def test_host_headers_round_trip_through_faceio(host: SimpleNamespace, png_bytes: bytes) -> None:
    header = _host_header(host.objects, seed=11)
    again = host.image.png_read_meta(host.image.png_write_meta(png_bytes, header))
    _assert_host_header(again, host.objects, header.to_dict())


def test_unbinding_restores_faceio_classes(png_bytes: bytes) -> None:
    _import_host()
    try:
        assert faceio.get_header_classes().header.__module__ == "lib.align.objects"
    finally:
        _unbind()
    data = faceio.png_write_meta(png_bytes, make_header(np.random.default_rng(1)))
    assert type(faceio.png_read_meta(data)) is faceio.PNGHeader
    assert faceio.get_header_classes() == faceio.HeaderClasses()


def test_set_header_classes_by_hand(objects: ModuleType, png_bytes: bytes) -> None:
    header = make_header(np.random.default_rng(4))
    data = faceio.png_write_meta(png_bytes, header)
    previous = faceio.set_header_classes(
        header=objects.PNGHeader,
        alignments=objects.PNGAlignments,
        source=objects.PNGSource,
        mask=objects.MaskAlignmentsFile,
    )
    assert previous == faceio.HeaderClasses()
    _assert_host_header(faceio.png_read_meta(data), objects, header.to_dict())
    # One role replaced, the others faceio's own.
    faceio.set_header_classes(source=objects.PNGSource)
    mixed = faceio.png_read_meta(data)
    assert type(mixed) is faceio.PNGHeader and type(mixed.source) is objects.PNGSource


def test_classes_that_do_not_fit_are_refused() -> None:
    class NoSource:
        def __init__(self, alignments: Any) -> None:
            pass

    with pytest.raises(TypeError, match=r"header class .*NoSource"):
        faceio.set_header_classes(header=NoSource)
    with pytest.raises(TypeError, match="must be a class"):
        faceio.set_header_classes(mask=lambda **kw: kw)  # type: ignore[arg-type]
    assert faceio.get_header_classes() == faceio.HeaderClasses()


# ------------------------------------------------------------------ 3. the drop-in
def test_drop_in_exports_faceswaps_names(host: SimpleNamespace) -> None:
    names = set(SEED_NAMES)
    exported = {name for name in vars(host.image) if not name.startswith("_")}
    assert names <= exported
    for name in names:
        assert getattr(host.image, name) is getattr(faceio, name)


def test_location_problems_raise_faceswap_error(host: SimpleNamespace, tmp_path: Path) -> None:
    error = host.utils.FaceswapError
    text = tmp_path / "notes.txt"
    text.write_text("x")
    face = tmp_path / "face.png"
    face.write_bytes(encode_png(np.random.default_rng(0)))
    calls = [
        lambda: host.image.ImagesLoader(str(tmp_path / "missing")),
        lambda: host.image.ImagesLoader([str(face), str(tmp_path / "gone.png")]),
        lambda: host.image.ImagesLoader(str(text)),
        lambda: host.image.FacesLoader(str(face)),
        lambda: host.image.SingleFrameLoader(str(tmp_path / "missing.mp4")),
        lambda: host.image.ImagesSaver(str(tmp_path / "missing")),
        lambda: host.image.ImagesSaver(str(text)),
        lambda: host.image.ImagesSaver(42),
    ]
    for call in calls:
        with pytest.raises(error) as excinfo:
            call()
        # faceio's own exception, with its message, is the cause.
        assert isinstance(excinfo.value.__cause__, (OSError, ValueError, TypeError))
        assert str(excinfo.value) == str(excinfo.value.__cause__)
    # Without the drop-in, faceio's own types.
    _unbind()
    with pytest.raises(FileNotFoundError):
        faceio.ImagesLoader(str(tmp_path / "missing"))
    with pytest.raises(ValueError):
        faceio.ImagesSaver(str(text))


def test_drop_in_outside_faceswap_says_what_it_needs() -> None:
    _forget_host()
    with pytest.raises(ImportError, match=r"lib\.align\.objects"):
        importlib.import_module("faceio.faceswap")
    assert faceio.get_header_classes() == faceio.HeaderClasses()
    assert imageio_module._location_error is None


def test_faceswap_style_tool_flow(host: SimpleNamespace, tmp_path: Path) -> None:
    """What faceswap's alignments and sort tools do with faces, through ``lib.image``."""
    image_mod, objects = host.image, host.objects
    rng = np.random.default_rng(21)
    faces = tmp_path / "faces"
    faces.mkdir()
    saver = image_mod.ImagesSaver(str(faces), as_bytes=True)
    for i in range(4):
        header = _host_header(objects, seed=i)
        face = (rng.random((32, 32, 3)) * 255).astype(np.uint8)
        saver.save(f"face_{i}.png", image_mod.encode_image(face, ".png", metadata=header))
        saver.close()  # faceswap's extract job closes after every frame and keeps saving
    names = sorted(os.listdir(faces))
    assert names == [f"face_{i}.png" for i in range(4)]

    # Sort tool: read the headers of the folder, edit one, write it back in place.
    metas = dict(image_mod.read_image_meta_batch([str(faces / n) for n in names]))
    for path, meta in metas.items():
        header = objects.PNGHeader.from_dict(meta["itxt"])
        header.source.original_filename = os.path.basename(path)
        image_mod.update_existing_metadata(path, header)
    for _, _, header in image_mod.FacesLoader(str(faces)).load():
        assert isinstance(header, objects.PNGHeader)
        assert header.source.original_filename.startswith("face_")


# ------------------------------------------------------------------ byte check of the chunk
def test_host_header_chunk_is_faceswaps_layout(objects: ModuleType) -> None:
    header = _host_header(objects)
    chunk = faceio.pack_to_itxt(header)
    payload = str(header.to_dict()).encode()
    data = b"faceswap\0\0\0\0\0" + payload
    assert chunk[:8] == struct.pack(">I", len(data)) + b"iTXt"
    assert chunk[8:-4] == data
    assert chunk[-4:] == struct.pack(">I", zlib.crc32(b"iTXt" + data))
