"""Background loaders and saver of faceio.loaders (docs/format.md, "Loaders, saver ...")."""

from __future__ import annotations

import gc
import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from faceio import PNGHeader, video
from faceio import loaders as loaders_module
from faceio.image import encode_image, read_image
from faceio.loaders import (
    FacesLoader,
    ImageIO,
    ImagesLoader,
    ImagesSaver,
    SingleFrameLoader,
)
from faceio.video import convert as video_convert
from faceio.video import scan as video_scan
from tests.conftest import make_header

FRAMES = 36
WIDTH, HEIGHT = 64, 48


# ------------------------------------------------------------------ fixtures
def faceio_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("faceio")]


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    yield
    gc.collect()
    deadline = time.monotonic() + 2
    while faceio_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert faceio_threads() == []


def image_for(index: int) -> np.ndarray:
    image = np.full((24, 32, 3), index * 5 % 256, dtype=np.uint8)
    image[0, 0] = (index, 255 - index, 3)
    return image


def write(path: Path, image: np.ndarray) -> Path:
    ok, data = cv2.imencode(path.suffix, image)
    assert ok
    path.write_bytes(data.tobytes())
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Twelve images with several extensions, plus files and folders that must be ignored."""
    root = tmp_path / "frames"
    root.mkdir()
    extensions = [".png", ".jpg", ".PNG", ".bmp", ".tif", ".png"]
    for i in range(12):
        write(root / f"frame_{i:03d}{extensions[i % len(extensions)]}", image_for(i))
    (root / "notes.txt").write_text("not an image")
    (root / "sub.png").mkdir()
    write(root / "sub.png" / "inner.png", image_for(99))
    return root


def expected_files(root: Path) -> list[str]:
    return [str(root / name) for name in sorted(os.listdir(root)) if name.startswith("frame_")]


def index_image(index: int) -> np.ndarray:
    """BGR frame whose 2x3 blocks spell ``index`` in binary."""
    image = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    for bit in range(6):
        if index >> bit & 1:
            row, col = divmod(bit, 3)
            image[row * 24 : (row + 1) * 24, col * 21 : (col + 1) * 21] = 255
    return image


def read_index(image: np.ndarray) -> int:
    value = 0
    for bit in range(6):
        row, col = divmod(bit, 3)
        if image[row * 24 + 6 : (row + 1) * 24 - 6, col * 21 + 5 : (col + 1) * 21 - 5].mean() > 127:
            value |= 1 << bit
    return value


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "my clip.mp4"
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.gop_size = 12
        stream.codec_context.time_base = Fraction(1, 25)
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(index_image(i), format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def reference(clip: Path) -> list[np.ndarray]:
    """Plain PyAV sequential decode, independent of faceio."""
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert [read_index(f) for f in frames] == list(range(FRAMES))
    return frames


@pytest.fixture
def faces(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, list[PNGHeader]]:
    """Six faces with headers, one PNG without a header and one JPEG."""
    root = tmp_path / "faces"
    root.mkdir()
    headers = []
    for i in range(6):
        header = make_header(rng, n_masks=1, identity_len=16, name=f"face_{i}.png")
        data = encode_image(image_for(i), ".png", metadata=header)
        (root / f"face_{i}.png").write_bytes(data)
        headers.append(header)
    write(root / "face_3_noheader.png", image_for(50))
    write(root / "face_9.jpg", image_for(60))
    return root, headers


# ------------------------------------------------------------------ folder loading
def test_folder_listing_and_order(folder: Path) -> None:
    loader = ImagesLoader(str(folder))
    files = expected_files(folder)
    assert loader.file_list == files
    assert loader.count == loader.process_count == 12
    assert loader.processed_file_list == files
    assert loader.is_video is False
    assert loader.location == str(folder)
    assert loader.video_meta_data is None
    loaded = list(loader.load())
    assert [name for name, _ in loaded] == files
    for name, image in loaded:
        np.testing.assert_array_equal(image, read_image(name, raise_error=True))
        assert image.shape == (24, 32, 3)


def test_skip_list(folder: Path) -> None:
    files = expected_files(folder)
    loader = ImagesLoader(folder, skip_list=[0, 3, 11, 500])
    assert loader.count == 12
    assert loader.process_count == 9
    assert loader.processed_file_list == [f for i, f in enumerate(files) if i not in (0, 3, 11)]
    assert [name for name, _ in loader.load()] == loader.processed_file_list
    loader.add_skip_list([1, 2])  # replaces the earlier list
    assert loader.process_count == 10
    assert [name for name, _ in loader.load()] == files[:1] + files[3:]


def test_count_and_list_input(folder: Path) -> None:
    files = expected_files(folder)
    assert ImagesLoader(folder, count=40).count == 40
    subset = files[5:] + files[:2]
    loader = ImagesLoader(subset, queue_size=1)
    assert loader.file_list == subset and loader.location == subset
    assert [name for name, _ in loader.load()] == subset


def test_unreadable_file_skipped_with_warning(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = expected_files(folder)
    Path(files[4]).write_bytes(b"corrupt")
    with caplog.at_level(logging.WARNING, logger="faceio.loaders"):
        names = [name for name, _ in ImagesLoader(folder).load()]
    assert names == files[:4] + files[5:]
    assert files[4] in caplog.text


def test_reads_ahead_but_bounded(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(12, 60):
        write(folder / f"frame_{i:03d}.png", image_for(i))
    calls: list[str] = []
    real = loaders_module._load_image

    def spy(path: str) -> np.ndarray:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(loaders_module, "_load_image", spy)
    loader = ImagesLoader(folder, queue_size=2)
    generator = loader.load()
    next(generator)
    time.sleep(0.3)
    # queue (2) + one waiting to be queued + in-flight window (2 per core)
    assert 3 < len(calls) <= 4 + 2 * (os.cpu_count() or 1)
    generator.close()
    assert len(list(loader.load())) == 60


def test_background_error_propagates_with_traceback(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def exploding_guard(function: Any) -> Any:
        def exploding_reader(path: str) -> Any:
            if "frame_005." in path:
                raise RuntimeError("boom in the background")
            return True, function(path)

        return exploding_reader

    monkeypatch.setattr(loaders_module, "_try", exploding_guard)
    got = []
    with pytest.raises(RuntimeError, match="boom in the background") as excinfo:
        for name, _ in ImagesLoader(folder).load():
            got.append(name)
    assert len(got) == 5
    assert "exploding_reader" in [frame.name for frame in traceback.extract_tb(excinfo.tb)]


def test_break_stops_thread(folder: Path) -> None:
    loader = ImagesLoader(folder, queue_size=1)
    for i, _ in enumerate(loader.load()):
        if i == 1:
            break
    assert faceio_threads() == []


def test_exception_in_loop_body_stops_thread(folder: Path) -> None:
    loader = ImagesLoader(folder, queue_size=1)
    with pytest.raises(KeyError):
        for _ in loader.load():
            raise KeyError("caller")
    assert faceio_threads() == []


def test_garbage_collection_stops_thread(folder: Path) -> None:
    loader = ImagesLoader(folder, queue_size=1)
    generator = loader.load()
    next(generator)
    assert faceio_threads()
    del generator, loader
    gc.collect()
    assert faceio_threads() == []


def test_close_and_context_manager(folder: Path) -> None:
    with ImagesLoader(folder, queue_size=1) as loader:
        generator = loader.load()
        next(generator)
        assert faceio_threads()
    assert faceio_threads() == []
    assert list(generator) == []  # a closed loader's generator just ends
    loader.close()
    loader.close()
    io = ImageIO(str(folder), 4)
    assert io.location == str(folder)
    io.close()


def test_construction_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError, match="missing"):
        ImagesLoader(str(missing))
    with pytest.raises(FileNotFoundError, match="missing"):
        ImagesLoader([str(missing)])
    with pytest.raises(FileNotFoundError, match="missing"):
        FacesLoader(str(missing))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"notes\.txt"):
        ImagesLoader(str(text))
    image = write(tmp_path / "one.png", image_for(1))
    with pytest.raises(ValueError, match=r"one\.png"):
        ImagesLoader(str(image))
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"fake\.mp4"):
        ImagesLoader(str(fake))
    with pytest.raises(ValueError, match=r"fake\.mp4"):
        SingleFrameLoader(str(fake))


# ------------------------------------------------------------------ faces
def test_faces_loader(
    faces: tuple[Path, list[PNGHeader]], caplog: pytest.LogCaptureFixture
) -> None:
    root, headers = faces
    loader = FacesLoader(str(root))
    pngs = sorted(str(p) for p in root.glob("*.png"))
    assert loader.file_list == pngs and loader.count == 7
    with caplog.at_level(logging.WARNING, logger="faceio.loaders"):
        loaded = list(loader.load())
    assert "face_3_noheader.png" in caplog.text
    assert [Path(name).name for name, _, _ in loaded] == [f"face_{i}.png" for i in range(6)]
    for i, (_, image, header) in enumerate(loaded):
        np.testing.assert_array_equal(image, image_for(i))
        assert isinstance(header, PNGHeader) and header == headers[i]


def test_faces_loader_skip_and_list(faces: tuple[Path, list[PNGHeader]]) -> None:
    root, headers = faces
    # sorted: face_0 face_1 face_2 face_3 face_3_noheader face_4 face_5
    loader = FacesLoader(root, skip_list=[0, 4, 5], count=7)
    assert loader.process_count == 4
    loaded = [(Path(n).name, h) for n, _, h in loader.load()]
    assert [n for n, _ in loaded] == ["face_1.png", "face_2.png", "face_3.png", "face_5.png"]
    assert [h for _, h in loaded] == [headers[1], headers[2], headers[3], headers[5]]
    files = [str(root / "face_5.png"), str(root / "face_2.png")]
    assert [h for _, _, h in FacesLoader(files).load()] == [headers[5], headers[2]]


def test_faces_loader_rejects_files(clip: Path, faces: tuple[Path, list[PNGHeader]]) -> None:
    with pytest.raises(ValueError, match=r"my clip\.mp4"):
        FacesLoader(str(clip))
    with pytest.raises(ValueError, match=r"face_0\.png"):
        FacesLoader(str(faces[0] / "face_0.png"))


# ------------------------------------------------------------------ video
def test_video_loader(clip: Path, reference: list[np.ndarray]) -> None:
    loader = ImagesLoader(str(clip))
    assert loader.is_video and loader.count == FRAMES
    assert loader.file_list[0] == "my clip_000001.mp4"
    assert loader.file_list[-1] == f"my clip_{FRAMES:06d}.mp4"
    assert loader.fps == pytest.approx(25.0)
    loaded = list(loader.load())
    assert [name for name, _ in loaded] == loader.file_list
    for (_, image), expected in zip(loaded, reference, strict=True):
        np.testing.assert_array_equal(image, expected)
    meta = loader.video_meta_data  # indexed by the pass
    assert meta is not None and len(meta["pts_time"]) == FRAMES
    assert ImagesLoader(str(clip), fast_count=False).count == FRAMES


def test_video_skip_list_converts_only_yielded(
    clip: Path, reference: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    converted: list[int] = []
    real = video_convert.to_bgr

    def spy(frame: av.VideoFrame) -> np.ndarray:
        converted.append(1)
        return real(frame)

    monkeypatch.setattr(video_convert, "to_bgr", spy)
    skip = [i for i in range(FRAMES) if i % 3]
    loader = ImagesLoader(str(clip), skip_list=skip)
    assert loader.process_count == FRAMES - len(skip)
    loaded = list(loader.load())
    kept = [i for i in range(FRAMES) if i % 3 == 0]
    assert [name for name, _ in loaded] == [f"my clip_{i + 1:06d}.mp4" for i in kept]
    assert [read_index(image) for _, image in loaded] == kept
    assert len(converted) == len(kept)


def test_video_pts_keyframes_skip_scan(
    clip: Path, reference: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = video.scan_video(clip)

    def no_scan(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the video was scanned although its index was given")

    monkeypatch.setattr(video_scan, "index_stream", no_scan)
    loader = ImagesLoader(str(clip), pts=meta["pts_time"], keyframes=meta["keyframes"])
    assert loader.video_meta_data == meta
    assert loader.count == FRAMES
    assert [read_index(image) for _, image in loader.load()] == list(range(FRAMES))
    single = SingleFrameLoader(str(clip), video_meta_data=meta)
    assert single.video_meta_data == meta
    np.testing.assert_array_equal(single.image_from_index(20)[1], reference[20])
    single.close()


def test_video_break_and_gc(clip: Path) -> None:
    loader = ImagesLoader(str(clip), queue_size=2)
    for i, _ in enumerate(loader.load()):
        if i == 3:
            break
    assert faceio_threads() == []
    generator = loader.load()
    next(generator)
    del generator, loader
    gc.collect()
    assert faceio_threads() == []


# ------------------------------------------------------------------ single frames
def test_single_frame_folder(folder: Path) -> None:
    files = expected_files(folder)
    with SingleFrameLoader(str(folder)) as loader:
        assert loader.video_meta_data is None and not loader.is_video
        order = list(range(12))
        random.Random(3).shuffle(order)
        for i in order:
            name, image = loader.image_from_index(i)
            assert name == os.path.basename(files[i])
            np.testing.assert_array_equal(image, read_image(files[i], raise_error=True))
        loader.add_skip_list([0, 1, 5])
        remaining = [f for i, f in enumerate(files) if i not in (0, 1, 5)]
        assert loader.image_from_index(0)[0] == os.path.basename(remaining[0])
        assert loader.image_from_index(3)[0] == os.path.basename(remaining[3])
        with pytest.raises(IndexError):
            loader.image_from_index(9)
        sequential = {os.path.basename(n): img for n, img in loader.load()}
        for i in range(9):
            name, image = loader.image_from_index(i)
            np.testing.assert_array_equal(image, sequential[name])


def test_single_frame_video_random_order(clip: Path, reference: list[np.ndarray]) -> None:
    loader = SingleFrameLoader(str(clip))
    assert loader.is_video and loader.count == FRAMES
    meta = loader.video_meta_data
    assert meta == video.scan_video(clip)
    order = list(range(FRAMES))
    random.Random(7).shuffle(order)
    for i in order:
        name, image = loader.image_from_index(i)
        assert name == f"my clip_{i + 1:06d}.mp4"
        np.testing.assert_array_equal(image, reference[i])
    sequential = list(ImagesLoader(str(clip)).load())
    for i in (35, 0, 17):
        np.testing.assert_array_equal(loader.image_from_index(i)[1], sequential[i][1])
    with pytest.raises(IndexError):
        loader.image_from_index(FRAMES)
    loader.close()
    loader.close()


def test_video_meta_data_round_trip(
    clip: Path, reference: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    with SingleFrameLoader(str(clip)) as first:
        meta = first.video_meta_data
    assert meta is not None

    def no_scan(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the video was scanned although video_meta_data was given")

    monkeypatch.setattr(video_scan, "index_stream", no_scan)
    with SingleFrameLoader(str(clip), video_meta_data=meta) as second:
        assert second.video_meta_data == meta
        assert second.count == FRAMES
        for i in (30, 2, 13):
            np.testing.assert_array_equal(second.image_from_index(i)[1], reference[i])


# ------------------------------------------------------------------ saver
def test_saver_writes_everything(tmp_path: Path) -> None:
    saver = ImagesSaver(str(tmp_path), queue_size=2)
    assert saver.location == str(tmp_path)
    for i in range(30):
        saver.save(f"/some/other/folder/img_{i:02d}.png", image_for(i))
    saver.save("photo.jpg", image_for(1))
    saver.save("in_sub.png", image_for(2), sub_folder="nested/deeper")
    saver.close()
    saver.close()
    for i in range(30):
        np.testing.assert_array_equal(read_image(tmp_path / f"img_{i:02d}.png"), image_for(i))
    assert read_image(tmp_path / "photo.jpg", raise_error=True).shape == (24, 32, 3)
    np.testing.assert_array_equal(read_image(tmp_path / "nested/deeper/in_sub.png"), image_for(2))
    assert not list(tmp_path.glob("**/*.tmp"))
    assert not (tmp_path / "some").exists()


def test_saver_is_used_again_after_close(tmp_path: Path) -> None:
    """faceswap's alignments extract job closes its saver after every frame and keeps saving."""
    saver = ImagesSaver(tmp_path, as_bytes=True)
    for frame in range(3):
        for face in range(2):
            saver.save(f"f{frame}_{face}.png", bytes([frame, face]) * 100)
        saver.close()
        # close() returns only when this round's files are on disk
        for face in range(2):
            assert (tmp_path / f"f{frame}_{face}.png").read_bytes() == bytes([frame, face]) * 100
        assert faceio_threads() == []
    # An error of one round is raised by that round's close(); the saver still works after it.
    saver.save("no_extension", b"x")
    saver.close()  # as_bytes: no extension needed
    image_saver = ImagesSaver(tmp_path)
    image_saver.save("bad.unknownext", image_for(1))
    with pytest.raises(ValueError, match=r"bad\.unknownext"):
        image_saver.close()
    image_saver.save("after.png", image_for(4))
    image_saver.close()
    np.testing.assert_array_equal(read_image(tmp_path / "after.png"), image_for(4))
    image_saver.close()
    assert not list(tmp_path.glob(".*tmp"))


