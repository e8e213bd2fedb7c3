"""The offline dashboard: marts in a small DuckDB file -> one interactive HTML page, PNG and SVG.

The page in a browser is in test_dashboard_browser.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import vl_convert

from orchestration.defs.publish.dashboard_assets import OFFLINE_DASHBOARD, offline_dashboard
from orchestration.lib.environment import ConfigurationError
from orchestration.lib.publish.dashboard_data import DashboardData, load_dashboard_data
from orchestration.lib.publish.html import write_atomically
from orchestration.lib.publish.marts import MissingMartsError
from orchestration.lib.publish.offline_dashboard import (
    chart_specs,
    dashboard_spec,
    render_dashboard_html,
    write_dashboard,
)
from orchestration.lib.publish.world_map import load_world_map, mapped_codes
from tests.helpers.dashboard_marts import (
    FINDINGS,
    FIRST_DAY,
    HOSTILE_COUNTRY_NAME,
    PNG_SIGNATURE,
    build_marts,
)
from tests.helpers.settings import settings_resources

CHARTS = (
    "severity",
    "action_types",
    "map",
    "trend",
    "finding_types",
    "countries",
    "archive_compliance",
    "open_past_target",
)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    build_marts(path)
    return path


@pytest.fixture
def dashboard_data(warehouse: Path) -> DashboardData:
    return load_dashboard_data(warehouse)


# --------------------------------------------------------------------------------------------
# Reading the marts


def test_every_finding_lies_in_exactly_one_cell(dashboard_data: DashboardData) -> None:
    assert dashboard_data.findings.total("finding_count") == len(FINDINGS)
    assert dashboard_data.finding_types.total("finding_count") == len(FINDINGS)
    assert dashboard_data.compliance.total("finding_count") == len(FINDINGS)
    assert dashboard_data.findings.total("occurrence_count") == sum(f[5] for f in FINDINGS)
    assert dashboard_data.total_findings == len(FINDINGS)
    assert dashboard_data.account_count == 2 and dashboard_data.region_count == 2


def test_cells_carry_the_filter_columns(dashboard_data: DashboardData) -> None:
    assert dashboard_data.findings.columns[:4] == (
        "finding_date",
        "account_id",
        "region",
        "severity_label",
    )
    assert set(dashboard_data.findings.column("finding_date")) == {
        "2024-05-01",
        "2024-05-02",
        "2024-05-04",
    }
    assert dashboard_data.findings.total("finding_count", region="eu-west-1") == 1


def test_all_four_severity_labels_are_counted_even_at_zero(dashboard_data: DashboardData) -> None:
    assert dashboard_data.severity_counts == {"Critical": 2, "High": 2, "Medium": 2, "Low": 0}
    assert dashboard_data.critical_and_high_count == 4


def test_a_finding_counts_once_per_country_and_unknown_countries_are_named(
    dashboard_data: DashboardData,
) -> None:
    countries = dashboard_data.countries
    assert countries.total("finding_count", country_code="US") == 2
    assert countries.total("finding_count", country_name="Unknown") == 1
    assert countries.total("finding_count", country_code="DE") == 1
    assert HOSTILE_COUNTRY_NAME in countries.column("country_name")
    assert dashboard_data.country_count == 6  # CN RU US BR SG DE; the unknown one is no country
    assert dashboard_data.countries_by_code["SG"].latitude == pytest.approx(1.35)


def test_compliance_cells_count_archives_within_target_and_open_past_it(
    dashboard_data: DashboardData,
) -> None:
    compliance = dashboard_data.compliance
    assert compliance.total("archived_within_target_count") == 1  # f0 in 2 h; f2 too late
    assert compliance.total("open_past_target_count", severity_label="Critical") == 2
    assert compliance.total("open_past_target_count", severity_label="Medium") == 1


def test_time_range_is_the_activity_seen(dashboard_data: DashboardData) -> None:
    assert dashboard_data.first_seen_at == FIRST_DAY - timedelta(hours=1)
    assert dashboard_data.last_seen_at == FIRST_DAY + timedelta(days=3, hours=4)
    assert dashboard_data.generated_at.tzinfo is UTC


def test_schema_is_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    build_marts(path, schema="marts")
    assert load_dashboard_data(path, schema="marts").total_findings == len(FINDINGS)
    with pytest.raises(ConfigurationError):
        load_dashboard_data(path, schema="marts; drop table x")


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MissingMartsError, match="build the dbt marts first"):
        load_dashboard_data(tmp_path / "absent.duckdb")


def test_missing_mart_is_a_clear_error(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("drop table fct_finding_archive_times")
    with pytest.raises(MissingMartsError, match="build the dbt marts first"):
        load_dashboard_data(warehouse)


def test_reading_never_takes_the_write_lock(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True):
        assert load_dashboard_data(warehouse).total_findings == len(FINDINGS)


# --------------------------------------------------------------------------------------------
# The page


def test_filters_are_parameters_bound_to_inputs(dashboard_data: DashboardData) -> None:
    params = {param["name"]: param for param in dashboard_spec(dashboard_data)["params"]}
    assert list(params) == ["date_from", "date_to", "account", "region", "severity"]
    assert params["date_from"]["value"] == "2024-05-01"
    assert params["date_to"]["value"] == "2024-05-04"
    assert params["date_from"]["bind"]["input"] == "date"
    assert params["account"]["bind"]["options"] == ["", "111111111110", "111111111111"]
    assert params["region"]["bind"]["options"] == ["", "eu-west-1", "us-east-1"]
    assert params["severity"]["bind"]["options"] == ["", "Critical", "High", "Medium", "Low"]
    assert params["severity"]["bind"]["labels"][0] == "All severities"


def test_the_dashboard_and_every_exported_chart_are_valid_vega_lite(
    dashboard_data: DashboardData,
) -> None:
    from altair.utils.schemapi import validate_jsonschema
    from altair.vegalite.v6.schema import load_schema

    schema = load_schema()
    specs = {"dashboard": dashboard_spec(dashboard_data), **chart_specs(dashboard_data)}
    for name, spec in specs.items():
        assert validate_jsonschema(spec, schema, raise_error=False) is None, name
    broken = {**specs["severity"], "mark": {"type": "no-such-mark"}}
    assert validate_jsonschema(broken, schema, raise_error=False) is not None


def test_data_and_map_are_embedded(dashboard_data: DashboardData) -> None:
    datasets = dashboard_spec(dashboard_data)["datasets"]
    assert datasets["world"]["type"] == "Topology"
    assert len(load_world_map()["objects"]["countries"]["geometries"]) > 170
    assert {"US", "CN", "DE", "FR"} <= mapped_codes() and "SG" not in mapped_codes()
    # Too small for the map: drawn as a dot where its endpoints are.
    assert [point["country_code"] for point in datasets["country_points"]] == ["SG"]
    [findings] = datasets["findings"]
    assert sum(findings["finding_count"]) == len(FINDINGS)


def test_page_is_self_contained_under_a_strict_policy(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    [policy] = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy.startswith("default-src 'none'; script-src 'unsafe-inline';")
    assert "unsafe-eval" not in policy and "http" not in policy
    assert not re.search(r"""<[^>]+\s(?:src|href)=["']?(?:https?:|//)""", page)
    assert "vegaEmbed(" in page and "ast: true" in page


