"""Ingest into the Iceberg lake: accounting, incrementality, crash safety, local folders and S3."""

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from orchestration.lib.ingest.runner import IngestError, IngestOptions, run_ingest
from orchestration.lib.lake import commit, reader, tables
from orchestration.lib.lake.catalog import Lake, connect_lake
from orchestration.lib.lake.store import LocalStore, S3Store
from tests.helpers.finding_fixtures import (
    a_finding,
    eventbridge_event,
    jsonl_gz,
    to_bytes,
    with_service,
)
from tests.helpers.s3_servers import s3_client, s3_environment
from tests.helpers.settings import settings_resources


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


def lake_findings(lake: Lake) -> list[tuple]:
    """The visible findings rows (committed batches only)."""
    rows = reader.pin(lake).visible(tables.FINDINGS, ["finding_id", "updated_date", "source_uri"])
    return sorted(zip(*(column.to_pylist() for column in rows.columns), strict=True))


@pytest.fixture
def lake(tmp_path) -> Lake:
    return connect_lake(str(tmp_path / "lake"))


class TestLocalFolder:
    def test_every_object_is_accounted_for(self, tmp_path, lake):
        mixed_source(tmp_path / "raw")
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.objects_read == 8
        assert (stats.objects_ingested, stats.objects_skipped, stats.objects_quarantined) == (
            4,
            2,
            2,
        )
        assert stats.balanced
        assert stats.findings_ingested == 34
        assert stats.records_quarantined == 3  # two whole objects and one JSON line

    def test_lake_has_one_partition_per_updated_date_and_a_ledger_row_per_object(
        self, tmp_path, lake
    ):
        mixed_source(tmp_path / "raw")
        run_ingest(LocalStore(tmp_path / "raw"), lake)
        files = lake.table(tables.FINDINGS).inspect.files().to_pylist()
        assert sorted(str(f["partition"]["updated_date"]) for f in files) == [
            "2026-10-01",
            "2026-10-02",
            "2026-10-03",
        ]
        assert len(lake_findings(lake)) == 34
        pinned = reader.pin(lake)
        quarantine = pinned.visible(tables.QUARANTINE, ["line_number"]).column(0).to_pylist()
        assert sorted(quarantine, key=lambda line: line or 0) == [None, None, 31]
        ledger = pinned.ledger(["source_uri", "status", "object_date"]).to_pylist()
        assert len(ledger) == 8 and len({row["source_uri"] for row in ledger}) == 8
        export = next(row for row in ledger if "AWSLogs" in row["source_uri"])
        assert str(export["object_date"]) == "2026-10-03"

    def test_every_batch_commit_carries_its_batch_id(self, tmp_path, lake):
        mixed_source(tmp_path / "raw")
        (batch_id,) = run_ingest(LocalStore(tmp_path / "raw"), lake).batches_committed
        for name in tables.TABLES:
            summary = lake.table(name).current_snapshot().summary
            assert summary[tables.BATCH_ID_PROPERTY] == batch_id

    def test_second_run_reads_nothing_and_commits_nothing(self, tmp_path, lake):
        mixed_source(tmp_path / "raw")
        run_ingest(LocalStore(tmp_path / "raw"), lake)
        before = reader.pin(lake).snapshot_ids
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.objects_read == 0 and stats.objects_already_ingested == 8
        assert reader.pin(lake).snapshot_ids == before

    def test_time_bound_is_the_runs_clock_and_export_copies_are_observed_at_last_modified(
        self, tmp_path, lake
    ):
        export = tmp_path / "raw" / "AWSLogs/012345678901/GuardDuty/eu-west-1/2026/10/02/x.jsonl.gz"
        write(
            tmp_path / "raw",
            str(export.relative_to(tmp_path / "raw")),
            jsonl_gz(
                [
                    a_finding(id="in-time", updatedAt="2026-10-02T12:10:00Z"),
                    a_finding(id="from-the-future", updatedAt="2026-10-02T12:20:00Z"),
                ]
            ),
        )
        modified = datetime(2026, 10, 2, 11, 30, tzinfo=UTC)
        os.utime(export, (modified.timestamp(), modified.timestamp()))
        stats = run_ingest(
            LocalStore(tmp_path / "raw"), lake, clock=lambda: datetime(2026, 10, 2, 12, tzinfo=UTC)
        )
        assert stats.findings_ingested == 1 and stats.records_quarantined == 1
        rows = reader.pin(lake).visible(tables.FINDINGS, ["finding_id", "observed_at"])
        assert rows.to_pylist() == [
            {"finding_id": "in-time", "observed_at": modified.replace(tzinfo=None)}
        ]

    def test_new_and_rewritten_objects_are_read_on_the_next_run(self, tmp_path, lake):
        mixed_source(tmp_path / "raw")
        run_ingest(LocalStore(tmp_path / "raw"), lake)
        write(tmp_path / "raw", "later/new.json", to_bytes(a_finding(id="new")))
        rewritten = tmp_path / "raw" / "api" / "page.json"
        rewritten.write_bytes(to_bytes({"findings": [a_finding(id="p3")]}))
        os.utime(rewritten, ns=(1, 1))
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.objects_read == 2 and stats.findings_ingested == 2

    def test_symlink_leaving_the_source_root_is_quarantined_not_followed(self, tmp_path, lake):
        outside = tmp_path / "secret.json"
        outside.write_bytes(to_bytes(a_finding(id="outside")))
        (tmp_path / "raw").mkdir()
        (tmp_path / "raw" / "link.json").symlink_to(outside)
        (tmp_path / "raw" / "looks-like-an-object.json").mkdir()
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert (stats.objects_read, stats.objects_quarantined, stats.findings_ingested) == (1, 1, 0)

    def test_keys_with_spaces_unicode_and_dots_are_read(self, tmp_path, lake):
        write(tmp_path / "raw", "a dir/ünïcode ..finding.json", to_bytes(a_finding(id="odd")))
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.findings_ingested == 1


