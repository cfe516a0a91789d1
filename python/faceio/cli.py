"""The ``faceio`` command: scan, show, verify, export and import the headers of a face folder.

Every command that walks a folder lists the ``*.png`` files directly in it (not recursively),
sorted by name, and reads them with the Rust core: ``scan`` and ``export`` through the parallel
batch reader, ``verify`` and ``import`` on a thread pool (the core releases the GIL). Progress
bars (tqdm, when installed) go to stderr, only when stderr is a terminal and ``-q`` is not given.

Exit status: 0 when everything is fine, 1 when a file is bad (unreadable, no header, missing on
import), 2 for usage errors (unknown command or option, missing folder or file). Problems are
reported as one line naming the file; no traceback is shown unless ``--debug`` is given.

The JSON forms (``scan --json``, ``show --json``, ``export``) are documented in
:func:`scan_folder` and :func:`header_record`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import struct
import sys
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, TypeVar

from faceio import _core
from faceio.errors import (
    FaceioError,
    HeaderSchemaError,
    MetadataNotFound,
    MetadataSyntaxError,
)
from faceio.header import PNGHeader, is_face_header
from faceio.metadata import read_image_meta_batch, update_existing_metadata

__all__ = ["header_record", "main", "restore_record", "scan_folder"]

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2

_TOP = 10  # rows shown per list in the text summary before "... and N more"
_T = TypeVar("_T")
_R = TypeVar("_R")

# faceswap names a video's frames "<video stem>_<frame number>.<ext>"; the stem names the video.
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)_\d+\.[^.]*$")
_INTERPOLATORS = {0: "nearest", 1: "linear", 2: "cubic", 3: "area", 4: "lanczos4"}
# Keys that mark a tagged value in the generic JSON form of a non-face payload.
_TAGS = ("__bytes__", "__tuple__", "__set__", "__complex__", "__dict__")


class _UsageError(Exception):
    """A command line the parser accepted but that cannot be run (a missing folder or file)."""


# --------------------------------------------------------------------------------------------
# folder listing, progress, threads


def _list_folder(folder: str) -> tuple[list[str], int]:
    """List the ``.png`` file names directly in ``folder`` (sorted); count the other files."""
    if not os.path.exists(folder):
        raise _UsageError(f"{folder}: no such folder")
    if not os.path.isdir(folder):
        raise _UsageError(f"{folder}: not a folder")
    names: list[str] = []
    others = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            # d_type answers is_file() without a stat for all but symlinks: fast on 1M files.
            if not entry.is_file():
                continue
            if entry.name.lower().endswith(".png"):
                names.append(entry.name)
            else:
                others += 1
    names.sort()
    return names, others


def _progress(total: int | None, enabled: bool, desc: str) -> Any:
    """Make a tqdm bar on stderr, or ``None`` when off (not a terminal, ``-q``, no tqdm)."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="file", file=sys.stderr, leave=False)


def _say(bar: Any, line: str, file: IO[str] | None = None) -> None:
    """Print a line of output, above the progress bar if there is one."""
    if bar is not None:
        bar.write(line, file=file or sys.stdout)
    else:
        print(line, file=file or sys.stdout)


