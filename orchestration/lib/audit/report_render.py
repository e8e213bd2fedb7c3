"""The review report's page: one offline HTML document an auditor can read on screen and print.

No script at all (the charts are static SVG drawn by vl-convert), a Content-Security-Policy that
forbids every remote load, every string from the data escaped, column names as people say them,
and a print stylesheet so that the browser's "Save as PDF" gives a clean A4 document.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from orchestration.lib.audit.report_csv import evidence_table
from orchestration.lib.audit.report_data import ReportData, Table
from orchestration.lib.publish.html import (
    SEVERITY_LABELS,
    STATIC_PAGE_POLICY,
    escape_html,
    figure_card,
    format_number,
    format_timestamp,
    html_page,
    kpi_card,
    table_html,
)

TOP_N = 10
TOP_COUNTRIES = 15
# The page stays readable; the CSV files always hold every row.
MAX_HTML_ROWS = 200
COLUMN_LABELS = {
    "account_id": "Account",
    "archived_count": "Archived",
    "archived_within_target_count": "Archived within target",
    "asn": "AS number",
    "asn_org": "AS organisation",
    "age_hours": "Age (h)",
    "avg_hours_to_archive": "Mean hours to archive",
    "country_code": "Code",
    "country_name": "Country",
    "created_at": "Created (UTC)",
    "critical_high_count": "Critical + High",
    "days_since_latest_finding": "Days since latest finding",
    "finding_count": "Findings",
    "finding_id": "Finding ID",
    "finding_type": "Finding type",
    "first_archived_at": "First archived (UTC)",
    "first_finding_id": "First finding ID",
    "first_finding_updated_at": "First finding (UTC)",
    "first_seen_at": "First seen (UTC)",
    "hours_past_target": "Hours past target",
    "hours_to_archive": "Hours to archive",
    "is_within_target": "Within target",
    "latest_finding_updated_at": "Latest finding (UTC)",
    "latest_ingested_at": "Latest ingest (UTC)",
    "max_severity": "Highest severity",
    "median_hours_to_archive": "Median hours to archive",
    "occurrence_count": "Occurrences",
    "open_past_target_count": "Open past target",
    "region": "Region",
    "region_count": "Regions",
    "sample_finding_count": "Sample findings",
    "severity": "Score",
    "severity_label": "Severity",
    "share_archived_within_target": "Share within target",
    "status": "Status",
    "target_hours": "Target (h)",
    "title": "Title",
    "unarchived_count": "Unarchived",
    "was_unarchived": "Unarchived",
}


_WORDS = {"utc": "(UTC)", "id": "ID", "ids": "IDs", "dbt": "dbt", "asn": "ASN"}


def column_label(column: str) -> str:
    """A column as people read it: ``finding_count`` -> ``Findings``."""
    if column in COLUMN_LABELS:
        return COLUMN_LABELS[column]
    words = [_WORDS.get(word, word) for word in column.split("_")]
    return " ".join(
        [words[0] if words[0] in _WORDS.values() else words[0].capitalize(), *words[1:]]
    )


def _cell(value: object) -> str:
    """A value as the report shows it: timestamps in UTC to the minute, hours to one decimal
    (none for whole hours)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, float | Decimal):
        return f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, int):
        return format_number(value)
    return str(value)


def _numeric_columns(columns: tuple[str, ...], rows: tuple[tuple, ...]) -> set[int]:
    """The columns holding only numbers (and gaps) in ``rows``, right-aligned in the page."""

    def is_number(value: object) -> bool:
        return isinstance(value, int | float | Decimal) and not isinstance(value, bool)

    return {
        index
        for index, _ in enumerate(columns)
        if any(is_number(row[index]) for row in rows)
        and all(row[index] is None or is_number(row[index]) for row in rows)
    }


def _table(table: Table, limit: int = MAX_HTML_ROWS) -> str:
    # Only the rows shown decide the alignment: a month's findings are hundreds of thousands.
    shown = table.rows[:limit]
    return table_html(
        [column_label(column) for column in table.columns],
        ([_cell(value) for value in row] for row in shown),
        _numeric_columns(table.columns, shown),
    )