class TestCrashSafety:
    def test_crash_before_the_ledger_commit_leaves_nothing_visible_and_nothing_lost(
        self, tmp_path, lake, monkeypatch
    ):
        mixed_source(tmp_path / "raw")

        def crash(*args, **kwargs):
            raise OSError("simulated crash")

        monkeypatch.setattr(commit, "commit_ledger", crash)
        with pytest.raises(IngestError, match="simulated crash"):
            run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert lake.table(tables.FINDINGS).current_snapshot() is not None
        assert lake_findings(lake) == []
        monkeypatch.undo()
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
        assert stats.objects_read == 8 and stats.balanced
        assert len(lake_findings(lake)) == 34
        assert reader.pin(lake).ledger().num_rows == 8

    def test_large_runs_commit_several_batches(self, tmp_path, lake):
        for n in range(5):
            write(
                tmp_path / "raw",
                f"o{n}.json",
                to_bytes([a_finding(id=f"{n}-{i}") for i in range(3)]),
            )
        stats = run_ingest(LocalStore(tmp_path / "raw"), lake, IngestOptions(batch_max_findings=6))
        assert len(stats.batches_committed) == 3
        assert len(lake_findings(lake)) == 15


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
    @pytest.mark.integration
    def test_moto_s3_paginates_beyond_1000_keys_and_reads_gzip_lines(self, monkeypatch, lake):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
        with mock_aws():
            client = s3_client(endpoint=None)
            fill_bucket(client, "raw-bucket", 1100)
            source = S3Store("s3://raw-bucket/raw", client)
            stats = run_ingest(source, lake)
            assert stats.objects_read == 1102 and stats.balanced
            assert stats.findings_ingested == 1100 + 3000
            assert stats.objects_skipped == 1  # the folder marker
            assert run_ingest(source, lake).objects_read == 0

    @pytest.mark.seaweedfs
    def test_real_s3_server_holds_source_and_lake_and_ingests_each_object_once(
        self, seaweedfs, tmp_path, monkeypatch
    ):
        client = s3_client(seaweedfs.endpoint)
        fill_bucket(client, "raw-findings", 1100)
        client.create_bucket(Bucket="lake")
        for variable, value in s3_environment(seaweedfs.endpoint).items():
            monkeypatch.setenv(variable, value)
        lake = connect_lake("s3://lake/guardduty", sql_catalog=tmp_path / "catalog.db")
        source = S3Store("s3://raw-findings/raw", client)
        stats = run_ingest(source, lake, IngestOptions(concurrency=16))
        assert stats.objects_read == 1102 and stats.balanced
        assert stats.findings_ingested == 4100
        assert run_ingest(source, lake).objects_read == 0
        assert len(lake_findings(lake)) == 4100
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket="lake", Prefix="guardduty/guardduty_lake.db/findings/data/"
            )
            for item in page.get("Contents", [])
        ]
        assert keys and all("/updated_date=" in key for key in keys)


