"""The one-line drop-in for faceswap's ``lib/image.py``.

Replace the whole body of faceswap's ``lib/image.py`` with::

    from faceio.faceswap import *  # noqa: F403

and faceswap's tools, scripts and plugins run on faceio. Importing this module, inside a
faceswap checkout:

- makes every faceio reader build faceswap's own header classes (``PNGHeader``,
  ``PNGAlignments``, ``PNGSource``, ``MaskAlignmentsFile`` from ``lib.align.objects``), so
  faceswap's ``isinstance`` checks pass; the writers take them through their ``to_dict()``;
- makes the loaders and the saver raise faceswap's ``FaceswapError`` (from ``lib.utils``) for
  a missing or unusable location, as faceswap's own ``lib.image`` does: faceswap's launcher
  shows that type as a plain message and anything else as a crash report;
- exports the names of faceswap's ``lib.image``.

Both settings are process-wide. To undo the drop-in, restore faceswap's original
``lib/image.py`` (``git checkout lib/image.py`` in the faceswap checkout).
"""

from __future__ import annotations

from faceio import _imageio
from faceio import header as _header
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
from faceio.metadata import (
    pack_to_itxt,
    png_read_meta,
    png_write_meta,
    read_image_meta,
    read_image_meta_batch,
    tiff_read_meta,
    tiff_write_meta,
    update_existing_metadata,
)

try:
    from lib.align.objects import (  # type: ignore[import-not-found]
        MaskAlignmentsFile,
        PNGAlignments,
        PNGHeader,
        PNGSource,
    )
    from lib.utils import FaceswapError  # type: ignore[import-not-found]
except ImportError as _err:
    raise ImportError(
        "faceio.faceswap is the drop-in for faceswap's lib/image.py: it needs faceswap's "
        f"lib.align.objects and lib.utils on the import path ({_err}). Outside faceswap, "
        "use `import faceio`."
    ) from _err

__all__ = [
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

_header.set_header_classes(
    header=PNGHeader, alignments=PNGAlignments, source=PNGSource, mask=MaskAlignmentsFile
)
_imageio._location_error = FaceswapError
