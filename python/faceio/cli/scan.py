"""``faceio scan``: read every header of a face folder and summarise them."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from faceio._files import FolderEntry, FolderListing
from faceio.cli._common import (
    EXIT_BAD,
    EXIT_OK,
    FACE_FILES,
    UsageError,
    add_recursive,
    list_faces,
    plural,
)
from faceio.cli._faces import check_face, read_metas
from faceio.cli._output import reason, table, terminal_bar
from faceio.errors import HeaderSchemaError
from faceio.header import is_face_header

__all__ = ["scan_folder"]

_log = logging.getLogger("faceio.cache")

_TOP = 10  # rows shown per list in the text summary before "... and N more"

# faceswap names a video's frames "<video stem>_<frame number>.<ext>"; the stem names the video.
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)_\d+\.[^.]*$")


class Facts(NamedTuple):
    """What the summary takes from one file: the same whether just read or cached.

    ``kind`` is ``"error"`` (unreadable: ``error`` says why), ``"none"`` (no header),
    ``"other"`` (a header that is not a face header), ``"schema"`` (a face header that does
    not match the schema: ``error`` says why) or ``"face"``; the other fields are a face's.
    ``origin`` names the source: a video by its frames' common stem, else the frame's name.
    ``original`` is ``None`` unless ``original_filename`` is a string.
    """

    kind: str
    error: str | None = None
    size: str | None = None
    landmarks: int = 0
    masks: tuple[str, ...] = ()
    identity: tuple[str, ...] = ()
    version: str | None = None
    frame: str | None = None
    origin: str | None = None
    video: bool = False
    original: str | None = None


def file_facts(path: str, meta: dict[str, Any] | tuple[Any, ...] | Exception) -> Facts:
    """Take a file's :class:`Facts` from its metadata (or its failure).

    ``meta`` may also be the facts the core took of a face header while reading it (a tuple,
    from ``read_metas(..., facts=True)``): the same :class:`Facts` as from the header's dict.
    """
    if isinstance(meta, tuple):
        return _face_facts(*meta)
    if isinstance(meta, Exception):
        return Facts("error", reason(meta, path))
    size = f"{meta['width']}x{meta['height']}"
    payload = meta.get("itxt")
    if payload is None:
        return Facts("none", size=size)
    if not is_face_header(payload):
        return Facts("other", size=size)
    try:
        # The verdict verify gives, so that both commands call the same files bad.
        check_face(payload)
    except HeaderSchemaError as err:
        return Facts("schema", reason(err, path), size)
    # The schema holds (check_face): only the values' types may still surprise.
    alignments, source = payload["alignments"], payload["source"]
    landmarks = alignments["landmarks_xy"]
    return _face_facts(
        meta["width"],
        meta["height"],
        len(landmarks) if isinstance(landmarks, (list, tuple)) else 0,
        tuple(map(str, alignments.get("mask") or ())),
        tuple(map(str, alignments.get("identity") or ())),
        source["alignments_version"],
        source["source_filename"],
        source["source_is_video"],
        source["original_filename"],
    )


def _face_facts(
    width: int,
    height: int,
    landmarks: int,
    masks: tuple[str, ...],
    identity: tuple[str, ...],
    version: object,
    frame: object,
    video: object,
    original: object,
) -> Facts:
    """Make a face's :class:`Facts` from its header's values (the last four as stored)."""
    frame = str(frame)
    is_video = bool(video)
    match = _VIDEO_FRAME.match(frame) if is_video else None
    return Facts(
        "face",
        None,
        f"{width}x{height}",
        landmarks,
        masks,
        identity,
        str(version),
        frame,
        match.group("video") if match else frame,
        is_video,
        original if isinstance(original, str) else None,
    )


class _ScanStats:
    """Counters of a folder's headers, updated one file at a time (nothing else is kept)."""

    def __init__(self) -> None:
        self.files = 0
        self.with_header = 0
        self.other_metadata = 0
        self.without_header = 0
        self.schema_errors = 0
        self.renamed = 0
        self.errors: list[dict[str, str]] = []
        self.sizes: Counter[str] = Counter()
        self.source_faces: Counter[str] = Counter()
        self.source_frames: Counter[str] = Counter()
        self.video_sources: set[str] = set()
        self.frames: set[str] = set()
        self.versions: Counter[str] = Counter()
        self.masks: Counter[str] = Counter()
        self.identity: Counter[str] = Counter()
        self.landmarks: Counter[str] = Counter()

    def add(self, name: str, facts: Facts) -> None:
        self.files += 1
        kind = facts.kind
        if kind == "error":
            self.errors.append({"file": name, "error": str(facts.error)})
            return
        self.sizes[str(facts.size)] += 1
        if kind == "none":
            self.without_header += 1
        elif kind == "other":
            self.other_metadata += 1
        elif kind == "schema":
            self.schema_errors += 1
            self.errors.append({"file": name, "error": str(facts.error)})
        else:
            self._add_face(name.rsplit("/", 1)[-1], facts)

    def _add_face(self, name: str, facts: Facts) -> None:
        frame, origin, is_video = str(facts.frame), str(facts.origin), facts.video
        self.with_header += 1
        self.landmarks[str(facts.landmarks)] += 1
        self.masks.update(facts.masks)
        self.identity.update(facts.identity)
        self.versions[str(facts.version)] += 1
        self.source_faces[origin] += 1
        if is_video:
            self.video_sources.add(origin)
        key = f"{origin}\0{frame}"
        if key not in self.frames:
            self.frames.add(key)
            self.source_frames[origin] += 1
        if facts.original != name:
            self.renamed += 1

    def summary(self, folder: str, listing: FolderListing) -> dict[str, Any]:
        def ranked(counter: Counter[str]) -> dict[str, int]:
            return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))

        sources = [
            {
                "source": origin,
                "video": origin in self.video_sources,
                "faces": faces,
                "frames": self.source_frames[origin],
            }
            for origin, faces in ranked(self.source_faces).items()
        ]
        return {
            "folder": folder,
            "files": self.files,
            "other_files": listing.others,
            "subfolders_not_read": listing.subfolders,
            "with_header": self.with_header,
            "other_metadata": self.other_metadata,
            "without_header": self.without_header,
            "schema_errors": self.schema_errors,
            "unreadable": len(self.errors) - self.schema_errors,
            "errors": self.errors,
            "renamed": self.renamed,
            "sizes": ranked(self.sizes),
            "videos": len(self.video_sources),
            "images": len(self.source_faces) - len(self.video_sources),
            "frames": len(self.frames),
            "sources": sources,
            "alignments_versions": ranked(self.versions),
            "masks": ranked(self.masks),
            "identity": ranked(self.identity),
            "landmarks": ranked(self.landmarks),
        }


