"""faceio: fast, sturdy image, face-metadata and video I/O for face-swap pipelines.

A drop-in replacement for faceswap's ``lib.image``: the same names, parameters and return
shapes, with a Rust core for the byte work, and the video reader (``VideoReader``,
``scan_video``, ``count_frames``...) at the top level too. ``import faceio`` does not import
OpenCV or PyAV; the pixel and video parts load them on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from faceio import _core
from faceio.errors import (
    FaceioError,
    HeaderSchemaError,
    MetadataNotFound,
    MetadataSyntaxError,
    MetadataValueError,
    PngFormatError,
    TiffFormatError,
    UnsupportedFormatError,
)
from faceio.header import (
    HeaderClasses,
    MaskAlignmentsFile,
    PNGAlignments,
    PNGHeader,
    PNGSource,
    get_header_classes,
    set_header_classes,
)
from faceio.metadata import (
    get_limits,
    pack_to_itxt,
    png_read_meta,
    png_write_meta,
    read_image_meta,
    read_image_meta_batch,
    read_png_meta,
    set_limits,
    tiff_read_meta,
    tiff_write_meta,
    update_existing_metadata,
    verify_png,
)

__version__: str = _core.__version__

if TYPE_CHECKING:  # the real types of the names loaded on first use, for type checkers
    from faceio.arrow import read_meta_table as read_meta_table
    from faceio.image import (
        batch_convert_color,
        encode_image,
        generate_thumbnail,
        hex_to_rgb,
        read_image,
        read_image_batch,
        rgb_to_hex,
    )
    from faceio.loaders import (
        FacesLoader,
        ImageIO,
        ImagesLoader,
        ImagesSaver,
        SingleFrameLoader,
    )
    from faceio.video import (
        DEFAULT_CACHE_BYTES,
        VIDEO_EXTENSIONS,
        VideoReader,
        count_frames,
        frame_filename,
        is_video_path,
        scan_video,
    )

# Names whose modules import OpenCV or PyAV: loaded when first used (PEP 562).
_LAZY = {
    "batch_convert_color": "faceio.image",
    "encode_image": "faceio.image",
    "generate_thumbnail": "faceio.image",
    "hex_to_rgb": "faceio.image",
    "read_image": "faceio.image",
    "read_image_batch": "faceio.image",
    "rgb_to_hex": "faceio.image",
    "FacesLoader": "faceio.loaders",
    "ImageIO": "faceio.loaders",
    "ImagesLoader": "faceio.loaders",
    "ImagesSaver": "faceio.loaders",
    "SingleFrameLoader": "faceio.loaders",
    # The names that tell a video by its name come from a module without PyAV.
    "VIDEO_EXTENSIONS": "faceio._video_names",
    "frame_filename": "faceio._video_names",
    "is_video_path": "faceio._video_names",
    "DEFAULT_CACHE_BYTES": "faceio.video",
    "VideoReader": "faceio.video",
    "count_frames": "faceio.video",
    "scan_video": "faceio.video",
    # An optional part (faceio[arrow]): needs pyarrow, so left out of __all__ (a star import
    # must not need it).
    "read_meta_table": "faceio.arrow",
}

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "VIDEO_EXTENSIONS",
    "FaceioError",
    "FacesLoader",
    "HeaderClasses",
    "HeaderSchemaError",
    "ImageIO",
    "ImagesLoader",
    "ImagesSaver",
    "MaskAlignmentsFile",
    "MetadataNotFound",
    "MetadataSyntaxError",
    "MetadataValueError",
    "PNGAlignments",
    "PNGHeader",
    "PNGSource",
    "PngFormatError",
    "SingleFrameLoader",
    "TiffFormatError",
    "UnsupportedFormatError",
    "VideoReader",
    "__version__",
    "batch_convert_color",
    "count_frames",
    "encode_image",
    "frame_filename",
    "generate_thumbnail",
    "get_header_classes",
    "get_limits",
    "hex_to_rgb",
    "is_video_path",
    "pack_to_itxt",
    "png_read_meta",
    "png_write_meta",
    "read_image",
    "read_image_batch",
    "read_image_meta",
    "read_image_meta_batch",
    "read_png_meta",
    "rgb_to_hex",
    "scan_video",
    "set_header_classes",
    "set_limits",
    "tiff_read_meta",
    "tiff_write_meta",
    "update_existing_metadata",
    "verify_png",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'faceio' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_LAZY})
