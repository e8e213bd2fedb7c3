"""Evidence behind the review report: the lake snapshots its numbers come from, the lake ledger's
object counts and dbt's test results."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pyiceberg.expressions import And, GreaterThanOrEqual, LessThanOrEqual

from orchestration.lib.audit.report_data import Month
from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import Lake
from orchestration.lib.publish.marts import DuckDBMarts, MartReader, MissingMartsError


@dataclass(frozen=True)
class LakeSnapshots:
    """The lake snapshot of each table (name -> id) the report's numbers come from."""

    ids: Mapping[str, int | None] = field(default_factory=dict)
    # Where the ids come from: the warehouse's record of its build, or the lake at report time.
    recorded_by: str = ""

    @property
    def argument(self) -> str:
        """The ids as ``review-report --lake-snapshots`` takes them."""
        return format_snapshot_ids(self.ids)


def format_snapshot_ids(ids: Mapping[str, int | None]) -> str:
    return ",".join(f"{name}={'' if sid is None else sid}" for name, sid in ids.items())


def parse_snapshot_ids(text: str) -> dict[str, int | None]:
    """``ingest_ledger=1,findings=2,quarantine=`` -> ids (empty: the table had no snapshot)."""
    ids: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, separator, value = item.partition("=")
        if not separator or name.strip() not in reader.PIN_ORDER:
            raise ValueError(
                f"lake snapshot {item!r}: expected <table>=<snapshot id> with a table of "
                f"{', '.join(reader.PIN_ORDER)}"
            )
        try:
            ids[name.strip()] = int(value) if value.strip() else None
        except ValueError as error:
            raise ValueError(f"lake snapshot {item!r}: the id is not an integer") from error
    missing = set(reader.PIN_ORDER) - ids.keys()
    if missing:
        raise ValueError(f"lake snapshots missing for {', '.join(sorted(missing))}")
    return ids


def read_lake_snapshots(marts: MartReader, lake: Lake) -> LakeSnapshots:
    """The snapshots the DuckDB warehouse's last build read; otherwise (Athena, or a warehouse
    built before the record existed) the lake's current snapshots as the report runs."""
    if isinstance(marts, DuckDBMarts):
        try:
            # Written by the dbt DuckDB plugin each time a build pins the lake.
            rows = marts.rows(
                "select table_name, snapshot_id, pinned_at from {schema}.lake_snapshots"
            )
        except MissingMartsError:
            rows = []
        if rows:
            pinned_at = max(row[2] for row in rows)
            return LakeSnapshots(
                ids={name: snapshot_id for name, snapshot_id, _ in rows},
                recorded_by=f"warehouse build (lake pinned at {pinned_at:%Y-%m-%d %H:%M:%S} UTC)",
            )
    return LakeSnapshots(
        ids=reader.pin(lake).snapshot_ids, recorded_by="lake's current snapshots at report time"
    )


@dataclass(frozen=True)
class LedgerCounts:
    """Objects the ingest read in the period, from the lake's ``ingest_ledger`` table."""

    batches: int = 0
    objects_read: int = 0
    objects_ingested: int = 0
    objects_skipped: int = 0
    objects_quarantined: int = 0
    findings_ingested: int = 0
    records_skipped: int = 0
    records_quarantined: int = 0
    first_ingested_at: datetime | None = None
    last_ingested_at: datetime | None = None
    lake_uri: str = ""
    # The ledger snapshot read: the same counts can be read again from it (time travel).
    ledger_snapshot_id: int | None = None

    @property
    def balanced(self) -> bool:
        return self.objects_read == (
            self.objects_ingested + self.objects_skipped + self.objects_quarantined
        )