def test_untrusted_strings_cannot_break_out_of_the_page(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    data_block = page[page.index('id="dashboard-spec">') : page.index("</script>")]
    assert "<" not in data_block[len('id="dashboard-spec">') :]
    assert "Recon:EC2/\\u003cscript\\u003ealert('x')\\u003c/script\\u003e" in data_block
    assert HOSTILE_COUNTRY_NAME not in page and "<img src=x" not in page
    spec = json.loads(data_block[len('id="dashboard-spec">') :])
    assert HOSTILE_COUNTRY_NAME in spec["datasets"]["countries"][0]["country_name"]


def test_header_states_totals_and_time_range(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    assert "Activity seen: 2024-05-01 07:30 UTC to 2024-05-04 12:30 UTC" in page
    assert "6 current findings, 59 occurrences" in page


def test_write_dashboard_writes_the_page_and_every_chart_as_png_and_svg(
    dashboard_data: DashboardData, tmp_path: Path
) -> None:
    report_dir = tmp_path / "reports"
    files = write_dashboard(dashboard_data, report_dir)
    assert files.html_path == report_dir / "index.html"
    assert files.html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert set(files.png_paths) == set(files.svg_paths) == set(CHARTS)
    for name in CHARTS:
        content = files.png_paths[name].read_bytes()
        assert content.startswith(PNG_SIGNATURE), name
        width, height = int.from_bytes(content[16:20]), int.from_bytes(content[20:24])
        assert width > 300 and height > 150
        svg = files.svg_paths[name].read_text(encoding="utf-8")
        assert "<svg" in svg and "<script" not in svg
    severity_svg = files.svg_paths["severity"].read_text(encoding="utf-8")
    assert "Findings by severity, High: 2" in severity_svg
    assert not [p for p in report_dir.rglob("*") if p.name.endswith(".tmp")]


def test_exported_charts_are_filtered_like_the_page_opens(dashboard_data: DashboardData) -> None:
    specs = chart_specs(dashboard_data)
    assert list(specs) == list(CHARTS)
    severity = specs["severity"]
    assert {param["name"]: param["value"] for param in severity["params"]} == {
        "date_from": "2024-05-01",
        "date_to": "2024-05-04",
        "account": "",
        "region": "",
        "severity": "",
    }
    assert set(severity["datasets"]) == {"findings"}
    assert set(specs["map"]["datasets"]) == {"countries", "world", "country_points"}
    vl_convert.vegalite_to_vega(severity)


def test_files_are_replaced_whole_and_readable(tmp_path: Path) -> None:
    page = tmp_path / "reports" / "index.html"
    write_atomically(page, b"old")
    page.chmod(0o444)
    write_atomically(page, b"new")
    assert page.read_bytes() == b"new"
    assert page.stat().st_mode & 0o777 == 0o644
    assert [path.name for path in page.parent.iterdir()] == ["index.html"]


def test_empty_marts_render_an_empty_dashboard(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    build_marts(path)
    with duckdb.connect(str(path)) as connection:
        for table in ("fct_findings", "fct_finding_remote_endpoints", "fct_finding_archive_times"):
            connection.execute(f"delete from {table}")
    data = load_dashboard_data(path)
    assert data.total_findings == 0 and data.first_seen_at is None
    assert "Activity seen: no findings" in render_dashboard_html(data)
    files = write_dashboard(data, tmp_path / "report")
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in files.png_paths.values())


# --------------------------------------------------------------------------------------------
# Dagster asset


@pytest.fixture
def local_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, warehouse: Path) -> Path:
    """The embedded default, with the warehouse of this test and a temporary report folder."""
    monkeypatch.setenv("GUARDDUTY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("GUARDDUTY_REPORT_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    return tmp_path / "reports"


def test_offline_dashboard_asset_spec() -> None:
    spec = offline_dashboard.get_asset_spec(OFFLINE_DASHBOARD)
    assert spec.key == dg.AssetKey(["reports", "offline_dashboard"])
    assert spec.group_name == "publish"
    assert {dep.asset_key for dep in spec.deps} == {
        dg.AssetKey([name])
        for name in ("fct_findings", "fct_finding_remote_endpoints", "fct_finding_archive_times")
    }
    assert offline_dashboard.node_def.pool == "guardduty_warehouse"


@pytest.mark.integration
def test_offline_dashboard_asset_writes_the_report(local_settings: Path) -> None:
    result = dg.materialize([offline_dashboard], resources=settings_resources())
    assert result.success
    [materialization] = result.asset_materializations_for_node("reports__offline_dashboard")
    metadata = materialization.metadata
    assert metadata["path"] == dg.MetadataValue.path(str(local_settings / "index.html"))
    assert metadata["total_findings"].value == len(FINDINGS)
    assert metadata["first_seen_at"].value == "2024-05-01T07:30:00Z"
    assert metadata["last_seen_at"].value == "2024-05-04T12:30:00Z"
    assert metadata["html_bytes"].value == (local_settings / "index.html").stat().st_size
    assert (local_settings / "png" / "map.png").read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.integration
def test_offline_dashboard_asset_reads_the_configured_schema(
    local_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "marts.duckdb"
    build_marts(other, schema="marts")
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(other))
    config = {"ops": {"reports__offline_dashboard": {"config": {"schema_name": "marts"}}}}
    assert dg.materialize(
        [offline_dashboard], resources=settings_resources(), run_config=config
    ).success


@pytest.mark.integration
def test_offline_dashboard_asset_fails_clearly_without_marts(
    local_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(tmp_path / "absent.duckdb"))
    with pytest.raises(dg.Failure, match="build the dbt marts first"):
        dg.materialize([offline_dashboard], resources=settings_resources())
