"""Ingest into the Parquet lake: accounting, incrementality, crash safety, local folders and S3."""

import gzip
import json
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from finding_fixtures import a_finding, eventbridge_event, jsonl_gz, to_bytes, with_service
from orchestration.lib.ingest.runner import IngestError, IngestOptions, run_ingest
from orchestration.lib.lake import layout as layout
from orchestration.lib.lake.lock import LakeLocked
from orchestration.lib.lake.store import LocalStore, S3Store
from s3_servers import s3_client


def write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def mixed_source(root: Path) -> None:
    """One object of every form, two non-findings and two broken objects."""
    write(root, "eventbridge/2026/10/02/e1.json", to_bytes(eventbridge_event(a_finding(id="e1"))))
    write(
        root,
        "AWSLogs/012345678901/GuardDuty/eu-west-1/2026/10/03/x.jsonl.gz",
        jsonl_gz(
            [a_finding(id=f"n{i}", updatedAt=f"2026-10-0{1 + i % 3}T00:00:00Z") for i in range(30)]
            + [b"{broken"]
        ),
    )
    write(root, "api/page.json", to_bytes({"findings": [a_finding(id="p1"), a_finding(id="p2")]}))
    write(root, "api/empty-page.json", b'{"findings": []}')
    write(root, "bare/array.json.gz", gzip.compress(to_bytes([a_finding(id="a1")])))
    write(
        root,
        "eventbridge/health.json",
        to_bytes(eventbridge_event({}, "GuardDuty Runtime Protection Healthy")),
    )
    write(root, "broken/truncated.json.gz", gzip.compress(to_bytes(a_finding()))[:-10])
    write(root, "broken/no-id.json", to_bytes(a_finding(id=None)))


def lake_findings(lake: Path) -> list[tuple]:
    return duckdb.sql(
        f"select finding_id, updated_date, source_uri from read_parquet("
        f"'{lake}/findings/*/*.parquet', hive_partitioning = true) order by all"
    ).fetchall()


class TestLocalFolder:
    def test_every_object_is_accounted_for(self, tmp_path):
        mixed_source(tmp_path / "raw")
        stats = run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        assert stats.objects_read == 8
        assert (stats.objects_ingested, stats.objects_skipped, stats.objects_quarantined) == (
            4,
            2,
            2,
        )
        assert stats.balanced
        assert stats.findings_ingested == 34
        assert stats.records_quarantined == 3  # two whole objects and one JSON line

    def test_lake_has_one_folder_per_updated_date_readable_by_duckdb(self, tmp_path):
        mixed_source(tmp_path / "raw")
        run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        folders = sorted(p.name for p in (tmp_path / "lake" / layout.FINDINGS_DIR).iterdir())
        assert folders == [
            "updated_date=2026-10-01",
            "updated_date=2026-10-02",
            "updated_date=2026-10-03",
        ]
        rows = lake_findings(tmp_path / "lake")
        assert len(rows) == 34
        quarantine = duckdb.sql(
            "select line_number, reason from "
            f"read_parquet('{tmp_path}/lake/quarantine/*/*.parquet') "
            "order by line_number nulls first, reason"
        ).fetchall()
        assert [line for line, _ in quarantine] == [None, None, 31]

    def test_second_run_reads_nothing_and_changes_nothing(self, tmp_path):
        mixed_source(tmp_path / "raw")
        run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        files_before = sorted(p for p in (tmp_path / "lake").rglob("*") if p.is_file())
        stats = run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        assert stats.objects_read == 0 and stats.objects_already_ingested == 8
        assert sorted(p for p in (tmp_path / "lake").rglob("*") if p.is_file()) == files_before

    def test_new_and_rewritten_objects_are_read_on_the_next_run(self, tmp_path):
        mixed_source(tmp_path / "raw")
        run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        write(tmp_path / "raw", "later/new.json", to_bytes(a_finding(id="new")))
        rewritten = tmp_path / "raw" / "api" / "page.json"
        rewritten.write_bytes(to_bytes({"findings": [a_finding(id="p3")]}))
        os.utime(rewritten, ns=(1, 1))
        stats = run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        assert stats.objects_read == 2 and stats.findings_ingested == 2

    def test_symlink_leaving_the_source_root_is_quarantined_not_followed(self, tmp_path):
        outside = tmp_path / "secret.json"
        outside.write_bytes(to_bytes(a_finding(id="outside")))
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw" / "link.json").symlink_to(outside)
        (tmp_path / "raw" / "looks-like-an-object.json").mkdir()
        stats = run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        assert (stats.objects_read, stats.objects_quarantined, stats.findings_ingested) == (1, 1, 0)

    def test_keys_with_spaces_unicode_and_dots_are_read(self, tmp_path):
        write(tmp_path / "raw", "a dir/ünïcode ..finding.json", to_bytes(a_finding(id="odd")))
        stats = run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        assert stats.findings_ingested == 1


