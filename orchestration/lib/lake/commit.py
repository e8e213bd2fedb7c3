"""The commit of one ingest batch into the lake's Iceberg tables.

1. append the findings rows (one snapshot, summary ``guardduty.batch-id=<batch>``);
2. append the quarantine rows (one snapshot, same property);
3. append the ledger rows: THE commit point.

Readers see a findings or quarantine row only when its (ingest_batch_id, source_uri) is in the
ledger, so a crash before step 3 leaves rows nobody sees (maintenance sweeps them) and the objects
are read again by the next run. Step 3 is exactly-once under concurrent runs: the ledger table
does not retry commits by itself; each attempt first drops the objects another run committed
since this run listed the ledger, then commits only if the ledger is still at the snapshot it
checked (Iceberg's AssertRefSnapshotId), and tries again otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import Lake
from orchestration.lib.lake.reader import ObjectKey, ledger_keys, object_keys

# A ledger row committed by another run after this run listed the ledger was written on or after
# this date (a day earlier than the listing, for clocks that disagree).
_CLOCK_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class BatchRows:
    batch_id: str
    findings: pa.Table
    quarantine: pa.Table
    ledger: pa.Table


def commit_batch(lake: Lake, rows: BatchRows, listed_on: date) -> set[ObjectKey]:
    """Commit a batch; returns the objects left out because another run committed them first.

    ``listed_on``: when this run read the ledger to decide what to ingest.
    """
    properties = {tables.BATCH_ID_PROPERTY: rows.batch_id}
    if rows.findings.num_rows:
        append_rows(lake.table(tables.FINDINGS), rows.findings, properties)
    if rows.quarantine.num_rows:
        append_rows(lake.table(tables.QUARANTINE), rows.quarantine, properties)
    return commit_ledger(lake, rows.ledger, properties, listed_on - _CLOCK_MARGIN)


def append_rows(table: Table, rows: pa.Table, properties: dict[str, str]) -> None:
    """One append snapshot; pyiceberg retries it on top of concurrent appends."""
    table.append(rows, snapshot_properties=properties)


def commit_ledger(
    lake: Lake, ledger_rows: pa.Table, properties: dict[str, str], ingested_since: date
) -> set[ObjectKey]:
    keys = set(object_keys(ledger_rows))
    dates = [day for day in ledger_rows.column("object_date").to_pylist() if day is not None]
    while True:
        ledger = lake.table(tables.LEDGER)
        committed_elsewhere = keys & ledger_keys(
            ledger, since=min(dates, default=None), ingested_since=ingested_since
        )
        remaining = _without(ledger_rows, committed_elsewhere)
        if not remaining.num_rows:
            return committed_elsewhere
        transaction = ledger.transaction()
        transaction.append(remaining, snapshot_properties=properties)
        try:
            transaction.commit_transaction()
        except CommitFailedException:
            continue
        return committed_elsewhere


def _without(ledger_rows: pa.Table, keys: set[ObjectKey]) -> pa.Table:
    if not keys:
        return ledger_rows
    return ledger_rows.filter(pa.array([key not in keys for key in object_keys(ledger_rows)]))
