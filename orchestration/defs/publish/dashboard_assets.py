"""Publish the marts offline: an interactive HTML dashboard, with PNG and SVG charts."""

import dagster as dg

from orchestration.lib.environment import ConfigurationError, Settings
from orchestration.lib.publish.dashboard_data import load_dashboard_data
from orchestration.lib.publish.marts import MissingMartsError
from orchestration.lib.transform.exposures import OFFLINE_DASHBOARD_EXPOSURE, load_exposure

OFFLINE_DASHBOARD = dg.AssetKey(["reports", "offline_dashboard"])
DASHBOARD_MART_KEYS = [
    dg.AssetKey([mart]) for mart in load_exposure(OFFLINE_DASHBOARD_EXPOSURE).marts
]


class OfflineDashboardConfig(dg.Config):
    """Where in the DuckDB warehouse the marts are."""

    schema_name: str = "main"


@dg.asset(
    key=OFFLINE_DASHBOARD,
    group_name="publish",
    deps=DASHBOARD_MART_KEYS,
    # The warehouse pool keeps this reader from running while dbt holds DuckDB's one write lock.
    pool="guardduty_warehouse",
    kinds={"duckdb", "html"},
    description=(
        "index.html in GUARDDUTY_REPORT_DIR: one self-contained interactive dashboard (Vega-Lite, "
        "no network needed) with filters for dates, account, Region and severity: KPIs, findings "
        "by severity and action type, a world map by remote country, the daily trend, top finding "
        "types and countries, archive compliance; each chart also as png/*.png and svg/*.svg."
    ),
)
def offline_dashboard(
    context: dg.AssetExecutionContext,
    config: OfflineDashboardConfig,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    # altair takes about a second to import: load it when the dashboard is drawn, not whenever
    # the code location loads.
    from orchestration.lib.publish.offline_dashboard import write_dashboard

    if settings.uses_athena:
        raise dg.Failure(
            description=(
                "DBT_TARGET=athena: the marts are in Athena, not in the local DuckDB file; "
                "QuickSight is the dashboard there (the quicksight/* assets)."
            ),
            allow_retries=False,
        )
    try:
        data = load_dashboard_data(settings.duckdb_path, schema=config.schema_name)
    except (MissingMartsError, ConfigurationError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    files = write_dashboard(data, settings.report_dir)
    context.log.info("dashboard written to %s", files.html_path)
    time_range = {
        "first_seen_at": data.first_seen_at.isoformat() + "Z" if data.first_seen_at else "",
        "last_seen_at": data.last_seen_at.isoformat() + "Z" if data.last_seen_at else "",
    }
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(files.html_path)),
            "html_bytes": dg.MetadataValue.int(files.html_path.stat().st_size),
            "png_dir": dg.MetadataValue.path(str(files.html_path.parent / "png")),
            "total_findings": dg.MetadataValue.int(data.total_findings),
            "total_occurrences": dg.MetadataValue.int(data.total_occurrences),
            "critical_and_high_findings": dg.MetadataValue.int(data.critical_and_high_count),
            "countries": dg.MetadataValue.int(data.country_count),
            **time_range,
            "findings_by_severity": dg.MetadataValue.json(data.severity_counts),
        }
    )
