"""Freshness and reconciliation of the findings lake, computed from its committed rows.

Three questions, each answered by a function returning an ``Outcome`` (passed + metadata) that the
asset checks in ``orchestration/defs/audit/checks.py`` turn into check results:

- ``silent_sources``: did an (account, region) that was reporting stop? Measured against the
  newest data in the lake, not the clock, so a stalled pipeline does not make every source look
  silent (that is ``lake_staleness``'s job).
- ``lake_staleness``: did the last ingest, or the newest finding version, happen too long ago?

A version whose ``updatedAt`` lies after its own ingest (beyond clock skew) holds an invented time.
The ingest quarantines such versions; a lake written before that rule may still hold some, and
neither measure counts them, so one finding dated 2099 can neither make a stale lake look fresh nor
make every real source look silent.
- ``reconcile_with_guardduty``: do the lake's current findings of the last days match GuardDuty's
  own counts per severity label (``GetFindingsStatistics``)?

The lake is read through ``lake.reader`` (one pinned snapshot per check, committed rows only),
never through the DuckDB warehouse, whose single write lock a dbt run may hold; only the needed
columns and partitions are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, LessThanOrEqual

from orchestration.lib.aws.guardduty import (
    SEVERITY_LABELS,
    ApiCaller,
    finding_counts_by_severity_label,
    list_detector_ids,
)
from orchestration.lib.ingest.parsing import MAX_CLOCK_SKEW
from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import Lake

if TYPE_CHECKING:
    # Imported where used: loading the Dagster definitions needs neither.
    import pyarrow as pa

# A source silent for longer than GuardDuty keeps findings is gone, not silent.
SOURCE_LOOKBACK = timedelta(days=90)


@dataclass(frozen=True)
class Outcome:
    """A check's verdict and what a reviewer needs to see to act on it."""

    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def partition_days(pinned: reader.PinnedLake) -> list[date]:
    """The ``updated_date`` partitions holding findings files, oldest first."""
    return sorted(pinned.tables[tables.FINDINGS].partition_dates())


def read_findings(
    pinned: reader.PinnedLake, columns: list[str], first: date | None, last: date | None
) -> pa.Table:
    """The given columns of the committed findings rows in partitions ``first``..``last``."""
    bounds: list[BooleanExpression] = []
    if first is not None:
        bounds.append(GreaterThanOrEqual(tables.FINDINGS_PARTITION, first.isoformat()))
    if last is not None:
        bounds.append(LessThanOrEqual(tables.FINDINGS_PARTITION, last.isoformat()))
    row_filter = And(*bounds) if len(bounds) == 2 else bounds[0] if bounds else reader.ALL_ROWS
    return pinned.visible(tables.FINDINGS, columns, row_filter)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _newest_updated_at(table: pa.Table) -> datetime | None:
    import pyarrow.compute as pc

    if not table.num_rows:
        return None
    return _utc(pc.max(table["updated_at"]).as_py())


