"""Make the sample face PNGs shipped in ``python/faceio/samples`` (deterministic).

Each sample is a small drawn face (an ellipse head, eyes, brows, nose, mouth) with a complete
faceswap header: 68 landmarks placed on the drawing and mapped into a source frame, two or three
zlib-compressed 64x64 masks with the affine matrix from frame to mask, a 512-float identity
vector, and its source (a video frame or a still image). ``faceio scan`` with no folder shows
them. Run from anywhere::

    python scripts/make_samples.py [OUT_FOLDER]

The same OpenCV and numpy versions give byte-identical files.
"""

from __future__ import annotations

import math
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

import faceio
from faceio import MaskAlignmentsFile, PNGAlignments, PNGHeader, PNGSource

OUT = Path(__file__).resolve().parent.parent / "python" / "faceio" / "samples"
SIZE = 96  # pixels of the aligned face image
MASK_SIZE = 64
ALIGNMENTS_VERSION = 2.3


@dataclass(frozen=True)
class Sample:
    """One face to draw and where it came from."""

    source_filename: str
    face_index: int
    is_video: bool
    frame_dims: tuple[int, int]  # (height, width)
    centre: tuple[float, float]  # face centre in the frame, pixels
    scale: float  # frame pixels per aligned-face unit
    angle: float  # roll, degrees
    skin: tuple[int, int, int]  # BGR
    smile: float  # 0 closed .. 1 open mouth
    person: int  # faces of the same person get close identity vectors
    extra_mask: bool


HD, PHOTO, TALL = (720, 1280), (1080, 1440), (1200, 900)  # frame (height, width)
# source, face index, video?, frame (h, w), centre, scale, roll, skin, smile, person, 3rd mask?
SAMPLES = (
    Sample("interview_000012.png", 0, True, HD, (420, 300), 260, -4, (140, 170, 215), 0.2, 0, True),
    Sample("interview_000012.png", 1, True, HD, (900, 330), 230, 6, (95, 125, 170), 0.6, 1, False),
    Sample("interview_000048.png", 0, True, HD, (436, 296), 262, 2, (140, 170, 215), 0.9, 0, False),
    Sample("beach_party.jpg", 0, False, PHOTO, (610, 480), 300, -9, (120, 155, 205), 0.4, 2, True),
    Sample("portrait.jpg", 0, False, TALL, (450, 520), 520, 0, (165, 190, 225), 0.0, 3, False),
)


def template() -> npt.NDArray[np.float64]:
    """Return the 68 landmarks of a frontal face in aligned units (0..1, y down)."""
    pts: list[tuple[float, float]] = []
    for k in range(17):  # jaw, left ear to right ear through the chin
        t = math.pi - k * math.pi / 16
        pts.append((0.5 + 0.4 * math.cos(t), 0.42 + 0.5 * math.sin(t)))
    for cx in (0.33, 0.67):  # brows
        pts += [(cx - 0.12 + 0.06 * i, 0.3 - 0.035 * math.sin(math.pi * i / 4)) for i in range(5)]
    pts += [(0.5, 0.38 + 0.065 * i) for i in range(4)]  # nose bridge
    pts += [(0.42 + 0.04 * i, 0.64 - 0.015 * (2 - abs(i - 2))) for i in range(5)]  # nostrils
    for cx in (0.34, 0.66):  # eyes, clockwise from the outer corner
        for i in range(6):
            t = math.pi + i * math.pi / 3
            pts.append((cx + 0.075 * math.cos(t), 0.43 + 0.03 * math.sin(t)))
    for i in range(12):  # outer lip
        t = math.pi + i * math.pi / 6
        pts.append((0.5 + 0.15 * math.cos(t), 0.76 + 0.06 * math.sin(t)))
    for i in range(8):  # inner lip
        t = math.pi + i * math.pi / 4
        pts.append((0.5 + 0.09 * math.cos(t), 0.76 + 0.025 * math.sin(t)))
    return np.array(pts, dtype=np.float64)


