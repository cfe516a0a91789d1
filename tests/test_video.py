"""Tests for faceio.video: index, exact random access, iteration, errors.

Every fixture video is generated here. Each frame carries its own index as a grid of black and
white blocks (8 bits), so a wrong frame is detectable even after lossy coding; random access is
also compared pixel for pixel with a plain sequential PyAV decode of the same file.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from faceio import FaceioError, video
from faceio.loaders import ImagesLoader
from faceio.video import (
    VIDEO_EXTENSIONS,
    VideoReader,
    count_frames,
    frame_filename,
    is_video_path,
    scan_video,
)
from faceio.video import cache as video_cache
from faceio.video import convert as video_convert
from faceio.video import scan as video_scan

BITS = 8
GRID = (2, 4)  # rows, columns of index blocks


# --------------------------------------------------------------------------- fixtures helpers
@dataclass(frozen=True)
class Spec:
    """How to encode one fixture video."""

    ext: str
    codec: str
    width: int = 64
    height: int = 48
    frames: int = 60
    pix_fmt: str = "yuv420p"
    rate: int = 25
    options: dict[str, str] = field(default_factory=dict)
    gop: int | None = None
    max_b_frames: int | None = None
    vfr: bool = False  # irregular timestamps (time base 1/1000)
    first_pts: int = 0  # negative: frames before 0 are cut by an mp4 edit list


def _x264(params: str, **extra: str) -> dict[str, str]:
    return {"preset": "veryfast", "x264-params": params, **extra}


SPECS: dict[str, Spec] = {
    "cfr_h264": Spec(
        ".mp4", "libx264", options=_x264("keyint=10:min-keyint=10:scenecut=0:bframes=0")
    ),
    "vfr_h264": Spec(
        ".mkv",
        "libx264",
        vfr=True,
        options=_x264("keyint=15:min-keyint=15:scenecut=0:bframes=2"),
    ),
    "bframes_h264": Spec(
        ".mp4",
        "libx264",
        width=80,
        frames=90,
        options=_x264("keyint=12:min-keyint=12:scenecut=0:bframes=3:b-pyramid=normal"),
    ),
    "open_gop_h264": Spec(
        ".mp4",
        "libx264",
        frames=90,
        options=_x264("keyint=12:min-keyint=12:scenecut=0:bframes=3:open-gop=1"),
    ),
    "single_key_h264": Spec(
        ".mkv",
        "libx264",
        frames=90,
        options=_x264("keyint=1000:min-keyint=1000:scenecut=0:bframes=2"),
    ),
    "hevc": Spec(
        ".mp4",
        "libx265",
        options={
            "preset": "ultrafast",
            "x265-params": "keyint=15:min-keyint=15:scenecut=0:bframes=3:open-gop=1:log-level=none",
        },
    ),
    "vp9_webm": Spec(
        ".webm",
        "libvpx-vp9",
        options={"deadline": "good", "cpu-used": "8", "lag-in-frames": "16", "auto-alt-ref": "1"},
        gop=15,
    ),
    "mpeg4_avi": Spec(".avi", "mpeg4", gop=12, options={"qscale": "2"}),
    "mpeg4_bframes_avi": Spec(".avi", "mpeg4", gop=12, max_b_frames=2, options={"qscale": "2"}),
    "mpegts_offset": Spec(
        ".ts",
        "libx264",
        first_pts=35,  # 1.4 s, on top of the muxer's own start offset
        options=_x264("keyint=12:min-keyint=12:scenecut=0:bframes=2"),
    ),
    "mp4_edit_list_cut": Spec(
        ".mp4",
        "libx264",
        first_pts=-3,
        options=_x264("keyint=12:min-keyint=12:scenecut=0:bframes=2"),
    ),
    "odd_444_h264": Spec(
        ".mp4",
        "libx264",
        width=65,
        height=49,
        pix_fmt="yuv444p",
        options=_x264("keyint=12:min-keyint=12:scenecut=0:bframes=2"),
    ),
    "odd_vp9_webm": Spec(
        ".webm", "libvpx-vp9", width=63, height=47, gop=15, options={"deadline": "realtime"}
    ),
    "odd_ffv1_mkv": Spec(".mkv", "ffv1", width=63, height=47, frames=30),
    # Small pictures, several to a packet: after a seek the demuxer stamps them otherwise.
    "mpeg1_ps": Spec(".mpg", "mpeg1video", frames=90, gop=12, max_b_frames=2),
}


def index_image(index: int, width: int, height: int) -> np.ndarray:
    """BGR image whose blocks spell ``index`` in binary."""
    rows, cols = GRID
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for bit in range(BITS):
        if index >> bit & 1:
            row, col = divmod(bit, cols)
            y0, y1 = row * height // rows, (row + 1) * height // rows
            x0, x1 = col * width // cols, (col + 1) * width // cols
            image[y0:y1, x0:x1] = 255
    return image


def read_index(image: np.ndarray) -> int:
    """Inverse of :func:`index_image`, by thresholding the centre of each block."""
    rows, cols = GRID
    height, width = image.shape[:2]
    value = 0
    for bit in range(BITS):
        row, col = divmod(bit, cols)
        y0, y1 = row * height // rows, (row + 1) * height // rows
        x0, x1 = col * width // cols, (col + 1) * width // cols
        dy, dx = (y1 - y0) // 4, (x1 - x0) // 4
        if image[y0 + dy : y1 - dy, x0 + dx : x1 - dx].mean() > 127:
            value |= 1 << bit
    return value


def encode(path: Path, spec: Spec) -> None:
    """Write a fixture video described by ``spec``."""
    if spec.codec not in av.codecs_available:
        pytest.skip(f"encoder {spec.codec} is not available in this PyAV build")
    rng = random.Random(1234)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(spec.codec, rate=spec.rate, options=dict(spec.options))
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, spec.pix_fmt
        if spec.gop is not None:
            stream.codec_context.gop_size = spec.gop
        if spec.max_b_frames is not None:
            stream.codec_context.max_b_frames = spec.max_b_frames
        time_base = Fraction(1, 1000) if spec.vfr else Fraction(1, spec.rate)
        stream.codec_context.time_base = time_base
        pts = spec.first_pts
        for i in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(
                index_image(i, spec.width, spec.height), format="bgr24"
            )
            frame.pts, frame.time_base = pts, time_base
            pts += rng.randint(15, 90) if spec.vfr else 1
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


@dataclass
class Clip:
    """A generated video and its sequential decode (the reference)."""

    name: str
    path: Path
    spec: Spec
    reference: list[np.ndarray]


def sequential_decode(path: Path) -> list[np.ndarray]:
    """Plain PyAV decode of every frame, independent of faceio."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


