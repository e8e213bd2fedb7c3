"""Conversion of a lake of the old Parquet layout into the Iceberg tables.

The old layout (before the Iceberg lake):

    findings/updated_date=YYYY-MM-DD/<batch_id>.parquet         published findings rows
    quarantine/quarantined_date=YYYY-MM-DD/<batch_id>.parquet   published quarantine rows
    _ledger/<batch_id>.parquet                                  one row per object a batch read
    _staging/<batch_id>/findings|quarantine/...                 files of a batch not yet published

A batch existed once its ledger file did; its files could still be in ``_staging`` when a run
died between the ledger write and the publish. So each batch with a ledger file is converted, from
wherever its files are, and staged files of batches without a ledger file are left out, as the
old recovery would have deleted them.

Each old batch becomes one commit through the ingest's own protocol (findings, quarantine, then
the ledger rows, keeping the batch id), so the conversion is idempotent: a batch already in the
Iceberg ledger is skipped, and a run that stops half-way leaves only rows no reader sees. Objects
the Iceberg lake had already ingested by itself are left out of the converted batches.
"""

from __future__ import annotations

import io
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration.lib.ingest.listing import object_date
from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import Lake
from orchestration.lib.lake.commit import BatchRows, commit_batch
from orchestration.lib.lake.reader import ledger_keys
from orchestration.lib.lake.store import ObjectStore

logger = logging.getLogger(__name__)

OLD_FINDINGS_DIR = "findings"
OLD_QUARANTINE_DIR = "quarantine"
OLD_LEDGER_DIR = "_ledger"
OLD_STAGING_DIR = "_staging"


class MigrationError(RuntimeError):
    """The old lake holds a file the conversion cannot read as the old layout."""


@dataclass
class MigrationStats:
    batches_found: int = 0
    batches_migrated: int = 0
    batches_already_migrated: int = 0
    uncommitted_batches_left_out: int = 0
    findings_rows: int = 0
    quarantine_rows: int = 0
    ledger_rows: int = 0
    objects_already_ingested: int = 0


def migrate_lake(old: ObjectStore, lake: Lake, log: logging.Logger | None = None) -> MigrationStats:
    """Convert every committed batch of the old lake ``old`` not yet in ``lake``."""
    log = log or logger
    stats = MigrationStats()
    batches = sorted(
        stored.key.rsplit("/", 1)[-1].removesuffix(".parquet")
        for stored in old.list(OLD_LEDGER_DIR + "/")
        if stored.key.endswith(".parquet")
    )
    stats.batches_found = len(batches)
    files = _data_files_by_batch(old, set(batches), stats)
    ledger = lake.table(tables.LEDGER)
    migrated = set(ledger.scan(selected_fields=("ingest_batch_id",)).to_arrow()[0].to_pylist())
    ingested = ledger_keys(ledger)
    for batch_id in batches:
        if batch_id in migrated:
            stats.batches_already_migrated += 1
            continue
        rows = _batch_rows(old, batch_id, files[batch_id], ingested, stats)
        commit_batch(lake, rows, listed_on=datetime.now(UTC).date())
        stats.batches_migrated += 1
        stats.findings_rows += rows.findings.num_rows
        stats.quarantine_rows += rows.quarantine.num_rows
        stats.ledger_rows += rows.ledger.num_rows
    log.info("Lake migration from %s: %s", old.root_uri, stats)
    return stats


def _data_files_by_batch(
    old: ObjectStore, committed: set[str], stats: MigrationStats
) -> dict[str, dict[str, list[str]]]:
    """batch id -> table directory -> keys of its Parquet files, published or staged."""
    files: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    uncommitted = set()
    for directory in (OLD_FINDINGS_DIR, OLD_QUARANTINE_DIR):
        for stored in old.list(directory + "/"):
            if stored.key.endswith(".parquet"):
                batch_id = stored.key.rsplit("/", 1)[-1].removesuffix(".parquet")
                files[batch_id][directory].append(stored.key)
    for stored in old.list(OLD_STAGING_DIR + "/"):
        batch_id, _, relative = stored.key[len(OLD_STAGING_DIR) + 1 :].partition("/")
        if batch_id not in committed:
            uncommitted.add(batch_id)
        elif relative.endswith(".parquet"):
            files[batch_id][relative.split("/", 1)[0]].append(stored.key)
    stats.uncommitted_batches_left_out = len(uncommitted)
    return files


def _batch_rows(
    old: ObjectStore,
    batch_id: str,
    files: dict[str, list[str]],
    ingested: set[tuple[str, int, str]],
    stats: MigrationStats,
) -> BatchRows:
    ledger = _read(old, f"{OLD_LEDGER_DIR}/{batch_id}.parquet")
    keys = zip(
        ledger["source_uri"].to_pylist(),
        ledger["object_size"].to_pylist(),
        ledger["object_version"].to_pylist(),
        strict=True,
    )
    new_objects = pa.array([key not in ingested for key in keys])
    stats.objects_already_ingested += ledger.num_rows - pc.sum(new_objects).as_py()
    ledger = ledger.filter(new_objects)
    sources = ledger["source_uri"]
    findings = _concat(old, files.get(OLD_FINDINGS_DIR, []), tables.FINDINGS)
    quarantine = _concat(old, files.get(OLD_QUARANTINE_DIR, []), tables.QUARANTINE)
    return BatchRows(
        batch_id,
        _converted(
            findings.filter(pc.is_in(findings["source_uri"], sources)),
            tables.FINDINGS,
            updated_date=lambda rows: pc.cast(rows["updated_at"], pa.date32()),
        ),
        _converted(
            quarantine.filter(pc.is_in(quarantine["source_uri"], sources)),
            tables.QUARANTINE,
            quarantined_date=lambda rows: pc.cast(rows["quarantined_at"], pa.date32()),
        ),
        _converted(
            ledger,
            tables.LEDGER,
            ingested_date=lambda rows: pc.cast(rows["ingested_at"], pa.date32()),
            object_date=lambda rows: pa.array(
                [object_date(uri) for uri in rows["source_uri"].to_pylist()], pa.date32()
            ),
        ),
    )


def _concat(old: ObjectStore, keys: list[str], table_name: str) -> pa.Table:
    parts = [_read(old, key) for key in sorted(keys)]
    if not parts:
        return tables.arrow_schema(table_name).empty_table()
    return pa.concat_tables(parts, promote_options="permissive")


def _read(old: ObjectStore, key: str) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(old.read(key)))
    except (pa.ArrowInvalid, OSError) as error:
        raise MigrationError(
            f"{old.root_uri}/{key} is not a readable Parquet file: {error}"
        ) from error


def _converted(rows: pa.Table, table_name: str, **derived) -> pa.Table:
    """``rows`` in the Iceberg table's schema: derived columns added, new columns null."""
    schema = tables.arrow_schema(table_name)
    columns = []
    for target in schema:
        if target.name in derived:
            column = derived[target.name](rows) if rows.num_rows else pa.array([], target.type)
        elif target.name in rows.column_names:
            column = rows[target.name]
        elif target.nullable:
            column = pa.nulls(rows.num_rows, target.type)
        else:
            raise MigrationError(f"old {table_name} rows lack the required column {target.name}")
        columns.append(pc.cast(column, target.type))
    return pa.Table.from_arrays(columns, schema=schema)