def _section(section_id: str, title: str, table: Table, csv_name: str, note: str = "") -> str:
    shown = min(len(table.rows), MAX_HTML_ROWS)
    count_note = (
        f"{format_number(len(table.rows))} rows"
        + (f", the first {shown} shown" if shown < len(table.rows) else "")
        + f"; all in csv/{csv_name}.csv."
    )
    notes = "".join(
        f'<p class="note">{escape_html(text)}</p>' for text in (note, count_note) if text
    )
    return (
        f'<section class="card table-card" id="{section_id}"><h2>{escape_html(title)}</h2>'
        f"{_table(table)}{notes}</section>"
    )


def _chart_svgs(data: ReportData) -> dict[str, str]:
    """The report's charts as inline SVG (no script), drawn from the report's own figures."""
    # altair takes about a second to import: load it when a report is drawn, not whenever the
    # code location loads.
    import altair as alt

    from orchestration.lib.publish import charts

    def rows(table: Table, category: int, count: int, limit: int | None = None) -> alt.Chart:
        values = [
            {"category": str(row[category] or "Unknown"), "finding_count": int(row[count])}
            for row in table.rows[:limit]
        ]
        return alt.Chart(alt.Data(values=values))

    month = data.month.label
    daily = [
        {"finding_date": day.finding_date.isoformat(), "severity_label": label, "finding_count": n}
        for day in data.daily
        for label, n in zip(SEVERITY_LABELS, day.counts, strict=True)
    ]
    figures = {
        "severity": charts.horizontal_bars(
            rows(data.severities, 0, 1).transform_calculate(severity_label="datum.category"),
            "severity_label",
            f"Findings created in {month} by severity",
            domain=[str(row[0]) for row in data.severities.rows],
            width=360,
        ),
        "finding-types": charts.top_bars(
            rows(data.finding_types, 0, 1, TOP_N),
            "category",
            TOP_N,
            "finding types",
            charts.FINDING_TYPE_COLOUR,
            width=200,
            label_limit=300,
        ),
        "trend": charts.daily_trend(
            alt.Chart(alt.Data(values=daily)), f"Findings created per UTC day, {month}", width=900
        ),
        "accounts": charts.top_bars(
            rows(data.accounts, 0, 1, TOP_N),
            "category",
            TOP_N,
            "accounts",
            charts.ACCOUNT_COLOUR,
            width=360,
        ),
        "countries": charts.top_bars(
            rows(data.countries, 1, 2, TOP_COUNTRIES),
            "category",
            TOP_COUNTRIES,
            "remote endpoint countries",
            charts.COUNTRY_COLOUR,
            width=360,
        ),
    }
    # The card above each chart carries its title.
    return {
        name: _without_xml_prolog(charts.to_svg(chart.properties(title="")))
        for name, chart in figures.items()
    }


def _without_xml_prolog(svg: str) -> str:
    return svg[svg.index("<svg") :]


def _details(caption: str, table: Table) -> str:
    return f"<details><summary>Table: {escape_html(caption)}</summary>{_table(table)}</details>"


def _charts(data: ReportData, svgs: dict[str, str]) -> list[str]:
    month = data.month.label
    return [
        figure_card(
            "severity",
            "Findings by severity",
            svgs["severity"],
            _details("Findings by severity", data.severities),
        ),
        figure_card(
            "accounts",
            f"Top {TOP_N} accounts",
            svgs["accounts"],
            _details("Accounts", data.accounts),
        ),
        figure_card("trend", f"Daily trend, {month}", svgs["trend"], "", wide=True),
        figure_card(
            "finding-types",
            f"Top {TOP_N} finding types",
            svgs["finding-types"],
            _details("Finding types", data.finding_types),
        ),
        figure_card(
            "countries",
            f"Top {TOP_COUNTRIES} remote endpoint countries",
            svgs["countries"],
            _details("Countries", data.countries),
            note="A finding counts once for each country among its remote endpoints.",
        ),
    ]


