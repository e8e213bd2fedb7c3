"""The monthly review report against a small hand-made DuckDB warehouse of the marts it reads.

The marts are created here directly (no dbt), with hostile strings in them; test_compliance_models
renders the report once more from marts that dbt built.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pytest
from dagster_aws.s3 import S3Resource

from orchestration.defs.audit.report_assets import REVIEW_REPORT, review_report
from orchestration.defs.audit.report_schedules import (
    audit_review_report,
    monthly_review_report_schedule,
)
from orchestration.lib.audit.report_csv import report_tables, to_csv
from orchestration.lib.audit.report_data import Month, ReportError, load_report_data
from orchestration.lib.audit.report_evidence import (
    DbtTestEvidence,
    LedgerCounts,
    find_dbt_test_evidence,
    read_ledger_counts,
)
from orchestration.lib.audit.report_render import render_report_html
from orchestration.lib.audit.review_report import build_report, write_report
from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore
from orchestration.lib.publish.marts import MissingMartsError, open_duckdb_marts
from tests.helpers.browser import offline_chromium
from tests.helpers.settings import settings_resources

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://evil.example","x")'
BREAKOUT = '"><svg onload=alert(1)>'
HOSTILE = (SCRIPT, IMG, BREAKOUT)

MARTS_SQL = f"""
create table fct_findings as
    select * from (values
        (timestamp '2024-03-02 10:00:00', timestamp '2024-03-03 10:00:00'),
        (timestamp '2024-02-10 10:00:00', timestamp '2024-02-11 10:00:00')
    ) as t (created_at, updated_at);
create table agg_findings_by_severity as
    select * from (values
        (date '2024-03-02', '111122223333', 'us-east-1', 'Critical', 1, 3),
        (date '2024-03-05', '111122223333', 'us-east-1', 'Medium', 2, 2),
        (date '2024-02-10', '111122223333', 'us-east-1', 'Low', 7, 7)
    ) as t (finding_date, account_id, region, severity_label, finding_count, occurrence_count);
create table agg_findings_by_finding_type as
    select * from (values
        (date '2024-03-02', '{SCRIPT}', 1, 3, 9.5),
        (date '2024-03-05', 'Recon:EC2/PortProbeUnprotectedPort', 2, 2, 5.0)
    ) as t (finding_date, finding_type, finding_count, occurrence_count, max_severity);
create table agg_findings_by_country as
    select * from (values
        (date '2024-03-02', null, '{IMG}', 1, 3),
        (date '2024-03-05', 'RU', 'Russia', 2, 2)
    ) as t (finding_date, country_code, country_name, finding_count, occurrence_count);
