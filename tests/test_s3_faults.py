"""Faults on a real S3 server (SeaweedFS): the server stopping mid-run, and throttling."""

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestration.lib.ingest.runner import IngestError, IngestOptions, run_ingest
from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import Lake, connect_lake
from orchestration.lib.lake.store import S3Store
from tests.helpers.finding_fixtures import a_finding, eventbridge_event, to_bytes, with_service
from tests.helpers.s3_servers import running_seaweedfs, s3_client, s3_environment

pytestmark = pytest.mark.seaweedfs

OBJECTS = 300


def fill(client, bucket: str) -> None:
    client.create_bucket(Bucket=bucket)
    client.create_bucket(Bucket=f"{bucket}-lake")
    for n in range(OBJECTS):
        finding = with_service(a_finding(id=f"f{n % 120}"), count=n + 1)
        finding["updatedAt"] = f"2026-10-{1 + n % 28:02d}T12:00:{n % 60:02d}Z"
        client.put_object(
            Bucket=bucket, Key=f"events/{n:04d}.json", Body=to_bytes(eventbridge_event(finding))
        )


def s3_lake(endpoint: str, catalog_folder, monkeypatch) -> Lake:
    for variable, value in s3_environment(endpoint).items():
        monkeypatch.setenv(variable, value)
    return connect_lake("s3://raw-lake", sql_catalog=catalog_folder / "catalog.db")


def lake_rows(lake: Lake) -> list[tuple]:
    table = reader.pin(lake).visible(tables.FINDINGS, ["finding_id", "updated_at", "event_count"])
    return sorted(zip(*(column.to_pylist() for column in table.columns), strict=True))


def test_server_stopped_mid_run_fails_clearly_leaves_nothing_partial_and_resumes(
    tmp_path, monkeypatch
):
    with running_seaweedfs(tmp_path / "reference") as reference:
        client = s3_client(reference.endpoint)
        fill(client, "raw")
        lake = s3_lake(reference.endpoint, tmp_path / "reference", monkeypatch)
        run_ingest(S3Store("s3://raw", client), lake)
        uninterrupted = lake_rows(lake)
    assert len(uninterrupted) == OBJECTS

    with running_seaweedfs(tmp_path / "faulty") as server:
        client = s3_client(server.endpoint, max_attempts=2)
        fill(client, "raw")
        lake = s3_lake(server.endpoint, tmp_path / "faulty", monkeypatch)
        source = S3Store("s3://raw", client)
        reads = []
        original_read = source.read

        def read_then_stop_the_server(key):
            reads.append(key)
            if len(reads) == 100:
                server.stop()
            return original_read(key)

        source.read = read_then_stop_the_server
        with pytest.raises(IngestError, match="next run reads the remaining objects again"):
            run_ingest(source, lake, IngestOptions(concurrency=4))

        server.start()
        assert lake_rows(lake) == []
        stats = run_ingest(S3Store("s3://raw", client), lake)
        assert stats.objects_read == OBJECTS and stats.balanced
        assert lake_rows(lake) == uninterrupted


class SlowDownProxy(ThreadingHTTPServer):
    """Forwards to the S3 server, answering every other object GET with 503 SlowDown first."""

    daemon_threads = True

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.slowdowns = 0
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: SlowDownProxy

    def log_message(self, *args):  # keep test output clean
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "GET" and "/events/" in self.path:
            with self.server.lock:
                first_time = self.path not in self.server.seen
                self.server.seen.add(self.path)
                throttle = first_time and len(self.server.seen) % 2 == 0
                if throttle:
                    self.server.slowdowns += 1
            if throttle:
                message = (
                    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                    b"<Message>Please reduce your request rate.</Message></Error>"
                )
                self.send_response(503)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                self.wfile.write(message)
                return
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
        response = upstream.getresponse()
        payload = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward


def test_slowdown_503_is_retried_with_backoff_until_every_object_is_read(seaweedfs, tmp_path):
    direct = s3_client(seaweedfs.endpoint)
    direct.create_bucket(Bucket="throttled")
    for n in range(40):
        direct.put_object(
            Bucket="throttled",
            Key=f"events/{n:03d}.json",
            Body=to_bytes(eventbridge_event(a_finding(id=f"t{n}"))),
        )
    proxy = SlowDownProxy(seaweedfs.ports["s3"])
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        client = s3_client(f"http://127.0.0.1:{proxy.server_address[1]}", max_attempts=5)
        stats = run_ingest(
            S3Store("s3://throttled", client),
            connect_lake(str(tmp_path / "lake")),
            IngestOptions(concurrency=4),
        )
    finally:
        proxy.shutdown()
    assert proxy.slowdowns == 20
    assert stats.objects_read == 40 and stats.findings_ingested == 40
