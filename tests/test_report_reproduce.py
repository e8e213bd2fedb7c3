"""A review report re-run as of the lake snapshots it recorded has the same figures (AU-6/AU-11).

Batch A is ingested and built as the pipeline builds (no `as_of`: the marts are evaluated at the
build's time), and the report records the snapshots and the evaluation time its numbers come
from; batch B then changes the month's counts and is built later too. `review-report
--lake-snapshots --as-of` rebuilds the marts as of the recorded snapshots and time and must give
back the first report's figures byte for byte, not the current lake's.
"""

from __future__ import annotations

import csv
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_aws.s3 import S3Resource

from orchestration import cli
from orchestration.defs.audit.report_assets import review_report
from orchestration.lib.audit.report_evidence import format_snapshot_ids, parse_snapshot_ids
from orchestration.lib.environment import DBT_PROJECT_DIR, get_settings
from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import open_lake
from tests.helpers.dbt_lake_builder import finding, network_connection, remote_ip, write_batch
from tests.helpers.settings import settings_resources

DBT = str(Path(sys.executable).parent / "dbt")
MONTH = "2024-03"
# dbt_tests.csv and these evidence items describe each run (its time, id, warehouse file and the
# dbt invocations whose test results it found) and differ by design; every other cell of the
# report is a figure.
RUN_FILES = {"evidence.csv", "dbt_tests.csv"}
RUN_EVIDENCE = {"generated_at_utc", "dagster_run_id", "marts_source", "lake_snapshots_recorded_by"}
RUN_EVIDENCE_PREFIX = "dbt_"
# The chart renderer numbers its SVG clip paths per process: how many charts it drew before.
CHART_CLIP_ID = re.compile(r"\bclip\d+\b")
DBT_TESTS_KPI = re.compile(
    r'<div class="kpi[^"]*"><div class="value">[^<]*</div>'
    r'<div class="name">dbt tests not passing</div></div>'
)

BATCH_A = [
    finding("a", severity=8.0, created_at="2024-03-02T10:00:00.000Z"),
    finding(
        "b",
        severity=5.0,
        created_at="2024-03-03T10:00:00.000Z",
        action=network_connection(remote_ip("5.6.7.8", "Russia", "RU")),
    ),
]
BATCH_B = [
    finding(
        "c",
        severity=9.5,
        created_at="2024-03-04T10:00:00.000Z",
        updated_at="2024-03-06T10:00:00.000Z",
        account_id="444455556666",
    ),
    finding(
        "d",
        severity=2.0,
        created_at="2024-03-05T10:00:00.000Z",
        updated_at="2024-03-06T10:00:00.000Z",
        action=network_connection(remote_ip("8.8.8.8", "Vietnam", "VN")),
    ),
]


@pytest.fixture
def environment(fresh_settings: Path, monkeypatch) -> Path:
    """The test's data folder, with every variable the command line exports restored after."""
    monkeypatch.setenv("DBT_TARGET", "duckdb")
    settings = get_settings()
    for variable, value in {
        "GUARDDUTY_DATA_DIR": settings.data_dir,
        "GUARDDUTY_LAKE_URI": settings.lake_uri,
        "GUARDDUTY_LAKE_CATALOG": settings.lake_catalog,
        "GUARDDUTY_DUCKDB_PATH": settings.duckdb_path,
        "GUARDDUTY_GLUE_DATABASE": settings.glue_database,
        "ATHENA_SCHEMA": settings.athena_schema,
        "AWS_REGION": settings.aws_region,
    }.items():
        monkeypatch.setenv(variable, value)
    return Path(settings.data_dir)


