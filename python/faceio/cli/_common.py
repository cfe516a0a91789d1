"""What every command shares apart from printing: exit statuses, usage errors, the listing."""

from __future__ import annotations

import argparse
import os

from faceio._files import FolderListing, walk_folder

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2

#: The files the commands read as faces: PNG (the iTXt header) and TIFF (ImageDescription).
FACE_EXTENSIONS: tuple[str, ...] = (".png", ".tif", ".tiff")

#: How the help texts name :data:`FACE_EXTENSIONS`.
FACE_FILES = "*.png, *.tif and *.tiff files"


class UsageError(Exception):
    """A command line the parser accepted but that cannot be run (a missing folder or file)."""


def add_recursive(parser: argparse.ArgumentParser) -> None:
    """Give a folder command its ``-r/--recursive`` option."""
    parser.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="read the sub-folders too (default: only the files directly in FOLDER)",
    )


def check_folder(folder: str) -> None:
    """Raise :class:`UsageError` naming the real problem unless ``folder`` is a folder."""
    if not os.path.lexists(folder):
        raise UsageError(f"{folder}: no such folder")
    if not os.path.exists(folder):
        raise UsageError(f"{folder}: a broken symbolic link, not a folder")
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: is a file, not a folder")


def list_faces(folder: str, recursive: bool = False) -> FolderListing:
    """List the face files of ``folder`` (sorted), the entries that failed, what was left out.

    Raises
    ------
    UsageError
        If ``folder`` does not exist, is not a folder, or cannot be listed.
    """
    check_folder(folder)
    try:
        return walk_folder(folder, FACE_EXTENSIONS, recursive)
    except OSError as err:
        raise UsageError(f"{folder}: cannot list the folder ({err.strerror or err})") from None


def plural(count: int, word: str) -> str:
    """``"1 file"``, ``"2 files"``, with thousands separators."""
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def subfolder_note(listing: FolderListing) -> str:
    """Say how many sub-folders were left unread, or nothing (``""``)."""
    if not listing.subfolders:
        return ""
    return f"{plural(listing.subfolders, 'subfolder')} not read (-r reads them)"
