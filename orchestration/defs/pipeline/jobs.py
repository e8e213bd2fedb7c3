import dagster as dg

from orchestration.defs.audit.assets import GUARDDUTY_API_BACKFILL
from orchestration.defs.ingest.assets import LAKE_FINDINGS, LAKE_QUARANTINE
from orchestration.lib.environment import get_settings

QUICKSIGHT_PREFIX = ["quicksight"]
OFFLINE_DASHBOARD = dg.AssetKey(["reports", "offline_dashboard"])
# In production the monthly AU-6 report has its own schedule; locally `make run` writes it too.
REVIEW_REPORT = dg.AssetKey(["reports", "review_report"])


def pipeline_selection(is_production: bool) -> dg.AssetSelection:
    """From the lake to the final stage: QuickSight on AWS, the HTML dashboard locally."""
    # The GuardDuty API backfill runs on demand or in its own job, not every pipeline run.
    everything = dg.AssetSelection.all() - dg.AssetSelection.keys(GUARDDUTY_API_BACKFILL)
    if is_production:
        return everything - dg.AssetSelection.keys(OFFLINE_DASHBOARD, REVIEW_REPORT)
    return everything - dg.AssetSelection.key_prefixes(QUICKSIGHT_PREFIX)


guardduty_pipeline = dg.define_asset_job(
    "guardduty_pipeline",
    selection=pipeline_selection(get_settings().is_production),
    description="Ingest new raw findings, build the dbt models and publish the dashboards.",
)

guardduty_ingest = dg.define_asset_job(
    "guardduty_ingest",
    selection=dg.AssetSelection.keys(LAKE_FINDINGS, LAKE_QUARANTINE),
    description="Ingest new raw findings into the Parquet lake only.",
)

guardduty_history_backfill = dg.define_asset_job(
    "guardduty_history_backfill",
    selection=dg.AssetSelection.keys(GUARDDUTY_API_BACKFILL, LAKE_FINDINGS, LAKE_QUARANTINE),
    description=(
        "Pull findings of the retention window (and their archive state) from the GuardDuty API "
        "into the raw source, then ingest them."
    ),
)