class TestCrashSafety:
    def test_crash_before_the_ledger_commit_leaves_nothing_visible_and_nothing_lost(
        self, tmp_path, monkeypatch
    ):
        mixed_source(tmp_path / "raw")
        lake = LocalStore(tmp_path / "lake")
        original_write = LocalStore.write

        def crash_on_ledger(self, key, data):
            if key.startswith(layout.LEDGER_DIR):
                raise OSError("simulated crash")
            original_write(self, key, data)

        monkeypatch.setattr(LocalStore, "write", crash_on_ledger)
        with pytest.raises(IngestError, match="simulated crash"):
            run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert not (tmp_path / "lake" / layout.FINDINGS_DIR).exists()
        monkeypatch.setattr(LocalStore, "write", original_write)
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.discarded_batches == 1 and stats.objects_read == 8
        assert len(lake_findings(tmp_path / "lake")) == 34
        assert not (tmp_path / "lake" / layout.STAGING_DIR).exists()

    def test_crash_after_the_commit_is_finished_by_the_next_run_without_double_counting(
        self, tmp_path, monkeypatch
    ):
        mixed_source(tmp_path / "raw")
        lake = LocalStore(tmp_path / "lake")
        original_move = LocalStore.move
        moves = []

        def crash_after_one_move(self, source_key, target_key):
            if moves:
                raise OSError("simulated crash")
            moves.append(target_key)
            original_move(self, source_key, target_key)

        monkeypatch.setattr(LocalStore, "move", crash_after_one_move)
        with pytest.raises(IngestError, match="next run reads the remaining objects"):
            run_ingest(LocalStore(tmp_path / "raw"), lake)
        monkeypatch.setattr(LocalStore, "move", original_move)
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.recovered_batches == 1 and stats.objects_read == 0
        assert len(lake_findings(tmp_path / "lake")) == 34

    def test_large_runs_commit_several_batches(self, tmp_path):
        for n in range(5):
            write(
                tmp_path / "raw",
                f"o{n}.json",
                to_bytes([a_finding(id=f"{n}-{i}") for i in range(3)]),
            )
        stats = run_ingest(
            LocalStore(tmp_path / "raw"),
            LocalStore(tmp_path / "lake"),
            IngestOptions(batch_max_findings=6),
        )
        assert len(stats.batches_committed) == 3
        assert len(lake_findings(tmp_path / "lake")) == 15


def fill_bucket(client, bucket: str, objects: int) -> None:
    client.create_bucket(Bucket=bucket)
    for n in range(objects):
        event = eventbridge_event(with_service(a_finding(id=f"s3-{n}"), count=n + 1))
        client.put_object(Bucket=bucket, Key=f"raw/eventbridge/{n:05d}.json", Body=to_bytes(event))
    client.put_object(
        Bucket=bucket,
        Key="raw/AWSLogs/012345678901/GuardDuty/eu-west-1/2026/10/02/big.jsonl.gz",
        Body=jsonl_gz([a_finding(id=f"big-{i}") for i in range(3000)]),
    )
    client.put_object(Bucket=bucket, Key="raw/folder/", Body=b"")


