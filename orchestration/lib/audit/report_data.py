"""The review report's figures: one calendar month read from the marts.

Only date literals built here from ``Month`` objects are put into the SQL, never user text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestration.lib.publish.html import SEVERITY_LABELS
from orchestration.lib.publish.marts import MartReader

if TYPE_CHECKING:
    from orchestration.lib.audit.report_evidence import (
        DbtTestEvidence,
        LakeSnapshots,
        LedgerCounts,
    )

DEFAULT_COVERAGE_GAP_DAYS = 7

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class ReportError(ValueError):
    """The report cannot be produced as asked (a bad month)."""


# --------------------------------------------------------------------------------------------
# Months


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC: [start, end)."""

    start: date

    @property
    def end(self) -> date:
        return (self.start.replace(day=28) + timedelta(days=4)).replace(day=1)

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m}"

    def previous(self) -> Month:
        return Month((self.start - timedelta(days=1)).replace(day=1))

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` -> Month; anything else raises ReportError."""
        match = _MONTH.match(text.strip())
        if not match:
            raise ReportError(f"month={text!r}: expected YYYY-MM, e.g. 2024-03.")
        return cls(date(int(match.group(1)), int(match.group(2)), 1))

    @classmethod
    def of(cls, moment: date | datetime) -> Month:
        return cls(date(moment.year, moment.month, 1))


def _ts_literal(moment: date) -> str:
    # Built from a date object, never from user text: the same literal works on DuckDB and Athena.
    return f"timestamp '{moment:%Y-%m-%d} 00:00:00'"


def _date_literal(moment: date) -> str:
    return f"date '{moment:%Y-%m-%d}'"


def latest_data_month(reader: MartReader) -> Month | None:
    """The month of the newest finding's creation, or None when there are no findings."""
    [(latest,)] = reader.rows("select max(created_at) from {schema}.fct_findings")
    return Month.of(latest) if latest else None


@dataclass(frozen=True)
class DailyCount:
    """Findings created on one UTC day, per severity label (in ``SEVERITY_LABELS`` order)."""

    finding_date: date
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


# --------------------------------------------------------------------------------------------
# The report's figures


@dataclass(frozen=True)
class Table:
    """Rows with their column names: one HTML table and one CSV file."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class ReportData:
    month: Month
    run_id: str
    source: str
    coverage_gap_days: int
    severities: Table
    daily: tuple[DailyCount, ...]
    finding_types: Table
    accounts: Table
    countries: Table
    new_critical_high: Table
    archive_compliance_month: Table
    archive_compliance_all_time: Table
    open_past_target: Table
    coverage: Table
    coverage_gaps: Table
    first_seen_countries: Table
    first_seen_asns: Table
    data_range: dict[str, datetime | None]
    ledger: LedgerCounts
    dbt_tests: DbtTestEvidence
    # The lake snapshots the marts and the ledger counts were read from (None: not recorded).
    lake_snapshots: LakeSnapshots | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def total_findings(self) -> int:
        return sum(int(row[1]) for row in self.severities.rows)

    @property
    def evaluated_at(self) -> datetime | None:
        return self.data_range.get("evaluated_at")


def load_report_data(
    reader: MartReader,
    month: Month,
    *,
    run_id: str,
    ledger: LedgerCounts,
    dbt_tests: DbtTestEvidence,
    lake_snapshots: LakeSnapshots | None = None,
    coverage_gap_days: int = DEFAULT_COVERAGE_GAP_DAYS,
) -> ReportData:
    """Query the marts for ``month``; only date literals built here are put into the SQL."""
    start_ts, end_ts = _ts_literal(month.start), _ts_literal(month.end)
    literals = {
        "start_ts": start_ts,
        "end_ts": end_ts,
        "in_month_days": (
            f"finding_date >= {_date_literal(month.start)}"
            f" and finding_date < {_date_literal(month.end)}"
        ),
        "created_in_month": f"created_at >= {start_ts} and created_at < {end_ts}",
    }
    gap_days = int(coverage_gap_days)

    def rows(sql: str) -> list[tuple]:
        # The reader fills in {schema}; the month's literals are filled in here.
        return reader.rows(sql.format(schema="{schema}", **literals))

    def table(columns: Sequence[str], sql: str) -> Table:
        return Table(tuple(columns), tuple(tuple(row) for row in rows(sql)))

    severity_rows = {
        label: (int(findings), int(occurrences))
        for label, findings, occurrences in rows(
            "select severity_label, sum(finding_count), sum(occurrence_count)"
            " from {schema}.agg_findings_by_severity"
            " where {in_month_days} group by severity_label"
        )
    }
    severities = Table(
        ("severity_label", "finding_count", "occurrence_count"),
        tuple((label, *severity_rows.get(label, (0, 0))) for label in SEVERITY_LABELS),
    )
    daily_rows = rows(
        "select finding_date, severity_label, sum(finding_count)"
        " from {schema}.agg_findings_by_severity"
        " where {in_month_days} group by finding_date, severity_label"
    )
    finding_types = table(
        ("finding_type", "finding_count", "occurrence_count", "max_severity"),
        "select finding_type, sum(finding_count), sum(occurrence_count), max(max_severity)"
        " from {schema}.agg_findings_by_finding_type"
        " where {in_month_days} group by finding_type order by 2 desc, 1",
    )
    accounts = table(
        ("account_id", "finding_count", "critical_high_count", "region_count"),
        "select account_id, sum(finding_count),"
        " sum(case when severity_label in ('Critical', 'High') then finding_count else 0 end),"
        " count(distinct region)"
        " from {schema}.agg_findings_by_severity"
        " where {in_month_days} group by account_id order by 2 desc, 1",
    )
    countries = table(
        ("country_code", "country_name", "finding_count", "occurrence_count"),
        "select country_code, max(country_name), sum(finding_count), sum(occurrence_count)"
        " from {schema}.agg_findings_by_country"
        " where {in_month_days}"
        " group by country_code, case when country_code is null then country_name end"
        " order by 3 desc, 2",
    )
    new_critical_high = table(
        (
            "finding_id",
            "severity_label",
            "severity",
            "finding_type",
            "account_id",
            "region",
            "created_at",
            "status",
            "first_archived_at",
            "hours_to_archive",
            "target_hours",
            "is_within_target",
            "title",
        ),
        "select finding_id, severity_label, severity, finding_type, account_id, region,"
        " created_at,"
        " case when is_currently_archived then 'archived'"
        " when was_unarchived then 'open (unarchived)' else 'open' end,"
        " first_archived_at, hours_to_archive, target_hours, is_within_target, title"
        " from {schema}.fct_finding_archive_times"
        " where {created_in_month} and severity_label in ('Critical', 'High')"
        " order by created_at, finding_id",
    )
    archive_month = table(
        (
            "severity_label",
            "target_hours",
            "finding_count",
            "archived_count",
            "archived_within_target_count",
            "open_past_target_count",
            "avg_hours_to_archive",
        ),
        "select severity_label, max(target_hours), count(*),"
        " count(case when first_archived_at is not null then 1 end),"
        " count(case when is_within_target then 1 end),"
        " count(case when is_open_past_target then 1 end),"
        " avg(hours_to_archive)"
        " from {schema}.fct_finding_archive_times"
        " where {created_in_month} group by severity_label",
    )
    by_label = {row[0]: row for row in archive_month.rows}
    archive_month = Table(
        archive_month.columns,
        tuple(by_label[label] for label in SEVERITY_LABELS if label in by_label),
    )
    archive_all = table(
        (
            "severity_label",
            "target_hours",
            "finding_count",
            "archived_within_target_count",
            "share_archived_within_target",
            "open_past_target_count",
            "median_hours_to_archive",
            "avg_hours_to_archive",
            "unarchived_count",
        ),
        "select severity_label, target_hours, finding_count, archived_within_target_count,"
        " share_archived_within_target, open_past_target_count, median_hours_to_archive,"
        " avg_hours_to_archive, unarchived_count"
        " from {schema}.agg_archive_compliance_by_severity order by severity_order",
    )
    open_past_target = table(
        (
            "finding_id",
            "severity_label",
            "finding_type",
            "account_id",
            "region",
            "created_at",
            "age_hours",
            "target_hours",
            "hours_past_target",
            "was_unarchived",
            "title",
        ),
        "select finding_id, severity_label, finding_type, account_id, region, created_at,"
        " age_hours, target_hours, hours_past_target, was_unarchived, title"
        " from {schema}.fct_findings_open_past_target"
        " order by severity desc, hours_past_target desc, finding_id",
    )
    coverage = table(
        (
            "account_id",
            "region",
            "finding_count",
            "sample_finding_count",
            "first_finding_updated_at",
            "latest_finding_updated_at",
            "latest_ingested_at",
            "days_since_latest_finding",
        ),
        "select account_id, region, finding_count, sample_finding_count,"
        " first_finding_updated_at, latest_finding_updated_at, latest_ingested_at,"
        " days_since_latest_finding"
        " from {schema}.agg_account_region_coverage order by account_id, region",
    )
    days_index = coverage.columns.index("days_since_latest_finding")
    coverage_gaps = Table(
        coverage.columns,
        tuple(
            row
            for row in coverage.rows
            if row[days_index] is None or float(row[days_index]) > gap_days
        ),
    )
    first_seen_countries = table(
        ("account_id", "country_code", "country_name", "first_seen_at", "first_finding_id"),
        "select account_id, country_code, country_name, first_seen_at, first_finding_id"
        " from {schema}.agg_first_seen_remote_countries"
        " where first_seen_at >= {start_ts} and first_seen_at < {end_ts}"
        " order by first_seen_at, account_id, country_name",
    )
    first_seen_asns = table(
        ("account_id", "asn", "asn_org", "first_seen_at", "first_finding_id"),
        "select account_id, asn, asn_org, first_seen_at, first_finding_id"
        " from {schema}.agg_first_seen_remote_asns"
        " where first_seen_at >= {start_ts} and first_seen_at < {end_ts}"
        " order by first_seen_at, account_id, asn",
    )
    [(month_first, month_last)] = rows(
        "select min(created_at), max(updated_at) from {schema}.fct_findings"
        " where {created_in_month}"
    )
    [(all_first, all_last)] = rows(
        "select min(created_at), max(updated_at) from {schema}.fct_findings"
    )
    [(evaluated_at,)] = rows("select max(evaluated_at) from {schema}.fct_finding_archive_times")
    return ReportData(
        month=month,
        run_id=run_id,
        source=reader.source,
        coverage_gap_days=gap_days,
        severities=severities,
        daily=_month_days(month, daily_rows),
        finding_types=finding_types,
        accounts=accounts,
        countries=countries,
        new_critical_high=new_critical_high,
        archive_compliance_month=archive_month,
        archive_compliance_all_time=archive_all,
        open_past_target=open_past_target,
        coverage=coverage,
        coverage_gaps=coverage_gaps,
        first_seen_countries=first_seen_countries,
        first_seen_asns=first_seen_asns,
        data_range={
            "month_first_created_at": month_first,
            "month_last_updated_at": month_last,
            "warehouse_first_created_at": all_first,
            "warehouse_last_updated_at": all_last,
            "evaluated_at": evaluated_at,
        },
        ledger=ledger,
        dbt_tests=dbt_tests,
        lake_snapshots=lake_snapshots,
    )


def _month_days(month: Month, rows: Sequence[tuple]) -> tuple[DailyCount, ...]:
    """Every day of the month, zeros included, counts in SEVERITY_LABELS order."""
    per_day: dict[date, list[int]] = {}
    for finding_date, label, count in rows:
        if label in SEVERITY_LABELS:
            counts = per_day.setdefault(_as_date(finding_date), [0] * len(SEVERITY_LABELS))
            counts[SEVERITY_LABELS.index(label)] += int(count)
    days = (month.end - month.start).days
    zero = [0] * len(SEVERITY_LABELS)
    return tuple(
        DailyCount(day, tuple(per_day.get(day, zero)))
        for day in (month.start + timedelta(days=offset) for offset in range(days))
    )


def _as_date(value: date | datetime | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
