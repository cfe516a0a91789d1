"""The one folder lister, for the loaders and the command line (no numpy, no OpenCV)."""

from __future__ import annotations

import os

__all__ = ["IMAGE_EXTENSIONS", "list_folder"]

#: What the loaders take from a folder (faceswap's list), compared lower-cased.
IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".exr", ".jpeg", ".jpg", ".png", ".tif", ".tiff")


def list_folder(folder: str, extensions: tuple[str, ...]) -> tuple[list[str], int]:
    """List the files directly in ``folder`` whose lower-cased name ends with ``extensions``.

    Returns
    -------
    tuple
        The file names (not paths), sorted, and how many other files the folder holds.
    """
    names: list[str] = []
    others = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            # d_type answers is_file() without a stat for all but symlinks: fast on 1M files.
            if not entry.is_file():
                continue
            if entry.name.lower().endswith(extensions):
                names.append(entry.name)
            else:
                others += 1
    names.sort()
    return names, others
