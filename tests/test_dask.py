"""faceio.dask.read_meta on a real dask.distributed LocalCluster (2 workers) against a real S3
endpoint on loopback (moto's threaded server, s3fs), local files and memory://: the frame equals
read_meta_table on the same files, per-file errors included, fetching only what is needed."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import s3fs  # noqa: E402

import faceio  # noqa: E402
from faceio import dask as fdask  # noqa: E402
from faceio.arrow import meta_schema  # noqa: E402
from tests.conftest import chunk, encode_png, insert_before_idat, itxt_rule, make_header  # noqa: E402
from tests.test_arrow import _build_folder  # noqa: E402

BUCKET = "faces"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dask-faces")
    _build_folder(path)
    rng = np.random.default_rng(11)
    # A header larger than the first fetch, and one behind a large chunk: both need a second
    # (and third) request, for the bytes up to the end of the faceswap chunk only.
    big = make_header(rng, n_masks=3, identity_len=512).to_dict()
    for m in big["alignments"]["mask"].values():
        m["mask"] = rng.bytes(40_000)
    face = encode_png(rng)
    (path / "big_header.png").write_bytes(insert_before_idat(face, itxt_rule(str(big).encode())))
    small = str(make_header(rng, n_masks=1).to_dict()).encode()
    late = insert_before_idat(face, chunk(b"zzZz", bytes(100_000)) + itxt_rule(small))
    (path / "late_header.png").write_bytes(late)
    return path


@pytest.fixture(scope="module")
def s3(folder: Path) -> Iterator[dict[str, Any]]:
    """An S3 endpoint on loopback holding the folder's files; the storage options for it."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        options = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": f"http://{host}:{port}", "region_name": "us-east-1"},
            "skip_instance_cache": True,
        }
        import boto3  # moto's own dependency

        boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        fs = s3fs.S3FileSystem(**options)
        for p in sorted(folder.iterdir()):
            fs.pipe(f"{BUCKET}/{p.name}", p.read_bytes())
        yield options
    finally:
        server.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real two-worker cluster (worker processes), shut down after the module's tests."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def _expected(paths: list[str], urls: list[str]) -> pd.DataFrame:
    """read_meta_table on the local files, with each path written as its URL."""
    table = faceio.read_meta_table(paths)
    errors = table.column("error").to_pylist()
    for i, (p, u) in enumerate(zip(paths, urls, strict=True)):
        if errors[i] is not None:
            errors[i] = errors[i].replace(p, u)
    table = table.set_column(0, "path", pa.array(urls, pa.string()))
    table = table.set_column(table.num_columns - 1, "error", pa.array(errors, pa.string()))
    return table.cast(meta_schema()).to_pandas(types_mapper=pd.ArrowDtype)


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    # Rows are numbered by their place in the list of files, across partitions, as in a table.
    assert list(got.index) == list(range(len(want)))
    assert list(got.columns) == list(want.columns)
    assert list(got.dtypes) == list(want.dtypes)
    # OS errors word the path as each file system does: compare their class only.
    oserror = want["error_type"].isin(["FileNotFoundError", "PermissionError"]).fillna(False)
    got = got.assign(error=got["error"].where(~oserror, None))
    want = want.assign(error=want["error"].where(~oserror, None))
    pd.testing.assert_frame_equal(got, want)