def scan_folder(
    folder: str | os.PathLike[str],
    *,
    progress: bool = False,
    recursive: bool = False,
    cache: bool = False,
) -> dict[str, Any]:
    """Read every face header of a folder and summarise them, streaming.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder; its ``*.png``, ``*.tif`` and ``*.tiff`` files are read in name order (a
        TIFF's header is its ImageDescription).
    progress : bool
        Show a tqdm bar on stderr (only if stderr is a terminal).
    recursive : bool
        Read the sub-folders too; files are then named by their path from ``folder``.
    cache : bool
        Keep the folder's scan cache (``.faceio-cache.arrow``, docs/format.md, "The scan
        cache"; needs ``pyarrow``): read only the files that are new or changed since it was
        written. The summary is the same either way.

    Returns
    -------
    dict
        The summary, as ``faceio scan --json`` prints it: ``folder``; counts ``files`` (face
        files listed, those that could not be read included), ``other_files`` (other files,
        ignored), ``subfolders_not_read`` (0 when ``recursive``), ``with_header`` (face headers
        that match the schema), ``other_metadata`` (a faceswap header that is not a face
        header), ``without_header``, ``schema_errors`` (face headers that do not match the
        schema: the files ``verify`` calls bad for it), ``unreadable`` (files, and folder
        entries such as symlink loops, that could not be read, or whose header does not
        parse), ``renamed`` (file name differs from ``original_filename``: a note, not an
        error); ``errors``: ``[{"file", "error"}]`` for the unreadable files and the schema
        errors; ``sizes`` (``"WxH"`` to count); ``videos``, ``images`` (source counts),
        ``frames`` (distinct source frames); ``sources``: ``[{"source", "video", "faces",
        "frames"}]`` by faces, descending (a video is named by its frames' common stem);
        ``alignments_versions``, ``masks``, ``identity`` (faces having each name) and
        ``landmarks`` (faces per landmark count), each ``{name: count}`` by count, descending.

    Raises
    ------
    faceio.cli.UsageError
        If the folder does not exist, is not a folder or cannot be listed, or ``cache`` is
        asked for without ``pyarrow`` installed.
    """
    folder = os.fspath(folder)
    listing = list_faces(folder, recursive)
    stats = _ScanStats()
    if cache:
        _add_cached(folder, listing, stats, recursive)
        return stats.summary(folder, listing)
    bar = terminal_bar(len(listing.entries), progress, "scan")
    try:
        for entry, facts in _read_facts(listing):
            stats.add(entry.name, facts)
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return stats.summary(folder, listing)


def _read_facts(listing: FolderListing) -> Iterator[tuple[FolderEntry, Facts]]:
    for entry, meta in read_metas(listing.entries, facts=True):
        yield entry, file_facts(entry.path, meta)


def _add_cached(folder: str, listing: FolderListing, stats: _ScanStats, recursive: bool) -> None:
    """Count every entry into ``stats`` through the folder's cache."""
    try:
        from faceio._folder_cache import FACT_COLUMNS, add_rows, cached_rows
    except ImportError as err:
        raise UsageError(f"--cache needs pyarrow: pip install 'faceio[arrow]' ({err})") from None
    readable = [e for e in listing.entries if e.error is None]
    names, paths = [e.name for e in readable], [e.path for e in readable]
    # The facts are counted while the cache is written (on another thread).
    _, report = cached_rows(
        folder,
        names,
        paths,
        [f.name for f in FACT_COLUMNS],
        recursive=recursive,
        cache_temps=listing.cache_temps,
        use=lambda table: add_rows(stats, listing, table),
    )
    _log.debug("%s: scan cache: %s", folder, report)


