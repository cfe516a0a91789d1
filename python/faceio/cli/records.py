"""The JSON record of one file's faceswap payload: what ``export`` writes and ``import`` reads.

A record is one JSON object per line. A face header is stored readably, as the header dict
itself with each mask's zlib bytes as a base64 string (the schema says where the bytes are).
Any other payload, and a face header that form could not restore exactly, is stored generically:
bytes, tuples, sets, complex numbers and dicts with non-string keys are tagged with a one-key
object (``{"__bytes__": base64}`` and so on) that :func:`restore_record` turns back into the
Python value. ``show --json`` prints the same records.

``export`` ends each record that holds a value with ``"digest": "VALUE:LINE"``: a hash of the
value the file held (its exact form: :func:`value_digest`) and a hash of the line before the
field. An import reads the digest first (:func:`unedited`): when the line is as written and the
file still holds that value, there is nothing to write, and the record is not even parsed. Any
edit of the line, or a line written by something else, is parsed and compared in full.

This lives with the command line because only its commands read and write the form; the
library's own readers and writers deal in the stored Python literal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import marshal
import re
from typing import Any

from faceio import _core
from faceio.cli._faces import plain_face
from faceio.header import PNGHeader, is_face_header

__all__ = ["header_record", "restore_record", "seal", "unedited", "value_digest"]

# The digest field, as export's compact JSON writes it: always the last field of a line.
_DIGEST = ',"digest":"'

# The file name at the start of a line as export writes it (a JSON string).
_NAME = re.compile(r'\{"file":("(?:[^"\\]|\\.)*")')

# A face header's fields that hold arrays, maps or a mask's bytes (checked on their own):
# every other field is a scalar, which the readable form keeps only if JSON gives it back as
# it was.
_ARRAY_FIELDS = frozenset(
    {"mask"}
    | {
        name
        for _, _, fields in _core.HEADER_SCHEMA
        for name, kind, _, _ in fields
        if kind != "value"
    }
)
_JSON_ATOMS = frozenset({str, int, float, bool, type(None)})

# Keys that mark a tagged value in the generic JSON form of a non-face payload.
_TAGS = ("__bytes__", "__tuple__", "__set__", "__complex__", "__dict__")


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
    # The plain form is the form faceswap writes: checked without numpy, its arrays hold no
    # tuple. Anything else gets the full schema check, then every array is looked through.
    plain = plain_face(payload)
    if not plain:
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
    # The fields the schema leaves untyped must be JSON's own values, or JSON changes them.
    fields = [*alignments.items(), *source.items()]
    fields += [item for m in masks.values() for item in m.items()]
    if not all(type(v) in _JSON_ATOMS for k, v in fields if k not in _ARRAY_FIELDS):
        return None
    arrays = [source["source_frame_dims"]]
    if not plain:
        arrays += [alignments["landmarks_xy"], *identity.values()]
        arrays += [m["affine_matrix"] for m in masks.values()]
    if any(_has_tuple(a) for a in arrays):
        return None
    out_masks = {k: {**m, "mask": _b64(m["mask"])} for k, m in masks.items()}
    out_alignments = dict(alignments)
    if alignments.get("mask") is not None:  # None stays None, as it is stored
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


def _restore_face(name: str, header: Any) -> Any:
    """Restore the face header of a ``"header"`` record: mask base64 strings back to bytes."""
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
    return header


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
    name, payload, is_face = restore_unchecked(record)
    if is_face:
        PNGHeader.from_dict(payload)  # validate: a HeaderSchemaError names the field
    return name, payload


def restore_unchecked(record: Any) -> tuple[str, Any, bool]:
    """Do what :func:`restore_record` does but the schema check of a face header.

    ``import`` checks only the headers it is about to write: one equal to what the file holds
    already is left alone, and the check is a good part of the cost of comparing.

    Returns
    -------
    tuple[str, Any, bool]
        The file name, the payload, and whether it is a ``"header"`` record's face header, for
        ``PNGHeader.from_dict`` to check.
    """
    if not isinstance(record, dict) or not isinstance(record.get("file"), str):
        raise ValueError('not a record: expected an object with a "file" name')
    name = record["file"]
    if "header" in record:
        header = record["header"]
        if header is None:
            return name, None, False
        return name, _restore_face(name, header), True
    if "payload" in record:
        return name, _untag(record["payload"]), False
    if "error" in record:  # unreadable at export: nothing to write back
        return name, None, False
    raise ValueError(f'{name}: the record has neither "header" nor "payload"')


def _hash(data: bytes) -> str:
    # sha256 runs on the processor's SHA instructions here: ~16 µs for a 20 KB header.
    return hashlib.sha256(data).hexdigest()[:20]


def value_digest(value: Any) -> str | None:
    """Hash a stored value's exact form: its types, values and key order (``None``: cannot).

    marshal version 2 writes no back-references (which would depend on object identity) and
    floats as their 8 bytes, so two values with the same digest have the same ``str()``: what
    a PNG stores. It costs ~6 µs for a 30 KB header, where ``str()`` costs ~280 µs.
    """
    try:
        return _hash(marshal.dumps(value, 2))
    except ValueError:  # a type marshal cannot write
        return None


def seal(line: str, value: Any) -> str:
    """Append the ``"digest"`` field to a record's compact JSON line (see the module's notes).

    Parameters
    ----------
    line : str
        The record as one compact JSON object (no newline).
    value : Any
        The value the file holds, as read from it.
    """
    digest = value_digest(value)
    if digest is None or not line.endswith("}"):
        return line
    return f'{line[:-1]}{_DIGEST}{digest}:{_hash(line.encode("utf-8"))}"}}'


def unedited(line: str) -> tuple[str, str] | None:
    """Read a line :func:`seal` wrote and nothing changed since: ``(file name, value digest)``.

    Returns ``None`` for any other line (no digest, an edit, another layout): it is to be
    parsed in full.
    """
    text = line.rstrip("\n")
    at = text.rfind(_DIGEST)
    if at < 0 or not text.endswith('"}'):
        return None
    value, _, body = text[at + len(_DIGEST) : -2].partition(":")
    if _hash(f"{text[:at]}}}".encode()) != body:
        return None
    match = _NAME.match(text)
    if match is None:
        return None
    try:
        name = json.loads(match.group(1))
    except ValueError:
        return None
    return name, value
