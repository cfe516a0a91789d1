"""The one folder lister, for the loaders and the command line (no numpy, no OpenCV).

The loaders read a folder flat and let an unreadable entry raise (faceswap's behaviour):
:func:`list_folder`. The command line needs more from a listing, :func:`walk_folder`: each
file's identity (so a file and a link to it are one file), entries whose ``stat`` fails kept as
errors rather than raised, sub-folders counted or walked.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

__all__ = [
    "CACHE_NAME",
    "IMAGE_EXTENSIONS",
    "LEGACY_CACHE_NAMES",
    "FolderEntry",
    "FolderListing",
    "is_cache_file",
    "is_cache_temp",
    "list_folder",
    "walk_folder",
]

#: What the loaders take from a folder (faceswap's list), compared lower-cased.
IMAGE_EXTENSIONS: tuple[str, ...] = (".bmp", ".exr", ".jpeg", ".jpg", ".png", ".tif", ".tiff")

#: The scan cache's file in a folder (faceio/_scan_cache.py), and how its temporary files begin.
CACHE_NAME = ".faceio-cache.arrow"
CACHE_TMP_PREFIX = ".faceio-cache."
#: The files of earlier versions' cache (Parquet, and its file of recent rows): never read
#: (left by an upgrade, they would only go stale), removed when the cache is next written.
LEGACY_CACHE_NAMES = (".faceio-cache.parquet", ".faceio-cache.delta.parquet")


def is_cache_file(name: str) -> bool:
    """Whether a file name is the scan cache's, an older version's, or one of its temporary files.

    The listing leaves them out of every count, so that a summary is the same with and
    without a cache (none of them ends in a face extension, so no face is ever left out).
    """
    if name == CACHE_NAME or name in LEGACY_CACHE_NAMES:
        return True
    return is_cache_temp(name)


def is_cache_temp(name: str) -> bool:
    """Whether a file name is one of the scan cache's temporary files (``.faceio-cache.*.tmp``)."""
    return name.startswith(CACHE_TMP_PREFIX) and name.endswith(".tmp")


