"""Tests for VideoReader.frames_at, indexing and slicing, and the stream's metadata attributes.

The videos are test_video.py's table (and its hostile cases); every batch is compared with a
plain sequential PyAV decode of the same file and with ``frame_at`` one index at a time.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from faceio import video
from faceio.video import VideoReader
from faceio.video import batch as video_batch
from faceio.video import decoder as video_decoder
from tests.test_video import (
    SPECS,
    Clip,
    _encode_vfr,
    _encode_with,
    _x264,
    encode,
    get_clip,
    read_index,
    sequential_decode,
)


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos_batch")


@pytest.fixture(params=sorted(SPECS), scope="session")
def clip(request: pytest.FixtureRequest, clip_dir: Path) -> Clip:
    return get_clip(request.param, clip_dir)


@pytest.fixture(params=[1, 3], ids=["1core", "3cores"])
def cores(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Batches on one decoder, and on three (threads), whatever this machine has."""
    count = int(request.param)
    monkeypatch.setattr(video_batch, "cpu_count", lambda: count)
    return count


def _requests(count: int, seed: int) -> list[list[int]]:
    """Orders of requests: shuffled with repeats, all descending, a scrub, one frame, none."""
    rng = random.Random(seed)
    shuffled = [rng.randrange(count) for _ in range(count)] + [0, count - 1, 0]
    scrub = sorted(rng.sample(range(count), max(1, count // 3)))
    return [shuffled, list(range(count - 1, -1, -1)), scrub, [count // 2], []]


def _check_batches(path: Path, reference: list[np.ndarray], orders: list[list[int]]) -> None:
    """frames_at equals the sequential decode and frame_at, cache off and on, fresh reader and
    one that has served requests before."""
    height, width = reference[0].shape[:2]
    for cache_bytes in (0, video.DEFAULT_CACHE_BYTES):
        with VideoReader(path, cache_bytes=cache_bytes) as reader, VideoReader(path) as single:
            for order in orders:
                got = reader.frames_at(order)
                assert got.shape == (len(order), height, width, 3)
                assert got.dtype == np.uint8 and got.flags["C_CONTIGUOUS"]
                for row, index in enumerate(order):
                    assert read_index(got[row]) == read_index(reference[index]), (index, order)
                    assert np.array_equal(got[row], reference[index]), (index, order)
                    assert np.array_equal(got[row], single.frame_at(index)), (index, order)


def test_frames_at_equals_frame_at(clip: Clip, cores: int) -> None:
    _check_batches(clip.path, clip.reference, _requests(len(clip.reference), 11))


def test_frames_at_numpy_indices(clip_dir: Path) -> None:
    clip = get_clip("bframes_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        for dtype in (np.int64, np.int32, np.uint16, np.uint64):
            indices = np.array([89, 3, 3, 40], dtype=dtype)
            got = reader.frames_at(indices)
            assert [read_index(frame) for frame in got] == [89, 3, 3, 40]
        empty = reader.frames_at(np.array([], dtype=np.float64))
        assert empty.shape == (0, 48, 80, 3)
        assert reader.frames_at(iter(range(3))).shape == (3, 48, 80, 3)


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".ts"])
def test_frames_at_repeated_timestamps(clip_dir: Path, ext: str, cores: int) -> None:
    """Frames told apart only by their order (see test_video.test_repeated_timestamps)."""
    path = clip_dir / f"repeated_stamps{ext}"

    def repeat(packets: list[av.Packet]) -> None:
        for j in (20, 19, 11, 3):
            packets[j].pts = packets[j + 1].pts

    _encode_with(path, "mpeg4", 36, gop=6, max_b_frames=0, mutate=repeat)
    reference = sequential_decode(path)
    twins = [4, 3, 12, 11, 21, 20, 19, 20, 21, 4, 5, 3]
    _check_batches(path, reference, [twins, *_requests(36, 3)])


@pytest.mark.parametrize(
    "params",
    [
        "keyint=5:min-keyint=5:scenecut=0:bframes=2:b-pyramid=none",
        "keyint=12:min-keyint=12:scenecut=0:bframes=3:b-pyramid=normal",
    ],
)
def test_frames_at_h264_b_frames_in_avi(clip_dir: Path, params: str, cores: int) -> None:
    """AVI with stamps out of order (see test_video.test_h264_b_frames_in_avi)."""
    path = clip_dir / f"h264_b_{params[7:9].strip(':')}.avi"
    _encode_with(path, "libx264", 40, options=_x264(params))
    reference = sequential_decode(path)
    _check_batches(path, reference, [[39, 0, 7, 6, 8, 20, 19, 21], *_requests(40, 5)])


def test_frames_at_hostile_streams(clip_dir: Path, cores: int) -> None:
    """MPEG-4 B-frames in MPEG-TS at a variable rate (seeks that land on undecodable frames),
    H.264 VFR in AVI (seek retries before the start), H.264 open GOP in VFR AVI with a stamp
    repeated out of order."""
    ts = clip_dir / "mpeg4_b_vfr.ts"
    _encode_vfr(ts, "mpeg4", 80, 662811717, size=(74, 64), gop=10, max_b_frames=1)
    _check_batches(ts, sequential_decode(ts), [[78, 79, 70, 0], *_requests(80, 7)])
    avi = clip_dir / "vfr_h264.avi"
    options = _x264("keyint=12:min-keyint=12:scenecut=0:bframes=0")
    _encode_vfr(avi, "libx264", 74, 691505227, size=(90, 70), options=options)
    _check_batches(avi, sequential_decode(avi), [list(range(73, -1, -1)), *_requests(74, 8)])
    twin = clip_dir / "h264_b_vfr.avi"
    options = _x264("keyint=8:min-keyint=8:scenecut=0:bframes=1:b-pyramid=normal:open-gop=1")
    _encode_vfr(twin, "libx264", 79, 443171570, first=4149, size=(82, 68), options=options, rate=24)
    _check_batches(twin, sequential_decode(twin), [[78, 0, 78, 77, 76], *_requests(79, 9)])


@pytest.mark.parametrize("fraction", [0.31, 0.52])
def test_frames_at_recording_cut_mid_gop(clip_dir: Path, fraction: float, cores: int) -> None:
    """A stream that starts mid-GOP: frames before the first keyframe are in the batch too."""
    full = clip_dir / "open_gop_full.ts"
    if not full.exists():
        encode(full, replace(SPECS["open_gop_h264"], ext=".ts"))
    data = full.read_bytes()
    path = clip_dir / f"open_gop_cut{int(fraction * 100)}.ts"
    path.write_bytes(data[int(len(data) * fraction) // 188 * 188 :])
    reference = sequential_decode(path)
    assert reference, "the cut must leave decodable frames"
    _check_batches(path, reference, _requests(len(reference), 13))


def test_each_gop_is_decoded_once(
    clip_dir: Path, cores: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Targets spread over GOPs: one seek per GOP (none to go on in the same GOP), and each
    packet of the file decoded at most once, on any number of threads."""
    clip = get_clip("bframes_h264", clip_dir)  # GOP 12, 90 frames
    seeks: list[int] = []
    decoded: list[int | None] = []
    real_seek = video_decoder.Decoder.seek
    real_decode = video_decoder.decode_packet

    def seek(self: video_decoder.Decoder, timestamp: int, key_index: int) -> None:
        seeks.append(key_index)
        real_seek(self, timestamp, key_index)

    def decode_packet(packet: av.Packet, path: str) -> list[av.VideoFrame]:
        decoded.append(packet.pts)
        return real_decode(packet, path)

    monkeypatch.setattr(video_decoder.Decoder, "seek", seek)
    monkeypatch.setattr(video_decoder, "decode_packet", decode_packet)
    # Two targets early in each GOP but the first (which decodes from the start of the file).
    targets = [key + offset for key in range(12, 90, 12) for offset in (5, 1)]
    with VideoReader(clip.path, cache_bytes=0) as reader:
        got = reader.frames_at(targets)
    assert [read_index(frame) for frame in got] == targets
    assert sorted(seeks) == list(range(12, 90, 12))
    stamped = [pts for pts in decoded if pts is not None]
    assert len(stamped) == len(set(stamped)), "a packet was decoded twice"


def test_cached_frames_are_not_decoded_again(
    clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        reader.frame_at(25)  # decodes 20 to 25 (at least), cached
        calls: list[int] = []
        real = VideoReader._decoded_frame_at

        def spy(self: VideoReader, index: int, drain: bool | None = None) -> av.VideoFrame:
            calls.append(index)
            return real(self, index, drain)

        monkeypatch.setattr(VideoReader, "_decoded_frame_at", spy)
        got = reader.frames_at([25, 20, 25, 59])
        assert calls == [59]
        for row, index in enumerate([25, 20, 25, 59]):
            assert np.array_equal(got[row], clip.reference[index])


def test_out_of_range_and_bad_indices(clip_dir: Path) -> None:
    clip = get_clip("cfr_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        for bad in ([3, 60, 2], [-1], [0, 2**70], np.array([5, 61], dtype=np.uint64)):
            first = next(int(i) for i in bad if not 0 <= int(i) < 60)
            with pytest.raises(IndexError, match=rf"index {first} .*cfr_h264.*60 frames"):
                reader.frames_at(bad)
        for wrong in ([1.0], [True, 2], ["3"], np.zeros((2, 2), dtype=np.int64), [None]):
            with pytest.raises(TypeError, match=r"ints|flat"):
                reader.frames_at(wrong)  # type: ignore[arg-type]
        empty = reader.frames_at([])
        assert empty.shape == (0, 48, 64, 3) and empty.dtype == np.uint8
        # The reader still works after refused requests.
        assert np.array_equal(reader.frames_at([7])[0], clip.reference[7])
    with pytest.raises(ValueError, match="closed"):
        reader.frames_at([0])


def test_error_in_a_helper_thread(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error while decoding a segment in a helper thread reaches the caller, every thread
    is joined, and the reader serves later batches exactly."""
    monkeypatch.setattr(video_batch, "cpu_count", lambda: 3)
    clip = get_clip("bframes_h264", clip_dir)
    real = VideoReader._decode_segment
    main = threading.current_thread()

    def failing(self: VideoReader, segment: list[int], *args: object) -> None:
        if threading.current_thread() is not main:
            raise OSError(f"disk gone while decoding {segment}")
        real(self, segment, *args)  # type: ignore[arg-type]

    targets = list(range(5, 90, 12))
    with VideoReader(clip.path) as reader:
        monkeypatch.setattr(VideoReader, "_decode_segment", failing)
        with pytest.raises(OSError, match="disk gone"):
            reader.frames_at(targets)
        assert not [t for t in threading.enumerate() if t.name.startswith("faceio-video")]
        monkeypatch.undo()
        got = reader.frames_at(targets)
    assert [read_index(frame) for frame in got] == targets


def _helper_decoder_threads(reader: VideoReader) -> list[int]:
    """The thread counts of the helpers' decoders, as FFmpeg reports them once open (a helper
    the batch left idle opens its decoder here, with what the batch gave it)."""
    counts = []
    for helper in reader._helpers:
        if helper._decoder is None:
            helper.frame_at(0)
        assert helper._decoder is not None
        counts.append(helper._decoder.stream.codec_context.thread_count)
    return counts


@pytest.mark.parametrize("count", [2, 16])
def test_helper_decoders_share_the_cores(
    clip_dir: Path, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each helper decoder of a batch decodes on its share of the cores, not on FFmpeg's
    automatic count of about one thread per core (a pool of N decoders would run N times as
    many threads as cores); a helper kept for a batch of another pool size gets that pool's
    share. The frames are unchanged."""
    monkeypatch.setattr(video_batch, "cpu_count", lambda: count)
    clip = get_clip("bframes_h264", clip_dir)  # 90 frames, a keyframe every 12
    spread = list(range(5, 90, 12))  # one target in each GOP: 8 segments
    # No cache: a frame the first batch left cached would make the pair below one segment.
    with VideoReader(clip.path, cache_bytes=0) as reader:
        got = reader.frames_at(spread)
        workers = min(count, video_batch.MAX_WORKERS, len(spread))
        assert len(reader._helpers) == workers - 1
        assert _helper_decoder_threads(reader) == [max(1, count // workers)] * (workers - 1)
        assert [read_index(frame) for frame in got] == spread
        # Two segments: a pool of two, whose helper gets half the cores.
        pair = [5, 89]
        got = reader.frames_at(pair)
        assert _helper_decoder_threads(reader)[0] == max(1, count // 2)
        assert np.array_equal(got, np.stack([clip.reference[i] for i in pair]))
        assert np.array_equal(reader._helpers[0].frame_at(40), clip.reference[40])


def test_size_change_is_refused(clip_dir: Path) -> None:
    """MPEG-TS files joined byte for byte, the second of another size: each frame_at works,
    a batch that mixes sizes is a ValueError naming the file and the frame."""
    small, large = clip_dir / "small.ts", clip_dir / "large.ts"
    options = _x264("keyint=6:min-keyint=6:scenecut=0:bframes=0")
    _encode_with(small, "libx264", 12, options=options)
    _encode_with(large, "libx264", 12, options=options, size=(80, 48), stamps=list(range(40, 52)))
    joined = clip_dir / "joined.ts"
    joined.write_bytes(small.read_bytes() + large.read_bytes())
    reference = sequential_decode(joined)
    shapes = {frame.shape for frame in reference}
    if len(shapes) != 2:
        pytest.skip(f"the joined file decodes to shapes {shapes}")
    with VideoReader(joined) as reader:
        assert (reader.height, reader.width) == (48, 64)
        last = len(reference) - 1
        assert np.array_equal(reader.frame_at(last), reference[last])
        assert np.array_equal(reader.frames_at([0, 3])[1], reference[3])
        with pytest.raises(ValueError, match=rf"Frame {last} of '.*joined\.ts' is 80x48"):
            reader.frames_at([0, last])


def test_indexing_and_slicing(clip_dir: Path) -> None:
    clip = get_clip("open_gop_h264", clip_dir)
    reference, count = clip.reference, len(clip.reference)
    with VideoReader(clip.path) as reader:
        assert len(reader) == count
        for key in (0, 5, count - 1, -1, -count, np.int64(-3)):
            assert np.array_equal(reader[key], reference[int(key)]), key
        for key in (slice(2, 40, 3), slice(None, None, -7), slice(-5, None), slice(10, 10)):
            got = reader[key]
            expected = reference[key]
            assert got.shape == (len(expected), 48, 64, 3)
            assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True)), key
        for key in (count, -count - 1):
            with pytest.raises(IndexError, match=rf"index {key} .*{count} frames"):
                reader[key]
        for wrong in ("1", 1.5, True, None):
            with pytest.raises(TypeError, match="int or a slice"):
                reader[wrong]  # type: ignore[index]


def _stream_facts(path: Path) -> tuple[int, int, str, list[int], Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return (
            frames[0].width,
            frames[0].height,
            stream.codec_context.name,
            [frame.pts for frame in frames],
            stream.time_base,
        )


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        ("cfr_h264", "h264"),
        ("vfr_h264", "h264"),
        ("hevc", "hevc"),
        ("mpeg4_avi", "mpeg4"),
        ("vp9_webm", "vp9"),
    ],
)
def test_stream_metadata(clip_dir: Path, name: str, codec: str) -> None:
    clip = get_clip(name, clip_dir)
    width, height, decoder_name, pts, time_base = _stream_facts(clip.path)
    with VideoReader(clip.path) as reader:
        assert (reader.width, reader.height) == (width, height) == (64, 48)
        assert reader.codec == decoder_name == codec
        count = len(pts)
        span = float((max(pts) - min(pts)) * time_base)
        # Span of the stamps plus one mean interval: count / rate when the rate is constant.
        assert reader.duration == pytest.approx(span * count / (count - 1))
        if not clip.spec.vfr:
            assert reader.duration == pytest.approx(count / clip.spec.rate)
            assert reader.fps == pytest.approx(clip.spec.rate)


def test_seek_landing_on_a_non_key_packet(clip_dir: Path) -> None:
    """MPEG-4 in MPEG-TS, a keyframe sharing its stamp with the frame before it: the seek for
    it is retried earlier by the preroll and the demuxer lands on a P-frame packet, which
    decodes to a grey picture with a real timestamp. Packets before the first keyframe packet
    after a seek are not decoded (frame_at returned that grey picture for frame 11)."""
    path = clip_dir / "repeated_key_stamp.ts"

    def repeat(packets: list[av.Packet]) -> None:
        for j in (20, 19, 11, 3):
            packets[j].pts = packets[j + 1].pts

    _encode_with(path, "mpeg4", 36, gop=6, max_b_frames=0, mutate=repeat)
    reference = sequential_decode(path)
    for cache_bytes in (0, video.DEFAULT_CACHE_BYTES):
        with VideoReader(path, cache_bytes=cache_bytes) as reader:
            for index in (3, 4, 11, 12):
                assert read_index(reader.frame_at(index)) == index
                assert np.array_equal(reader.frame_at(index), reference[index])


def _spy_batches(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    batches: list[list[int]] = []
    real = VideoReader.frames_at

    def spy(self: VideoReader, indices: Any) -> np.ndarray:
        batches.append(list(indices))
        return real(self, indices)

    monkeypatch.setattr(VideoReader, "frames_at", spy)
    return batches


def test_sparse_iteration(clip: Clip, monkeypatch: pytest.MonkeyPatch) -> None:
    """A skip set that leaves most GOPs with nothing to yield: the kept frames are read in
    batches (GOPs with nothing to yield are not decoded), exactly and in order."""
    count = len(clip.reference)
    with VideoReader(clip.path) as reader:
        keys = reader.video_meta_data["keyframes"]
    bounds = sorted({0, *keys, count})
    # Two frames in every third interval between keyframes (and before the first one).
    kept = sorted({i for g in range(0, len(bounds) - 1, 3) for i in (bounds[g], bounds[g + 1] - 1)})
    skip = set(range(count)) - set(kept)
    batches = _spy_batches(monkeypatch)
    with VideoReader(clip.path) as reader:
        got = list(reader.iter_frames(skip=skip))
        assert [index for index, _ in got] == kept
        for index, frame in got:
            assert frame.flags["C_CONTIGUOUS"]
            assert np.array_equal(frame, clip.reference[index]), index
        gops = len(bounds) - 1
        touched = len(range(0, gops, 3))
        assert bool(batches) == (2 * touched <= gops), (touched, gops)
        if batches:
            assert sorted(i for part in batches for i in part) == kept
        for (_, one), (_, other) in itertools.pairwise(got):
            assert not np.shares_memory(one, other), "a frame holds a batch"
        # Its own readers: this one's are untouched, random access is not disturbed, and no
        # batch thread is left.
        assert reader._decoder is None and not reader._helpers
        assert np.array_equal(reader.frame_at(count - 1), clip.reference[-1])
        assert not [t for t in threading.enumerate() if t.name.startswith("faceio-video")]


def test_loader_with_a_sparse_skip_list(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ImagesLoader over a video, one frame in every fifth GOP kept: read through batches, the
    frames and names those of the sequential decode."""
    from faceio.loaders import ImagesLoader

    clip = get_clip("bframes_h264", clip_dir)  # GOP 12, 90 frames
    kept = [5, 66]
    batches = _spy_batches(monkeypatch)
    loader = ImagesLoader(str(clip.path), skip_list=[i for i in range(90) if i not in kept])
    loaded = list(loader.load())
    assert [name for name, _ in loaded] == [f"bframes_h264_{i + 1:06d}.mp4" for i in kept]
    for (_, image), index in zip(loaded, kept, strict=True):
        assert np.array_equal(image, clip.reference[index])
    assert batches == [kept]


def test_sparse_iteration_over_a_size_change(clip_dir: Path) -> None:
    """Sparse iteration reads through batches; where the video changes size the frames are
    still yielded, each of its own size, as sequential iteration yields them."""
    joined = clip_dir / "joined.ts"
    if not joined.exists():
        test_size_change_is_refused(clip_dir)
    reference = sequential_decode(joined)
    if len({frame.shape for frame in reference}) != 2:
        pytest.skip("the joined file does not change size")
    last = len(reference) - 1
    skip = set(range(len(reference))) - {0, last}
    with VideoReader(joined) as reader:
        got = list(reader.iter_frames(skip=skip))
    assert [index for index, _ in got] == [0, last]
    for index, frame in got:
        assert np.array_equal(frame, reference[index])


def test_a_pyav_without_reformat_threads(clip_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PyAV before 17 has no ``threads`` for ``reformat`` (faceio allows av>=12): frames are
    converted without it, and equal the frames converted with it."""
    from av.video.reformatter import VideoReformatter

    from faceio.video import convert

    clip = get_clip("cfr_h264", clip_dir)
    with VideoReader(clip.path) as reader:
        expected = reader.frames_at(range(8))

    class OldReformatter:
        def __init__(self) -> None:
            self._real = VideoReformatter()

        def reformat(self, frame: av.VideoFrame, *, format: Any) -> av.VideoFrame:
            return self._real.reformat(frame, format=format)

    monkeypatch.setattr(convert, "_reformatter", OldReformatter)
    monkeypatch.setattr(convert, "_HAS_THREADS", False, raising=False)
    with VideoReader(clip.path, cache_bytes=0) as reader:
        assert np.array_equal(reader.frames_at(range(8)), expected)
        assert np.array_equal(np.stack([f for _, f in reader.iter_frames()][:8]), expected)
