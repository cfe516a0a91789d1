"""The package as users meet it: public names, exception family, cheap import."""

from __future__ import annotations

import subprocess
import sys

import faceio

# The 20 names of faceswap's lib.image (docs/format.md, "Public names").
SEED_NAMES = [
    "FacesLoader",
    "ImageIO",
    "ImagesLoader",
    "ImagesSaver",
    "SingleFrameLoader",
    "batch_convert_color",
    "encode_image",
    "generate_thumbnail",
    "hex_to_rgb",
    "pack_to_itxt",
    "png_read_meta",
    "png_write_meta",
    "read_image",
    "read_image_batch",
    "read_image_meta",
    "read_image_meta_batch",
    "rgb_to_hex",
    "tiff_read_meta",
    "tiff_write_meta",
    "update_existing_metadata",
]


def test_public_names_exist() -> None:
    assert len(SEED_NAMES) == 20
    for name in [*SEED_NAMES, "PNGHeader", "PNGAlignments", "PNGSource", "MaskAlignmentsFile"]:
        assert callable(getattr(faceio, name)), name
        assert name in faceio.__all__


def test_exception_family() -> None:
    assert issubclass(faceio.FaceioError, ValueError)
    for cls in (
        faceio.PngFormatError,
        faceio.MetadataSyntaxError,
        faceio.TiffFormatError,
        faceio.MetadataNotFound,
    ):
        assert issubclass(cls, faceio.FaceioError)
    assert issubclass(faceio.MetadataNotFound, AssertionError)
    err = faceio.PngFormatError("boom", path="a.png", offset=12)
    assert (str(err), err.path, err.offset) == ("boom", "a.png", 12)


def test_import_does_not_load_opencv_or_pyav() -> None:
    # numpy too: a metadata scan that never builds arrays starts without it.
    mods = "('cv2', 'av', 'numpy')"
    code = f"import sys, faceio; print(sorted(m for m in {mods} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# The video names the README and faceio.video's docstring give, at the top level too.
VIDEO_NAMES = [
    "DEFAULT_CACHE_BYTES",
    "VIDEO_EXTENSIONS",
    "VideoReader",
    "count_frames",
    "frame_filename",
    "is_video_path",
    "scan_video",
]


def test_video_names_at_the_top_level() -> None:
    import faceio.video

    for name in VIDEO_NAMES:
        assert name in faceio.__all__, name
        assert name in dir(faceio), name
        assert getattr(faceio, name) is getattr(faceio.video, name), name


def test_video_names_load_pyav_only_when_used() -> None:
    code = (
        "import sys, faceio\n"
        "assert faceio.is_video_path('a.MP4') and '.mkv' in faceio.VIDEO_EXTENSIONS\n"
        "assert faceio.frame_filename('x/clip.mp4', 0) == 'clip_000001.mp4'\n"
        "print(sorted(m for m in ('av', 'cv2', 'numpy') if m in sys.modules))\n"
        "from faceio import VideoReader, count_frames, scan_video\n"
        "print('av' in sys.modules, VideoReader.__name__, callable(scan_video))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "True VideoReader True"]


def test_lazy_names_resolve() -> None:
    code = "import faceio; faceio.encode_image; faceio.ImagesLoader; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_hex_rgb() -> None:
    assert faceio.hex_to_rgb("#0d25ac") == (13, 37, 172)
    assert faceio.rgb_to_hex((0, 255, 255)) == "#00ffff"
    for value in [(0, 0, 0), (255, 128, 1), (12, 200, 99)]:
        assert faceio.hex_to_rgb(faceio.rgb_to_hex(value)) == value
    for bad in ("#12345", "#gg0000", "", "#1234567"):
        try:
            faceio.hex_to_rgb(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    for bad_rgb in [(256, 0, 0), (-1, 0, 0), (1, 2)]:
        try:
            faceio.rgb_to_hex(bad_rgb)  # type: ignore[arg-type]
        except ValueError:
            continue
        raise AssertionError(bad_rgb)


def test_tests_run_against_the_installed_package() -> None:
    """CI sets FACEIO_EXPECT_INSTALLED: the wheel, not the source tree, must be under test."""
    import os

    import pytest

    if os.environ.get("FACEIO_EXPECT_INSTALLED") != "1":
        pytest.skip("only meaningful in CI, which installs the wheel")
    assert "site-packages" in faceio.__file__, faceio.__file__
    assert "site-packages" in faceio._core.__file__


def test_core_stub_matches_the_extension() -> None:
    """_core.pyi declares exactly what the compiled module exports."""
    import ast
    import inspect
    from pathlib import Path

    from faceio import _core

    stub = Path(faceio.__file__).with_name("_core.pyi")
    tree = ast.parse(stub.read_text())
    declared = {
        getattr(node, "name", None) or node.target.id  # type: ignore[union-attr]
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AnnAssign))
    } - {"__version__"}
    exported = {name for name in dir(_core) if not name.startswith("_")}
    assert declared == exported
    for name in declared:
        obj = getattr(_core, name)
        if inspect.isbuiltin(obj):
            assert obj.__doc__, name
    assert (stub.parent / "py.typed").exists()
