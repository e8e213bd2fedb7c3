"""The review report's CSV extracts: every table of the page, all rows, machine-readable headers.

CSV cells that a spreadsheet would run as a formula are defused.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from orchestration.lib.audit.report_data import ReportData, Table
from orchestration.lib.publish.html import SEVERITY_LABELS

_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
        *_lake_snapshot_rows(data),
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


def _lake_snapshot_rows(data: ReportData) -> list[tuple[str, object]]:
    """Each lake snapshot read, and the command that re-runs the report as of them."""
    snapshots = data.lake_snapshots
    if snapshots is None:
        return [("lake_snapshots", "not recorded")]
    # Ids as text: the page would group the digits of a number.
    rows: list[tuple[str, object]] = [
        (f"lake_snapshot_{name}", "none" if snapshot_id is None else str(snapshot_id))
        for name, snapshot_id in snapshots.ids.items()
    ]
    rows.append(("lake_snapshots_recorded_by", snapshots.recorded_by))
    command = (
        f"python -m orchestration.cli review-report --month {data.month.label}"
        f" --lake-snapshots {snapshots.argument}"
    )
    if data.evaluated_at is not None:
        command += f" --as-of '{data.evaluated_at.isoformat(sep=' ')}'"
    rows.append(("reproduce_command", command))
    return rows


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