def _top(counts: dict[str, int], label: Callable[[str], str] = str) -> list[str]:
    rows = [(label(k), f"{v:,}") for k, v in list(counts.items())[:_TOP]]
    lines = table(rows, indent=4)
    if len(counts) > _TOP:
        lines.append(f"    ... and {len(counts) - _TOP:,} more")
    return lines


def _sources(s: dict[str, Any]) -> tuple[str, list[str]]:
    """Lay out the sources section: its title and rows."""
    title = (
        f"sources: {plural(s['videos'], 'video')}, {plural(s['images'], 'image')}, "
        f"{plural(s['frames'], 'frame')}"
    )
    rows = [("source", "", "faces", "frames")] + [
        (
            src["source"],
            "video" if src["video"] else "image",
            f"{src['faces']:,}",
            f"{src['frames']:,}",
        )
        for src in s["sources"][:_TOP]
    ]
    body = table(rows, indent=4, titled=True)
    if len(s["sources"]) > _TOP:
        body.append(f"    ... and {len(s['sources']) - _TOP:,} more")
    return title, body


def _render(summary: dict[str, Any]) -> str:
    """Render a :func:`scan_folder` summary for people."""
    s = summary
    notes = []
    if s["other_files"]:
        notes.append(f"{plural(s['other_files'], 'other file')} ignored")
    if s["subfolders_not_read"]:
        notes.append(f"{plural(s['subfolders_not_read'], 'subfolder')} not read: -r reads them")
    counts = [
        ("face files", f"{s['files']:,}", f"({'; '.join(notes)})" if notes else ""),
        ("face headers", f"{s['with_header']:,}", ""),
        ("without header", f"{s['without_header']:,}", ""),
        ("unreadable", f"{s['unreadable']:,}", "(listed below)" if s["unreadable"] else ""),
    ]
    if s["other_metadata"]:
        counts.insert(2, ("other metadata", f"{s['other_metadata']:,}", "(not a face header)"))
    if s["schema_errors"]:
        why = "(does not match the face schema; listed below)"
        counts.insert(-1, ("bad header", f"{s['schema_errors']:,}", why))
    if s["renamed"]:
        counts.append(("renamed", f"{s['renamed']:,}", "(file name is not original_filename)"))
    lines = [f"folder {s['folder']}", *table(counts)]

    def section(title: str, body: list[str]) -> None:
        if body:
            lines.extend(["", f"  {title}", *body])

    section("image sizes", _top(s["sizes"]))
    if s["sources"]:
        section(*_sources(s))
    section("alignments versions", _top(s["alignments_versions"]))
    section("masks (faces having each)", _top(s["masks"]))
    section("identity vectors (faces having each)", _top(s["identity"]))
    section("landmarks", _top(s["landmarks"], lambda k: f"{k} points"))
    if s["errors"]:
        lines.extend(["", "  files with problems"])
        lines.extend(f"    {e['file']}: {e['error']}" for e in s["errors"])
    return "\n".join(lines)


def _samples_folder() -> str:
    from importlib.resources import files

    return str(files("faceio") / "samples")


def register(commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Add the ``scan`` command to the parser."""
    parser = commands.add_parser(
        "scan",
        parents=[common],
        help="summarise the headers of a face folder",
        description=f"Read every face header of FOLDER (its {FACE_FILES}; a TIFF's header is "
        "its ImageDescription) and summarise them: files with and without a faceswap header, "
        "headers that do not match the face schema, unreadable files and why, image sizes, "
        "sources, alignments versions, masks, identity vectors, landmark counts. Exit status "
        "1 if a file is unreadable or its header does not match the schema.",
    )
    parser.add_argument(
        "folder", nargs="?", metavar="FOLDER", help="default: the sample faces shipped with faceio"
    )
    add_recursive(parser)
    parser.add_argument(
        "--cache",
        action="store_true",
        help="keep a cache of the headers in FOLDER (.faceio-cache.arrow; needs pyarrow) and "
        "read only the files new or changed since; the summary is the same",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the summary as one JSON document",
    )
    parser.set_defaults(func=run, takes_json=True)


def run(args: argparse.Namespace) -> int:
    """Run ``faceio scan``; return the exit status."""
    if args.folder is None and args.cache:
        # The samples live inside the installed package: no cache is written there.
        raise UsageError("--cache needs a FOLDER")
    folder = args.folder if args.folder is not None else _samples_folder()
    summary = scan_folder(
        folder, progress=not args.quiet, recursive=args.recursive, cache=args.cache
    )
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(_render(summary))
    return EXIT_BAD if summary["errors"] else EXIT_OK
