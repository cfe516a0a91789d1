"""faceswap's ``lib/image.py`` after the drop-in: one line."""

from faceio.faceswap import *  # noqa: F403
