"""faceio.dask.read_meta on a local two-worker Dask cluster: local files and a loopback S3.

Run: ``python bench/bench_dask.py [--faces N] [--runs R] [FOLDER]`` (needs faceio[dask], s3fs
and moto[server]; the faces, 128x128 files of about 80 KB with a realistic 25-35 KB header
before the pixels, are generated into FOLDER, default a temp folder, and reused). Each run
times, on a warm page cache:

- ``table``: ``faceio.read_meta_table(paths)`` in this process, the baseline;
- ``dask local``: ``read_meta(paths).compute()`` on a ``LocalCluster`` of 2 worker processes;
- ``dask s3``: ``read_meta("s3://bench/*.png").compute()`` on the same cluster, from moto's
  S3 server on loopback (listing included);
- ``s3 fetch only``: the same listing and first 64 KiB of each file fetched by the same tasks
  (``cat_ranges``), nothing parsed: what the S3 side costs alone (moto, a Python server sharing
  the two cores, is the slow side, not faceio).

Prints files/s (min-max over the runs), ratios to the baseline of the same run, and the bytes
fetched per file (the first 64 KiB, or the whole of a smaller file, plus what a larger header
needs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3
import corpus
import distributed
import s3fs
from moto.server import ThreadedMotoServer

import faceio
from faceio import dask as fdask

BUCKET = "bench"


def fetch_only(url: str, size: int, options: dict[str, Any]) -> int:
    """List ``url`` and fetch each file's first bytes on the cluster, a task per partition."""
    import dask
    import fsspec

    fs, path = fsspec.core.url_to_fs(url, **options)
    files = sorted(fs.glob(path))

    def fetch(part: list[str]) -> int:
        task_fs, _ = fsspec.core.url_to_fs(url, **options)
        blobs = task_fs.cat_ranges(part, [0] * len(part), [fdask.FIRST_FETCH] * len(part))
        return sum(len(b) for b in blobs)

    parts = [files[i : i + size] for i in range(0, len(files), size)]
    return sum(dask.compute(*[dask.delayed(fetch)(p) for p in parts]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--faces", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partition-size", type=int, default=1000)
    args = parser.parse_args()
    folder = Path(args.folder or Path(tempfile.gettempdir()) / f"faceio-bench-dask-{args.faces}")
    paths = corpus.build(folder, args.faces, seed=3, size=128)  # small faces, full headers
    corpus.warm(paths)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        options = {
            "key": "bench",
            "secret": "bench",
            "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
        for start in range(0, len(paths), 1000):
            fs.pipe(
                {
                    f"{BUCKET}/{Path(p).name}": Path(p).read_bytes()
                    for p in paths[start : start + 1000]
                }
            )
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            size = args.partition_size
            cases: dict[str, Callable[[], object]] = {
                "table": lambda: faceio.read_meta_table(paths),
                "dask local": lambda: client.compute(
                    fdask.read_meta(paths, partition_size=size)
                ).result(),
                "dask s3": lambda: client.compute(
                    fdask.read_meta(
                        f"s3://{BUCKET}/*.png", partition_size=size, storage_options=options
                    )
                ).result(),
                "s3 fetch only": lambda: fetch_only(f"s3://{BUCKET}/*.png", size, options),
            }
            rows = corpus.rate_rounds(cases, len(paths), args.runs, "table")
            sample = [f"s3://{BUCKET}/{Path(p).name}" for p in paths[:size]]
            _, fetched = fdask.read_partition_table(sample, options)
    finally:
        server.stop()
    mean_size = sum(Path(p).stat().st_size for p in paths[:size]) / len(sample)
    print(f"{len(paths):,} faces (mean file {mean_size:,.0f} bytes), {args.runs} runs (min-max)\n")
    print("| reader | files/s | ratio to table |")
    print("|---|---|---|")
    print("\n".join(rows))
    print(f"\nbytes fetched per file from S3: {fetched / len(sample):,.0f}")


if __name__ == "__main__":
    main()