def list_folder(
    folder: str, extensions: tuple[str, ...], cache_temps: list[str] | None = None
) -> tuple[list[str], int]:
    """List the files directly in ``folder`` whose lower-cased name ends with ``extensions``.

    Parameters
    ----------
    folder : str
        The folder to list.
    extensions : tuple of str
        Lower-case name endings to take, with the dot.
    cache_temps : list of str, optional
        Where given, the names of the scan cache's temporary files seen are appended (the
        cache sweeps those a killed writer left, without a listing of its own).

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
                if cache_temps is not None and is_cache_temp(entry.name):
                    cache_temps.append(entry.name)
    names.sort()
    return names, others


class FolderEntry(NamedTuple):
    """One file of a :func:`walk_folder` listing, or an entry that could not be looked at.

    A named tuple, as it is made once per file of a listing: a frozen dataclass's ``__init__``
    (a set of each field through ``object.__setattr__``) was a third of a 200,000-file
    listing's time.

    Attributes
    ----------
    name : str
        The path relative to the listed folder, parts joined with ``/`` (the bare file name in a
        flat listing).
    path : str
        The path to open: the listed folder joined with ``name``.
    identity : tuple of int, optional
        ``(st_dev, st_ino)`` of the file itself, links followed: two entries with the same
        identity are one file (a symlink, or a hard link). ``None`` for an error.
    link : bool
        Whether the entry is a symbolic link.
    error : OSError, optional
        Why the entry could not be looked at (its ``stat`` failed: a symlink loop, a dangling
        link, a sub-folder that cannot be listed).
    """

    name: str
    path: str
    identity: tuple[int, int] | None = None
    link: bool = False
    error: OSError | None = None


@dataclass(slots=True)
class FolderListing:
    """What :func:`walk_folder` found.

    Attributes
    ----------
    entries : list of FolderEntry
        The matching files and the entries that could not be looked at, by path (parts
        compared in turn, so a sub-folder's files come together).
    others : int
        Files whose names do not match (and other non-folder entries: sockets, pipes...).
    subfolders : int
        Sub-folders not read: every one in a flat listing, none in a recursive one.
    cache_temps : list of str
        The scan cache's temporary files directly in the listed folder (not counted in
        ``others``), for the cache to sweep those a killed writer left.
    """

    entries: list[FolderEntry] = field(default_factory=list)
    others: int = 0
    subfolders: int = 0
    cache_temps: list[str] = field(default_factory=list)


def walk_folder(folder: str, extensions: tuple[str, ...], recursive: bool = False) -> FolderListing:
    """List the files of ``folder`` whose lower-cased name ends with ``extensions``.

    Unlike :func:`list_folder`, an entry whose ``stat`` fails does not stop the listing: it is
    listed with its error. Symlinked sub-folders are followed when ``recursive``, each real
    folder read once, so a link back to a parent does not loop.

    Parameters
    ----------
    folder : str
        The folder to list.
    extensions : tuple of str
        Lower-case name endings to take, with the dot.
    recursive : bool
        Read sub-folders too (default: count them and leave them).

    Returns
    -------
    FolderListing
        The files, sorted by path, what was left out, and the entries that failed.

    Raises
    ------
    OSError
        If ``folder`` itself cannot be listed.
    """
    listing = FolderListing()
    seen = {_identity(os.stat(folder))}
    todo = [("", folder)]
    # Symlinked sub-folders wait until every real one is read, so that a folder reached both
    # ways is named by its real path whatever order the folders are listed in.
    links: list[tuple[str, str, tuple[int, int]]] = []
    while todo or links:
        if todo:
            prefix, path = todo.pop()
        else:
            links.sort(reverse=True)
            prefix, path, target = links.pop()
            if target in seen:
                continue
            seen.add(target)
        try:
            with os.scandir(path) as it:
                entries = list(it)
            # d_ino is the inode of a non-link entry; its device is the folder's.
            device = os.stat(path).st_dev
        except OSError as err:
            if not prefix:
                raise
            listing.entries.append(FolderEntry(prefix.rstrip("/"), path, error=err))
            continue
        add = listing.entries.append
        for entry in entries:
            # The common entry, a regular file (d_type says so, no stat), handled inline: a
            # call of _take per file took half the listing's time (0.6-0.8 s for 200,000).
            try:
                # Where the folder gives no d_type this stats the entry, which can fail: such
                # an entry goes to _take, which lists it with its error.
                regular = entry.is_file(follow_symlinks=False)
            except OSError:
                regular = False
            if regular:
                name = entry.name
                if name.lower().endswith(extensions):
                    add(FolderEntry(prefix + name, entry.path, (device, entry.inode())))
                elif not is_cache_file(name):
                    listing.others += 1
                elif not prefix and is_cache_temp(name):
                    listing.cache_temps.append(name)
                continue
            sub = _take(entry, prefix, device, extensions, listing)
            if sub is None:
                continue
            if not recursive:
                listing.subfolders += 1
            elif entry.is_symlink():
                links.append((f"{prefix}{entry.name}/", entry.path, sub))
            elif sub not in seen:
                seen.add(sub)
                todo.append((f"{prefix}{entry.name}/", entry.path))
    if recursive:
        listing.entries.sort(key=lambda e: e.name.split("/"))
    else:
        # A flat listing's names hold no "/": the names' own order, without a list per name.
        listing.entries.sort(key=attrgetter("name"))
    return listing


def _identity(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_dev, stat.st_ino


def _why(err: OSError, link: bool) -> OSError:
    """Say what a failed ``stat`` of a symbolic link means, in the error's own message."""
    if not link or err.errno not in (errno.ENOENT, errno.ELOOP):
        return err
    what = "its target does not exist" if err.errno == errno.ENOENT else "it loops"
    return type(err)(err.errno, f"broken symbolic link: {what} ({err.strerror})", err.filename)


def _take(
    entry: os.DirEntry[str],
    prefix: str,
    device: int,
    extensions: tuple[str, ...],
    listing: FolderListing,
) -> tuple[int, int] | None:
    """Add one directory entry to ``listing``; return a sub-folder's identity, else ``None``."""
    name = prefix + entry.name
    link = False
    try:
        # d_type answers these without a stat for all but symlinks: fast on 1M files.
        link = entry.is_symlink()
        if entry.is_dir():
            return _identity(entry.stat()) if link else (device, entry.inode())
        if not entry.is_file():
            if link:
                os.stat(entry.path)  # a dangling link: is_file() said False, stat says why
            listing.others += 1
            return None
        if not entry.name.lower().endswith(extensions):
            if not is_cache_file(entry.name):
                listing.others += 1
            return None
        identity = _identity(entry.stat()) if link else (device, entry.inode())
    except OSError as err:  # a symlink loop (ELOOP), a dangling link, a vanished file
        listing.entries.append(FolderEntry(name, entry.path, link=link, error=_why(err, link)))
        return None
    listing.entries.append(FolderEntry(name, entry.path, identity, link))
    return None
