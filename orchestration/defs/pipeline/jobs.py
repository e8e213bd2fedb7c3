import dagster as dg

from orchestration.defs.ingest.assets import LAKE_FINDINGS, LAKE_QUARANTINE
from orchestration.lib.environment import get_settings

QUICKSIGHT_PREFIX = ["quicksight"]
OFFLINE_DASHBOARD = dg.AssetKey(["reports", "offline_dashboard"])


def pipeline_selection(is_production: bool) -> dg.AssetSelection:
    """From the lake to the final stage: QuickSight on AWS, the HTML dashboard locally."""
    if is_production:
        return dg.AssetSelection.all() - dg.AssetSelection.keys(OFFLINE_DASHBOARD)
    return dg.AssetSelection.all() - dg.AssetSelection.key_prefixes(QUICKSIGHT_PREFIX)


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
