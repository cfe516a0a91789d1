"""Shared fixtures: PNG bytes built by docs/format.md's rules (struct + zlib), and face headers."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from faceio import MaskAlignmentsFile, PNGAlignments, PNGHeader, PNGSource

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk, built independently of faceio: length, type, data, CRC of type+data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def itxt_rule(payload: bytes) -> bytes:
    """The faceswap iTXt chunk exactly as docs/format.md gives it ("The faceswap chunk in PNG")."""
    return chunk(b"iTXt", b"faceswap" + b"\0\0\0\0\0" + payload)


def split_chunks(png: bytes) -> list[tuple[int, bytes, bytes]]:
    """(offset, type, whole chunk bytes) for each chunk of a well-formed PNG."""
    assert png[:8] == PNG_SIG
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        out.append((pos, kind, png[pos : pos + 12 + length]))
        pos += 12 + length
    return out


def insert_before_idat(png: bytes, new_chunk: bytes) -> bytes:
    """The rule of png_write_meta: the chunk goes immediately before the first IDAT."""
    for pos, kind, _ in split_chunks(png):
        if kind == b"IDAT":
            return png[:pos] + new_chunk + png[pos:]
    raise AssertionError("no IDAT")


def make_header(
    rng: np.random.Generator,
    n_masks: int = 2,
    n_landmarks: int = 68,
    identity_len: int = 512,
    name: str = "face_0001_0.png",
) -> PNGHeader:
    """A realistic face header: landmarks, zlib masks, an identity vector."""
    masks = {}
    for i in range(n_masks):
        mask = (rng.random((128, 128)) > 0.5).astype(np.uint8) * 255
        masks[f"mask_{i}"] = MaskAlignmentsFile(
            mask=zlib.compress(mask.tobytes()),
            affine_matrix=rng.normal(size=(2, 3)).astype(np.float32),
            interpolator=int(rng.integers(0, 4)),
            stored_size=128,
            stored_centering=("face", "head", "legacy")[i % 3],
        )
    return PNGHeader(
        alignments=PNGAlignments(
            x=int(rng.integers(0, 1000)),
            y=int(rng.integers(0, 1000)),
            w=int(rng.integers(1, 500)),
            h=int(rng.integers(1, 500)),
            landmarks_xy=(rng.random((n_landmarks, 2)) * 256).astype(np.float32),
            mask=masks,
            identity={"vggface2": rng.normal(size=identity_len).astype(np.float32)}
            if identity_len
            else {},
        ),
        source=PNGSource(
            alignments_version=2.4,
            original_filename=name,
            face_index=int(rng.integers(0, 5)),
            source_filename="frame_000123.png",
            source_is_video=False,
            source_frame_dims=(1080, 1920),
        ),
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def header(rng: np.random.Generator) -> PNGHeader:
    return make_header(rng)


def encode_png(rng: np.random.Generator, h: int = 32, w: int = 32) -> bytes:
    """A PNG encoded by OpenCV (the files faceswap writes start as these)."""
    image = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


@pytest.fixture
def png_bytes(rng: np.random.Generator) -> bytes:
    return encode_png(rng)


@pytest.fixture
def face_file(tmp_path, rng, header) -> Callable[..., str]:
    """Write a face PNG with a header to tmp_path and return its path."""

    def write(name: str = "face.png", hdr: PNGHeader | None = None) -> str:
        data = insert_before_idat(
            encode_png(rng), itxt_rule(str((hdr or header).to_dict()).encode())
        )
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return write