def _ordered_map(fn: Callable[[_T], _R], items: Iterable[_T], workers: int) -> Iterator[_R]:
    """``map(fn, items)`` on a thread pool, in order, with a bounded number of pending calls.

    ``fn`` must not raise (it returns its errors). Leaving the generator early cancels the calls
    not started and joins the threads.
    """
    window = workers * 4
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[_R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _workers() -> int:
    # I/O-bound with the GIL released in the core: more threads than cores hide disk latency.
    return min(32, (os.cpu_count() or 1) + 4)


def _reason(err: BaseException, path: str | None = None) -> str:
    """One line saying what is wrong with a file, without the file name the caller prints."""
    if isinstance(err, OSError):
        return err.strerror or str(err)
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if path is not None and text.startswith(f"{path}: "):
        text = text[len(path) + 2 :]
    if isinstance(err, MetadataNotFound):
        return "no faceswap header"
    if isinstance(err, MetadataSyntaxError):
        return f"header does not parse: {text}"
    if isinstance(err, HeaderSchemaError):
        return f"header does not match the face schema: {text}"
    return text


# --------------------------------------------------------------------------------------------
# JSON forms of a header


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as err:
        raise ValueError(f"{where}: not base64 ({err})") from None


def _has_tuple(value: Any) -> bool:
    """Whether a list/tuple tree holds a tuple (JSON would turn it into a list)."""
    if isinstance(value, tuple):
        return True
    if isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        return any(_has_tuple(v) for v in value)
    return False


def _face_json(payload: dict[str, Any]) -> dict[str, Any] | None:
    """Give the readable JSON form of a face payload, or ``None`` if it would lose anything.

    The readable form is the payload itself with each mask's ``mask`` bytes as a base64 string:
    the schema says where the bytes are. It is used only when it restores exactly: the payload
    passes the schema, masks hold bytes, there are no tuples, and the maps have string keys.
    """
    try:
        PNGHeader.from_dict(payload)
    except (ValueError, TypeError):
        return None
    alignments, source = payload["alignments"], payload["source"]
    masks = alignments.get("mask") or {}
    identity = alignments.get("identity") or {}
    if not all(isinstance(k, str) for k in (*masks, *identity)):
        return None
    if not all(isinstance(m["mask"], bytes) for m in masks.values()):
        return None
    arrays = [alignments["landmarks_xy"], source["source_frame_dims"], *identity.values()]
    arrays += [m["affine_matrix"] for m in masks.values()]
    if any(_has_tuple(a) for a in arrays):
        return None
    out_masks = {k: {**m, "mask": _b64(m["mask"])} for k, m in masks.items()}
    out_alignments = dict(alignments)
    if "mask" in alignments:
        out_alignments["mask"] = out_masks
    return {"alignments": out_alignments, "source": source}


def _tag(value: Any) -> Any:
    """Give the generic JSON form of any literal value: bytes, tuples, sets... tagged."""
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not (len(value) == 1 and _is_tag(value)):
            return {k: _tag(v) for k, v in value.items()}
        return {"__dict__": [[_tag(k), _tag(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_tag(v) for v in value]}
    if isinstance(value, bytes):
        return {"__bytes__": _b64(value)}
    if isinstance(value, (set, frozenset)):
        return {"__set__": [_tag(v) for v in value]}
    if isinstance(value, complex):
        return {"__complex__": [value.real, value.imag]}
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError(f"cannot export a {type(value).__name__} value")


def _is_tag(value: dict[str, Any]) -> bool:
    return next(iter(value)) in _TAGS


def _untag(value: Any) -> Any:
    """Inverse of :func:`_tag`."""
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and _is_tag(value):
        ((tag, inner),) = value.items()
        if tag == "__bytes__":
            return _unb64(inner, "__bytes__")
        if not isinstance(inner, list):
            raise ValueError(f"{tag}: expected a list")
        if tag == "__tuple__":
            return tuple(_untag(v) for v in inner)
        if tag == "__set__":
            return {_untag(v) for v in inner}
        if tag == "__complex__":
            return complex(*inner)
        return {_untag(k): _untag(v) for k, v in inner}
    return {k: _untag(v) for k, v in value.items()}


def header_record(name: str, payload: Any) -> dict[str, Any]:
    """Make the JSON record of one file's faceswap payload (an ``export`` line).

    Parameters
    ----------
    name : str
        The file name, stored under ``"file"``.
    payload : Any
        The parsed faceswap payload (as the batch reader returns it), or ``None``.

    Returns
    -------
    dict
        ``{"file": name, "header": {...}}`` for a face header: the header dict itself with each
        mask's ``mask`` bytes as a base64 string; ``{"file": name, "header": None}`` without a
        payload; ``{"file": name, "payload": ...}`` for anything else (a non-face dict, or a
        face header the readable form could not restore exactly), where bytes, tuples, sets,
        complex numbers and dicts with non-string keys are tagged as ``{"__bytes__": base64}``,
        ``{"__tuple__": [...]}``, ``{"__set__": [...]}``, ``{"__complex__": [re, im]}``,
        ``{"__dict__": [[key, value], ...]}``. Non-finite floats are left to :mod:`json`, which
        writes ``NaN``, ``Infinity`` and ``-Infinity`` and reads them back.

    Raises
    ------
    TypeError
        If the payload holds a value with no JSON form.
    """
    if payload is None:
        return {"file": name, "header": None}
    if is_face_header(payload):
        face = _face_json(payload)
        if face is not None:
            return {"file": name, "header": face}
    return {"file": name, "payload": _tag(payload)}


def restore_record(record: Any) -> tuple[str, Any]:
    """Get back the file name and payload of a record made by :func:`header_record`.

    Parameters
    ----------
    record : Any
        A parsed JSON record.

    Returns
    -------
    tuple[str, Any]
        The file name and the payload to write (``None`` when the record has no header or was
        an unreadable file).

    Raises
    ------
    ValueError
        If the record is malformed or a face header does not match the schema.
    """
    if not isinstance(record, dict) or not isinstance(record.get("file"), str):
        raise ValueError('not a record: expected an object with a "file" name')
    name = record["file"]
    if "header" in record:
        header = record["header"]
        if header is None:
            return name, None
        if not is_face_header(header):
            raise ValueError(f"{name}: 'header' is not a face header")
        alignments = header["alignments"]
        masks = alignments.get("mask") if isinstance(alignments, dict) else None
        if isinstance(masks, dict):
            alignments = dict(alignments)
            alignments["mask"] = {
                key: {**mask, "mask": _unb64(mask.get("mask"), f"{name}: mask {key!r}")}
                if isinstance(mask, dict)
                else mask
                for key, mask in masks.items()
            }
            header = {"alignments": alignments, "source": header["source"]}
        PNGHeader.from_dict(header)  # validate: a HeaderSchemaError names the field
        return name, header
    if "payload" in record:
        return name, _untag(record["payload"])
    if "error" in record:  # unreadable at export: nothing to write back
        return name, None
    raise ValueError(f'{name}: the record has neither "header" nor "payload"')


def _dumps(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# scan


class _ScanStats:
    """Counters of a folder's headers, updated one file at a time (nothing else is kept)."""

    def __init__(self) -> None:
        self.files = 0
        self.with_header = 0
        self.other_metadata = 0
        self.without_header = 0
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

    def add(self, path: str, name: str, meta: dict[str, Any] | Exception) -> None:
        self.files += 1
        if isinstance(meta, Exception):
            self.errors.append({"file": name, "error": _reason(meta, path)})
            return
        self.sizes[f"{meta['width']}x{meta['height']}"] += 1
        payload = meta.get("itxt")
        if payload is None:
            self.without_header += 1
        elif not is_face_header(payload):
            self.other_metadata += 1
        else:
            try:
                self._add_face(name, payload)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                reason = f"header does not match the face schema: {type(err).__name__} {err}"
                self.errors.append({"file": name, "error": reason})

    def _add_face(self, name: str, payload: dict[str, Any]) -> None:
        # Read every field before counting anything, so a bad header leaves no partial counts.
        alignments, source = payload["alignments"], payload["source"]
        landmarks = len(alignments["landmarks_xy"])
        masks = alignments.get("mask") or {}
        identity = alignments.get("identity") or {}
        if not isinstance(masks, dict) or not isinstance(identity, dict):
            raise TypeError("'mask' and 'identity' must be dicts")
        version = str(source["alignments_version"])
        frame = source["source_filename"]
        is_video = bool(source["source_is_video"])
        original = source["original_filename"]
        if not isinstance(frame, str) or not isinstance(original, str):
            raise TypeError("source_filename and original_filename must be strings")
        match = _VIDEO_FRAME.match(frame) if is_video else None
        origin = match.group("video") if match else frame

        self.with_header += 1
        self.landmarks[str(landmarks)] += 1
        self.masks.update(map(str, masks))
        self.identity.update(map(str, identity))
        self.versions[version] += 1
        self.source_faces[origin] += 1
        if is_video:
            self.video_sources.add(origin)
        key = f"{origin}\0{frame}"
        if key not in self.frames:
            self.frames.add(key)
            self.source_frames[origin] += 1
        if original != name:
            self.renamed += 1

    def summary(self, folder: str, other_files: int) -> dict[str, Any]:
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
            "other_files": other_files,
            "with_header": self.with_header,
            "other_metadata": self.other_metadata,
            "without_header": self.without_header,
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


def scan_folder(folder: str | os.PathLike[str], *, progress: bool = False) -> dict[str, Any]:
    """Read every face header of a folder and summarise them, streaming.

    Parameters
    ----------
    folder : str or os.PathLike
        The folder; its ``*.png`` files (not sub-folders) are read in name order.
    progress : bool
        Show a tqdm bar on stderr (only if stderr is a terminal).

    Returns
    -------
    dict
        The summary, as ``faceio scan --json`` prints it: ``folder``; counts ``files`` (PNG
        files read), ``other_files`` (non-PNG files, ignored), ``with_header`` (face headers),
        ``other_metadata`` (a faceswap chunk that is not a face header), ``without_header``,
        ``renamed`` (file name differs from ``original_filename``: a note, not an error);
        ``errors``: ``[{"file", "error"}]`` for unreadable files and headers that do not match
        the schema; ``sizes`` (``"WxH"`` to count); ``videos``, ``images`` (source counts),
        ``frames`` (distinct source frames); ``sources``: ``[{"source", "video", "faces",
        "frames"}]`` by faces, descending (a video is named by its frames' common stem);
        ``alignments_versions``, ``masks``, ``identity`` (faces having each name) and
        ``landmarks`` (faces per landmark count), each ``{name: count}`` by count, descending.

    Raises
    ------
    OSError
        If the folder cannot be listed.
    """
    folder = os.fspath(folder)
    names, other_files = _list_folder(folder)
    stats = _ScanStats()
    paths = [os.path.join(folder, name) for name in names]
    bar = _progress(len(paths), progress, "scan")
    try:
        results = read_image_meta_batch(paths, errors="collect")
        for name, (path, meta) in zip(names, results, strict=True):
            stats.add(path, name, meta)
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return stats.summary(folder, other_files)


def _rows(rows: Sequence[tuple[str, ...]], indent: int = 2, titled: bool = False) -> list[str]:
    """Lay rows out in columns: text left-aligned, numbers right-aligned (after a title row)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    body = rows[1:] if titled else rows
    numeric = [all(_is_number(row[i]) for row in body) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ]
        out.append((" " * indent + "  ".join(cells)).rstrip())
    return out


def _is_number(text: str) -> bool:
    return text.replace(",", "").replace(".", "").isdigit() or text == ""


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _top(counts: dict[str, int], label: Callable[[str], str] = str) -> list[str]:
    rows = [(label(k), f"{v:,}") for k, v in list(counts.items())[:_TOP]]
    lines = _rows(rows, indent=4)
    if len(counts) > _TOP:
        lines.append(f"    ... and {len(counts) - _TOP:,} more")
    return lines


def _render_scan(summary: dict[str, Any]) -> str:
    """Render a :func:`scan_folder` summary for people."""
    s = summary
    note = f"({s['other_files']:,} other files ignored)" if s["other_files"] else ""
    counts = [
        ("PNG files", f"{s['files']:,}", note),
        ("face headers", f"{s['with_header']:,}", ""),
        ("without header", f"{s['without_header']:,}", ""),
        ("unreadable", f"{len(s['errors']):,}", "(listed below)" if s["errors"] else ""),
    ]
    if s["other_metadata"]:
        counts.insert(2, ("other metadata", f"{s['other_metadata']:,}", "(not a face header)"))
    if s["renamed"]:
        counts.append(("renamed", f"{s['renamed']:,}", "(file name is not original_filename)"))
    lines = [f"folder {s['folder']}", *_rows(counts)]

    def section(title: str, body: list[str]) -> None:
        if body:
            lines.extend(["", f"  {title}", *body])

    section("image sizes", _top(s["sizes"]))
    if s["sources"]:
        title = (
            f"sources: {_plural(s['videos'], 'video')}, {_plural(s['images'], 'image')}, "
            f"{_plural(s['frames'], 'frame')}"
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
        body = _rows(rows, indent=4, titled=True)
        if len(s["sources"]) > _TOP:
            body.append(f"    ... and {len(s['sources']) - _TOP:,} more")
        section(title, body)
    section("alignments versions", _top(s["alignments_versions"]))
    section("masks (faces having each)", _top(s["masks"]))
    section("identity vectors (faces having each)", _top(s["identity"]))
    section("landmarks", _top(s["landmarks"], lambda k: f"{k} points"))
    if s["errors"]:
        lines.extend(["", "  unreadable files"])
        lines.extend(f"    {e['file']}: {e['error']}" for e in s["errors"])
    return "\n".join(lines)


def _samples_folder() -> str:
    from importlib.resources import files

    return os.fspath(files("faceio") / "samples")  # type: ignore[arg-type]


def _cmd_scan(args: argparse.Namespace) -> int:
    folder = args.folder if args.folder is not None else _samples_folder()
    summary = scan_folder(folder, progress=not args.quiet)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(_render_scan(summary))
    return EXIT_BAD if summary["errors"] else EXIT_OK


# --------------------------------------------------------------------------------------------
# show


def _read_file(path: str) -> bytes:
    """Read a file; a missing file or a folder is a usage error."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise _UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise _UsageError(f"{path}: is a folder, not a file") from None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def _fmt_float(value: float) -> str:
    return f"{value:.6g}"


def _render_face(name: str, size: tuple[int, int] | None, header: PNGHeader) -> list[str]:
    import numpy as np

    al, src = header.alignments, header.source
    dims = src.source_frame_dims
    lines = [f"{name}" + (f"  ({size[0]}x{size[1]} PNG)" if size else "")]
    rows = [
        ("original_filename", src.original_filename),
        (
            "source_filename",
            src.source_filename + ("  (video frame)" if src.source_is_video else ""),
        ),
        ("face_index", str(src.face_index)),
        ("source_frame_dims", "none" if dims is None else f"{dims[1]}x{dims[0]} (w x h)"),
        ("alignments_version", str(src.alignments_version)),
    ]
    lines += ["  source", *_rows(rows, indent=4)]
    points = al.landmarks_xy.reshape(-1, 2) if al.landmarks_xy.size else al.landmarks_xy
    if points.size:
        lo, hi = points.min(axis=0), points.max(axis=0)
        bounds = (
            f"{len(points)} points, x {_fmt_float(lo[0])}..{_fmt_float(hi[0])}, "
            f"y {_fmt_float(lo[1])}..{_fmt_float(hi[1])}"
        )
    else:
        bounds = "none"
    rows = [("box", f"x {al.x}  y {al.y}  w {al.w}  h {al.h}"), ("landmarks", bounds)]
    lines += ["  alignments", *_rows(rows, indent=4)]
    if al.mask:
        rows = []
        for key, mask in al.mask.items():
            try:
                pixels = np.frombuffer(zlib.decompress(mask.mask), dtype=np.uint8)
            except zlib.error as err:
                detail = f"does not decompress ({err})"
            else:
                side = mask.stored_size
                shape = f"{side}x{side}" if pixels.size == side * side else f"{pixels.size} bytes"
                if pixels.size != side * side:
                    shape += f" (expected {side}x{side})"
                coverage = float(pixels.mean()) / 255 * 100 if pixels.size else 0.0
                detail = f"{shape}, coverage {coverage:.1f}%"
            interp = _INTERPOLATORS.get(mask.interpolator, "?")
            rows.append(
                (
                    key,
                    detail,
                    f"centering {mask.stored_centering}",
                    f"interpolator {mask.interpolator} ({interp})",
                )
            )
        lines += ["  masks (coverage = mean mask value)", *_rows(rows, indent=4)]
    if al.identity:
        rows = []
        for key, vector in al.identity.items():
            norm = float(np.linalg.norm(vector.astype(np.float64))) if vector.size else 0.0
            rows.append((key, f"{vector.size} floats, L2 norm {_fmt_float(norm)}"))
        lines += ["  identity", *_rows(rows, indent=4)]
    return lines


def _render_payload(name: str, payload: Any) -> list[str]:
    lines = [f"{name}: faceswap metadata that is not a face header"]
    if isinstance(payload, dict):
        rows = []
        for key, value in payload.items():
            text = repr(value)
            rows.append((repr(key), text if len(text) <= 70 else text[:67] + "..."))
        lines += _rows(rows, indent=2)
    else:
        text = repr(payload)
        lines.append("  " + (text if len(text) <= 70 else text[:67] + "..."))
    return lines


def _cmd_show(args: argparse.Namespace) -> int:
    status = EXIT_OK
    first = True
    for path in args.files:
        try:
            data = _read_file(path)
            payload = _core.png_read_meta(data)
        except _UsageError as err:
            print(f"faceio show: {err}", file=sys.stderr)
            status = max(status, EXIT_USAGE)
            continue
        except (OSError, FaceioError) as err:
            print(f"faceio show: {path}: {_reason(err, path)}", file=sys.stderr)
            status = max(status, EXIT_BAD)
            continue
        name = os.path.basename(path)
        if args.json:
            print(_dumps(header_record(name, payload)))
            continue
        if not first:
            print()
        first = False
        if is_face_header(payload):
            try:
                header = PNGHeader.from_dict(payload)
            except (ValueError, TypeError) as err:
                print(f"faceio show: {path}: {_reason(err, path)}", file=sys.stderr)
                status = max(status, EXIT_BAD)
                continue
            print("\n".join(_render_face(name, _png_size(data), header)))
        else:
            print("\n".join(_render_payload(name, payload)))
    return status


# --------------------------------------------------------------------------------------------
# verify


def _check_face(path: str, name: str) -> tuple[str, str | None, bool]:
    """``(name, problem or None, renamed)`` for one file; never raises."""
    try:
        with open(path, "rb") as f:
            data = f.read()
        _core.png_verify(data)
        payload = _core.png_read_meta(data)
        if not is_face_header(payload):
            return name, "faceswap metadata is not a face header", False
        header = PNGHeader.from_dict(payload)
        for key, mask in header.alignments.mask.items():
            size = len(zlib.decompress(mask.mask))
            if size != mask.stored_size**2:
                return (
                    name,
                    f"mask {key!r} holds {size} bytes, not {mask.stored_size}x{mask.stored_size}",
                    False,
                )
    except (OSError, ValueError, TypeError, zlib.error) as err:
        return name, _reason(err, path), False
    return name, None, header.source.original_filename != name


def _cmd_verify(args: argparse.Namespace) -> int:
    folder = args.folder
    names, _ = _list_folder(folder)
    bar = _progress(len(names), not args.quiet, "verify")
    bad = renamed = 0
    try:
        checks = _ordered_map(
            lambda name: _check_face(os.path.join(folder, name), name), names, _workers()
        )
        for name, problem, was_renamed in checks:
            if problem is not None:
                bad += 1
                _say(bar, f"{os.path.join(folder, name)}: {problem}")
            renamed += was_renamed
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    summary = (
        f"verified {len(names):,} PNG files in {folder}: {len(names) - bad:,} good, {bad:,} bad"
    )
    if renamed:
        summary += f"; note: {renamed:,} renamed (file name is not original_filename)"
    print(summary)
    return EXIT_BAD if bad else EXIT_OK


# --------------------------------------------------------------------------------------------
# export / import


def _cmd_export(args: argparse.Namespace) -> int:
    folder = args.folder
    names, _ = _list_folder(folder)
    paths = [os.path.join(folder, name) for name in names]
    to_stdout = args.output == "-"
    out_path = args.output
    if not to_stdout:
        parent = os.path.dirname(os.path.abspath(out_path))
        if not os.path.isdir(parent):
            raise _UsageError(f"{out_path}: the folder {parent} does not exist")
        if os.path.isdir(out_path):
            raise _UsageError(f"{out_path}: is a folder, not a file")
    # A partial export never takes the output's name: write beside it, rename when complete.
    part = f"{out_path}.part"
    out: IO[str] = sys.stdout if to_stdout else open(part, "w", encoding="utf-8")
    faces = without = failed = 0
    done = False
    bar = _progress(len(paths), not args.quiet, "export")
    try:
        results = read_image_meta_batch(paths, errors="collect")
        for name, (path, meta) in zip(names, results, strict=True):
            if bar is not None:
                bar.update()
            if isinstance(meta, Exception):
                record: dict[str, Any] = {"file": name, "error": _reason(meta, path)}
            else:
                try:
                    record = header_record(name, meta.get("itxt"))
                except TypeError as err:
                    record = {"file": name, "error": str(err)}
            if "error" in record:
                failed += 1
                _say(bar, f"faceio export: {path}: {record['error']}", sys.stderr)
            elif record.get("header", True) is None:
                without += 1
            else:
                faces += 1
            out.write(_dumps(record))
            out.write("\n")
        if not to_stdout:
            out.close()
            os.replace(part, out_path)
            done = True
    finally:
        if bar is not None:
            bar.close()
        if not to_stdout and not done:
            out.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
    where = "stdout" if to_stdout else out_path
    print(
        f"exported {faces:,} headers from {len(names):,} PNG files to {where} "
        f"({without:,} without header, {failed:,} unreadable)",
        file=sys.stderr,
    )
    return EXIT_BAD if failed else EXIT_OK


def _safe_name(name: str) -> bool:
    """Check for a bare file name: import never writes outside the folder it was given."""
    return (
        bool(name)
        and name not in (".", "..")
        and "/" not in name
        and os.sep not in name
        and (os.altsep is None or os.altsep not in name)
        and "\0" not in name
    )


def _write_header(job: tuple[str, str, Any]) -> tuple[str, str | None]:
    """Write one header; ``(label, problem or None)``, never raises."""
    label, path, payload = job
    try:
        update_existing_metadata(path, str(payload).encode("utf-8"))
    except FileNotFoundError:
        return label, "missing"
    except (OSError, ValueError) as err:
        return label, _reason(err, path)
    return label, None


def _import_jobs(
    source: IO[str], folder: str, problems: list[tuple[str, str]], counts: Counter[str]
) -> Iterator[tuple[str, str, Any]]:
    """Yield the writes an export file asks for; bad lines and missing files go to ``problems``."""
    for number, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            name, payload = restore_record(json.loads(line))
        except ValueError as err:
            problems.append((f"line {number}", _reason(err)))
            continue
        if not _safe_name(name):
            problems.append((f"line {number}", f"{name!r} is not a plain file name"))
            continue
        if payload is None:
            counts["skipped"] += 1
            continue
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            problems.append((name, "missing"))
            continue
        yield name, path, payload


def _cmd_import(args: argparse.Namespace) -> int:
    folder = args.folder
    if not os.path.isdir(folder):
        raise _UsageError(f"{folder}: no such folder")
    try:
        source = open(args.jsonl, encoding="utf-8")
    except FileNotFoundError:
        raise _UsageError(f"{args.jsonl}: no such file") from None
    except IsADirectoryError:
        raise _UsageError(f"{args.jsonl}: is a folder, not a file") from None
    problems: list[tuple[str, str]] = []
    counts: Counter[str] = Counter()
    reported = 0
    bar = _progress(None, not args.quiet, "import")

    def report() -> None:
        nonlocal reported
        for label, problem in problems[reported:]:
            _say(bar, f"{label}: {problem}")
        reported = len(problems)

    try:
        with source:
            jobs = _import_jobs(source, folder, problems, counts)
            for label, problem in _ordered_map(_write_header, jobs, _workers()):
                if problem is None:
                    counts["written"] += 1
                else:
                    problems.append((label, problem))
                if bar is not None:
                    bar.update()
                report()
    except UnicodeDecodeError as err:
        problems.append((args.jsonl, f"not UTF-8 text ({err.reason})"))
    finally:
        if bar is not None:
            bar.close()
    report()
    missing = sum(problem == "missing" for _, problem in problems)
    print(
        f"imported {counts['written']:,} headers into {folder}: {missing:,} files missing, "
        f"{len(problems) - missing:,} failed, {counts['skipped']:,} records skipped (no header, or "
        "unreadable at export)"
    )
    return EXIT_BAD if problems else EXIT_OK


# --------------------------------------------------------------------------------------------
# command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="faceio",
        description="Inspect and check the faceswap headers of a folder of extracted faces.",
        epilog="Exit status: 0 all good, 1 a file is bad, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=_version())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    common.add_argument(
        "--debug", action="store_true", help="show a traceback on an unexpected error"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="summarise the headers of a face folder",
        description="Read every face header of FOLDER (its *.png files) and summarise them: "
        "files with and without a faceswap header, unreadable files and why, image sizes, "
        "sources, alignments versions, masks, identity vectors, landmark counts. Exit status "
        "1 if a file is unreadable.",
    )
    scan.add_argument(
        "folder", nargs="?", metavar="FOLDER", help="default: the sample faces shipped with faceio"
    )
    scan.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    scan.set_defaults(func=_cmd_scan)

    show = commands.add_parser(
        "show",
        parents=[common],
        help="print the header of face files",
        description="Print each FILE's header field by field: source, box, landmark bounds, "
        "masks (size and coverage, the mean mask value) and identity vectors. Exit status 1 "
        "if a file is not a PNG or has no faceswap header.",
    )
    show.add_argument("files", nargs="+", metavar="FILE")
    show.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line per file, as export writes it (mask bytes as base64)",
    )
    show.set_defaults(func=_cmd_show)

    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="check every face file of a folder",
        description="Check every *.png of FOLDER: PNG signature, chunk layout and CRCs, a "
        "faceswap header that parses and matches the face schema, masks that decompress to "
        "their stored size. A PNG without a face header is bad: it is not a faceswap face. "
        "Prints one line per bad file and exits with status 1 if there is any. Faces whose "
        "file name differs from original_filename (sorting renames files) are only counted.",
    )
    verify.add_argument("folder", metavar="FOLDER")
    verify.set_defaults(func=_cmd_verify)

    export = commands.add_parser(
        "export",
        parents=[common],
        help="write every header of a folder as JSON lines",
        description="Write one JSON line per *.png of FOLDER, in name order: "
        '{"file": NAME, "header": {...}} with mask bytes as base64 strings; "header" is null '
        'for a PNG without one; {"file": NAME, "payload": ...} for other metadata (bytes, '
        'tuples and sets tagged, e.g. {"__bytes__": BASE64}); {"file": NAME, "error": WHY} '
        "for an unreadable file (exit status 1). Non-finite floats are written as NaN, "
        "Infinity, -Infinity (as Python's json module does).",
    )
    export.add_argument("folder", metavar="FOLDER")
    export.add_argument(
        "-o", "--output", default="-", metavar="OUT.jsonl", help="output file (default: stdout)"
    )
    export.set_defaults(func=_cmd_export)

    imp = commands.add_parser(
        "import",
        parents=[common],
        help="write headers from an export back into the files",
        description="Write each header of an export file back into the file of the same name "
        "in FOLDER, crash-safely (every other byte of the PNG is kept). Files that are "
        "missing, records that do not parse and writes that fail are listed, one per line, "
        "and give exit status 1.",
    )
    imp.add_argument("jsonl", metavar="OUT.jsonl")
    imp.add_argument("folder", metavar="FOLDER")
    imp.set_defaults(func=_cmd_import)
    return parser


def _version() -> str:
    from faceio import __version__

    return f"faceio {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``faceio`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 all good, 1 a bad file, 2 a usage error.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits 2 on usage errors, 0 after --help
        return int(stop.code or 0) if not isinstance(stop.code, str) else EXIT_USAGE
    try:
        return int(args.func(args))
    except _UsageError as err:
        print(f"faceio {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("faceio: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``faceio export DIR | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BAD
    except (OSError, FaceioError) as err:
        if args.debug:
            raise
        path = getattr(err, "filename", None) or getattr(err, "path", None)
        where = f"{path}: " if path else ""
        print(f"faceio {args.command}: {where}{_reason(err, path)}", file=sys.stderr)
        return EXIT_BAD
    except Exception as err:
        if args.debug:
            raise
        print(
            f"faceio {args.command}: internal error: {type(err).__name__}: {err} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_BAD
