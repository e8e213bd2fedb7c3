"""The Iceberg lake's guarantees: no partial batch is ever visible, a crash re-reads only what was
not committed, and concurrent ingest processes neither lose an object nor count one twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.ingest.runner import IngestError, IngestOptions, run_ingest
from orchestration.lib.lake import commit, reader, tables
from orchestration.lib.lake.catalog import Lake, connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.finding_fixtures import a_finding, to_bytes
from tests.helpers.s3_servers import s3_client, s3_environment

FINDINGS_PER_OBJECT = 3


def write_objects(root: Path, folder: str, count: int) -> None:
    """``count`` objects of three findings each, and one broken object, under ``folder``."""
    target = root / folder / "2026" / "10" / "02"
    target.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        findings = [
            a_finding(id=f"{folder}-{n}-{i}", updatedAt=f"2026-10-0{1 + i}T00:00:00Z")
            for i in range(FINDINGS_PER_OBJECT)
        ]
        (target / f"{n:03d}.json").write_bytes(to_bytes(findings))
    (target / "broken.json").write_bytes(b"{not json")


def visible_state(lake: Lake) -> dict[str, int]:
    """What a reader sees: through reader.py, and through the DuckDB views dbt reads."""
    pinned = reader.pin(lake)
    connection = duckdb.connect()
    pinned.create_duckdb_views(connection, "lake")
    ((in_sql,),) = connection.sql(
        "select count(*) from lake.findings as f where exists (select 1 from lake.ingest_ledger "
        "as l where l.ingest_batch_id = f.ingest_batch_id and l.source_uri = f.source_uri)"
    ).fetchall()
    return {
        "findings": pinned.visible(tables.FINDINGS, ["finding_id"]).num_rows,
        "findings_in_sql": in_sql,
        "quarantine": pinned.visible(tables.QUARANTINE, ["reason"]).num_rows,
        "ledger": pinned.ledger(["source_uri"]).num_rows,
    }


def manifests(lake: Lake, name: str) -> int:
    table = lake.table(name)
    return len(table.current_snapshot().manifests(table.io))


def test_each_table_keeps_at_most_two_manifests_however_many_batches_commit(tmp_path):
    lake = connect_lake(str(tmp_path / "lake"))
    for run in range(12):
        write_objects(tmp_path / "raw", f"run{run}", 2)
        run_ingest(LocalStore(tmp_path / "raw"), lake)
    assert {name: manifests(lake, name) <= 2 for name in tables.TABLES} == dict.fromkeys(
        tables.TABLES, True
    )


def test_opening_an_existing_lake_writes_nothing_into_it(tmp_path):
    connect_lake(str(tmp_path / "lake"))
    before = sorted(path for path in (tmp_path / "lake").rglob("*") if path.is_file())

    for _ in range(3):
        connect_lake(str(tmp_path / "lake"))

    after = sorted(path for path in (tmp_path / "lake").rglob("*") if path.is_file())
    assert after == before


def test_a_table_made_with_older_properties_gets_the_current_ones_when_the_lake_is_opened(
    tmp_path,
):
    lake = connect_lake(str(tmp_path / "lake"))
    ledger = lake.table(tables.LEDGER)
    with ledger.transaction() as transaction:
        transaction.remove_properties("commit.manifest.min-count-to-merge")

    reopened = connect_lake(str(tmp_path / "lake")).table(tables.LEDGER)

    assert reopened.properties["commit.manifest.min-count-to-merge"] == "2"


def test_a_lake_opens_for_reading_when_its_properties_cannot_be_updated(
    tmp_path, monkeypatch, caplog
):
    lake = connect_lake(str(tmp_path / "lake"))
    with lake.table(tables.LEDGER).transaction() as transaction:
        transaction.remove_properties("commit.manifest.min-count-to-merge")

    def denied(table):
        raise PermissionError("glue:UpdateTable denied")

    monkeypatch.setattr("pyiceberg.table.Table.transaction", denied)
    reopened = connect_lake(str(tmp_path / "lake"))

    assert reader.pin(reopened).ledger(["source_uri"]).num_rows == 0
    assert "keeps its properties" in caplog.text


def test_a_reader_at_every_step_of_a_commit_sees_all_of_a_batch_or_none_of_it(
    tmp_path, monkeypatch
):
    lake = connect_lake(str(tmp_path / "lake"))
    write_objects(tmp_path / "raw", "first", 2)
    run_ingest(LocalStore(tmp_path / "raw"), lake)
    before = visible_state(lake)
    assert before == {"findings": 6, "findings_in_sql": 6, "quarantine": 1, "ledger": 3}

    seen: list[tuple[str, dict[str, int]]] = []
    append_rows, commit_ledger = commit.append_rows, commit.commit_ledger

    def observed_append(table, rows, properties):
        append_rows(table, rows, properties)
        seen.append((f"after the {table.name()[-1]} append", visible_state(lake)))

    def observed_ledger_commit(*args, **kwargs):
        seen.append(("before the ledger commit", visible_state(lake)))
        result = commit_ledger(*args, **kwargs)
        seen.append(("after the ledger commit", visible_state(lake)))
        return result

    monkeypatch.setattr(commit, "append_rows", observed_append)
    monkeypatch.setattr(commit, "commit_ledger", observed_ledger_commit)
    write_objects(tmp_path / "raw", "second", 4)
    run_ingest(LocalStore(tmp_path / "raw"), lake)

    after = {"findings": 18, "findings_in_sql": 18, "quarantine": 2, "ledger": 8}
    assert seen == [
        ("after the findings append", before),
        ("after the quarantine append", before),
        ("before the ledger commit", before),
        ("after the ledger commit", after),
    ]


def test_a_crash_after_the_findings_append_rereads_only_the_uncommitted_objects(
    tmp_path, monkeypatch
):
    lake = connect_lake(str(tmp_path / "lake"))
    write_objects(tmp_path / "raw", "a", 4)
    append_rows = commit.append_rows
    appends = []

    def crash_in_the_second_batch(table, rows, properties):
        append_rows(table, rows, properties)
        appends.append(table.name()[-1])
        if appends.count(tables.FINDINGS) == 2:
            raise OSError("simulated crash after the findings append")

    monkeypatch.setattr(commit, "append_rows", crash_in_the_second_batch)
    with pytest.raises(IngestError, match="simulated crash"):
        # two objects (six findings) per batch: the first batch commits, the second crashes
        run_ingest(LocalStore(tmp_path / "raw"), lake, IngestOptions(batch_max_findings=6))
    assert visible_state(lake) == {
        "findings": 6,
        "findings_in_sql": 6,
        "quarantine": 0,
        "ledger": 2,
    }

    monkeypatch.undo()
    stats = run_ingest(LocalStore(tmp_path / "raw"), lake)
    assert (stats.objects_already_ingested, stats.objects_read) == (2, 3)
    assert stats.balanced
    ledger = reader.pin(lake).ledger(["source_uri"]).column(0).to_pylist()
    assert sorted(Counter(ledger).values()) == [1] * 5
    finding_ids = reader.pin(lake).visible(tables.FINDINGS, ["finding_id"]).column(0).to_pylist()
    assert len(finding_ids) == len(set(finding_ids)) == 12


CHILD = """
import dataclasses, json, sys
from pathlib import Path
from orchestration.lib.ingest.runner import IngestOptions, run_ingest
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore

source, warehouse, catalog = sys.argv[1:4]
lake = connect_lake(warehouse, sql_catalog=Path(catalog))
stats = run_ingest(LocalStore(source), lake, IngestOptions(concurrency=2, batch_max_findings=9))
print(json.dumps(dataclasses.asdict(stats), default=sorted))
"""


def run_concurrently(sources: list[Path], warehouse: str, catalog: Path, env: dict) -> list[dict]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(source), warehouse, str(catalog)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for source in sources
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        assert process.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    return results


def overlapping_sources(raw: Path, processes: int) -> list[Path]:
    """Half the processes list everything, the others one of two halves of it."""
    write_objects(raw, "a", 12)
    write_objects(raw, "b", 12)
    return [raw, raw / "a", raw, raw / "b"][:processes]


def assert_each_object_once(lake: Lake, results: list[dict]) -> None:
    objects = 2 * 13
    assert all(
        stats["objects_read"]
        == stats["objects_ingested"] + stats["objects_skipped"] + stats["objects_quarantined"]
        for stats in results
    )
    assert sum(stats["objects_read"] for stats in results) == objects
    pinned = reader.pin(lake)
    ledger = Counter(pinned.ledger(["source_uri"]).column(0).to_pylist())
    assert len(ledger) == objects and set(ledger.values()) == {1}
    finding_ids = pinned.visible(tables.FINDINGS, ["finding_id"]).column(0).to_pylist()
    assert len(finding_ids) == len(set(finding_ids)) == 2 * 12 * FINDINGS_PER_OBJECT
    assert pinned.visible(tables.QUARANTINE, ["source_uri"]).num_rows == 2


@pytest.mark.integration
@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_ingest_processes_on_a_local_lake_read_each_object_once(tmp_path, processes):
    sources = overlapping_sources(tmp_path / "raw", processes)
    warehouse, catalog = tmp_path / "lake", tmp_path / "lake" / "lake_catalog.db"
    connect_lake(str(warehouse))  # the tables exist before the race, as after a first run
    results = run_concurrently(sources, str(warehouse), catalog, env=dict(os.environ))
    assert_each_object_once(connect_lake(str(warehouse)), results)


@pytest.mark.seaweedfs
@pytest.mark.parametrize("processes", [2, 4])
def test_concurrent_ingest_processes_on_an_s3_lake_read_each_object_once(
    seaweedfs, tmp_path, monkeypatch, processes
):
    bucket = f"concurrent-{processes}"
    s3_client(seaweedfs.endpoint).create_bucket(Bucket=bucket)
    for variable, value in s3_environment(seaweedfs.endpoint).items():
        monkeypatch.setenv(variable, value)
    sources = overlapping_sources(tmp_path / "raw", processes)
    warehouse, catalog = f"s3://{bucket}/lake", tmp_path / "catalog.db"
    connect_lake(warehouse, sql_catalog=catalog)
    results = run_concurrently(sources, warehouse, catalog, env=dict(os.environ))
    assert_each_object_once(connect_lake(warehouse, sql_catalog=catalog), results)