_CLIPS: dict[str, Clip] = {}


def get_clip(name: str, directory: Path) -> Clip:
    if name not in _CLIPS:
        spec = SPECS[name]
        path = directory / f"{name}{spec.ext}"
        encode(path, spec)
        _CLIPS[name] = Clip(name, path, spec, sequential_decode(path))
    return _CLIPS[name]


@pytest.fixture(params=sorted(SPECS), scope="session")
def clip(request: pytest.FixtureRequest, clip_dir: Path) -> Clip:
    return get_clip(request.param, clip_dir)


@pytest.fixture(params=[0, video.DEFAULT_CACHE_BYTES], ids=["nocache", "cache"])
def cache_bytes(request: pytest.FixtureRequest) -> int:
    """Random access with the frame cache off (every request decodes) and at its default."""
    return int(request.param)


def check(reader: VideoReader, clip: Clip, order: list[int]) -> None:
    for i in order:
        frame = reader.frame_at(i)
        assert frame.dtype == np.uint8
        assert frame.shape == (clip.spec.height, clip.spec.width, 3)
        assert frame.flags["C_CONTIGUOUS"]
        decoded = read_index(frame)
        assert decoded == read_index(clip.reference[i]), f"{clip.name}: frame {i} wrong content"
        assert np.array_equal(frame, clip.reference[i]), f"{clip.name}: frame {i} differs"


# --------------------------------------------------------------------------- fixture sanity
def test_fixture_reference(clip: Clip) -> None:
    """The generated file decodes to the frames we encoded, in order."""
    expected = clip.spec.frames + min(clip.spec.first_pts, 0)
    assert len(clip.reference) == expected
    offset = -min(clip.spec.first_pts, 0)
    assert [read_index(f) for f in clip.reference] == list(range(offset, offset + expected))


def test_index_matches_file(clip: Clip) -> None:
    meta = scan_video(clip.path)
    assert set(meta) == {"pts_time", "keyframes"}
    pts, keys = meta["pts_time"], meta["keyframes"]
    assert len(pts) == len(clip.reference)
    assert all(isinstance(v, int) for v in pts + keys)
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    assert keys == sorted(set(keys))
    # A cut edit list may drop the first keyframe; otherwise the clip starts with one.
    assert keys[0] == 0 or clip.spec.first_pts < 0
    with av.open(str(clip.path)) as container:
        stream = container.streams.video[0]
        decoded_pts = [frame.pts for frame in container.decode(stream)]
    assert decoded_pts == pts


def test_file_properties(clip_dir: Path) -> None:
    """The fixtures really exercise what they are named after."""
    meta = {name: scan_video(get_clip(name, clip_dir).path) for name in SPECS}
    assert meta["single_key_h264"]["keyframes"] == [0]
    assert len(meta["cfr_h264"]["keyframes"]) == 6
    assert meta["mpegts_offset"]["pts_time"][0] > 0
    vfr = np.diff(meta["vfr_h264"]["pts_time"])
    assert len(set(vfr.tolist())) > 5
    assert b"elst" in get_clip("bframes_h264", clip_dir).path.read_bytes()
    assert b"elst" in get_clip("mp4_edit_list_cut", clip_dir).path.read_bytes()
    for name in ("bframes_h264", "open_gop_h264", "hevc", "vfr_h264"):
        path = get_clip(name, clip_dir).path
        with av.open(str(path)) as container:
            packets = [p for p in container.demux(video=0) if p.size]
        dts_order = [p.pts for p in packets]
        assert dts_order != sorted(dts_order), f"{name} has no frame reordering"


# --------------------------------------------------------------------------- random access
def test_random_order(clip: Clip, cache_bytes: int) -> None:
    order = list(range(len(clip.reference)))
    random.Random(7).shuffle(order)
    with VideoReader(clip.path, cache_bytes=cache_bytes) as reader:
        check(reader, clip, order + order[:10])


def test_backwards(clip: Clip, cache_bytes: int) -> None:
    with VideoReader(clip.path, cache_bytes=cache_bytes) as reader:
        check(reader, clip, list(range(len(clip.reference) - 1, -1, -1)))


def test_last_then_first(clip: Clip, cache_bytes: int) -> None:
    last = len(clip.reference) - 1
    with VideoReader(clip.path, cache_bytes=cache_bytes) as reader:
        check(reader, clip, [last, 0, last, 1, last - 1, 0])


def test_past_last_keyframe_then_forwards(clip: Clip, cache_bytes: int) -> None:
    with VideoReader(clip.path, cache_bytes=cache_bytes) as reader:
        last_key = reader.video_meta_data["keyframes"][-1]
        count = reader.frame_count
        start = min(last_key + 1, count - 1)
        check(reader, clip, [start, *range(start, count)])
        check(reader, clip, [last_key, *range(0, min(count, 20))])