def read_ledger_counts(
    lake: Lake, month: Month, ledger_snapshot_id: int | None = None
) -> LedgerCounts:
    """Sum the ledger rows whose ``ingested_at`` falls in the month, at the current ledger
    snapshot or at ``ledger_snapshot_id``."""
    pinned = reader.pin(
        lake, None if ledger_snapshot_id is None else {tables.LEDGER: ledger_snapshot_id}
    )
    in_month = And(
        GreaterThanOrEqual("ingested_date", month.start.isoformat()),
        LessThanOrEqual("ingested_date", (month.end - timedelta(days=1)).isoformat()),
    )
    rows = pinned.ledger(row_filter=in_month).to_pylist()
    totals = {
        "objects_read": len(rows),
        "findings_ingested": sum(row["findings"] for row in rows),
        "records_skipped": sum(row["records_skipped"] for row in rows),
        "records_quarantined": sum(row["records_quarantined"] for row in rows),
    }
    for status in ("ingested", "skipped", "quarantined"):
        totals[f"objects_{status}"] = sum(row["status"] == status for row in rows)
    times = [row["ingested_at"] for row in rows]
    return LedgerCounts(
        batches=len({row["ingest_batch_id"] for row in rows}),
        first_ingested_at=min(times, default=None),
        last_ingested_at=max(times, default=None),
        lake_uri=lake.warehouse,
        ledger_snapshot_id=pinned.snapshot_ids[tables.LEDGER],
        **totals,
    )


@dataclass(frozen=True)
class DbtTestResult:
    unique_id: str
    status: str
    failures: int | None
    message: str


@dataclass(frozen=True)
class DbtTestEvidence:
    """Data and unit test results from dbt's ``run_results.json`` file(s)."""

    files: tuple[str, ...] = ()
    invocation_ids: tuple[str, ...] = ()
    generated_at: str = ""
    from_this_run: bool = False
    results: tuple[DbtTestResult, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results:
            counts[result.status] = counts.get(result.status, 0) + 1
        return dict(sorted(counts.items()))

    @property
    def problems(self) -> tuple[DbtTestResult, ...]:
        return tuple(r for r in self.results if r.status not in ("pass", "success"))


def _test_results(path: Path) -> tuple[dict, list[DbtTestResult]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, []
    results = [
        DbtTestResult(
            unique_id=str(result.get("unique_id", "")),
            status=str(result.get("status", "")),
            failures=result.get("failures"),
            message=str(result.get("message") or ""),
        )
        for result in document.get("results", [])
        if str(result.get("unique_id", "")).startswith(("test.", "unit_test."))
    ]
    return document.get("metadata", {}), results


def find_dbt_test_evidence(target_dir: str | os.PathLike[str], run_id: str) -> DbtTestEvidence:
    """The dbt test results that vouch for the marts the report reads.

    dagster-dbt gives every invocation its own target folder ``<op>-<run id[:7]>-<uuid>``, so when
    the report runs in the same Dagster run as dbt (the pipeline job), the results of that run's
    invocations are taken together. Otherwise (the monthly job) the newest ``run_results.json``
    holding test results is taken, and the report says it is not from this run.
    """
    target = Path(target_dir)
    candidates = [*sorted(target.glob("*/run_results.json")), target / "run_results.json"]
    tag = f"-{run_id[:7]}-" if run_id else None
    this_run = [p for p in candidates if tag and tag in p.parent.name and p.is_file()]
    chosen: list[tuple[Path, dict, list[DbtTestResult]]] = []
    for path in this_run:
        metadata, results = _test_results(path)
        if results:
            chosen.append((path, metadata, results))
    from_this_run = bool(chosen)
    if not chosen:
        newest: tuple[str, Path, dict, list[DbtTestResult]] | None = None
        for path in candidates:
            if not path.is_file():
                continue
            metadata, results = _test_results(path)
            if results:
                key = str(metadata.get("generated_at", ""))
                if newest is None or key > newest[0]:
                    newest = (key, path, metadata, results)
        if newest:
            chosen = [newest[1:]]
    if not chosen:
        return DbtTestEvidence()
    return DbtTestEvidence(
        files=tuple(str(path) for path, _, _ in chosen),
        invocation_ids=tuple(str(m.get("invocation_id", "")) for _, m, _ in chosen),
        generated_at=max(str(m.get("generated_at", "")) for _, m, _ in chosen),
        from_this_run=from_this_run,
        results=tuple(result for _, _, results in chosen for result in results),
    )