def test_saver_writes_saves_of_one_file_in_order(tmp_path: Path) -> None:
    """The last save() of a name is what the file holds, however long each write takes: a big
    image to encode first, a small one after, through a link to the same file too."""
    rng = np.random.default_rng(4)
    big = rng.integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    small = image_for(3)
    (tmp_path / "alias.png").symlink_to("x.png")
    for round_ in range(4):
        with ImagesSaver(tmp_path) as saver:
            saver.save("x.png", big)
            saver.save("alias.png" if round_ % 2 else "x.png", small)
            saver.save("other.png", small)
        np.testing.assert_array_equal(read_image(tmp_path / "x.png"), small)
    assert (tmp_path / "alias.png").is_symlink()


def test_saver_writes_through_a_symlink(tmp_path: Path) -> None:
    """As ``open(path, "wb")`` does: the link stays, the file it names gets the image (created
    if the link dangles)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.png").write_bytes(b"old")
    (tmp_path / "a.png").symlink_to("real/a.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "real" / "b.png")
    with ImagesSaver(tmp_path, as_bytes=True) as saver:
        saver.save("a.png", b"new a")
        saver.save("b.png", b"new b")
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).is_symlink()
        assert (tmp_path / "real" / name).read_bytes() == f"new {name[0]}".encode()


def test_saver_as_bytes_and_context_manager(tmp_path: Path) -> None:
    payloads = {f"raw_{i}.png": bytes([i]) * (1000 + i) for i in range(10)}
    with ImagesSaver(tmp_path, as_bytes=True) as saver:
        for name, data in payloads.items():
            saver.save(name, data, sub_folder="raw")
        saver.save("view.jpg", memoryview(b"\xff\xd8abc"))
    for name, data in payloads.items():
        assert (tmp_path / "raw" / name).read_bytes() == data
    assert (tmp_path / "view.jpg").read_bytes() == b"\xff\xd8abc"


def test_saver_failed_write_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    saver = ImagesSaver(tmp_path)
    saver.save("good.png", image_for(0))
    saver.save("good2.png", image_for(2))
    saver.save("bad.unknownext", image_for(1))  # a later save() may already raise this
    with pytest.raises(ValueError, match=r"bad\.unknownext"):
        saver.close()
    assert (tmp_path / "good.png").exists() and (tmp_path / "good2.png").exists()
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))
    # A write that fails at the OS level: a folder is in the way of the final name.
    (tmp_path / "blocked.png").mkdir()
    with (
        pytest.raises(OSError, match=r"blocked\.png"),
        ImagesSaver(tmp_path, as_bytes=True) as saver,
    ):
        saver.save("fine.png", b"data")
        saver.save("blocked.png", b"data")
    assert (tmp_path / "fine.png").read_bytes() == b"data"
    assert not list(tmp_path.glob(".*tmp"))


def test_saver_failure_raised_by_next_save(tmp_path: Path) -> None:
    saver = ImagesSaver(tmp_path, as_bytes=True)
    (tmp_path / "blocked.png").mkdir()
    saver.save("blocked.png", b"x")
    deadline = time.monotonic() + 5
    with pytest.raises(OSError, match=r"blocked\.png"):
        while time.monotonic() < deadline:
            saver.save("ok.png", b"y")
            time.sleep(0.01)
    saver.close()  # the failure was already reported


def test_saver_construction_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImagesSaver(str(tmp_path / "nowhere"))
    target = tmp_path / "a_file.png"
    target.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"a_file\.png"):
        ImagesSaver(str(target))


def test_saver_garbage_collected_writes_all(tmp_path: Path) -> None:
    saver = ImagesSaver(tmp_path)
    for i in range(10):
        saver.save(f"gc_{i}.png", image_for(i))
    del saver
    gc.collect()
    assert sorted(p.name for p in tmp_path.glob("gc_*.png")) == [f"gc_{i}.png" for i in range(10)]
