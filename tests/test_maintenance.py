"""Lake maintenance: compaction keeps the visible rows, expiry and the orphan sweep keep time travel
to the snapshots a review report tagged."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from orchestration.lib.lake import maintenance, tables
from orchestration.lib.lake.catalog import connect_lake, open_lake
from orchestration.lib.lake.commit import BatchRows, append_rows, commit_batch
from orchestration.lib.lake.maintenance import (
    MaintenancePolicy,
    batch_id_prefix,
    keep_snapshots,
    maintain_lake,
)
from orchestration.lib.lake.reader import pin
from tests.helpers.lake_rows import finding_row

START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DAYS = (date(2026, 10, 30), date(2026, 10, 31))
POLICY = MaintenancePolicy(min_small_files=4)


def batch_id(moment: datetime, suffix: str = "0000abcd") -> str:
    return f"{batch_id_prefix(moment)}-{suffix}"


def batch_rows(number: int, moment: datetime) -> BatchRows:
    """A batch of two objects, each one finding on each day of DAYS."""
    batch = batch_id(moment)
    naive = moment.replace(tzinfo=None)
    findings, ledger = [], []
    for object_number in range(2):
        uri = f"s3://raw/eventbridge/2026/10/31/{number}-{object_number}.json"
        for day in DAYS:
            updated = datetime.combine(day, datetime.min.time()) + timedelta(minutes=number)
            row = finding_row(
                f"f-{number}-{object_number}",
                updated_at=updated,
                event_count=number,
                source_uri=uri,
                batch_id=batch,
                ingested_at=naive,
            )
            findings.append({**row, "observed_at": None, "updated_date": day})
        ledger.append(
            {
                "source_uri": uri,
                "object_size": 100 + number,
                "object_version": f"etag-{number}",
                "status": "ingested",
                "findings": len(DAYS),
                "records_skipped": 0,
                "records_quarantined": 0,
                "skip_reason": None,
                "ingest_batch_id": batch,
                "ingested_at": naive,
                "ingested_date": moment.date(),
                "object_date": date(2026, 10, 31),
            }
        )
    return BatchRows(
        batch,
        pa.Table.from_pylist(findings, schema=tables.arrow_schema(tables.FINDINGS)),
        tables.arrow_schema(tables.QUARANTINE).empty_table(),
        pa.Table.from_pylist(ledger, schema=tables.arrow_schema(tables.LEDGER)),
    )


def ingest_batches(lake, first: int, count: int) -> None:
    for number in range(first, first + count):
        moment = START + timedelta(minutes=number)
        commit_batch(lake, batch_rows(number, moment), listed_on=moment.date())


def data_files(lake, name: str) -> list[str]:
    return [task.file.file_path for task in lake.table(name).scan().plan_files()]


def visible_findings(pinned) -> list[dict]:
    rows = pinned.visible(tables.FINDINGS)
    return sorted(rows.to_pylist(), key=lambda row: (row["finding_id"], row["updated_at"]))


@pytest.fixture
def lake(tmp_path: Path):
    return connect_lake(str(tmp_path / "lake"))


def test_compaction_leaves_one_file_per_partition_and_the_same_visible_rows(lake):
    ingest_batches(lake, 0, 6)
    before = visible_findings(pin(lake))
    ledger_before = pin(lake).ledger().sort_by("source_uri")
    assert len(data_files(lake, tables.FINDINGS)) == 6 * len(DAYS)

    result = maintain_lake(lake, POLICY, now=START + timedelta(hours=1))

    assert len(data_files(lake, tables.FINDINGS)) == len(DAYS)
    assert len(data_files(lake, tables.LEDGER)) == 1
    assert result.tables[tables.FINDINGS].partitions_compacted == len(DAYS)
    assert visible_findings(pin(lake)) == before
    assert pin(lake).ledger().sort_by("source_uri").equals(ledger_before)


def test_partitions_with_few_small_files_are_left_alone(lake):
    ingest_batches(lake, 0, 3)
    files = sorted(data_files(lake, tables.FINDINGS))
    result = maintain_lake(lake, POLICY, now=START + timedelta(hours=1))
    assert sorted(data_files(lake, tables.FINDINGS)) == files
    assert result.tables[tables.FINDINGS].partitions_compacted == 0


def test_by_default_no_partition_keeps_more_than_two_small_files(lake):
    # Every reader opens each file of the partitions it reads, many times a day: a partition of
    # one day's three ingests is already worth rewriting.
    ingest_batches(lake, 0, 3)

    maintain_lake(lake, MaintenancePolicy(), now=START + timedelta(hours=1))

    assert len(data_files(lake, tables.FINDINGS)) == len(DAYS)
    assert len(data_files(lake, tables.LEDGER)) == 1


def test_compaction_drops_rows_of_dead_batches_only_once_they_are_old(lake):
    ingest_batches(lake, 0, 5)
    findings = lake.table(tables.FINDINGS)
    # Two ingests that died after appending their findings, before their ledger commit.
    dead = batch_rows(100, START - timedelta(days=2)).findings
    in_flight = batch_rows(101, START + timedelta(minutes=50)).findings
    append_rows(findings, dead, {})
    append_rows(findings, in_flight, {})
    before = visible_findings(pin(lake))

    result = maintain_lake(lake, POLICY, now=START + timedelta(hours=1))

    remaining = set(lake.table(tables.FINDINGS).scan().to_arrow()["ingest_batch_id"].to_pylist())
    assert dead["ingest_batch_id"][0].as_py() not in remaining
    assert in_flight["ingest_batch_id"][0].as_py() in remaining
    assert result.tables[tables.FINDINGS].invisible_rows_dropped == dead.num_rows
    assert visible_findings(pin(lake)) == before


def test_expiry_and_orphan_sweep_keep_time_travel_to_a_tagged_snapshot(lake):
    ingest_batches(lake, 0, 5)
    reported = pin(lake)
    reported_rows = visible_findings(reported)
    keep_snapshots(lake, reported.snapshot_ids, "review-2026-10")
    ingest_batches(lake, 5, 5)
    current_rows = visible_findings(pin(lake))
    files_of_report = [
        task.file.file_path
        for task in lake.table(tables.FINDINGS)
        .scan(snapshot_id=reported.snapshot_ids[tables.FINDINGS])
        .plan_files()
    ]

    # A month later: untagged snapshots are past the week of retention, every file is old enough.
    later = datetime.now(UTC) + timedelta(days=30)
    result = maintain_lake(lake, POLICY, now=later)

    findings = result.tables[tables.FINDINGS]
    assert findings.snapshots_expired > 0
    assert findings.orphan_files_deleted > 0
    assert visible_findings(pin(lake, reported.snapshot_ids)) == reported_rows
    assert visible_findings(pin(lake)) == current_rows
    assert all(Path(path.removeprefix("file://")).exists() for path in files_of_report)
    kept = {snapshot.snapshot_id for snapshot in lake.table(tables.FINDINGS).snapshots()}
    assert reported.snapshot_ids[tables.FINDINGS] in kept


def test_a_tag_past_its_retention_is_removed_and_its_snapshot_expires(lake):
    ingest_batches(lake, 0, 2)
    reported = pin(lake)
    keep_snapshots(lake, reported.snapshot_ids, "review-2026-10", retention=timedelta(days=60))
    ingest_batches(lake, 2, 1)

    maintain_lake(lake, POLICY, now=datetime.now(UTC) + timedelta(days=61))

    table = lake.table(tables.FINDINGS)
    assert "review-2026-10" not in table.metadata.refs
    assert table.snapshot_by_id(reported.snapshot_ids[tables.FINDINGS]) is None
    assert len(visible_findings(pin(lake))) == 3 * 2 * len(DAYS)


@pytest.mark.integration
def test_the_maintenance_asset_compacts_the_configured_lake(fresh_settings):
    import dagster as dg

    from orchestration.defs.ingest.maintenance import lake_maintenance
    from orchestration.lib.environment import load_settings

    settings = load_settings()
    ingest_batches(open_lake(settings), 0, 3)
    result = dg.materialize(
        [lake_maintenance],
        resources={"settings": settings},
        run_config={"ops": {"lake__maintenance": {"config": {"min_small_files": 2}}}},
    )

    assert result.success
    (materialization,) = result.asset_materializations_for_node("lake__maintenance")
    assert materialization.metadata["findings.partitions_compacted"].value == len(DAYS)
    assert len(data_files(open_lake(settings), tables.FINDINGS)) == len(DAYS)


def test_a_snapshot_is_kept_for_the_retention_after_it_stopped_being_current(lake):
    ingest_batches(lake, 0, 2)
    findings = lake.table(tables.FINDINGS)
    older, newer = sorted(findings.snapshots(), key=lambda snapshot: snapshot.timestamp_ms)
    superseded = datetime.fromtimestamp(newer.timestamp_ms / 1000, UTC)
    retention = MaintenancePolicy().snapshot_retention

    maintain_lake(lake, POLICY, now=superseded + retention - timedelta(milliseconds=1))
    assert lake.table(tables.FINDINGS).snapshot_by_id(older.snapshot_id) is not None

    maintain_lake(lake, POLICY, now=superseded + retention + timedelta(milliseconds=1))
    assert lake.table(tables.FINDINGS).snapshot_by_id(older.snapshot_id) is None


def test_a_batch_committed_while_a_partition_is_compacted_is_kept(lake, monkeypatch):
    ingest_batches(lake, 0, 5)
    real_replace = maintenance._replace_files
    committed_meanwhile = []

    def replace_after_a_concurrent_ingest(table, files, rows):
        if not committed_meanwhile:
            committed_meanwhile.append(True)
            ingest_batches(lake, 100, 1)
        real_replace(table, files, rows)

    monkeypatch.setattr(maintenance, "_replace_files", replace_after_a_concurrent_ingest)
    result = maintain_lake(lake, POLICY, now=START + timedelta(hours=1))

    # The partition the batch wrote into waits for the next run; the other one is compacted.
    findings = result.tables[tables.FINDINGS]
    assert (findings.partitions_compacted, findings.partitions_skipped_for_conflicts) == (1, 1)

    ids = {row["finding_id"] for row in visible_findings(pin(lake))}
    assert ids == {f"f-{number}-{part}" for number in (0, 1, 2, 3, 4, 100) for part in (0, 1)}
    assert len(visible_findings(pin(lake))) == 6 * 2 * len(DAYS)