class TestS3:
    def test_moto_s3_paginates_beyond_1000_keys_and_reads_gzip_lines(self, monkeypatch):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        with mock_aws():
            client = s3_client(endpoint=None)
            fill_bucket(client, "raw-bucket", 1100)
            client.create_bucket(Bucket="lake-bucket")
            source = S3Store("s3://raw-bucket/raw", client)
            lake = S3Store("s3://lake-bucket/lake", client)
            stats = run_ingest(source, lake)
            assert stats.objects_read == 1102 and stats.balanced
            assert stats.findings_ingested == 1100 + 3000
            assert stats.objects_skipped == 1  # the folder marker
            assert run_ingest(source, lake).objects_read == 0

    @pytest.mark.seaweedfs
    def test_real_s3_server_ingests_more_than_1000_objects_once(self, seaweedfs, tmp_path):
        client = s3_client(seaweedfs.endpoint)
        fill_bucket(client, "raw-findings", 1100)
        client.create_bucket(Bucket="lake")
        source = S3Store("s3://raw-findings/raw", client)
        lake = S3Store("s3://lake/guardduty", client)
        stats = run_ingest(source, lake, IngestOptions(concurrency=16))
        assert stats.objects_read == 1102 and stats.balanced
        assert stats.findings_ingested == 4100
        assert run_ingest(source, lake).objects_read == 0
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket="lake", Prefix="guardduty/findings/"
            )
            for item in page.get("Contents", [])
        ]
        assert keys and all("/updated_date=" in key for key in keys)


def test_ingest_asset_materialises_against_a_local_folder(fresh_settings, monkeypatch):
    from orchestration.defs.ingest.assets import guardduty_lake

    raw = fresh_settings / "raw"
    mixed_source(raw)
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", str(raw))
    result = dg.materialize([guardduty_lake], resources={"s3": S3Resource()})
    assert result.success
    metadata = lake_metadata(result)
    assert metadata["objects_read"] == 8
    assert metadata["objects_read"] == (
        metadata["objects_ingested"] + metadata["objects_skipped"] + metadata["objects_quarantined"]
    )
    assert metadata["partitions_written"] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    again = dg.materialize([guardduty_lake], resources={"s3": S3Resource()})
    assert lake_metadata(again)["objects_read"] == 0


def lake_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("guardduty_lake")
        if m.asset_key == dg.AssetKey(["lake", "findings"])
    ]
    return {key: value.value for key, value in materialization.metadata.items()}


class TestOverlappingRuns:
    def test_a_second_run_cannot_ingest_while_the_first_holds_the_lake(self, tmp_path):
        mixed_source(tmp_path / "raw")
        lake = LocalStore(tmp_path / "lake")
        started, release = threading.Event(), threading.Event()
        original_read = LocalStore.read
        outcomes: dict[str, object] = {}

        def slow_read(self, key):
            started.set()
            release.wait(timeout=30)
            return original_read(self, key)

        def first_run():
            source = LocalStore(tmp_path / "raw")
            source.read = slow_read.__get__(source)
            outcomes["first"] = run_ingest(source, lake, IngestOptions(concurrency=1))

        thread = threading.Thread(target=first_run)
        thread.start()
        assert started.wait(timeout=30)
        with pytest.raises(LakeLocked, match="held the lake lock"):
            run_ingest(LocalStore(tmp_path / "raw"), lake)
        release.set()
        thread.join(timeout=60)
        assert outcomes["first"].objects_read == 8
        assert run_ingest(LocalStore(tmp_path / "raw"), lake).objects_read == 0
        assert len(lake_findings(tmp_path / "lake")) == 34

    def test_a_lock_left_by_a_dead_process_is_broken(self, tmp_path):
        mixed_source(tmp_path / "raw")
        (tmp_path / "lake").mkdir()
        (tmp_path / "lake" / "_ingest.lock").write_text(
            json.dumps(
                {
                    "token": "gone",
                    "host": socket.gethostname(),
                    "pid": 2**22 + 12345,
                    "acquired_at": datetime.now(UTC).isoformat(),
                    "refreshed_at": datetime.now(UTC).isoformat(),
                }
            )
        )
        stats = run_ingest(LocalStore(tmp_path / "raw"), LocalStore(tmp_path / "lake"))
        assert stats.objects_read == 8
        assert not (tmp_path / "lake" / "_ingest.lock").exists()
