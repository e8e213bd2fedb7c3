import dagster as dg

from orchestration.defs.audit.assets import GUARDDUTY_API_BACKFILL
from orchestration.defs.audit.report_assets import REVIEW_REPORT
from orchestration.defs.ingest.assets import guardduty_lake
from orchestration.defs.ingest.maintenance import LAKE_MAINTENANCE
from orchestration.defs.publish.dashboard_assets import OFFLINE_DASHBOARD
from orchestration.lib.environment import get_settings

QUICKSIGHT_PREFIX = ["quicksight"]


def pipeline_selection(uses_athena: bool) -> dg.AssetSelection:
    """From the lake to the final stage: QuickSight on AWS, the HTML dashboard locally."""
    # The GuardDuty API backfill and lake maintenance run in their own jobs, not every run.
    everything = dg.AssetSelection.all() - dg.AssetSelection.assets(
        GUARDDUTY_API_BACKFILL, LAKE_MAINTENANCE
    )
    if uses_athena:
        # The monthly AU-6 report has its own schedule there; locally `make run` writes it too.
        return everything - dg.AssetSelection.assets(OFFLINE_DASHBOARD, REVIEW_REPORT)
    return everything - dg.AssetSelection.key_prefixes(QUICKSIGHT_PREFIX)


guardduty_pipeline = dg.define_asset_job(
    "guardduty_pipeline",
    selection=pipeline_selection(get_settings().uses_athena),
    description="Ingest new raw findings, build the dbt models and publish the dashboards.",
)

guardduty_ingest = dg.define_asset_job(
    "guardduty_ingest",
    # The ingest writes its three lake tables in one step: a job takes all of them or none. The
    # sensor starts it whenever objects arrive; the lake's health checks, which read up to 90
    # days of findings, run with the pipeline and the backfill instead.
    selection=dg.AssetSelection.assets(guardduty_lake).without_checks(),
    description=(
        "Ingest new raw findings into the Iceberg lake only (its health checks run with the "
        "pipeline)."
    ),
)

guardduty_history_backfill = dg.define_asset_job(
    "guardduty_history_backfill",
    selection=dg.AssetSelection.assets(GUARDDUTY_API_BACKFILL, guardduty_lake),
    description=(
        "Pull findings of the retention window (and their archive state) from the GuardDuty API "
        "into the raw source, then ingest them."
    ),
)