@pytest.mark.integration
def test_ingest_asset_materialises_against_a_local_folder(fresh_settings, monkeypatch):
    from orchestration.defs.ingest.assets import guardduty_lake

    raw = fresh_settings / "raw"
    mixed_source(raw)
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", str(raw))
    result = dg.materialize(
        [guardduty_lake], resources={"s3": S3Resource(), **settings_resources()}
    )
    assert result.success
    metadata = lake_metadata(result)
    assert metadata["objects_read"] == 8
    assert metadata["objects_read"] == (
        metadata["objects_ingested"] + metadata["objects_skipped"] + metadata["objects_quarantined"]
    )
    assert metadata["partitions_written"] == ["2026-10-01", "2026-10-02", "2026-10-03"]
    again = dg.materialize([guardduty_lake], resources={"s3": S3Resource(), **settings_resources()})
    assert lake_metadata(again)["objects_read"] == 0


@pytest.mark.integration
def test_only_an_ingest_in_a_run_with_the_api_backfill_lists_its_pages_over_guardduty_retention(
    fresh_settings, monkeypatch
):
    from orchestration.defs.audit.assets import GUARDDUTY_API_BACKFILL
    from orchestration.defs.ingest.assets import guardduty_lake

    @dg.asset(key=GUARDDUTY_API_BACKFILL)
    def backfill_writing_nothing() -> None:
        """The page below was written into a folder of its finding's updatedAt, 80 days ago."""

    raw = fresh_settings / "raw"
    today = datetime.now(UTC)
    (raw / f"{today:%Y/%m/%d}").mkdir(parents=True)
    (raw / f"{today:%Y/%m/%d}/event.json").write_bytes(to_bytes(eventbridge_event(a_finding())))
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", str(raw))
    resources = {"s3": S3Resource(), **settings_resources()}
    assert lake_metadata(dg.materialize([guardduty_lake], resources=resources))["objects_read"]
    page = raw / f"guardduty-api/123456789012/us-east-1/{today - timedelta(days=80):%Y/%m/%d}"
    page.mkdir(parents=True)
    (page / "archived.json").write_bytes(
        to_bytes({"Findings": [], "capturedAt": f"{today:%Y-%m-%dT%H:%M:%SZ}"})
    )

    ingest_alone = dg.materialize([guardduty_lake], resources=resources)
    with_backfill = dg.materialize([backfill_writing_nothing, guardduty_lake], resources=resources)

    assert lake_metadata(ingest_alone)["objects_listed"] == 1
    assert lake_metadata(with_backfill)["objects_listed"] == 2
    assert lake_metadata(with_backfill)["objects_read"] == 1


def lake_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("guardduty_lake")
        if m.asset_key == dg.AssetKey(["lake", "findings"])
    ]
    return {key: value.value for key, value in materialization.metadata.items()}
