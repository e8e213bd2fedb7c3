"""`migrate-lake`: an old Parquet-layout lake arrives in the Iceberg tables exactly once."""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration import cli
from orchestration.lib.environment import get_settings
from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import connect_lake, open_lake
from orchestration.lib.lake.migration import MigrationError, migrate_lake
from orchestration.lib.lake.reader import pin
from orchestration.lib.lake.store import LocalStore
from tests.helpers.lake_rows import finding_row

MS = pa.timestamp("ms")
# The old layout's column types, as the Parquet lake wrote them (millisecond timestamps); every
# column not named here is a string.
OLD_TYPES = {
    "severity": pa.float64(),
    "event_count": pa.int64(),
    "line_number": pa.int64(),
    "object_size": pa.int64(),
    "findings": pa.int64(),
    "records_skipped": pa.int64(),
    "records_quarantined": pa.int64(),
    "created_at": MS,
    "updated_at": MS,
    "ingested_at": MS,
    "quarantined_at": MS,
}


def old_schema(columns: str) -> pa.Schema:
    return pa.schema([(name, OLD_TYPES.get(name, pa.string())) for name in columns.split()])


OLD_FINDINGS = old_schema(
    "finding_id account_id region finding_type severity created_at updated_at event_count"
    " finding_json source_uri line_number ingest_batch_id ingested_at"
)
OLD_QUARANTINE = old_schema(
    "source_uri line_number reason excerpt object_size ingest_batch_id quarantined_at"
)
OLD_LEDGER = old_schema(
    "source_uri object_size object_version status findings records_skipped records_quarantined"
    " skip_reason ingest_batch_id ingested_at"
)


def write_parquet(root: Path, key: str, rows: list[dict], schema: pa.Schema) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def old_batch(root: Path, number: int, *, staged: bool = False, committed: bool = True) -> None:
    """A batch of two objects: one with findings on two days, one quarantined."""
    batch = f"2026110{number}T080000000000Z-0000000{number}"
    ingested = datetime(2026, 11, number, 8, 0, 0, 123000)
    good = f"s3://raw/eventbridge/2026/11/0{number}/{number}.json"
    bad = f"s3://raw/eventbridge/2026/11/0{number}/{number}-bad.json"
    staging = f"_staging/{batch}/" if staged else ""
    for day in (date(2026, 10, 31), date(2026, 11, number)):
        updated = datetime.combine(day, datetime.min.time()).replace(hour=number, microsecond=7000)
        finding = finding_row(
            f"f{number}",
            updated_at=updated,
            event_count=number,
            source_uri=good,
            batch_id=batch,
            ingested_at=ingested,
        )
        key = f"{staging}findings/updated_date={day.isoformat()}/{batch}.parquet"
        write_parquet(root, key, [finding], OLD_FINDINGS)
    quarantine = {
        "source_uri": bad,
        "line_number": None,
        "reason": "not JSON",
        "excerpt": "{",
        "object_size": 1,
        "ingest_batch_id": batch,
        "quarantined_at": ingested,
    }
    key = f"{staging}quarantine/quarantined_date=2026-11-0{number}/{batch}.parquet"
    write_parquet(root, key, [quarantine], OLD_QUARANTINE)
    if committed:
        ledger = [
            {
                "source_uri": uri,
                "object_size": 10 + number,
                "object_version": f"etag-{uri}",
                "status": status,
                "findings": found,
                "records_skipped": 0,
                "records_quarantined": 1 - found // 2,
                "skip_reason": None,
                "ingest_batch_id": batch,
                "ingested_at": ingested,
            }
            for uri, status, found in ((good, "ingested", 2), (bad, "quarantined", 0))
        ]
        write_parquet(root, f"_ledger/{batch}.parquet", ledger, OLD_LEDGER)


@pytest.fixture
def old_lake(tmp_path: Path) -> Path:
    root = tmp_path / "old-lake"
    old_batch(root, 1)
    old_batch(root, 2)
    old_batch(root, 3, staged=True)  # committed, not yet published when its run died
    old_batch(root, 4, staged=True, committed=False)  # never committed: left out
    return root


def rows_of(pinned, name: str, columns: list[str]) -> Counter:
    return Counter(tuple(row.values()) for row in pinned.visible(name, columns).to_pylist())


def test_every_committed_row_and_ledger_entry_arrives_exactly_once(old_lake, tmp_path):
    lake = connect_lake(str(tmp_path / "iceberg"))

    first = migrate_lake(LocalStore(old_lake), lake)
    again = migrate_lake(LocalStore(old_lake), lake)

    assert (first.batches_migrated, first.uncommitted_batches_left_out) == (3, 1)
    assert (again.batches_migrated, again.batches_already_migrated) == (0, 3)
    pinned = pin(lake)
    findings = rows_of(pinned, tables.FINDINGS, ["finding_id", "updated_date", "ingest_batch_id"])
    assert findings == Counter(
        {
            (f"f{number}", day, f"2026110{number}T080000000000Z-0000000{number}"): 1
            for number in (1, 2, 3)
            for day in (date(2026, 10, 31), date(2026, 11, number))
        }
    )
    quarantine = rows_of(pinned, tables.QUARANTINE, ["source_uri", "quarantined_date"])
    assert sorted(count for count in quarantine.values()) == [1, 1, 1]
    ledger = pinned.ledger().to_pylist()
    assert len(ledger) == 6
    assert len({(row["source_uri"], row["ingest_batch_id"]) for row in ledger}) == 6
    assert {row["object_date"] for row in ledger} == {date(2026, 11, n) for n in (1, 2, 3)}
    first_finding = pinned.visible(tables.FINDINGS, ["finding_id", "updated_at"]).to_pylist()
    assert datetime(2026, 10, 31, 1, 0, 0, 7000) in {row["updated_at"] for row in first_finding}


def test_objects_the_iceberg_lake_already_ingested_are_left_out(old_lake, tmp_path):
    lake = connect_lake(str(tmp_path / "iceberg"))
    migrate_lake(LocalStore(old_lake), lake)
    # The same objects converted again under other batch ids (a copy of the old lake).
    copy = tmp_path / "copy"
    for path in old_lake.rglob("*.parquet"):
        target = copy / path.relative_to(old_lake).as_posix().replace("2026110", "2025110")
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pq.read_table(path)
        renamed = [
            batch.replace("2026110", "2025110") for batch in table["ingest_batch_id"].to_pylist()
        ]
        column = table.schema.get_field_index("ingest_batch_id")
        pq.write_table(table.set_column(column, "ingest_batch_id", pa.array(renamed)), target)

    stats = migrate_lake(LocalStore(copy), lake)

    assert stats.objects_already_ingested == 6
    assert len(pin(lake).ledger()) == 6
    assert len(pin(lake).visible(tables.FINDINGS)) == 6


def test_an_unreadable_old_file_stops_the_migration_with_its_name(old_lake, tmp_path):
    (old_lake / "_ledger" / "20261105T080000000000Z-00000005.parquet").write_bytes(b"not parquet")
    with pytest.raises(MigrationError, match=re.escape("20261105T080000000000Z-00000005.parquet")):
        migrate_lake(LocalStore(old_lake), connect_lake(str(tmp_path / "iceberg")))


def test_the_command_migrates_into_the_configured_lake(
    old_lake, fresh_settings, capsys, monkeypatch
):
    # main() exports the settings into the environment for dbt: keep that inside this test.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    assert cli.main(["migrate-lake", "--from", str(old_lake)]) == 0

    assert len(pin(open_lake(get_settings())).ledger()) == 6
    assert "batches_migrated=3" in capsys.readouterr().out