def test_s3_on_a_local_cluster_equals_the_table(
    folder: Path, s3: dict[str, Any], client: Any
) -> None:
    frame = fdask.read_meta(f"s3://{BUCKET}/*.png", partition_size=4, storage_options=s3)
    names = sorted(p.name for p in folder.iterdir() if p.suffix == ".png")
    assert frame.npartitions == -(-len(names) // 4)
    got = client.compute(frame).result()
    want = _expected([str(folder / n) for n in names], [f"s3://{BUCKET}/{n}" for n in names])
    _same(got, want)
    assert (got["error_type"] == "PngFormatError").sum() >= 3  # cut, crc, text: not hidden


def test_a_list_of_urls_keeps_its_order_and_names_missing_files(
    folder: Path, s3: dict[str, Any], client: Any
) -> None:
    names = ["late_header.png", "nope.png", "face_1.png", "photo.jpg", "big_header.png"]
    urls = [f"s3://{BUCKET}/{n}" for n in names]
    got = client.compute(fdask.read_meta(urls, partition_size=2, storage_options=s3)).result()
    want = _expected([str(folder / n) for n in names], urls)
    _same(got, want)
    assert got["error_type"].tolist()[1] == "FileNotFoundError"


def test_local_files_and_memory_urls(folder: Path, client: Any) -> None:
    paths = sorted(str(p) for p in folder.iterdir())
    got = client.compute(fdask.read_meta(paths, partition_size=5)).result()
    _same(got, _expected(paths, paths))
    # A folder URL: its face files, sorted, as file:// URLs; on the local scheduler too.
    got = fdask.read_meta(str(folder)).compute(scheduler="sync")
    pngs = sorted(str(p) for p in folder.iterdir() if p.suffix == ".png")
    _same(got, _expected(pngs, [f"file://{p}" for p in pngs]))
    import fsspec

    mem = fsspec.filesystem("memory")
    for p in pngs[:6]:
        mem.pipe(f"/faceio-test/{Path(p).name}", Path(p).read_bytes())
    got = fdask.read_meta("memory://faceio-test/*.png", partition_size=4).compute(scheduler="sync")
    _same(got, _expected(pngs[:6], [f"memory:///faceio-test/{Path(p).name}" for p in pngs[:6]]))


def _faceswap_chunk_end(data: bytes) -> int:
    """The end of the faceswap chunk, walking the chunks by the PNG rule (docs/format.md)."""
    pos = 8
    while True:
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if kind in (b"iTXt", b"tEXt", b"zTXt") and data[pos + 8 : pos + 17] == b"faceswap\0":
            return end
        pos = end


def test_only_the_bytes_up_to_the_header_are_fetched(folder: Path, s3: dict[str, Any]) -> None:
    names = ["face_0.png", "big_header.png", "late_header.png"]
    table, fetched = fdask.read_partition_table([f"s3://{BUCKET}/{n}" for n in names], s3)
    assert table.column("error_type").null_count == 3
    data = [(folder / n).read_bytes() for n in names]
    ends = [_faceswap_chunk_end(d) for d in data]
    assert ends[1] > fdask.FIRST_FETCH and ends[2] > fdask.FIRST_FETCH  # both fetched twice
    # The first 64 KiB (or the whole of a smaller file), then up to the chunk's end only.
    assert fetched == sum(
        max(min(len(d), fdask.FIRST_FETCH), e) for d, e in zip(data, ends, strict=True)
    )
    assert fetched < sum(len(d) for d in data)


def test_the_index_numbers_files_across_partitions(folder: Path) -> None:
    paths = sorted(str(p) for p in folder.glob("*.png"))
    frame = fdask.read_meta(paths, partition_size=3)
    assert frame.known_divisions
    assert frame.npartitions == -(-len(paths) // 3)
    # .loc by a known division reads the one partition that holds it.
    last = frame.loc[len(paths) - 1].compute(scheduler="sync")
    assert list(last.index) == [len(paths) - 1]
    assert last["path"].tolist() == [paths[-1]]
    second = frame.get_partition(1).compute(scheduler="sync")
    assert list(second.index) == [3, 4, 5]
    assert second["path"].tolist() == paths[3:6]


def test_arguments() -> None:
    with pytest.raises(ValueError, match="partition_size"):
        fdask.read_meta(["a.png"], partition_size=0)
    empty = fdask.read_meta([])
    assert list(empty.columns) == meta_schema().names
    assert len(empty.compute(scheduler="sync")) == 0


def test_a_failed_follow_up_fetch_is_that_files_error(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch for the rest of a header that fails is the file's error, not a cut file; a range
    refused at the file's end (S3 answers 416) still reads as the whole file."""
    import fsspec

    mem = fsspec.filesystem("memory")
    big = (folder / "big_header.png").read_bytes()
    assert len(big) > fdask.FIRST_FETCH
    mem.pipe("/faceio-refused/big.png", big)
    cut = big[: fdask.FIRST_FETCH]  # the header runs past the file's end
    mem.pipe("/faceio-refused/cut.png", cut)
    urls = ["memory:///faceio-refused/big.png", "memory:///faceio-refused/cut.png"]
    real = fdask._fetch

    def failing(fs: Any, paths: list[str], starts: list[int], ends: list[int]) -> list[Any]:
        if not any(starts):
            return real(fs, paths, starts, ends)
        out: list[Any] = []
        for p, s in zip(paths, starts, strict=True):
            if s >= fs.size(p):
                out.append(OSError(f"416 Requested Range Not Satisfiable: {p}"))
            else:
                out.append(ConnectionResetError(f"connection reset fetching {p}"))
        return out

    monkeypatch.setattr(fdask, "_fetch", failing)
    table, _ = fdask.read_partition_table(urls, {})
    rows = table.to_pylist()
    assert rows[0]["error_type"] == "ConnectionResetError"
    assert "connection reset" in rows[0]["error"] and rows[0]["width"] is None
    # The refused range: the file is what was held, a cut file, read as from disk.
    local = folder.parent / "faceio-refused-cut.png"
    local.write_bytes(cut)
    expected = faceio.read_meta_table([str(local)]).to_pylist()[0]
    assert rows[1]["error_type"] == expected["error_type"] == "PngFormatError"