def _plausible(table: pa.Table, now: datetime | None = None) -> pa.Table:
    """The versions updated no later than their own ingest (plus clock skew), and than ``now``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    unit = table.schema.field("ingested_at").type.unit
    latest = pc.add(table["ingested_at"], pa.scalar(MAX_CLOCK_SKEW, pa.duration(unit)))
    keep = pc.less_equal(table["updated_at"], latest)
    if now is not None:
        keep = pc.and_(keep, pc.less_equal(table["updated_at"], pa.scalar(_naive(now))))
    return table.filter(keep)


def newest_ingested_at(pinned: reader.PinnedLake) -> datetime | None:
    """When the newest committed batch was ingested; None before the first."""
    latest = pinned.tables[tables.LEDGER].latest("ingested_at")
    return _utc(latest) if latest else None


def silent_sources(lake: Lake, silence: timedelta) -> Outcome:
    """Fail when an (account, region) has no finding version within ``silence`` of the newest.

    Only sources that reported in the last 90 days of lake data (GuardDuty's retention) count.
    """
    pinned = reader.pin(lake)
    ingested_at = newest_ingested_at(pinned)
    # No plausible version can sit in a partition after the newest ingest (plus skew).
    last_day = (ingested_at + MAX_CLOCK_SKEW).date() if ingested_at else None
    days = [day for day in partition_days(pinned) if last_day and day <= last_day]
    columns = ["account_id", "region", "updated_at", "ingested_at"]
    table = _plausible(
        read_findings(pinned, columns, days[-1] - SOURCE_LOOKBACK, last_day)
        if days
        else tables.arrow_schema(tables.FINDINGS).empty_table().select(columns)
    )
    newest = _newest_updated_at(table)
    if newest is None:
        return Outcome(True, {"status": "the lake holds no findings yet", "sources_checked": 0})
    last_seen = table.group_by(["account_id", "region"]).aggregate([("updated_at", "max")])
    threshold = newest - silence
    silent = sorted(
        (
            {
                "account_id": row["account_id"],
                "region": row["region"],
                "last_seen_at": _utc(row["updated_at_max"]).isoformat(),
                "silent_hours": round(
                    (newest - _utc(row["updated_at_max"])).total_seconds() / 3600, 1
                ),
            }
            for row in last_seen.to_pylist()
            if _utc(row["updated_at_max"]) < threshold
        ),
        key=lambda source: (source["last_seen_at"], source["account_id"], source["region"]),
    )
    return Outcome(
        passed=not silent,
        metadata={
            "silent_sources": silent,
            "silent_source_count": len(silent),
            "sources_checked": last_seen.num_rows,
            "newest_finding_updated_at": newest.isoformat(),
            "silence_hours": silence.total_seconds() / 3600,
        },
    )


def lake_staleness(lake: Lake, now: datetime, max_age: timedelta) -> Outcome:
    """Fail when, at ``now``, the newest committed batch was ingested more than ``max_age`` ago
    (the pipeline stopped), or the newest finding version updated by then is older than that
    (the findings stopped arriving)."""
    now = _utc(now)
    pinned = reader.pin(lake)
    ingested_at = newest_ingested_at(pinned)
    newest_day, newest = _newest_version_until(pinned, now)
    if ingested_at is None or newest_day is None or newest is None:
        return Outcome(
            False, {"status": "the lake holds no findings", "max_age_hours": _hours(max_age)}
        )
    ingest_age, age = now - ingested_at, now - newest
    return Outcome(
        passed=ingest_age <= max_age and age <= max_age,
        metadata={
            "newest_ingested_at": ingested_at.isoformat(),
            "ingest_age_hours": round(ingest_age.total_seconds() / 3600, 1),
            "newest_partition": f"{tables.FINDINGS_PARTITION}={newest_day.isoformat()}",
            "newest_finding_updated_at": newest.isoformat(),
            "age_hours": round(age.total_seconds() / 3600, 1),
            "max_age_hours": _hours(max_age),
        },
    )


def _newest_version_until(
    pinned: reader.PinnedLake, now: datetime
) -> tuple[date | None, datetime | None]:
    """The newest partition holding a plausible version updated by ``now``, and that version's
    ``updated_at``; partitions are read newest first, one at a time."""
    for day in reversed(partition_days(pinned)):
        if day > now.date():
            continue
        table = _plausible(read_findings(pinned, ["updated_at", "ingested_at"], day, day), now)
        if table.num_rows:
            return day, _newest_updated_at(table)
    return None, None


def _hours(duration: timedelta) -> float:
    return duration.total_seconds() / 3600


def lake_counts_by_label(
    pinned: reader.PinnedLake, regions: Iterable[str], start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Current findings per region and severity label whose current ``updatedAt`` is in
    ``[start, end)``.

    A finding updated since ``start`` has every later version in partitions from ``start``'s date
    on, so reading those partitions is enough to find its current version. Samples and archived
    findings are counted, as GuardDuty counts them.
    """
    columns = ["finding_id", "region", "severity", "updated_at", "event_count"]
    table = read_findings(pinned, columns, _utc(start).date(), None)
    import duckdb

    counts = {region: dict.fromkeys(SEVERITY_LABELS, 0) for region in regions}
    connection = duckdb.connect()
    try:
        connection.register("versions", table)
        rows = connection.execute(
            """
            with current_versions as (
                select region, severity, updated_at
                from versions
                qualify row_number() over (
                    partition by finding_id
                    order by updated_at desc, event_count desc nulls last
                ) = 1
            )
            select
                region,
                case
                    when severity >= 9 then 'Critical'
                    when severity >= 7 then 'High'
                    when severity >= 4 then 'Medium'
                    else 'Low'
                end as severity_label,
                count(*) as finding_count
            from current_versions
            where updated_at >= ? and updated_at < ?
            group by all
            """,
            [_naive(start), _naive(end)],
        ).fetchall()
    finally:
        connection.close()
    for region, label, finding_count in rows:
        if region in counts:
            counts[region][label] = finding_count
    return counts


def _naive(moment: datetime) -> datetime:
    return _utc(moment).replace(tzinfo=None)


def reconcile_with_guardduty(
    lake: Lake,
    client_for_region: Callable[[str], Any],
    regions: Iterable[str],
    days: int,
    now: datetime,
    caller: ApiCaller | None = None,
) -> Outcome:
    """Compare the lake's current findings per label with ``GetFindingsStatistics``, per Region.

    The window is the ``days`` days up to the newest finding version in the lake (not up to now),
    so findings GuardDuty updated after the last ingest are not counted as missing. A finding
    GuardDuty updated again after that point can still show as a difference of one.
    """
    caller = caller or ApiCaller()
    regions = list(regions)
    pinned = reader.pin(lake)
    _, newest = _newest_version_until(pinned, _utc(now))
    # End just after the newest version, which must count; never after the current time.
    end = min(_utc(now), newest + timedelta(milliseconds=1)) if newest else _utc(now)
    start = end - timedelta(days=days)
    lake_counts = lake_counts_by_label(pinned, regions, start, end)
    guardduty_counts: dict[str, dict[str, int]] = {}
    detectors = []
    for region in regions:
        client = client_for_region(region)
        totals = dict.fromkeys(SEVERITY_LABELS, 0)
        for detector_id in list_detector_ids(client, caller, region):
            detectors.append(f"{region}/{detector_id}")
            counts = finding_counts_by_severity_label(
                client, caller, detector_id, start, end, f"{region}/{detector_id}"
            )
            for label, finding_count in counts.items():
                totals[label] += finding_count
        guardduty_counts[region] = totals
    differences = {
        region: {
            label: lake_counts[region][label] - guardduty_counts[region][label]
            for label in SEVERITY_LABELS
            if lake_counts[region][label] != guardduty_counts[region][label]
        }
        for region in regions
    }
    differences = {region: diff for region, diff in differences.items() if diff}
    return Outcome(
        passed=not differences,
        metadata={
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
            "lake_counts": lake_counts,
            "guardduty_counts": guardduty_counts,
            "differences_lake_minus_guardduty": differences,
            "detectors": detectors,
        },
    )
