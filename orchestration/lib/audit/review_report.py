"""The monthly audit review report (NIST 800-53 AU-6): one offline HTML page and CSV files.

For one calendar month (UTC) it states totals and trends by severity, finding type, account and
country; the new Critical and High findings with their archive status; archive compliance against
the targets of the compliance marts; the findings open past target; the accounts and Regions gone
silent; the remote countries and autonomous systems first seen; and the evidence trail: the run,
the data time range, the lake ledger's object counts for the month and the dbt test results.

Like the dashboard it opens with no network (inline SVG, no script, a Content-Security-Policy that
forbids remote loads) and every string from the data is escaped; CSV cells that a spreadsheet would
run as a formula are defused. The marts are read from DuckDB (read-only) locally or through Athena
in production; the files go to a local folder or an S3 prefix through ``storage.open_store``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow.parquet as pq

from orchestration.lib.environment import validate_sql_identifier
from orchestration.lib.lake import layout as lake_layout
from orchestration.lib.lake.store import ObjectStore
from orchestration.lib.publish.offline_dashboard import (
    CONTENT_SECURITY_POLICY,
    COUNTRY_COLOUR,
    FINDING_TYPE_COLOUR,
    PAGE_STYLE,
    SEVERITY_COLOURS,
    SEVERITY_LABELS,
    DailyCount,
    MissingMartsError,
    escape_html,
    figure_card,
    format_number,
    format_timestamp,
    html_table,
    kpi_card,
    plain_table_card,
    svg_daily_trend,
    svg_horizontal_bars,
)

MART_TABLES = (
    "fct_findings",
    "agg_findings_by_severity",
    "agg_findings_by_finding_type",
    "agg_findings_by_country",
    "fct_finding_archive_times",
    "agg_archive_compliance_by_severity",
    "fct_findings_open_past_target",
    "agg_account_region_coverage",
    "agg_first_seen_remote_countries",
    "agg_first_seen_remote_asns",
)
REPORT_PREFIX = "review"
ACCOUNT_COLOUR = "#334155"
TOP_N = 10
TOP_COUNTRIES = 15
# The page stays readable; the CSV files always hold every row.
MAX_HTML_ROWS = 200
DEFAULT_COVERAGE_GAP_DAYS = 7

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ReportError(ValueError):
    """The report cannot be produced as asked (a bad month, a missing mart, no Athena driver)."""


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


# --------------------------------------------------------------------------------------------
# Reading the marts


class MartReader(Protocol):
    """Runs a SELECT on the marts; ``{schema}`` in the SQL is the marts' (validated) schema."""

    source: str

    def rows(self, sql: str) -> list[tuple]: ...


class DuckDBMarts:
    """The local DuckDB warehouse, opened read-only (DuckDB allows one writer: never block dbt)."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, schema: str, source: str) -> None:
        [(catalog,)] = connection.execute("select current_database()").fetchall()
        # Qualified by catalog too: a file named like the schema makes the schema ambiguous.
        self._schema = '"{}".{}'.format(catalog.replace('"', '""'), schema)
        self._connection = connection
        self.source = source

    def rows(self, sql: str) -> list[tuple]:
        try:
            return self._connection.execute(sql.format(schema=self._schema)).fetchall()
        except duckdb.CatalogException as error:
            raise MissingMartsError(
                f"A mart is missing from {self.source}: build the dbt marts first. {error}"
            ) from error


@contextmanager
def open_duckdb_marts(duckdb_path: str | os.PathLike[str], schema: str = "main") -> Iterator:
    """A read-only MartReader over a DuckDB file."""
    path = Path(duckdb_path)
    if not path.is_file():
        raise MissingMartsError(f"No DuckDB warehouse at {path}: build the dbt marts first.")
    schema = validate_sql_identifier(schema, "schema")
    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        yield DuckDBMarts(connection, schema, source=f"DuckDB {path} (schema {schema})")


class AthenaMarts:
    """The marts in Athena, queried through PyAthena (installed with dbt-athena).

    The work group must have a query result location (the lake stack enforces one).
    """

    def __init__(self, schema: str, work_group: str, region_name: str, connect: Any = None) -> None:
        self._schema = validate_sql_identifier(schema, "ATHENA_SCHEMA")
        if connect is None:
            try:
                from pyathena import connect as pyathena_connect
            except ImportError as error:  # pragma: no cover (a dependency of dbt-athena)
                raise ReportError(
                    "DBT_TARGET=athena needs the pyathena package (a dependency of dbt-athena) "
                    "to read the marts."
                ) from error
            connect = pyathena_connect
        self._connection = connect(
            work_group=work_group, region_name=region_name, schema_name=self._schema
        )
        self.source = f"Athena {self._schema} (work group {work_group}, {region_name})"

    def rows(self, sql: str) -> list[tuple]:
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql.format(schema=self._schema))
            return list(cursor.fetchall())
        finally:
            cursor.close()


def _ts_literal(moment: date) -> str:
    # Built from a date object, never from user text: the same literal works on DuckDB and Athena.
    return f"timestamp '{moment:%Y-%m-%d} 00:00:00'"


def _date_literal(moment: date) -> str:
    return f"date '{moment:%Y-%m-%d}'"


def latest_data_month(reader: MartReader) -> Month | None:
    """The month of the newest finding's creation, or None when there are no findings."""
    [(latest,)] = reader.rows("select max(created_at) from {schema}.fct_findings")
    return Month.of(latest) if latest else None