def _sections(data: ReportData) -> list[str]:
    month = data.month.label
    evaluated = format_timestamp(data.evaluated_at)
    targets = ", ".join(
        f"{row[0]} {_cell(row[1])} h" for row in data.archive_compliance_all_time.rows
    )
    return [
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
            f"{targets}.",
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


def _kpis(data: ReportData) -> list[str]:
    problems = len(data.dbt_tests.problems)
    return [
        kpi_card(f"Findings created in {data.month.label}", format_number(data.total_findings)),
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


def render_report_html(data: ReportData) -> str:
    """The whole report as one self-contained HTML page (inline CSS and SVG, no script)."""
    month = data.month.label
    header = (
        f"<h1>GuardDuty review report: {escape_html(month)}</h1>"
        "<p>Audit review, analysis and reporting (NIST 800-53 AU-6) of the GuardDuty findings "
        f"created from {data.month.start} to {data.month.end - timedelta(days=1)} (UTC), "
        "samples excluded.</p>"
        f"<p>Generated {escape_html(format_timestamp(data.generated_at))} by Dagster run "
        f"{escape_html(data.run_id or 'none')} from {escape_html(data.source)}.</p>"
    )
    main = (
        f'<section class="kpis" id="totals" aria-label="Totals">{"".join(_kpis(data))}</section>'
        f'<div class="grid">{"".join(_charts(data, _chart_svgs(data)))}</div>'
        f'<div class="stack">{"".join(_sections(data))}</div>'
    )
    footer = (
        "Offline report: no network needed. Every table is also a CSV file in csv/. Times are "
        "UTC. Severity labels: Critical ≥ 9, High ≥ 7, Medium ≥ 4, Low below."
    )
    return html_page(
        f"GuardDuty review report {month}", header, main, footer, STATIC_PAGE_POLICY, _STYLE
    )


def _evidence_section(data: ReportData) -> str:
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
    evidence = evidence_table(data)
    items = Table(
        ("Item", "Value"),
        tuple((column_label(item), value) for item, value in evidence.rows),
    )
    problems = Table(
        ("Test", "Status", "Failures", "Message"),
        tuple((r.unique_id, r.status, r.failures, r.message) for r in tests.problems),
    )
    return (
        '<section class="card table-card evidence" id="evidence"><h2>Evidence trail</h2>'
        f'{_table(items, limit=len(items.rows))}<p class="note">{escape_html(test_note)}</p>'
        "</section>"
        '<section class="card table-card" id="dbt-test-problems"><h2>dbt tests not passing</h2>'
        f"{_table(problems)}</section>"
    )


_STYLE = """
.stack { display: grid; gap: 16px; margin-top: 16px; }
.table-card { overflow-x: auto; }
.table-card table { font-size: 12px; }
.table-card th, .table-card td { padding: 4px 5px; }
.evidence td:first-child { white-space: nowrap; width: 1%; }
figure svg { margin: 4px 0; }
@page { size: A4 landscape; margin: 12mm 10mm; }
@media print {
  body { background: #fff; font-size: 11px; }
  header { background: none; color: #000; padding: 0 0 8px; border-bottom: 2px solid #000; }
  header p { color: #000; }
  main { padding: 8px 0 0; max-width: none; }
  .kpis { grid-template-columns: repeat(6, 1fr); gap: 6px; }
  .kpi { padding: 6px 8px; border-color: #999; }
  .kpi .value { font-size: 18px; }
  .grid { grid-template-columns: 1fr 1fr; gap: 8px 24px; }
  .card { border: none; border-radius: 0; padding: 6px 0; break-inside: avoid; }
  .table-card { break-inside: auto; overflow: visible; }
  h2 { break-after: avoid; }
  details { display: none; }
  table { font-size: 9.5px; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  footer { padding: 8px 0 0; }
}
"""
