"""What the offline dashboard shows, read from the marts at the grain its filters need.

Every chart of the dashboard must follow the date, account, Region and severity filters in the
browser, so the marts are read as cells: finding counts per (UTC creation day, account, Region,
severity label, category). A finding lies in exactly one cell of each set (in one per country for
the country cells), so summing the filtered cells gives distinct findings, never double counts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from orchestration.lib.publish.html import SEVERITY_LABELS
from orchestration.lib.publish.marts import MartReader, open_duckdb_marts

FILTER_COLUMNS = ("finding_date", "account_id", "region", "severity_label")
UNKNOWN_COUNTRY = "Unknown"

_FINDING_CELLS = """
select cast(created_at as date), account_id, region, severity_label,
    coalesce(action_type, 'NONE'), count(*), coalesce(sum(occurrence_count), 0)
from {schema}.fct_findings
group by 1, 2, 3, 4, 5
order by 1, 2, 3, 4, 5
"""
_FINDING_TYPE_CELLS = """
select cast(created_at as date), account_id, region, severity_label, finding_type, count(*)
from {schema}.fct_findings
group by 1, 2, 3, 4, 5
order by 1, 2, 3, 4, 5
"""
# A finding counts once in each country among its remote endpoints.
_COUNTRY_CELLS = """
with located as (
    select distinct f.finding_id, cast(f.created_at as date) as finding_date, f.account_id,
        f.region, f.severity_label, upper(nullif(trim(e.country_code), '')) as country_code
    from {schema}.fct_finding_remote_endpoints as e
    join {schema}.fct_findings as f on f.finding_id = e.finding_id
)
select finding_date, account_id, region, severity_label, country_code, count(*)
from located
group by 1, 2, 3, 4, 5
order by 1, 2, 3, 4, 5
"""
_COUNTRIES = """
select upper(nullif(trim(country_code), '')), max(country_name), avg(latitude), avg(longitude)
from {schema}.fct_finding_remote_endpoints
group by 1
"""
_COMPLIANCE_CELLS = """
select cast(created_at as date), account_id, region, severity_label, count(*),
    count(case when is_within_target then 1 end),
    count(case when is_open_past_target then 1 end),
    max(target_hours)
from {schema}.fct_finding_archive_times
group by 1, 2, 3, 4
order by 1, 2, 3, 4
"""
_SUMMARY = """
select count(*), coalesce(sum(occurrence_count), 0), count(distinct account_id),
    count(distinct region),
    min(coalesce(first_seen_at, created_at)), max(coalesce(last_seen_at, updated_at))
from {schema}.fct_findings
"""


@dataclass(frozen=True)
class Cells:
    """Rows of counts with their column names; the first columns are ``FILTER_COLUMNS``."""

    columns: tuple[str, ...]
    rows: tuple[tuple, ...]

    def column(self, name: str) -> list:
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def as_columns(self) -> dict[str, list]:
        """Column name -> values: the compact form embedded in the page."""
        return {name: self.column(name) for name in self.columns}

    def total(self, name: str, **where: str) -> int:
        """The sum of column ``name`` over the rows whose columns equal ``where``."""
        indexes = {self.columns.index(column): value for column, value in where.items()}
        return sum(
            int(row[self.columns.index(name)])
            for row in self.rows
            if all(row[index] == value for index, value in indexes.items())
        )


@dataclass(frozen=True)
class Country:
    code: str | None
    name: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class DashboardData:
    """Everything the dashboard shows, read from the marts."""

    findings: Cells
    finding_types: Cells
    countries: Cells
    compliance: Cells
    countries_by_code: dict[str | None, Country]
    total_findings: int
    total_occurrences: int
    account_count: int
    region_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    source: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def severity_counts(self) -> dict[str, int]:
        """Findings per severity label, all four labels present."""
        return {
            label: self.findings.total("finding_count", severity_label=label)
            for label in SEVERITY_LABELS
        }

    @property
    def critical_and_high_count(self) -> int:
        counts = self.severity_counts
        return counts["Critical"] + counts["High"]

    @property
    def country_count(self) -> int:
        return len({code for code in self.countries.column("country_code") if code})

    @property
    def first_day(self) -> date | None:
        days = self.findings.column("finding_date")
        return date.fromisoformat(min(days)) if days else None

    @property
    def last_day(self) -> date | None:
        days = self.findings.column("finding_date")
        return date.fromisoformat(max(days)) if days else None


def load_dashboard_data(duckdb_path: str | os.PathLike[str], schema: str = "main") -> DashboardData:
    """Read the marts from a DuckDB warehouse (read-only: never block dbt).

    Raises:
        MissingMartsError: The DuckDB file or one of the marts does not exist.
        ConfigurationError: ``schema`` is not a plain SQL identifier.
    """
    with open_duckdb_marts(duckdb_path, schema) as reader:
        return read_dashboard_data(reader)


def _country_name(countries: dict[str | None, Country], code: str | None) -> str:
    country = countries.get(code)
    return country.name if country and code else UNKNOWN_COUNTRY


def read_dashboard_data(reader: MartReader) -> DashboardData:
    """The dashboard's cells and totals, through any MartReader."""

    def cells(measures: tuple[str, ...], category: str | None, sql: str) -> Cells:
        keys = (*FILTER_COLUMNS, category) if category else FILTER_COLUMNS
        rows = tuple(
            (str(row[0]), *row[1 : len(keys)], *(int(value or 0) for value in row[len(keys) :]))
            for row in reader.rows(sql)
        )
        return Cells((*keys, *measures), rows)

    findings = cells(("finding_count", "occurrence_count"), "action_type", _FINDING_CELLS)
    finding_types = cells(("finding_count",), "finding_type", _FINDING_TYPE_CELLS)
    compliance = cells(
        (
            "finding_count",
            "archived_within_target_count",
            "open_past_target_count",
            "target_hours",
        ),
        None,
        _COMPLIANCE_CELLS,
    )
    countries_by_code = {
        code: Country(code, str(name or code or UNKNOWN_COUNTRY), latitude, longitude)
        for code, name, latitude, longitude in reader.rows(_COUNTRIES)
    }
    located = cells(("finding_count",), "country_code", _COUNTRY_CELLS)
    # The country's name beside its code: the charts name countries, the map joins on codes.
    countries = Cells(
        (*located.columns[:-1], "country_name", "finding_count"),
        tuple(
            (*row[:-1], _country_name(countries_by_code, row[-2]), row[-1]) for row in located.rows
        ),
    )
    [(total, occurrences, accounts, regions, first_seen, last_seen)] = reader.rows(_SUMMARY)
    return DashboardData(
        findings=findings,
        finding_types=finding_types,
        countries=countries,
        compliance=compliance,
        countries_by_code=countries_by_code,
        total_findings=int(total),
        total_occurrences=int(occurrences),
        account_count=int(accounts),
        region_count=int(regions),
        first_seen_at=first_seen,
        last_seen_at=last_seen,
        source=reader.source,
    )
