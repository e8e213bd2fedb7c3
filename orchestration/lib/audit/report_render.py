"""The review report as files: one offline HTML page (no script, printable) and CSV extracts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from orchestration.lib.audit.report_data import ReportData, Table
from orchestration.lib.publish.offline_dashboard import (
    CONTENT_SECURITY_POLICY,
    COUNTRY_COLOUR,
    FINDING_TYPE_COLOUR,
    PAGE_STYLE,
    SEVERITY_COLOURS,
    SEVERITY_LABELS,
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

ACCOUNT_COLOUR = "#334155"
TOP_N = 10
TOP_COUNTRIES = 15
# The page stays readable; the CSV files always hold every row.
MAX_HTML_ROWS = 200
_CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

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