create table fct_finding_archive_times as
    select * from (values
        ('crit', 'Critical', 9.5, '{SCRIPT}', '111122223333', 'us-east-1',
         timestamp '2024-03-02 10:00:00', false, true, timestamp '2024-03-02 12:00:00', 2.0,
         24.0, true, true, '{FORMULA.replace("'", "''")}', timestamp '2024-03-31 00:00:00'),
        ('med', 'Medium', 5.0, 'Recon:EC2/PortProbeUnprotectedPort', '111122223333',
         'us-east-1', timestamp '2024-03-05 10:00:00', true, false,
         timestamp '2024-03-06 10:00:00', 24.0, 168.0, true, false, 'ok',
         timestamp '2024-03-31 00:00:00')
    ) as t (finding_id, severity_label, severity, finding_type, account_id, region, created_at,
            is_currently_archived, was_unarchived, first_archived_at, hours_to_archive,
            target_hours, is_within_target, is_open_past_target, title, evaluated_at);
create table agg_archive_compliance_by_severity as
    select * from (values
        ('Critical', 1, 24.0, 1, 1, 1.0, 1, 2.0, 2.0, 1),
        ('High', 2, 24.0, 0, 0, null, 0, null, null, 0),
        ('Medium', 3, 168.0, 1, 1, 1.0, 0, 24.0, 24.0, 0),
        ('Low', 4, 720.0, 0, 0, null, 0, null, null, 0)
    ) as t (severity_label, severity_order, target_hours, finding_count,
            archived_within_target_count, share_archived_within_target, open_past_target_count,
            median_hours_to_archive, avg_hours_to_archive, unarchived_count);
create table fct_findings_open_past_target as
    select * from (values
        ('crit', 'Critical', 9.5, '{SCRIPT}', '111122223333', 'us-east-1',
         timestamp '2024-03-02 10:00:00', 686.0, 24.0, 662.0, true, '{BREAKOUT}')
    ) as t (finding_id, severity_label, severity, finding_type, account_id, region, created_at,
            age_hours, target_hours, hours_past_target, was_unarchived, title);
create table agg_account_region_coverage as
    select * from (values
        ('111122223333', 'us-east-1', 2, 0, timestamp '2024-03-02 10:00:00',
         timestamp '2024-03-05 10:00:00', timestamp '2024-03-06 00:00:00', 25.6),
        ('111122223333', 'eu-west-1', 5, 0, timestamp '2024-03-01 10:00:00',
         timestamp '2024-03-29 00:00:00', timestamp '2024-03-29 01:00:00', 2.0),
        ('999988887777', 'eu-west-1', 0, 1, null, null, timestamp '2024-03-01 00:00:00', null)
    ) as t (account_id, region, finding_count, sample_finding_count, first_finding_updated_at,
            latest_finding_updated_at, latest_ingested_at, days_since_latest_finding);
create table agg_first_seen_remote_countries as
    select * from (values
        ('111122223333', null, '{IMG}', timestamp '2024-03-02 10:00:00', 'crit'),
        ('111122223333', 'RU', 'Russia', timestamp '2024-01-02 10:00:00', 'old')
    ) as t (account_id, country_code, country_name, first_seen_at, first_finding_id);
create table agg_first_seen_remote_asns as
    select * from (values
        ('111122223333', '64500', '{BREAKOUT}', timestamp '2024-03-02 10:00:00', 'crit')
    ) as t (account_id, asn, asn_org, first_seen_at, first_finding_id);
"""


def build_marts(path: Path) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute(MARTS_SQL)
    return path


def write_ledger(lake: Path, batch_id: str, ingested_at: datetime, statuses: list[str]) -> None:
    rows = [
        {
            "source_uri": f"file:///raw/{batch_id}/{index}.json",
            "object_size": 10,
            "object_version": "1",
            "status": status,
            "findings": 2 if status == "ingested" else 0,
            "records_skipped": 1 if status == "skipped" else 0,
            "records_quarantined": 1 if status == "quarantined" else 0,
            "skip_reason": None,
            "ingest_batch_id": batch_id,
            "ingested_at": ingested_at,
            "ingested_date": ingested_at.date(),
            "object_date": None,
        }
        for index, status in enumerate(statuses)
    ]
    connect_lake(str(lake)).table(tables.LEDGER).append(
        pa.Table.from_pylist(rows, schema=tables.arrow_schema(tables.LEDGER))
    )


def write_run_results(folder: Path, generated_at: str, statuses: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "metadata": {"generated_at": generated_at, "invocation_id": f"inv-{folder.name}"},
        "results": [
            {"unique_id": unique_id, "status": status, "failures": 0, "message": None}
            for unique_id, status in statuses.items()
        ],
    }
    (folder / "run_results.json").write_text(json.dumps(document))


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return write_ledgers(tmp_path / "lake")


def write_ledgers(lake: Path) -> Path:
    """Four objects read in March 2024, one at the end of February and one on April 1st."""
    write_ledger(
        lake,
        "20240305T000000000000Z-aaaa1111",
        datetime(2024, 3, 5),
        ["ingested", "ingested", "skipped", "quarantined"],
    )
    write_ledger(lake, "20240229T230000000000Z-bbbb2222", datetime(2024, 2, 29, 23), ["ingested"])
    write_ledger(lake, "20240401T000000000000Z-cccc3333", datetime(2024, 4, 1), ["ingested"])
    return lake


@pytest.fixture
def dbt_target(tmp_path: Path) -> Path:
    return write_dbt_targets(tmp_path / "target")


def write_dbt_targets(target: Path) -> Path:
    """Two runs' results at the end of March 2024 (one with a failing test), one in April."""
    write_run_results(
        target / "dbt_models-abcdef1-1234567",
        "2024-03-31T00:00:00Z",
        {"test.guardduty.unique_fct_findings_finding_id": "pass", "model.guardduty.x": "success"},
    )
    write_run_results(
        target / "dbt_incremental_models-abcdef1-7654321",
        "2024-03-31T00:00:01Z",
        {"unit_test.guardduty.int.current": "pass", "test.guardduty.not_null_x": "fail"},
    )
    write_run_results(
        target / "dbt_models-9999999-0000000",
        "2024-04-02T00:00:00Z",
        {"test.guardduty.newest": "pass"},
    )
    return target


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The March 2024 report, built once for the tests that only read it."""
    root = tmp_path_factory.mktemp("report")
    warehouse = build_marts(root / "warehouse.duckdb")
    store = LocalStore(root / "reports")
    data, keys = build_report(
        lambda: open_duckdb_marts(warehouse),
        lake=connect_lake(str(write_ledgers(root / "lake"))),
        report_store=store,
        month="2024-03",
        run_id="abcdef12-run",
        dbt_target_dir=write_dbt_targets(root / "target"),
        coverage_gap_days=7,
    )
    page = (root / "reports" / "review" / "2024-03" / "index.html").read_text()
    return {"data": data, "keys": keys, "page": page, "root": root / "reports"}


def test_month_parsing_and_arithmetic():
    month = Month.parse("2024-12")
    assert (month.start, month.end, month.label) == (date(2024, 12, 1), date(2025, 1, 1), "2024-12")
    assert Month.parse("2024-03").previous().label == "2024-02"
    assert Month.parse("2024-02").end == date(2024, 3, 1)
    for bad in ("2024-13", "2024-3", "2024-03'; drop", ""):
        with pytest.raises(ReportError):
            Month.parse(bad)


def test_ledger_counts_only_the_month(lake: Path):
    counts = read_ledger_counts(connect_lake(str(lake)), Month.parse("2024-03"))
    assert (counts.batches, counts.objects_read) == (1, 4)
    assert (counts.objects_ingested, counts.objects_skipped, counts.objects_quarantined) == (
        2,
        1,
        1,
    )
    assert (counts.findings_ingested, counts.records_quarantined) == (4, 1)
    assert counts.balanced
    assert counts.first_ingested_at == datetime(2024, 3, 5)
    assert read_ledger_counts(connect_lake(str(lake)), Month.parse("2024-02")).objects_read == 1


def test_ledger_counts_are_read_again_identically_at_their_recorded_snapshot(lake: Path):
    march = Month.parse("2024-03")
    counts = read_ledger_counts(connect_lake(str(lake)), march)
    write_ledger(lake, "20240310T000000000000Z-dddd4444", datetime(2024, 3, 10), ["ingested"])

    later = read_ledger_counts(connect_lake(str(lake)), march)
    again = read_ledger_counts(connect_lake(str(lake)), march, counts.ledger_snapshot_id)

    assert later.objects_read == counts.objects_read + 1
    assert again == counts


def test_dbt_evidence_prefers_this_runs_invocations(dbt_target: Path):
    evidence = find_dbt_test_evidence(dbt_target, "abcdef12-run")
    assert evidence.from_this_run
    assert len(evidence.files) == 2
    assert evidence.counts == {"fail": 1, "pass": 2}
    assert [r.unique_id for r in evidence.problems] == ["test.guardduty.not_null_x"]


def test_dbt_evidence_falls_back_to_the_newest_results_with_tests(dbt_target: Path):
    evidence = find_dbt_test_evidence(dbt_target, "0000000-other-run")
    assert not evidence.from_this_run
    assert evidence.generated_at == "2024-04-02T00:00:00Z"
    assert [r.unique_id for r in evidence.results] == ["test.guardduty.newest"]
    assert find_dbt_test_evidence(dbt_target.parent / "absent", "x") == DbtTestEvidence()


def test_report_renders_offline_with_every_section(report):
    page = report["page"]
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page
    assert "<script" not in page.lower()
    # Nothing is loaded from anywhere: no attribute points at a URL.
    assert not re.search(r"""<[^>]+\s(?:src|href)=["']?(?:https?:|//)""", page)
    for section in (
        "severity",
        "finding-types",
        "trend",
        "accounts",
        "countries",
        "new-critical-high",
        "archive-compliance-month",
        "open-past-target",
        "coverage-gaps",
        "first-seen-countries",
        "first-seen-asns",
        "evidence",
    ):
        assert f'id="{section}"' in page, section
    assert "GuardDuty review report: 2024-03" in page


def test_report_states_its_evidence_trail(report):
    page, data = report["page"], report["data"]
    assert "abcdef12-run" in page
    text = re.sub(r"<[^>]+>", "", page)
    assert "2024-03-01 00:00:00" in text and "2024-04-01 00:00:00" in text
    evidence = dict(report_tables(data)["evidence"].rows)
    assert evidence["dagster_run_id"] == "abcdef12-run"
    assert evidence["ledger_objects_read"] == 4
    assert evidence["ledger_objects_ingested"] == 2
    assert evidence["ledger_objects_skipped"] == 1
    assert evidence["ledger_objects_quarantined"] == 1
    assert evidence["dbt_results_from_this_run"] is True
    assert evidence["dbt_tests_fail"] == 1
    assert evidence["data_month_first_created_at"] == datetime(2024, 3, 2, 10)
    assert evidence["marts_evaluated_at_utc"] == datetime(2024, 3, 31)
    assert "test.guardduty.not_null_x" in text


def test_report_figures_for_the_month(report):
    data = report["data"]
    assert data.total_findings == 3
    assert dict((row[0], row[1]) for row in data.severities.rows) == {
        "Critical": 1,
        "High": 0,
        "Medium": 2,
        "Low": 0,
    }
    assert len(data.daily) == 31 and data.daily[1].counts == (1, 0, 0, 0)
    assert [row[0] for row in data.new_critical_high.rows] == ["crit"]
    assert data.new_critical_high.as_dicts()[0]["status"] == "open (unarchived)"
    # silent for 25.6 days, and the sample-only Region: two gaps; eu-west-1 spoke 2 days ago
    assert {(row[0], row[1]) for row in data.coverage_gaps.rows} == {
        ("111122223333", "us-east-1"),
        ("999988887777", "eu-west-1"),
    }
    assert [row[4] for row in data.first_seen_countries.rows] == ["crit"]


def test_report_speaks_to_people_not_in_column_names(report):
    page = report["page"]
    headers = re.findall(r"<th[^>]*>(.*?)</th>", page)
    assert headers and not [h for h in headers if re.search(r"\w_\w", h)]
    for label in ("Finding ID", "Severity", "Created (UTC)", "Hours to archive", "Within target"):
        assert f">{label}</th>" in page
    evidence_items = re.findall(r'id="evidence".*?</table>', page, re.S)[0]
    assert "Ledger objects read" in evidence_items and "ledger_objects_read" not in evidence_items
    # Long ids and finding types wrap at sensible points, not letter by letter.
    assert "Recon:<wbr>EC2/<wbr>PortProbeUnprotectedPort" in page


def test_report_has_a_print_stylesheet_for_a4_landscape(report):
    page = report["page"]
    assert "@page { size: A4 landscape;" in page
    assert "@media print" in page and "thead { display: table-header-group; }" in page


@pytest.mark.browser
def test_report_tables_fit_the_page_and_it_prints_cleanly(report, tmp_path: Path):
    index = report["root"] / "review" / "2024-03" / "index.html"
    with offline_chromium(tmp_path / "profile", width=1280, height=900) as chromium:
        chromium.open(index.resolve().as_uri())
        too_wide = chromium.evaluate(
            "[...document.querySelectorAll('section.table-card')]"
            ".filter(card => card.scrollWidth > card.clientWidth).map(card => card.id)"
        )
        assert too_wide == []
        assert chromium.evaluate("document.querySelectorAll('figure svg').length") == 5
        chromium.screenshot(tmp_path / "review-report.png")
        document = chromium.print_pdf(tmp_path / "review-report.pdf")
        assert chromium.console_errors() == []
        assert [u for u in chromium.requested_urls() if not u.startswith("file:")] == []
    assert document.startswith(b"%PDF")
    # A4 landscape, as the print stylesheet asks.
    assert re.search(
        rb"/MediaBox \[0 0 841\.9\d* 595\.\d*\]|/MediaBox \[0 0 841\.9\d* 594\.9\d*\]", document
    )


def test_report_escapes_hostile_strings(report):
    page = report["page"]
    for text in HOSTILE:
        assert text not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_csvs_are_present_with_headers_and_defused_formulas(report):
    root = report["root"] / "review" / "2024-03" / "csv"
    names = {path.stem for path in root.glob("*.csv")}
    assert names >= {
        "severity",
        "daily",
        "finding_types",
        "accounts",
        "countries",
        "new_critical_high",
        "archive_compliance_month",
        "archive_compliance_all_time",
        "open_past_target",
        "coverage",
        "coverage_gaps",
        "first_seen_countries",
        "first_seen_asns",
        "evidence",
        "dbt_tests",
    }
    new = list(csv.reader(io.StringIO((root / "new_critical_high.csv").read_text())))
    assert new[0][:3] == ["finding_id", "severity_label", "severity"]
    title = new[1][new[0].index("title")]
    assert title == "'" + FORMULA
    assert SCRIPT in new[1]  # CSV keeps the data as it is, only formulas are defused
    assert report["keys"][-1] == "review/2024-03/index.html"


def test_empty_month_renders_with_zeros(tmp_path: Path):
    warehouse = build_marts(tmp_path / "warehouse.duckdb")
    with open_duckdb_marts(warehouse) as reader:
        data = load_report_data(
            reader,
            Month.parse("2023-01"),
            run_id="r",
            ledger=LedgerCounts(),
            dbt_tests=DbtTestEvidence(),
        )
    assert data.total_findings == 0 and not data.new_critical_high.rows
    page = render_report_html(data)
    assert "No dbt run_results.json with test results was found" in page
    assert to_csv(report_tables(data)["severity"]).startswith(b"severity_label,")
    write_report(data, LocalStore(tmp_path / "out"))
    assert (tmp_path / "out" / "review" / "2023-01" / "index.html").is_file()


def test_missing_warehouse_is_a_clear_error(tmp_path: Path):
    with (
        pytest.raises(MissingMartsError, match="build the dbt marts first"),
        open_duckdb_marts(tmp_path / "absent.duckdb"),
    ):
        pass


def test_asset_spec():
    spec = review_report.get_asset_spec(REVIEW_REPORT)
    assert spec.key == dg.AssetKey(["reports", "review_report"])
    assert spec.group_name == "audit"
    assert review_report.node_def.pool == "guardduty_warehouse"
    assert dg.AssetKey(["fct_finding_archive_times"]) in {dep.asset_key for dep in spec.deps}
    assert review_report.partitions_def is None


@pytest.mark.integration
def test_asset_writes_the_report_of_the_latest_month_by_default(fresh_settings: Path):
    data_dir = fresh_settings / "data"
    data_dir.mkdir()
    build_marts(data_dir / "warehouse.duckdb")
    write_ledgers(data_dir / "lake")
    result = dg.materialize([review_report], resources={"s3": S3Resource(), **settings_resources()})
    assert result.success
    [materialization] = result.asset_materializations_for_node("reports__review_report")
    assert materialization.metadata["month"].value == "2024-03"
    assert materialization.metadata["ledger_objects_read"].value == 4
    page = data_dir / "reports" / "review" / "2024-03" / "index.html"
    assert result.run_id in page.read_text()


@pytest.mark.integration
def test_asset_fails_clearly_on_a_bad_month(fresh_settings: Path):
    (fresh_settings / "data").mkdir()
    build_marts(fresh_settings / "data" / "warehouse.duckdb")
    config = {"ops": {"reports__review_report": {"config": {"month": "March"}}}}
    with pytest.raises(dg.Failure, match="expected YYYY-MM"):
        dg.materialize(
            [review_report],
            resources={"s3": S3Resource(), **settings_resources()},
            run_config=config,
        )


def test_monthly_schedule_asks_for_the_month_just_ended():
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 4, 1, 6))
    request = monthly_review_report_schedule(context)
    config = request.run_config["ops"]["reports__review_report"]["config"]
    assert config["month"] == "2024-03"
    assert request.run_key == "review-report-2024-03"
    assert monthly_review_report_schedule.job_name == audit_review_report.name


def test_athena_reader_queries_the_marts_schema_through_the_work_group():
    from orchestration.lib.publish.marts import AthenaMarts

    executed, opened = [], {}

    class Cursor:
        def execute(self, sql):
            executed.append(sql)

        def fetchall(self):
            return [(datetime(2024, 3, 2),)]

        def close(self):
            pass

    def connect(**kwargs):
        opened.update(kwargs)
        return type("Connection", (), {"cursor": lambda self: Cursor()})()

    reader = AthenaMarts("guardduty_marts", "guardduty", "eu-west-1", connect=connect)
    assert reader.rows("select max(created_at) from {schema}.fct_findings")
    assert executed == ["select max(created_at) from guardduty_marts.fct_findings"]
    assert opened == {
        "work_group": "guardduty",
        "region_name": "eu-west-1",
        "schema_name": "guardduty_marts",
    }
