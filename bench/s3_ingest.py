"""Figure 1: ingest from a real S3 server (SeaweedFS on 127.0.0.1) against plain boto3 GETs.

The objects are EventBridge events, one per object, as the capture Lambda writes them. The ingest
uses the S3 client the pipeline itself builds (dagster-aws ``S3Resource``), with the pipeline's
default concurrency; the lake is on local disk, so the figure is about reading from S3.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import psutil
from botocore.config import Config

from bench.common import Figure, Section, at_least, load_average, stopwatch

BUCKET = "bench-raw"
PREFIX = "guardduty/eventbridge"
# 64 threads never beat 32 on 2 cores (every GET is CPU-bound here), so it is not tried.
POOL_SIZES = (8, 16, 32)
INGEST_CONCURRENCY = 32
# S3's first-byte latency in a region, added to every response by bench/latency_proxy.py.
REGION_LATENCY_SECONDS = 0.020
# Sequential GETs at 20 ms each: a sample gives the rate without minutes of waiting.
SEQUENTIAL_LATENCY_SAMPLE = 400


def _seaweedfs_helpers():
    # The test suite's SeaweedFS launcher is reused as is.
    from tests.helpers import s3_servers

    return s3_servers


def _client(endpoint: str, pool: int):
    import boto3

    s3_servers = _seaweedfs_helpers()
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=pool),
        **s3_servers.FAKE_CREDENTIALS,
    )


def _pipeline_client(endpoint: str):
    """The client the ingest asset builds: dagster-aws S3Resource, one connection per reader."""
    from dagster_aws.s3 import S3Resource

    from orchestration.lib.aws.clients import boto3_client
    from orchestration.lib.environment import temporary_environment

    s3_servers = _seaweedfs_helpers()
    with temporary_environment({"AWS_ENDPOINT_URL_S3": endpoint}):
        resource = S3Resource(
            region_name="us-east-1",
            max_attempts=5,
            aws_access_key_id=s3_servers.FAKE_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=s3_servers.FAKE_CREDENTIALS["aws_secret_access_key"],
        )
        return boto3_client(resource, "s3", max_pool_connections=INGEST_CONCURRENCY)


def _upload(client, corpus: Path, workers: int = 32) -> tuple[list[str], int]:
    files = sorted(path for path in corpus.rglob("*") if path.is_file())
    keys = [f"{PREFIX}/{path.relative_to(corpus).as_posix()}" for path in files]

    def put(item: tuple[Path, str]) -> int:
        path, key = item
        data = path.read_bytes()
        client.put_object(Bucket=BUCKET, Key=key, Body=data)
        return len(data)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        total = sum(pool.map(put, zip(files, keys, strict=True)))
    return keys, total


class _CpuMeter:
    """CPU seconds used by this process and by the S3 server while a block runs."""

    def __init__(self, server_pid: int) -> None:
        self.server = psutil.Process(server_pid)

    def __enter__(self) -> _CpuMeter:
        self._client = time.process_time()
        self._server = sum(self._server_times())
        return self

    def __exit__(self, *exc: object) -> None:
        self.client_seconds = time.process_time() - self._client
        self.server_seconds = sum(self._server_times()) - self._server

    def _server_times(self) -> tuple[float, float]:
        times = self.server.cpu_times()
        return times.user + times.system, times.children_user + times.children_system

    def per_object_ms(self, objects: int) -> dict:
        return {
            "client_cpu_ms_per_object": round(1000 * self.client_seconds / objects, 3),
            "server_cpu_ms_per_object": round(1000 * self.server_seconds / objects, 3),
        }


def _get(client, key: str) -> int:
    return len(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def _bare_get(endpoint: str, keys: list[str], pool_size: int) -> float:
    client = _client(endpoint, pool_size)
    _get(client, keys[0])  # the client's first call loads botocore models: not a GET cost
    with stopwatch() as elapsed, ThreadPoolExecutor(max_workers=pool_size) as pool:
        for _ in pool.map(lambda key: _get(client, key), keys):
            pass
    return len(keys) / elapsed[0]


def _sequential_get(endpoint: str, keys: list[str]) -> float:
    """Objects per second, one get_object + read at a time."""
    client = _client(endpoint, 1)
    _get(client, keys[0])
    with stopwatch() as elapsed:
        for key in keys:
            _get(client, key)
    return len(keys) / elapsed[0]


def _ingest(client, lakes_dir: Path, concurrency: int) -> tuple[float, dict]:
    from orchestration.lib.ingest.runner import IngestOptions, run_ingest
    from orchestration.lib.lake.catalog import connect_lake
    from orchestration.lib.lake.store import S3Store

    # A new folder per run: the catalog of a lake is cached per SQLite file within a process.
    lakes_dir.mkdir(parents=True, exist_ok=True)
    lake_dir = tempfile.mkdtemp(prefix="lake-", dir=lakes_dir)
    source = S3Store(f"s3://{BUCKET}/{PREFIX}", client)
    quiet = logging.getLogger("bench.ingest")
    quiet.setLevel(logging.WARNING)
    with stopwatch() as elapsed:
        stats = run_ingest(
            source, connect_lake(lake_dir), IngestOptions(concurrency=concurrency), quiet
        )
    if not stats.balanced or stats.objects_read != stats.objects_listed:
        raise RuntimeError(f"ingest did not read every object: {stats}")
    return stats.objects_read / elapsed[0], {
        "seconds": round(elapsed[0], 2),
        "objects_read": stats.objects_read,
        "findings_ingested": stats.findings_ingested,
        "objects_skipped": stats.objects_skipped,
        "objects_quarantined": stats.objects_quarantined,
        "batches": len(stats.batches_committed),
    }


def _through_latency_proxy(endpoint: str, keys: list[str], lake_dir: Path) -> dict:
    """Sequential GETs, pooled GETs and the ingest, each through a proxy adding region latency."""
    from bench.latency_proxy import LatencyProxy

    with LatencyProxy(endpoint, REGION_LATENCY_SECONDS) as proxy:
        sample = keys[:SEQUENTIAL_LATENCY_SAMPLE]
        sequential = _sequential_get(proxy.endpoint, sample)
        bare = _bare_get(proxy.endpoint, keys, INGEST_CONCURRENCY)
        ingest_rate, ingest = _ingest(
            _pipeline_client(proxy.endpoint), lake_dir, INGEST_CONCURRENCY
        )
        requests = proxy.requests
    return {
        "delay_ms": round(REGION_LATENCY_SECONDS * 1000),
        "sequential_get_objects_per_s": round(sequential, 1),
        "sequential_sample_objects": len(sample),
        "bare_get_objects_per_s": round(bare, 1),
        "bare_get_pool_size": INGEST_CONCURRENCY,
        "ingest_objects_per_s": round(ingest_rate, 1),
        "ingest": ingest,
        "proxied_requests": requests,
    }


def run(work: Path, objects: int, end_date: date) -> Section:
    from orchestration.lib.lake.store import S3Store
    from tools.demo_corpus import generate_demo_corpus

    section = Section("s3_ingest")
    s3_servers = _seaweedfs_helpers()
    corpus = work / "eventbridge_corpus"
    # Each finding version becomes one object, plus re-deliveries (a few %) and two non-finding
    # events: asking for ``objects`` versions gives slightly more objects than ``objects``.
    summary = generate_demo_corpus(
        corpus, findings=objects, seed=11, end_date=end_date, days=40, layouts=("eventbridge",)
    )
    server = s3_servers.SeaweedFS(work / "seaweedfs")
    server.start()
    try:
        endpoint = server.endpoint
        admin = _client(endpoint, 64)
        admin.create_bucket(Bucket=BUCKET)
        with stopwatch() as upload_seconds:
            keys, total_bytes = _upload(admin, corpus)
        details = section.details
        details.update(
            {
                "server": "SeaweedFS `weed server -s3` on 127.0.0.1 (tests/s3_servers.py)",
                "objects": len(keys),
                "object_bytes_total": total_bytes,
                "mean_object_bytes": round(total_bytes / len(keys)),
                "corpus": summary.one_line(),
                "upload_seconds": round(upload_seconds[0], 2),
                "upload_objects_per_s": round(len(keys) / upload_seconds[0], 1),
                "upload_how": "put_object from 32 threads, one boto3 client (64 connections)",
                "load_average_before": load_average(),
            }
        )
        # Warm the server's caches, so that no figure pays for the first reads.
        _bare_get(endpoint, keys[: max(1, len(keys) // 4)], 32)
        with stopwatch() as listing:
            listed = sum(1 for _ in S3Store(f"s3://{BUCKET}/{PREFIX}", admin).list())
        details["list_seconds"] = round(listing[0], 2)
        details["list_how"] = (
            f"S3Store.list() of the {listed} objects alone (list_objects_v2 pages of 1000); "
            "run_ingest reads objects while it lists the rest, so this overlaps its reads"
        )

        cpu: dict[str, dict] = {}

        def metered(label: str, function, *args):
            with _CpuMeter(server.process.pid) as meter:
                value = function(*args)
            cpu[label] = meter.per_object_ms(len(keys))
            return value

        sequential = metered("sequential_get", _sequential_get, endpoint, keys)
        bare = {
            size: metered(f"bare_get_pool_{size}", _bare_get, endpoint, keys, size)
            for size in POOL_SIZES
        }
        best_pool = max(bare, key=bare.get)

        lake_dir = work / "s3_ingest_lake"
        pipeline_runs = [
            metered(f"ingest_run_{number}", _ingest, _pipeline_client(endpoint), lake_dir, 32)
            for number in (1, 2)
        ]
        best_rate, best_run = max(pipeline_runs, key=lambda run: run[0])
        latency = _through_latency_proxy(endpoint, keys, lake_dir)
        details["region_latency"] = latency
        shutil.rmtree(lake_dir, ignore_errors=True)
        details["cpu_per_object"] = cpu
        details["cpu_per_object_how"] = (
            "CPU seconds of this Python process (time.process_time) and of the weed process "
            "(psutil cpu_times) during each measurement, divided by the objects read"
        )
        details.update(
            {
                "bare_get_objects_per_s_by_pool_size": {
                    str(size): round(rate, 1) for size, rate in bare.items()
                },
                "bare_get_best_pool_size": best_pool,
                "ingest_runs": [
                    {**run_details, "objects_per_s": round(rate, 1)}
                    for rate, run_details in pipeline_runs
                ],
                "ingest_best_run": best_run,
                "load_average_after": load_average(),
            }
        )
    finally:
        server.stop()

    lake = "an Iceberg lake on local disk (SQLite catalog, empty at the start of each run)"
    section.figures += [
        Figure(
            "ingest_objects_per_s",
            round(best_rate, 1),
            "objects/s",
            f"run_ingest end to end (list, get, parse, validate, commit the Iceberg tables) over "
            f"{len(keys)} objects on SeaweedFS into {lake}; S3 client from the pipeline's "
            "S3Resource, concurrency 32 (the default); best of 2 runs, each on an empty lake",
        ),
        Figure(
            "bare_get_objects_per_s",
            round(bare[best_pool], 1),
            "objects/s",
            f"get_object + Body.read() of the same objects, no processing, from a thread pool of "
            f"{', '.join(map(str, POOL_SIZES))} threads (client pool sized to match); best pool "
            f"size: {best_pool}",
        ),
        Figure(
            "sequential_get_objects_per_s",
            round(sequential, 1),
            "objects/s",
            "one boto3 get_object + read at a time, same objects, one client",
        ),
        Figure(
            "ingest_vs_bare_get",
            round(best_rate / bare[best_pool], 3),
            "ratio",
            "ingest_objects_per_s / bare_get_objects_per_s, measured in the same run",
            **at_least(best_rate / bare[best_pool], 0.7),
        ),
        Figure(
            "ingest_vs_sequential",
            round(best_rate / sequential, 2),
            "ratio",
            "ingest_objects_per_s / sequential_get_objects_per_s on loopback, where a GET costs "
            "only CPU: no goal, the latency figures below are the honest concurrency measure",
        ),
        Figure(
            "ingest_vs_sequential_latency",
            round(latency["ingest_objects_per_s"] / latency["sequential_get_objects_per_s"], 2),
            "ratio",
            f"through a proxy on 127.0.0.1 holding each S3 response {latency['delay_ms']} ms "
            "(bench/latency_proxy.py): the ingest's objects/s over one-at-a-time GETs' objects/s "
            f"(a sample of {latency['sequential_sample_objects']} objects)",
            **at_least(
                latency["ingest_objects_per_s"] / latency["sequential_get_objects_per_s"], 10
            ),
        ),
        Figure(
            "ingest_vs_bare_get_latency",
            round(latency["ingest_objects_per_s"] / latency["bare_get_objects_per_s"], 3),
            "ratio",
            "through the same proxy: the ingest's objects/s over get_object + read alone from "
            f"{latency['bare_get_pool_size']} threads",
            **at_least(latency["ingest_objects_per_s"] / latency["bare_get_objects_per_s"], 0.7),
        ),
        Figure(
            "s3_upload_seconds",
            round(upload_seconds[0], 2),
            "s",
            f"uploading the {len(keys)} objects (setup, not part of any ratio): "
            "put_object from 32 threads",
        ),
    ]
    return section