def test_after_reaching_end(clip: Clip, cache_bytes: int) -> None:
    count = len(clip.reference)
    with VideoReader(clip.path, cache_bytes=cache_bytes) as reader:
        check(reader, clip, list(range(count)))
        check(reader, clip, [count - 1, count // 2, count - 1, count - 2, 3])


def _count_calls(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    real = getattr(VideoReader, name)

    def spy(self: VideoReader, *args: Any) -> Any:
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(VideoReader, name, spy)
    return calls


@pytest.mark.parametrize("with_meta", [False, True], ids=["scanned", "meta"])
def test_access_paths_are_cheap(
    clip: Clip, with_meta: bool, cache_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forward stepping never seeks; random access never falls back to decoding from the start
    (except for frames before the first keyframe, which only a cut edit list produces).

    With video_meta_data the seek preroll for MPEG-TS is learnt while decoding."""
    meta = scan_video(clip.path) if with_meta else None
    seeks = _count_calls(monkeypatch, "_seek")
    restarts = _count_calls(monkeypatch, "_restart")
    count = len(clip.reference)
    with VideoReader(clip.path, video_meta_data=meta, cache_bytes=cache_bytes) as reader:
        check(reader, clip, list(range(count)))
        assert (len(seeks), len(restarts)) == (0, 1)  # the lazy first open
        order = list(range(count))
        random.Random(3).shuffle(order)
        check(reader, clip, order)
        if not reader._traits.seekable:
            # Never sought (VideoTraits.seekable): a request behind the last frame restarts.
            assert len(seeks) == 0
            return
        leading = reader.video_meta_data["keyframes"][0]
        assert len(restarts) <= 1 + leading
        # A retried seek (MPEG-TS seeks by decode timestamp) is learned, not repeated.
        assert len(seeks) <= count + 2 * (leading + 1) + 3


def _cached(reader: VideoReader) -> dict[int, np.ndarray]:
    """The frames a reader has cached, converted like frame_at converts them."""
    return {index: video_convert.to_bgr(frame) for index, frame in reader._cache.items()}


def test_cached_frames_are_exact(clip: Clip) -> None:
    """Every frame the cache holds after random jumps is the sequentially decoded one, and a
    cache hit returns it without decoding anything."""
    order = list(range(len(clip.reference)))
    random.Random(11).shuffle(order)
    with VideoReader(clip.path, cache_bytes=1 << 30) as reader:
        check(reader, clip, order[: len(order) // 3])
        cached = _cached(reader)
        assert len(cached) >= len(order) // 3  # every request, and what was decoded on the way
        for index, frame in cached.items():
            assert np.array_equal(frame, clip.reference[index]), f"{clip.name}: cached {index}"

        def no_decoding(*args: Any) -> None:
            raise AssertionError("a cached frame was decoded again")

        for name in ("_decode_to", "_seek", "_restart"):
            setattr(reader, name, no_decoding)
        check(reader, clip, sorted(cached))


def test_cache_skips_frames_before_the_seek_keyframe(clip: Clip) -> None:
    """After a jump into a GOP, frames displayed before its keyframe (open-GOP leading
    pictures, which may reference the previous GOP) are not cached."""
    with VideoReader(clip.path, cache_bytes=1 << 30) as reader:
        keys = reader.video_meta_data["keyframes"]
    for key in keys[1:]:
        with VideoReader(clip.path, cache_bytes=1 << 30) as reader:
            target = min(key + 5, reader.frame_count - 1)
            check(reader, clip, [target])
            cached = _cached(reader)
            assert target in cached
            if not reader._traits.seekable:
                continue  # decoded from the start, no jump: every frame on the way is exact
            assert min(cached) >= key, f"{clip.name}: frame {min(cached)} cached, key {key}"


@pytest.mark.parametrize("name", ["cfr_h264", "mpeg4_avi", "odd_ffv1_mkv"])
def test_jump_then_step_seeks_once(
    clip_dir: Path, name: str, cache_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a stream without reorder delay the target comes out of its own packet: the decoder
    is not drained, so stepping on from a jump goes on decoding instead of seeking again."""
    clip = get_clip(name, clip_dir)
    seeks = _count_calls(monkeypatch, "_seek")
    middle = len(clip.reference) // 2
    with VideoReader(clip.path, cache_bytes=cache_bytes) as reader:
        check(reader, clip, [middle, middle + 1, middle + 2, middle + 3])
    assert len(seeks) == 1


def test_cache_never_changes_what_is_returned(clip_dir: Path) -> None:
    """With an index whose timestamp for one frame is off by a tick (still sorted, so
    accepted), frames are identified by position guesses, which can be wrong: whatever the
    reader returns, it returns the same with and without the cache."""
    clip = get_clip("bframes_h264", clip_dir)
    count = len(clip.reference)
    order = [4, 2, 3, 1, 6, 5, 0, 9, 7, 8, count - 1, count - 3]

    def results(meta: dict[str, list[int]], cache_bytes: int) -> list[int | str]:
        out: list[int | str] = []
        with VideoReader(clip.path, video_meta_data=meta, cache_bytes=cache_bytes) as reader:
            for i in order:
                try:
                    out.append(read_index(reader.frame_at(i)))
                except FaceioError as err:  # a frame no decoding reaches with this index
                    out.append(type(err).__name__)
        return out

    for shifted in range(1, 10):
        meta = scan_video(clip.path)
        meta["pts_time"][shifted] += 1
        assert results(meta, video.DEFAULT_CACHE_BYTES) == results(meta, 0), shifted


def test_cache_budget(clip_dir: Path) -> None:
    clip = get_clip("bframes_h264", clip_dir)
    order = list(range(len(clip.reference)))
    random.Random(5).shuffle(order)
    with av.open(str(clip.path)) as container:
        frame_bytes = video_cache.frame_bytes(next(container.decode(video=0)))
    assert frame_bytes >= 80 * 48 * 3 // 2  # the planes with their row padding
    for budget in (0, 1, 3 * frame_bytes, 10 * frame_bytes):
        with VideoReader(clip.path, cache_bytes=budget) as reader:
            assert reader.cache_bytes == budget
            check(reader, clip, order + order[:20])
            assert reader._cache.size <= budget
            assert len(reader._cache) == budget // frame_bytes
    with VideoReader(clip.path) as reader:
        assert reader.cache_bytes == video.DEFAULT_CACHE_BYTES
        check(reader, clip, order)
        assert len(reader._cache) == len(order)
    assert len(reader._cache) == 0  # closing frees the cache


def test_frame_cache_lru(clip_dir: Path) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    with av.open(str(clip.path)) as container:
        frames = [frame for _, frame in zip(range(5), container.decode(video=0), strict=False)]
    size = video_cache.frame_bytes(frames[0])
    cache = video_cache.FrameCache(3 * size)
    for index in range(3):
        cache.put(index, frames[index])
    assert cache.get(0) is frames[0]  # 0 is now the most recently used
    cache.put(3, frames[3])  # evicts 1, the least recently used
    assert [index for index, _ in cache.items()] == [2, 0, 3]
    assert cache.get(1) is None and cache.size == 3 * size
    cache.put(2, frames[4])  # already cached: kept, not replaced, and now the most recent
    assert [index for index, _ in cache.items()] == [0, 3, 2]
    assert cache.get(2) is frames[2]
    cache.clear()
    assert len(cache) == 0 and cache.size == 0


def test_returned_frames_are_independent(clip_dir: Path) -> None:
    """Arrays from the cache are copies: changing one does not change the next request."""
    clip = get_clip("cfr_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        for _ in range(3):
            frame = reader.frame_at(7)
            assert np.array_equal(frame, clip.reference[7])
            frame[:] = 1
    bgr = np.arange(4 * 64 * 3, dtype=np.uint8).reshape(4, 64, 3)  # rows without padding
    native = av.VideoFrame.from_ndarray(bgr, format="bgr24")  # no conversion needed
    converted = video_convert.to_bgr(native)
    assert np.array_equal(converted, native.to_ndarray(format="bgr24"))
    assert converted.flags["C_CONTIGUOUS"] and converted.flags["OWNDATA"]
    assert not np.shares_memory(converted, native.to_ndarray())


def test_sequential_iteration(clip: Clip) -> None:
    with VideoReader(clip.path) as reader:
        got = list(reader.iter_frames())
    assert [i for i, _ in got] == list(range(len(clip.reference)))
    for (i, frame), ref in zip(got, clip.reference, strict=True):
        assert np.array_equal(frame, ref), f"{clip.name}: iterated frame {i} differs"


# --------------------------------------------------------------------------- behaviour
def test_out_of_range(clip_dir: Path) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        for bad in (-1, reader.frame_count, 10_000):
            with pytest.raises(IndexError, match=clip.path.name):
                reader.frame_at(bad)
        check(reader, clip, [5])
        assert np.array_equal(reader.frame_at(np.int64(7)), clip.reference[7])
        with pytest.raises(TypeError):
            reader.frame_at(1.0)  # type: ignore[arg-type]
        assert [i for i, _ in reader.iter_frames(skip=range(1, 60), progress=True)] == [0]


def test_meta_data_round_trip_skips_scan(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = get_clip("bframes_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        meta = reader.video_meta_data
    assert meta == scan_video(clip.path)

    def no_scan(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the file was scanned although video_meta_data was given")

    monkeypatch.setattr(video_scan, "index_stream", no_scan)
    monkeypatch.setattr(video, "scan_video", no_scan)
    with VideoReader(clip.path, video_meta_data=meta) as reader:
        assert reader.video_meta_data == meta
        assert reader.frame_count == len(clip.reference)
        check(reader, clip, [40, 3, 89, 0])


# A recording cut out of a stream (an MPEG-TS capture, a clip copied from the middle of one):
# it starts mid-GOP, maybe without parameter sets. Cut at MPEG-TS packet boundaries. (MPEG-4
# Part 2 is left out: its decoder outputs the undecodable first frames with timestamps that
# repeat later ones, which no index by timestamp can tell apart.)
_CUT_SOURCES = ["mpegts_offset", "open_gop_h264", "hevc"]
_CUT_FULL: dict[str, bytes] = {}


@pytest.mark.parametrize("name", _CUT_SOURCES)
@pytest.mark.parametrize("fraction", [0.13, 0.31, 0.52, 0.77])
def test_recording_cut_mid_gop(clip_dir: Path, name: str, fraction: float) -> None:
    """The index holds exactly the frames the decoder outputs from such a start."""
    if name not in _CUT_FULL:
        full = clip_dir / f"{name}_full.ts"
        encode(full, replace(SPECS[name], ext=".ts"))
        _CUT_FULL[name] = full.read_bytes()
    data = _CUT_FULL[name]
    path = clip_dir / f"{name}_cut{int(fraction * 100)}.ts"
    path.write_bytes(data[int(len(data) * fraction) // 188 * 188 :])
    reference = sequential_decode(path)
    if not reference:  # cut off from its parameter sets: nothing decodes
        with pytest.raises(ValueError, match="no video frames"):
            VideoReader(path)
        return
    assert count_frames(path, fast_count=False) == len(reference)
    with VideoReader(path) as reader:
        assert reader.frame_count == len(reference)
        assert [index for index, _ in reader.iter_frames()] == list(range(len(reference)))
        order = list(range(len(reference)))
        random.Random(7).shuffle(order)
        for i in order:
            assert np.array_equal(reader.frame_at(i), reference[i]), f"frame {i} differs"


def _encode_with(
    path: Path,
    codec: str,
    count: int,
    *,
    stamps: list[int] | None = None,
    time_base: Fraction = Fraction(1, 25),
    size: tuple[int, int] = (64, 48),
    options: dict[str, str] | None = None,
    gop: int | None = None,
    max_b_frames: int | None = None,
    mutate: Any = None,
    rate: int = 25,
) -> None:
    """Encode ``count`` index frames with the given timestamps; ``mutate(packets)`` may edit
    the packets (in decode order) before they are muxed."""
    width, height = size
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream(codec, rate=rate, options=dict(options or {}))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        if max_b_frames is not None:
            stream.codec_context.max_b_frames = max_b_frames
        stream.codec_context.time_base = time_base
        packets = []
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(index_image(i, width, height), format="bgr24")
            frame.pts, frame.time_base = (stamps[i] if stamps else i), time_base
            packets += stream.encode(frame)
        packets += stream.encode(None)
        if mutate is not None:
            mutate(packets)
        for packet in packets:
            out.mux(packet)


def _encode_vfr(path: Path, codec: str, count: int, seed: int, **kwargs: Any) -> None:
    """``_encode_with`` at a variable rate: time base 1/1000, frames 15 to 90 ms apart (from
    ``seed``), the first at ``kwargs["first"]`` (0 if not given); every index frame decodes."""
    rng = random.Random(seed)
    stamps = [kwargs.pop("first", 0)]
    while len(stamps) < count:
        stamps.append(stamps[-1] + rng.randint(15, 90))
    _encode_with(path, codec, count, stamps=stamps, time_base=Fraction(1, 1000), **kwargs)
    assert [read_index(frame) for frame in sequential_decode(path)] == list(range(count))


def _check_frames(reader: VideoReader, reference: list[np.ndarray], order: list[int]) -> None:
    """``frame_at`` in ``order`` gives exactly the frames of the sequential decode."""
    for i in order:
        frame = reader.frame_at(i)
        assert read_index(frame) == read_index(reference[i]), f"frame {i} is {read_index(frame)}"
        assert np.array_equal(frame, reference[i]), f"frame {i} differs ({order})"


def _check_requests(path: Path, reference: list[np.ndarray], orders: list[list[int]]) -> None:
    """Each order of requests, on a fresh reader with the cache off and on, gives exactly the
    frames of the sequential decode."""
    for cache_bytes in (0, video.DEFAULT_CACHE_BYTES):
        for order in orders:
            with VideoReader(path, cache_bytes=cache_bytes) as reader:
                _check_frames(reader, reference, order)


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts"])
def test_repeated_timestamps(clip_dir: Path, ext: str, cache_bytes: int) -> None:
    """Frames that share a timestamp are told apart by their order, as a sequential decode
    numbers them: random access to each returns its own frame, never its twin's."""
    path = clip_dir / f"repeated_stamps{ext}"

    def repeat(packets: list[av.Packet]) -> None:
        # Inside a GOP, on a keyframe's stamp (11 takes 12's), three in a row (19 to 21).
        # Broken muxers and files joined at a cut write such stamps; the decoder still
        # outputs every frame, in order.
        for j in (20, 19, 11, 3):  # from the end, so that 19 takes 20's new stamp
            packets[j].pts = packets[j + 1].pts

    _encode_with(path, "mpeg4", 36, gop=6, max_b_frames=0, mutate=repeat)
    reference = sequential_decode(path)
    assert [read_index(frame) for frame in reference] == list(range(36))
    meta = scan_video(path)
    stamps = meta["pts_time"]
    assert len(stamps) == 36
    assert stamps[3] == stamps[4] and stamps[11] == stamps[12] and stamps[19] == stamps[21]
    with VideoReader(path, video_meta_data=meta, cache_bytes=cache_bytes) as reader:
        assert [index for index, _ in reader.iter_frames()] == list(range(36))
        order = list(range(36))
        random.Random(3).shuffle(order)
        twins = [4, 3, 12, 11, 21, 20, 19, 20, 21, 4, 5, 3]
        _check_frames(reader, reference, order + twins + list(range(35, -1, -1)))


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts"])
def test_repeated_timestamp_behind_a_b_frame(clip_dir: Path, ext: str) -> None:
    """A P-frame given the stamp of the B-frame decoded after it: the first of the twins
    comes out of a later packet than the first packet with its stamp, so random access must
    not drain the decoder after that packet (it returned the second twin)."""
    path = clip_dir / f"twin_b{ext}"
    twin_packet: list[int] = []

    def twin(packets: list[av.Packet]) -> None:
        for j in range(12, len(packets) - 1):
            this, after = packets[j], packets[j + 1]
            if after.pts < this.pts and after.pts >= this.dts:
                this.pts = after.pts
                twin_packet.append(j)
                return

    options = _x264("keyint=6:min-keyint=6:scenecut=0:bframes=1:b-pyramid=none")
    _encode_with(path, "libx264", 30, options=options, mutate=twin)
    assert twin_packet, "no P-frame followed by a B-frame to twin"
    reference = sequential_decode(path)
    with av.open(str(path)) as container:
        shown = [frame.pts for frame in container.decode(video=0)]
    first = next(i for i in range(29) if shown[i] == shown[i + 1])
    _check_requests(path, reference, [[first], [29, first], [first + 1, first, 0, first + 1]])


def test_seek_that_lands_on_undecodable_frames(clip_dir: Path) -> None:
    """MPEG-4 with B-frames in MPEG-TS, variable rate: after a seek retried earlier, the
    demuxer lands on non-key packets and the decoder gives undecodable frames stamped with an
    earlier frame's stamp; they are passed over, not taken for the frames that follow."""
    path = clip_dir / "mpeg4_b_vfr.ts"
    _encode_vfr(path, "mpeg4", 80, 662811717, size=(74, 64), gop=10, max_b_frames=1)
    reference = sequential_decode(path)
    _check_requests(path, reference, [[78, 79], [70, 79], [79, 0, 79]])


def test_avi_seek_retry_before_the_start(clip_dir: Path) -> None:
    """A seek retried before the keyframe's stamp can fall before the start of the file,
    which the AVI demuxer refuses: the next attempt is made instead of raising."""
    path = clip_dir / "vfr_h264.avi"
    options = _x264("keyint=12:min-keyint=12:scenecut=0:bframes=0")
    _encode_vfr(path, "libx264", 74, 691505227, size=(90, 70), options=options)
    reference = sequential_decode(path)
    _check_requests(path, reference, [list(range(73, -1, -1))])


@pytest.mark.parametrize(
    "params",
    [
        "keyint=5:min-keyint=5:scenecut=0:bframes=2:b-pyramid=none",
        "keyint=12:min-keyint=12:scenecut=0:bframes=3:b-pyramid=normal",
    ],
)
def test_h264_b_frames_in_avi(
    clip_dir: Path, params: str, cache_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AVI stamps packets in decode order, so H.264 frames with B-frames come out with their
    stamps out of order (1, 2, 4, 3, ...): the index is the order they come out in, and every
    access gives the sequential decode's frame; the index round-trips without a scan."""
    path = clip_dir / f"h264_b_{params[7:9].strip(':')}.avi"
    _encode_with(path, "libx264", 40, options=_x264(params))
    reference = sequential_decode(path)
    assert [read_index(frame) for frame in reference] == list(range(40))
    with av.open(str(path)) as container:
        shown = [frame.pts for frame in container.decode(video=0)]
    assert shown != sorted(shown), "the fixture must have its stamps out of order"
    meta = scan_video(path)
    assert meta["pts_time"] == shown
    assert count_frames(path, fast_count=False) == 40
    order = list(range(40))
    random.Random(5).shuffle(order)

    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("scanned although video_meta_data was given")

    # An index that sorted the stamps (what faceio wrote before) is not trusted: rescanned.
    with VideoReader(path, video_meta_data={**meta, "pts_time": sorted(shown)}) as reader:
        assert reader.video_meta_data == meta
    for given in (None, meta):
        if given is not None:
            monkeypatch.setattr(video_scan, "index_stream", no_scan)
        with VideoReader(path, video_meta_data=given, cache_bytes=cache_bytes) as reader:
            assert reader.video_meta_data == meta
            assert [index for index, _ in reader.iter_frames()] == list(range(40))
            _check_frames(reader, reference, [*order, 39, 0, 7, 6, 8, 20, 19, 21])
        monkeypatch.undo()


def test_avi_repeated_stamp_out_of_order(clip_dir: Path) -> None:
    """H.264 with B-frames (open GOP) in AVI at a variable rate: the last frames come out
    stamped ..., 8423, 8383, 8423; the two frames that share a stamp are not next to each
    other in the index, and the second must still be reachable."""
    path = clip_dir / "h264_b_vfr.avi"
    options = _x264("keyint=8:min-keyint=8:scenecut=0:bframes=1:b-pyramid=normal:open-gop=1")
    _encode_vfr(path, "libx264", 79, 443171570, first=4149, size=(82, 68), options=options, rate=24)
    reference = sequential_decode(path)
    with av.open(str(path)) as container:
        shown = [frame.pts for frame in container.decode(video=0)]
    assert len(set(shown)) < len(shown), "the fixture must repeat a stamp"
    _check_requests(path, reference, [[78], [78, 0, 78, 77, 76], list(range(78, 60, -1))])


def test_file_cut_inside_its_header(clip_dir: Path) -> None:
    """MP4s cut inside their trailing header: a clear ValueError or OSError at construction,
    also where the cut leaves a stream without a decoder (an AttributeError escaped)."""
    full = clip_dir / "cut_header_full.mp4"
    options = _x264("keyint=8:min-keyint=8:scenecut=0:bframes=2")
    _encode_with(full, "libx264", 79, size=(82, 58), stamps=list(range(-4, 75)), options=options)
    data = full.read_bytes()
    path = clip_dir / "cut_header.mp4"
    no_decoder = 0
    for permille in range(780, 1000, 3):
        path.write_bytes(data[: len(data) * permille // 1000])
        try:
            with av.open(str(path)) as container:
                no_decoder += container.streams.video[0].codec_context is None
        except (av.FFmpegError, IndexError):
            pass
        try:
            VideoReader(path).close()
        except (ValueError, OSError):
            pass
    assert no_decoder, "no cut left a stream without a decoder"


def test_legacy_float_seconds_meta(clip_dir: Path) -> None:
    clip = get_clip("mpegts_offset", clip_dir)
    meta = scan_video(clip.path)
    with av.open(str(clip.path)) as container:
        time_base = container.streams.video[0].time_base
    seconds = [float(p * time_base) for p in meta["pts_time"]]
    legacy = {"pts_time": seconds, "keyframes": meta["keyframes"]}
    with VideoReader(clip.path, video_meta_data=legacy) as reader:
        assert reader.video_meta_data == meta
        check(reader, clip, [30, 2])


def test_invalid_meta_falls_back_to_scan(clip_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    count = len(clip.reference)
    good = scan_video(clip.path)
    bads: list[Any] = [
        {"pts_time": [3, 2, 1], "keyframes": [0]},
        {"keyframes": [0]},
        {},
        # Bools are not stamps, and FFmpeg's stamps fit 64 bits.
        {"pts_time": [True] * 3, "keyframes": [0]},
        {"pts_time": good["pts_time"], "keyframes": [False]},
        {"pts_time": [*good["pts_time"][:-1], 2**63], "keyframes": [0]},
        {"pts_time": [*good["pts_time"][:-1], 1e30], "keyframes": [0]},
        {"pts_time": ["0", "1"], "keyframes": [0]},
    ]
    for bad in bads:
        caplog.clear()
        with VideoReader(clip.path, video_meta_data=bad) as reader:
            assert reader.frame_count == count, bad
            assert reader.video_meta_data == good
            np.testing.assert_array_equal(reader.frame_at(count - 1), clip.reference[-1])
        assert not bad or "Ignoring" in caplog.text, bad
    # numpy's numbers are numbers: taken, not scanned again.
    caplog.clear()
    numpy_meta = {k: list(np.array(v, dtype=np.int64)) for k, v in good.items()}
    with VideoReader(clip.path, video_meta_data=numpy_meta) as reader:
        assert reader.video_meta_data == good
    assert "Ignoring" not in caplog.text


def test_count_frames(clip_dir: Path) -> None:
    """The fast count is within 2% of the exact one (or equal) on every video of the table."""
    for name in sorted(SPECS):
        clip = get_clip(name, clip_dir)
        exact = count_frames(clip.path, fast_count=False)
        assert exact == len(clip.reference)
        fast = count_frames(clip.path, fast_count=True)
        assert abs(fast - exact) <= 0.02 * exact, (name, fast, exact)
        loader = ImagesLoader(str(clip.path), fast_count=True)
        assert loader.count == fast and len(loader.file_list) == fast


def _stamped(count: int, step: Callable[[random.Random], int], seed: int = 5) -> list[int]:
    rng = random.Random(seed)
    stamps = [0]
    while len(stamps) < count:
        stamps.append(stamps[-1] + step(rng))
    return stamps


# Files whose container figures mislead: AVI counts time-base ticks (4,000 for 100 frames in
# milliseconds), a declared rate is not a variable-rate stream's mean, an edit list cuts frames
# from MP4's sample count. The long ones are past the packets a fast count demuxes, so their
# count is estimated.
_MISLEADING: dict[str, Callable[[Path], None]] = {
    "avi_ms_100.avi": lambda p: _encode_with(
        p, "mpeg4", 100, stamps=_stamped(100, lambda r: 40), time_base=Fraction(1, 1000)
    ),
    "ts_120.ts": lambda p: _encode_with(p, "mpeg4", 120, max_b_frames=2, gop=12),
    "vfr_120.mkv": lambda p: _encode_with(
        p, "libx264", 120, stamps=_stamped(120, lambda r: r.randint(15, 90)),
        time_base=Fraction(1, 1000),
    ),
    "vfr_avi_120.avi": lambda p: _encode_with(
        p, "mpeg4", 120, stamps=_stamped(120, lambda r: r.randint(15, 90)),
        time_base=Fraction(1, 1000),
    ),
    "avi_ms_long.avi": lambda p: _encode_with(
        p, "mpeg4", 1600, stamps=_stamped(1600, lambda r: 40), time_base=Fraction(1, 1000),
        size=(16, 16),
    ),
    "vfr_long.mkv": lambda p: _encode_with(
        p, "libx264", 1600, stamps=_stamped(1600, lambda r: r.randint(15, 90)),
        time_base=Fraction(1, 1000), size=(16, 16),
    ),
    "ts_long.ts": lambda p: _encode_with(p, "libx264", 1600, size=(16, 16)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_MISLEADING))
def test_fast_count_is_close_where_the_container_misleads(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _MISLEADING[name](path)
    exact = count_frames(path, fast_count=False)
    with av.open(str(path)) as container:
        assert exact == sum(1 for _ in container.decode(video=0))
    fast = count_frames(path, fast_count=True)
    assert abs(fast - exact) <= 0.02 * exact, (fast, exact)
    if exact <= video.FAST_COUNT_PACKETS:
        assert fast == exact  # demuxed to the end
    assert ImagesLoader(str(path), fast_count=True).count == fast


def test_count_frames_progress(clip_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    assert count_frames(clip.path, fast_count=False, progress=True) == 60
    assert count_frames(clip.path, fast_count=False) == 60
    assert scan_video(clip.path, progress=True) == scan_video(clip.path)


def test_skip_set_converts_only_yielded(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = get_clip("bframes_h264", clip_dir)
    converted: list[int] = []
    real = video_convert.to_bgr

    def spy(frame: av.VideoFrame) -> np.ndarray:
        converted.append(frame.pts)
        return real(frame)

    monkeypatch.setattr(video_convert, "to_bgr", spy)
    skip = set(range(0, 90, 3)) | {89}
    with VideoReader(clip.path) as reader:
        got = list(reader.iter_frames(skip=skip))
        pts = reader.video_meta_data["pts_time"]
    wanted = [i for i in range(90) if i not in skip]
    assert [i for i, _ in got] == wanted
    assert converted == [pts[i] for i in wanted]
    for i, frame in got:
        assert np.array_equal(frame, clip.reference[i])


def test_iteration_does_not_disturb_random_access(clip_dir: Path) -> None:
    clip = get_clip("open_gop_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        check(reader, clip, [50])
        frames = reader.iter_frames()
        next(frames)
        check(reader, clip, [51, 52, 20])
        assert sum(1 for _ in frames) == 89
        frames.close()


def test_odd_sizes(clip_dir: Path) -> None:
    for name in ("odd_444_h264", "odd_vp9_webm", "odd_ffv1_mkv"):
        clip = get_clip(name, clip_dir)
        with VideoReader(clip.path) as reader:
            frame = reader.frame_at(reader.frame_count - 1)
            assert frame.shape == (clip.spec.height, clip.spec.width, 3)
            assert frame.flags["C_CONTIGUOUS"]
            index, first = next(reader.iter_frames())
            assert index == 0 and first.shape == frame.shape


# --------------------------------------------------------------------------- errors and API
def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.mp4"
    for call in (VideoReader, scan_video, count_frames):
        with pytest.raises(FileNotFoundError, match=r"nope\.mp4"):
            call(missing)


def test_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    junk = tmp_path / "junk.avi"
    junk.write_bytes(bytes(range(256)) * 40)
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    audio = tmp_path / "tone.wav"
    with av.open(str(audio), mode="w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        samples = np.zeros((1, 800), dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    image = tmp_path / "still.png"
    with av.open(str(image), mode="w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "rgb24"
        out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8))))
        out.mux(stream.encode(None))
    for path in (text, junk, empty, audio, image, tmp_path):
        for call in (VideoReader, scan_video, count_frames):
            with pytest.raises(ValueError, match=path.name):
                call(path)


def test_a_tag_that_is_not_utf8_does_not_stop_the_video(tmp_path: Path) -> None:
    """An old file's Latin-1 title (here one byte of an MKV title made 0xF7): the frames read
    as PyAV gives them, the tag with a replacement character."""
    path = tmp_path / "latin1.mkv"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata["title"] = "TITLEXYZ"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(index_image(i, 64, 48), format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    data = bytearray(path.read_bytes())
    data[data.index(b"TITLEXYZ") + 1] = 0xF7
    path.write_bytes(bytes(data))
    # PyAV up to 18 decodes tags strictly unless told otherwise (19 escapes them).
    tags = {"metadata_errors": "replace"} if int(av.__version__.split(".")[0]) < 19 else {}
    with av.open(str(path), **tags) as container:
        reference = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(reference) == 5
    assert count_frames(path) == 5 and len(scan_video(path)["pts_time"]) == 5
    with VideoReader(path) as reader:
        assert len(reader) == 5
        for i, frame in reader.iter_frames():
            np.testing.assert_array_equal(frame, reference[i])
        np.testing.assert_array_equal(reader.frame_at(3), reference[3])
    assert ImagesLoader(str(path)).fps == 25.0


def test_frames_a_damaged_stream_never_outputs(clip_dir: Path, tmp_path: Path) -> None:
    """Two packets' data replaced by garbage: the frames of the index that never decode are
    left out by iteration, dense or sparse alike, and frame_at names the frame and the file."""

    clip = get_clip("cfr_h264", clip_dir)
    path = tmp_path / "damaged.mkv"
    with av.open(str(clip.path)) as source, av.open(str(path), mode="w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        packets = [p for p in source.demux(video=0) if p.dts is not None]
        for number, packet in enumerate(packets):
            if number in (20, 33):
                garbage = av.Packet(b"\xff" * 4 + bytes(range(200)))
                garbage.pts, garbage.dts = packet.pts, packet.dts
                garbage.time_base = packet.time_base
                packet = garbage
            packet.stream = stream
            out.mux(packet)
    with VideoReader(path) as reader:
        assert len(reader) == len(clip.reference)
        dense = dict(reader.iter_frames())
        missing = sorted(set(range(len(reader))) - set(dense))
        assert 20 in missing and 33 in missing, missing
        for index, frame in dense.items():
            if index < 20:
                np.testing.assert_array_equal(frame, clip.reference[index])
        with pytest.raises(FaceioError, match=r"Frame 20 of .*damaged\.mkv.* never outputs"):
            reader.frame_at(20)
        kept = {0, 20, 33, max(dense)}
        sparse = dict(reader.iter_frames(skip=set(range(len(reader))) - kept))
        assert sorted(sparse) == [0, max(dense)]
        for index, frame in sparse.items():
            np.testing.assert_array_equal(frame, dense[index])


def test_close_twice_and_closed_use(clip_dir: Path) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    reader = VideoReader(clip.path)
    reader.frame_at(3)
    reader.close()
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.frame_at(0)
    with VideoReader(clip.path) as reader:
        pass
    reader.close()


def test_extensions_and_names() -> None:
    assert set(VIDEO_EXTENSIONS) == {
        ".avi",
        ".flv",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".webm",
        ".wmv",
        ".ts",
        ".vob",
    }
    assert is_video_path("a/b/Clip.MP4")
    assert is_video_path(Path("x.vob"))
    assert is_video_path("x.Ts")
    assert not is_video_path("x.png")
    assert not is_video_path("mp4")
    assert frame_filename("/data/my.clip.mp4", 0) == "my.clip_000001.mp4"
    assert frame_filename("clip.mkv", 41) == "clip_000042.mkv"
    assert frame_filename("clip.mkv", 41, ".png") == "clip_000042.png"


def test_fps_and_len(clip_dir: Path) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        assert len(reader) == reader.frame_count == 60
        assert reader.fps == pytest.approx(25.0)
        assert "60 frames" in repr(reader)


def test_fps_of_a_variable_rate_stream_with_no_average(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MPEG-TS keeps no average rate; FFmpeg's guess is then its time base's ticks (2,000 a
    second here). fps is the frames' mean rate, over the span of their timestamps."""
    path = tmp_path / "vfr.ts"
    spec = replace(SPECS["vfr_h264"], ext=".ts")
    encode(path, spec)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert not stream.average_rate
        time_base = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        stamps = sorted(f.pts for f in container.decode(stream))
    mean = (len(stamps) - 1) / float((stamps[-1] - stamps[0]) * time_base)
    with VideoReader(path) as reader:
        assert reader.fps == pytest.approx(mean)
        assert 10 < reader.fps < 40  # the stamps step 15 to 90 ms
        assert reader.duration == pytest.approx(len(stamps) / mean)
    # The loader (faceswap's convert writes its output at this rate) says the same, and the
    # scan it takes for it is the one its load reads by (not a second scan of the file).
    scans: list[int] = []
    real = video_scan.index_stream

    def counted(*args: Any, **kwargs: Any) -> Any:
        scans.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(video_scan, "index_stream", counted)
    loader = ImagesLoader(str(path))
    assert loader.fps == pytest.approx(mean)
    frames = dict(loader.load())
    assert len(frames) == len(stamps)
    assert len(scans) == 1


@dataclass(frozen=True)
class _AVRational:
    """What PyAV 19 hands out for a rational: numerator and denominator, falsy when 0/1."""

    numerator: int
    denominator: int

    def __bool__(self) -> bool:
        return self.numerator != 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(1, 25), Fraction(1, 25)),
        (None, None),
        (_AVRational(1, 90000), Fraction(1, 90000)),
        (_AVRational(0, 1), None),  # PyAV 19's unset value
        (_AVRational(1, 0), None),  # a damaged file's time base: no ZeroDivisionError
    ],
)
def test_time_base_from_any_pyav(value: Any, expected: Fraction | None) -> None:
    from faceio.video.stream import fraction

    result = fraction(value)
    assert result == expected
    assert result is None or type(result) is Fraction