# --------------------------------------------------------------------------------------------
# Evidence: the lake ledger and dbt's test results


@dataclass(frozen=True)
class LedgerCounts:
    """Objects the ingest read in the period, from ``_ledger/<batch>.parquet`` of the lake."""

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

    @property
    def balanced(self) -> bool:
        return self.objects_read == (
            self.objects_ingested + self.objects_skipped + self.objects_quarantined
        )


def read_ledger_counts(lake: ObjectStore, month: Month) -> LedgerCounts:
    """Sum the ledger rows whose ``ingested_at`` falls in the month.

    Batch ids begin with their UTC commit time (``YYYYMMDDT...``), so only the month's ledger files
    (and the last one of the month before, whose batch may straddle midnight) are read.
    """
    start = datetime.combine(month.start, datetime.min.time())
    end = datetime.combine(month.end, datetime.min.time())
    prefixes = (f"{month.start:%Y%m}", f"{month.previous().start:%Y%m}")
    totals = {
        "objects_read": 0,
        "objects_ingested": 0,
        "objects_skipped": 0,
        "objects_quarantined": 0,
        "findings_ingested": 0,
        "records_skipped": 0,
        "records_quarantined": 0,
    }
    batches: set[str] = set()
    first: datetime | None = None
    last: datetime | None = None
    for stored in lake.list(lake_layout.LEDGER_DIR + "/"):
        name = stored.key.rsplit("/", 1)[-1]
        if not name.endswith(".parquet") or not name.startswith(prefixes):
            continue
        table = pq.read_table(io.BytesIO(lake.read(stored.key)))
        for row in table.to_pylist():
            ingested_at = row["ingested_at"]
            if not start <= ingested_at < end:
                continue
            batches.add(row["ingest_batch_id"])
            first = min(first, ingested_at) if first else ingested_at
            last = max(last, ingested_at) if last else ingested_at
            totals["objects_read"] += 1
            status = row["status"]
            if status in ("ingested", "skipped", "quarantined"):
                totals[f"objects_{status}"] += 1
            totals["findings_ingested"] += row["findings"]
            totals["records_skipped"] += row["records_skipped"]
            totals["records_quarantined"] += row["records_quarantined"]
    return LedgerCounts(
        batches=len(batches),
        first_ingested_at=first,
        last_ingested_at=last,
        lake_uri=lake.root_uri,
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


# --------------------------------------------------------------------------------------------
# Output


def _cell(value: object) -> str:
    """A value as the report shows it: timestamps in UTC, hours to one decimal."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return format_number(value)
    return str(value)


def _csv_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, str) and value.startswith(_CSV_FORMULA_START):
        # A leading quote keeps a spreadsheet from running hostile data as a formula.
        return "'" + value
    return value


def to_csv(table: Table) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue().encode("utf-8")


def evidence_table(data: ReportData) -> Table:
    """The evidence trail as (item, value) rows: the same facts in the page and in the CSV."""
    ledger, tests = data.ledger, data.dbt_tests
    rows: list[tuple[str, object]] = [
        ("report_month", data.month.label),
        ("period_start_utc", f"{data.month.start} 00:00:00"),
        ("period_end_utc_exclusive", f"{data.month.end} 00:00:00"),
        ("generated_at_utc", data.generated_at.astimezone(UTC).replace(tzinfo=None)),
        ("dagster_run_id", data.run_id),
        ("marts_source", data.source),
        ("marts_evaluated_at_utc", data.evaluated_at),
        *(
            (f"data_{name}", value)
            for name, value in data.data_range.items()
            if name != "evaluated_at"
        ),
        ("lake", ledger.lake_uri),
        ("ledger_batches", ledger.batches),
        ("ledger_objects_read", ledger.objects_read),
        ("ledger_objects_ingested", ledger.objects_ingested),
        ("ledger_objects_skipped", ledger.objects_skipped),
        ("ledger_objects_quarantined", ledger.objects_quarantined),
        ("ledger_balanced", ledger.balanced),
        ("ledger_findings_ingested", ledger.findings_ingested),
        ("ledger_records_skipped", ledger.records_skipped),
        ("ledger_records_quarantined", ledger.records_quarantined),
        ("ledger_first_ingested_at_utc", ledger.first_ingested_at),
        ("ledger_last_ingested_at_utc", ledger.last_ingested_at),
        ("dbt_results_files", " ".join(tests.files) or "none found"),
        ("dbt_invocation_ids", " ".join(tests.invocation_ids)),
        ("dbt_results_generated_at", tests.generated_at),
        ("dbt_results_from_this_run", tests.from_this_run),
        ("dbt_tests_total", len(tests.results)),
        *((f"dbt_tests_{status}", count) for status, count in tests.counts.items()),
        ("coverage_gap_days", data.coverage_gap_days),
    ]
    return Table(("item", "value"), tuple(rows))


def report_tables(data: ReportData) -> dict[str, Table]:
    """Every CSV file of the report, by file stem."""
    tests = data.dbt_tests
    return {
        "severity": data.severities,
        "daily": Table(
            ("finding_date", "total", *(label.lower() for label in SEVERITY_LABELS)),
            tuple((day.finding_date, day.total, *day.counts) for day in data.daily),
        ),
        "finding_types": data.finding_types,
        "accounts": data.accounts,
        "countries": data.countries,
        "new_critical_high": data.new_critical_high,
        "archive_compliance_month": data.archive_compliance_month,
        "archive_compliance_all_time": data.archive_compliance_all_time,
        "open_past_target": data.open_past_target,
        "coverage": data.coverage,
        "coverage_gaps": data.coverage_gaps,
        "first_seen_countries": data.first_seen_countries,
        "first_seen_asns": data.first_seen_asns,
        "evidence": evidence_table(data),
        "dbt_tests": Table(
            ("unique_id", "status", "failures", "message"),
            tuple((r.unique_id, r.status, r.failures, r.message) for r in tests.results),
        ),
    }


def _rows(table: Table, limit: int = MAX_HTML_ROWS) -> list[list[str]]:
    return [[_cell(value) for value in row] for row in table.rows[:limit]]


def _section(section_id: str, title: str, table: Table, csv_name: str, note: str = "") -> str:
    shown = min(len(table.rows), MAX_HTML_ROWS)
    count_note = (
        f"{format_number(len(table.rows))} rows"
        + (f", the first {shown} shown" if shown < len(table.rows) else "")
        + f"; all in csv/{csv_name}.csv."
    )
    card = plain_table_card(section_id, title, list(table.columns), _rows(table))
    notes = "".join(
        f'<p class="note">{escape_html(text)}</p>' for text in (note, count_note) if text
    )
    return card.replace("</section>", notes + "</section>", 1)


def render_report_html(data: ReportData) -> str:
    """The whole report as one self-contained HTML page (inline CSS and SVG, no script)."""
    month = data.month.label
    severity_svg = svg_horizontal_bars(
        "severity-svg",
        f"Findings created in {month} by severity",
        [(label, int(count), SEVERITY_COLOURS[label]) for label, count, _ in data.severities.rows],
        label_width=110,
    )
    type_svg = svg_horizontal_bars(
        "finding-type-svg",
        f"Top {TOP_N} finding types",
        [
            (str(row[0]), int(row[1]), FINDING_TYPE_COLOUR)
            for row in data.finding_types.rows[:TOP_N]
        ],
        label_width=370,
        label_chars=46,
    )
    account_svg = svg_horizontal_bars(
        "account-svg",
        "Findings by account",
        [(str(row[0]), int(row[1]), ACCOUNT_COLOUR) for row in data.accounts.rows[:TOP_N]],
    )
    country_svg = svg_horizontal_bars(
        "country-svg",
        "Findings by remote endpoint country",
        [
            (str(row[1] or row[0] or "Unknown"), int(row[2]), COUNTRY_COLOUR)
            for row in data.countries.rows[:TOP_COUNTRIES]
        ],
    )
    charts = [
        figure_card(
            "severity",
            "Findings by severity",
            severity_svg,
            html_table(
                "Findings by severity", list(data.severities.columns), _rows(data.severities)
            ),
        ),
        figure_card(
            "finding-types",
            f"Top {TOP_N} finding types",
            type_svg,
            html_table(
                "Finding types", list(data.finding_types.columns), _rows(data.finding_types)
            ),
        ),
        figure_card(
            "trend",
            f"Daily trend, {month} (findings created per UTC day)",
            svg_daily_trend(data.daily),
            "",
            wide=True,
        ),
        figure_card(
            "accounts",
            f"Top {TOP_N} accounts",
            account_svg,
            html_table("Accounts", list(data.accounts.columns), _rows(data.accounts)),
        ),
        figure_card(
            "countries",
            f"Top {TOP_COUNTRIES} remote endpoint countries",
            country_svg,
            html_table("Countries", list(data.countries.columns), _rows(data.countries)),
            note="A finding counts once for each country among its remote endpoints.",
        ),
    ]
    evaluated = format_timestamp(data.evaluated_at)
    sections = [
        _section(
            "new-critical-high",
            f"New Critical and High findings created in {month}",
            data.new_critical_high,
            "new_critical_high",
            note="Status is that of the current version; hours to archive run from creation to "
            "the first version seen archived.",
        ),
        _section(
            "archive-compliance-month",
            f"Archive compliance of the findings created in {month}",
            data.archive_compliance_month,
            "archive_compliance_month",
            note="Targets (AWS Config rule guardduty-non-archived-findings by default): "
            + ", ".join(
                f"{row[0]} {_cell(row[1])} h" for row in data.archive_compliance_all_time.rows
            )
            + ".",
        ),
        _section(
            "archive-compliance-all-time",
            "Archive compliance, all findings",
            data.archive_compliance_all_time,
            "archive_compliance_all_time",
        ),
        _section(
            "open-past-target",
            f"Findings open past their archive target (as of {evaluated})",
            data.open_past_target,
            "open_past_target",
        ),
        _section(
            "coverage-gaps",
            f"Coverage gaps: accounts and Regions with no finding for more than "
            f"{data.coverage_gap_days} days (as of {evaluated})",
            data.coverage_gaps,
            "coverage_gaps",
            note="Silence is not proof of a fault (GuardDuty reports only threats), but a "
            "detector that stopped delivering looks the same: confirm each one.",
        ),
        _section("coverage", "Every account and Region seen", data.coverage, "coverage"),
        _section(
            "first-seen-countries",
            f"Remote countries first seen in {month}",
            data.first_seen_countries,
            "first_seen_countries",
        ),
        _section(
            "first-seen-asns",
            f"Remote autonomous systems first seen in {month}",
            data.first_seen_asns,
            "first_seen_asns",
        ),
        _evidence_section(data),
    ]
    problems = len(data.dbt_tests.problems)
    kpis = [
        kpi_card(f"Findings created in {month}", format_number(data.total_findings)),
        kpi_card(
            "New Critical + High", format_number(len(data.new_critical_high.rows)), alert=True
        ),
        kpi_card(
            "Open past target",
            format_number(len(data.open_past_target.rows)),
            alert=bool(data.open_past_target.rows),
        ),
        kpi_card(
            "Coverage gaps",
            format_number(len(data.coverage_gaps.rows)),
            alert=bool(data.coverage_gaps.rows),
        ),
        kpi_card(
            "dbt tests not passing",
            format_number(problems) if data.dbt_tests.results else "no results",
            alert=bool(problems) or not data.dbt_tests.results,
        ),
        kpi_card("Objects read this month", format_number(data.ledger.objects_read)),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>GuardDuty review report {escape_html(month)}</title>"
        f"<style>{PAGE_STYLE}{_EXTRA_STYLE}</style></head><body>"
        f"<header><h1>GuardDuty review report: {escape_html(month)}</h1>"
        f"<p>Audit review, analysis and reporting (NIST 800-53 AU-6) of the GuardDuty findings "
        f"created from {data.month.start} to {data.month.end - timedelta(days=1)} (UTC), "
        "samples excluded.</p>"
        f"<p>Generated {escape_html(format_timestamp(data.generated_at))} by Dagster run "
        f"{escape_html(data.run_id or 'none')} from {escape_html(data.source)}.</p></header>"
        f'<main><section class="kpis" id="totals" aria-label="Totals">{"".join(kpis)}</section>'
        f'<div class="grid">{"".join(charts)}</div>'
        f'<div class="stack">{"".join(sections)}</div></main>'
        "<footer>Offline report: no network needed. Every table is also a CSV file in csv/. "
        "Severity labels: Critical ≥ 9, High ≥ 7, Medium ≥ 4, Low below.</footer></body></html>\n"
    )


def _evidence_section(data: ReportData) -> str:
    evidence = evidence_table(data)
    tests = data.dbt_tests
    if not tests.results:
        test_note = (
            "No dbt run_results.json with test results was found: the marts are not vouched for "
            "by tests."
        )
    elif tests.from_this_run:
        test_note = "dbt test results of this run's dbt invocations."
    else:
        test_note = (
            "dbt test results of the newest dbt invocation with tests (not of this run): check "
            "that it built the marts this report read."
        )
    if not data.ledger.balanced:
        test_note += (
            " The ledger does not balance: objects read ≠ ingested + skipped + quarantined."
        )
    problem_rows = [
        [r.unique_id, r.status, _cell(r.failures), r.message]
        for r in tests.problems[:MAX_HTML_ROWS]
    ]
    evidence_card = plain_table_card(
        "evidence", "Evidence trail", ["Item", "Value"], _rows(evidence, limit=len(evidence.rows))
    ).replace("</section>", f'<p class="note">{escape_html(test_note)}</p></section>', 1)
    problems_card = plain_table_card(
        "dbt-test-problems",
        "dbt tests not passing",
        ["Test", "Status", "Failures", "Message"],
        problem_rows,
    )
    return evidence_card + problems_card


_EXTRA_STYLE = """
.stack { display: grid; gap: 16px; margin-top: 16px; }
"""


def write_report(data: ReportData, store: ObjectStore) -> list[str]:
    """Write ``review/<YYYY-MM>/csv/<name>.csv`` then ``review/<YYYY-MM>/index.html``.

    The page goes last, so that once it is there its CSV files are complete. Returns the keys
    written, relative to the store's root (GUARDDUTY_REPORT_DIR: a folder or an S3 prefix).
    """
    prefix = f"{REPORT_PREFIX}/{data.month.label}"
    keys = []
    for name, table in report_tables(data).items():
        key = f"{prefix}/csv/{name}.csv"
        store.write(key, to_csv(table))
        keys.append(key)
    page_key = f"{prefix}/index.html"
    store.write(page_key, render_report_html(data).encode("utf-8"))
    keys.append(page_key)
    return keys


def build_report(
    open_reader: Callable[[], Any],
    lake: ObjectStore,
    report_store: ObjectStore,
    *,
    month: str | None,
    run_id: str,
    dbt_target_dir: str | os.PathLike[str],
    coverage_gap_days: int = DEFAULT_COVERAGE_GAP_DAYS,
) -> tuple[ReportData, list[str]]:
    """Read, render and write the report of ``month`` (``YYYY-MM``; default: the latest data's).

    ``open_reader`` returns a context manager yielding a MartReader (``open_duckdb_marts``, or an
    Athena reader wrapped in ``contextlib.nullcontext``).
    """
    with open_reader() as reader:
        chosen = Month.parse(month) if month else latest_data_month(reader)
        if chosen is None:
            chosen = Month.of(datetime.now(UTC))
        data = load_report_data(
            reader,
            chosen,
            run_id=run_id,
            ledger=read_ledger_counts(lake, chosen),
            dbt_tests=find_dbt_test_evidence(dbt_target_dir, run_id),
            coverage_gap_days=coverage_gap_days,
        )
    return data, write_report(data, report_store)