def _build_marts(data_dir: Path) -> None:
    """The marts on the current lake (pinned by the plugin) as the pipeline builds them: no
    ``as_of``, so they are evaluated at the build's own time."""
    result = subprocess.run(
        [
            DBT,
            "build",
            "--select",
            "+exposure:review_report",
            "--exclude-resource-type",
            "unit_test",
            "--target-path",
            str(data_dir / "dbt-target"),
            "--log-path",
            str(data_dir / "dbt-logs"),
        ],
        cwd=DBT_PROJECT_DIR,
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def _write_report() -> dict:
    result = dg.materialize(
        [review_report],
        resources={"s3": S3Resource(), **settings_resources()},
        run_config={"ops": {"reports__review_report": {"config": {"month": MONTH}}}},
    )
    [materialization] = result.asset_materializations_for_node("reports__review_report")
    return {key: value.value for key, value in materialization.metadata.items()}


def _report_files(folder: Path) -> dict[str, str]:
    csv_folder = folder / "review" / MONTH / "csv"
    return {path.name: path.read_text() for path in sorted(csv_folder.glob("*.csv"))}


def _evidence(files: dict[str, str]) -> dict[str, str]:
    return dict(csv.reader(files["evidence.csv"].splitlines()[1:]))


def _figures(files: dict[str, str]) -> dict[str, str]:
    return {name: text for name, text in files.items() if name not in RUN_FILES}


def _evidence_figures(files: dict[str, str]) -> dict[str, str]:
    return {
        item: value
        for item, value in _evidence(files).items()
        if item not in RUN_EVIDENCE and not item.startswith(RUN_EVIDENCE_PREFIX)
    }


def _page_figures(folder: Path) -> str:
    """The page from its totals to its evidence trail: every number, chart and table it shows
    but the count of dbt tests not passing, which is about a dbt run."""
    page = (folder / "review" / MONTH / "index.html").read_text()
    figures = page[page.index('<section class="kpis"') : page.index('id="evidence"')]
    without_dbt_tests, found = DBT_TESTS_KPI.subn("", figures)
    assert found == 1
    return CHART_CLIP_ID.sub("clip", without_dbt_tests)


# Three dbt builds of the report's marts: left out of `make test-fast`.
@pytest.mark.integration
def test_a_report_rerun_as_of_its_recorded_snapshots_has_the_same_figures(environment: Path):
    lake_path = environment / "lake"
    write_batch(lake_path, "a", "2024-03-07T00:00:00Z", BATCH_A)
    _build_marts(environment)
    first_metadata = _write_report()
    first = _report_files(environment / "reports")
    first_page = _page_figures(environment / "reports")
    first_evidence = _evidence(first)

    lake = open_lake(get_settings())
    recorded = {name: first_evidence[f"lake_snapshot_{name}"] for name in reader.PIN_ORDER}
    assert first_evidence["lake_snapshots_recorded_by"].startswith("warehouse build")
    assert first_metadata["lake_snapshots"] == ",".join(
        f"{name}={'' if value == 'none' else value}" for name, value in recorded.items()
    )
    for name in (tables.LEDGER, tables.FINDINGS):
        assert recorded[name] == str(lake.table(name).current_snapshot().snapshot_id)
        # Tagged, so maintenance keeps the snapshot for the retention.
        assert str(lake.table(name).metadata.refs["review-2024-03"].snapshot_id) == recorded[name]
    with duckdb.connect(str(environment / "warehouse.duckdb"), read_only=True) as warehouse:
        in_warehouse = warehouse.sql("select table_name, snapshot_id from main.lake_snapshots")
        assert {name: str(sid) for name, sid in in_warehouse.fetchall()} == {
            name: "None" if value == "none" else value for name, value in recorded.items()
        }

    write_batch(lake_path, "b", "2024-03-08T00:00:00Z", BATCH_B)
    _build_marts(environment)
    _write_report()
    current = _report_files(environment / "reports")
    assert _figures(current) != _figures(first)
    assert _evidence(current)["ledger_objects_read"] != first_evidence["ledger_objects_read"]

    command = shlex.split(first_evidence["reproduce_command"])
    assert command[:4] == ["python", "-m", "orchestration.cli", "review-report"]
    assert cli.main([*command[3:], "--output", str(environment / "again")]) == 0
    again = _report_files(environment / "again")
    for name, text in _figures(first).items():
        assert again[name] == text, name
    assert _evidence_figures(again) == _evidence_figures(first)
    assert _page_figures(environment / "again") == first_page


def test_snapshot_ids_are_read_as_the_report_writes_them():
    ids = {"ingest_ledger": 11, "findings": 22, "quarantine": None}
    assert parse_snapshot_ids(format_snapshot_ids(ids)) == ids


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ingest_ledger=1,findings=2", "missing for quarantine"),
        ("ingest_ledger=1,findings=x,quarantine=", "not an integer"),
        ("ingest_ledger=1,findings=2,quarantine=,alerts=4", "expected <table>=<snapshot id>"),
        ("ingest_ledger 1,findings=2,quarantine=", "expected <table>=<snapshot id>"),
    ],
)
def test_bad_snapshot_ids_are_refused_clearly(text: str, problem: str):
    with pytest.raises(ValueError, match=problem):
        parse_snapshot_ids(text)


SOME_IDS = "ingest_ledger=1,findings=2,quarantine="


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--month", MONTH, "--lake-snapshots", SOME_IDS], "--as-of"),
        (["--month", "March", "--lake-snapshots", SOME_IDS, "--as-of", "2024-03-20"], "YYYY-MM"),
        (["--month", MONTH, "--lake-snapshots", "findings=2", "--as-of", "2024-03-20"], "missing"),
    ],
)
def test_the_command_refuses_a_rerun_it_cannot_reproduce(arguments, problem, capsys):
    with pytest.raises(SystemExit):
        cli.main(["review-report", *arguments])
    assert problem in capsys.readouterr().err