def face_points(sample: Sample, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Return the sample's landmarks in aligned units: the template, mouth opened, jittered."""
    pts = template()
    mouth = slice(48, 68)
    centre_y = 0.76
    pts[mouth, 1] = centre_y + (pts[mouth, 1] - centre_y) * (1 + 1.5 * sample.smile)
    return pts + rng.normal(scale=0.006, size=pts.shape)


def draw(sample: Sample, pts: npt.NDArray[np.float64]) -> npt.NDArray[np.uint8]:
    """Draw the aligned face: background, head, brows, eyes, nose, lips."""
    image = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
    image[:] = np.linspace(60, 110, SIZE, dtype=np.uint8)[:, None, None]
    px = np.round(pts * SIZE).astype(np.int32)
    skin = tuple(int(c) for c in sample.skin)
    cv2.ellipse(image, (48, 44), (39, 47), 0, 0, 360, skin, -1, cv2.LINE_AA)
    dark = tuple(max(0, c - 90) for c in skin)
    cv2.polylines(image, [px[17:22], px[22:27]], False, dark, 2, cv2.LINE_AA)
    for eye in (px[36:42], px[42:48]):
        cv2.fillPoly(image, [eye], (245, 245, 245), cv2.LINE_AA)
        centre = tuple(int(v) for v in eye.mean(axis=0))
        cv2.circle(image, centre, 2, (50, 40, 30), -1, cv2.LINE_AA)
    shade = tuple(max(0, c - 40) for c in skin)
    cv2.polylines(image, [px[27:31], px[31:36]], False, shade, 1, cv2.LINE_AA)
    cv2.fillPoly(image, [px[48:60]], (70, 70, 170), cv2.LINE_AA)
    cv2.fillPoly(image, [px[60:68]], (40, 30, 60), cv2.LINE_AA)
    return image


def to_frame(sample: Sample) -> npt.NDArray[np.float64]:
    """Return the 2x3 matrix that maps aligned units into the source frame."""
    theta = math.radians(sample.angle)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    linear = sample.scale * rot
    offset = np.array(sample.centre) - linear @ np.array([0.5, 0.5])
    return np.hstack([linear, offset[:, None]])


def masks(
    sample: Sample, pts: npt.NDArray[np.float64], frame_from_face: npt.NDArray[np.float64]
) -> dict[str, MaskAlignmentsFile]:
    """Return the stored masks: a landmark hull, an extended hull, maybe a soft head mask."""
    # The stored matrix maps frame pixels to mask pixels: invert frame_from_face, scale to 64.
    inverse = cv2.invertAffineTransform(frame_from_face) * MASK_SIZE
    matrix = inverse.astype(np.float32)
    hull = cv2.convexHull(np.round(pts * MASK_SIZE).astype(np.int32))
    components = np.zeros((MASK_SIZE, MASK_SIZE), dtype=np.uint8)
    cv2.fillConvexPoly(components, hull, 255)
    lifted = pts.copy()
    lifted[17:27, 1] -= 0.12  # raise the brows to take in the forehead
    extended = np.zeros_like(components)
    hull = cv2.convexHull(np.round(lifted * MASK_SIZE).astype(np.int32))
    cv2.fillConvexPoly(extended, hull, 255)
    out = {
        "components": MaskAlignmentsFile(
            mask=zlib.compress(components.tobytes()),
            affine_matrix=matrix,
            interpolator=cv2.INTER_AREA,
            stored_size=MASK_SIZE,
            stored_centering="face",
        ),
        "extended": MaskAlignmentsFile(
            mask=zlib.compress(extended.tobytes()),
            affine_matrix=matrix,
            interpolator=cv2.INTER_AREA,
            stored_size=MASK_SIZE,
            stored_centering="face",
        ),
    }
    if sample.extra_mask:
        head = np.zeros_like(components)
        cv2.ellipse(head, (32, 30), (27, 32), 0, 0, 360, 255, -1)
        head = cv2.GaussianBlur(head, (9, 9), 0)
        out["bisenet-fp_head"] = MaskAlignmentsFile(
            mask=zlib.compress(head.tobytes()),
            affine_matrix=matrix,
            interpolator=cv2.INTER_LINEAR,
            stored_size=MASK_SIZE,
            stored_centering="head",
        )
    return out


def identity(person: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """Return a unit-length 512-float embedding: the person's own direction plus noise."""
    base = np.random.default_rng(1000 + person).normal(size=512)
    vector = base + rng.normal(scale=0.15, size=512)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def make(sample: Sample, rng: np.random.Generator) -> tuple[str, bytes]:
    """Return the file name and PNG bytes of one sample face."""
    pts = face_points(sample, rng)
    frame_from_face = to_frame(sample)
    landmarks = pts @ frame_from_face[:, :2].T + frame_from_face[:, 2]
    lo, hi = landmarks.min(axis=0), landmarks.max(axis=0)
    stem = sample.source_filename.rsplit(".", 1)[0]
    name = f"{stem}_{sample.face_index}.png"
    header = PNGHeader(
        alignments=PNGAlignments(
            x=int(lo[0]),
            y=int(lo[1]),
            w=int(hi[0] - lo[0]),
            h=int(hi[1] - lo[1]),
            landmarks_xy=landmarks.astype(np.float32),
            mask=masks(sample, pts, frame_from_face),
            identity={"vggface2": identity(sample.person, rng)},
        ),
        source=PNGSource(
            alignments_version=ALIGNMENTS_VERSION,
            original_filename=name,
            face_index=sample.face_index,
            source_filename=sample.source_filename,
            source_is_video=sample.is_video,
            source_frame_dims=sample.frame_dims,
        ),
    )
    return name, faceio.encode_image(draw(sample, pts), ".png", metadata=header)


def main(argv: list[str]) -> int:
    """Write the samples into ``argv[0]`` (default: the package's samples folder)."""
    out = Path(argv[0]) if argv else OUT
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240229)
    total = 0
    for sample in SAMPLES:
        name, data = make(sample, rng)
        (out / name).write_bytes(data)
        total += len(data)
        print(f"{out / name}  {len(data):,} bytes")
    print(f"{len(SAMPLES)} samples, {total:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
