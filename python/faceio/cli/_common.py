"""What every command shares apart from printing: exit statuses, usage errors, the PNG listing."""

from __future__ import annotations

import os

from faceio._files import list_folder

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A command line the parser accepted but that cannot be run (a missing folder or file)."""


def list_pngs(folder: str) -> tuple[list[str], int]:
    """List the ``.png`` file names directly in ``folder`` (sorted); count the other files.

    Raises
    ------
    UsageError
        If ``folder`` does not exist or is not a folder.
    """
    if not os.path.exists(folder):
        raise UsageError(f"{folder}: no such folder")
    if not os.path.isdir(folder):
        raise UsageError(f"{folder}: not a folder")
    return list_folder(folder, (".png",))
