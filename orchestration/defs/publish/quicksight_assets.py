"""Publish the marts to QuickSight: datasets and the dashboard as code, and SPICE refreshes."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
from botocore.exceptions import BotoCoreError, ClientError

from orchestration.lib.environment import Settings
from orchestration.lib.publish.quicksight.dashboard import create_dashboard_request
from orchestration.lib.publish.quicksight.dashboard_deploy import deploy_dashboard
from orchestration.lib.publish.quicksight.datasets import ensure_data_source_and_datasets
from orchestration.lib.publish.quicksight.errors import QuickSightError
from orchestration.lib.publish.quicksight.marts import (
    build_dataset_specs,
    dataset_id_for,
    load_published_marts,
)
from orchestration.lib.publish.quicksight.refresh import RefreshOutcome, refresh_datasets
from orchestration.lib.publish.quicksight.resource import QuickSightResource

MART_ASSET_KEYS = [dg.AssetKey([mart]) for mart in load_published_marts()]
QUICKSIGHT_DATASETS = dg.AssetKey(["quicksight", "datasets"])
SPICE_REFRESH = dg.AssetKey(["quicksight", "spice_refresh"])
QUICKSIGHT_DASHBOARD = dg.AssetKey(["quicksight", "dashboard"])

QUICKSIGHT_VARIABLES = (
    "QUICKSIGHT_ACCOUNT_ID (required: the 12-digit AWS account id)",
    "AWS_REGION (the Region of the QuickSight datasets)",
    "QUICKSIGHT_PRINCIPAL_ARN (the user or group the datasets are shared with)",
    "QUICKSIGHT_DASHBOARD_OWNER_ARNS and QUICKSIGHT_DASHBOARD_VIEWER_ARNS (who sees the dashboard)",
    "QUICKSIGHT_EDITION (STANDARD or ENTERPRISE: sets the daily refresh budget)",
    "ATHENA_WORKGROUP and ATHENA_SCHEMA (where the marts are)",
)


def _require_quicksight(settings: Settings) -> None:
    if not settings.quicksight_configured:
        raise dg.Failure(
            description=(
                "QuickSight is not configured: set "
                + "; ".join(QUICKSIGHT_VARIABLES)
                + ". Without AWS, use the offline dashboard instead."
            ),
            allow_retries=False,
        )


@contextmanager
def _quicksight_step(settings: Settings) -> Iterator[None]:
    """Fail the step, without retries, if QuickSight is not configured or refuses a call."""
    _require_quicksight(settings)
    try:
        yield
    except (QuickSightError, ClientError, BotoCoreError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error


@dg.asset(
    key=QUICKSIGHT_DATASETS,
    group_name="publish",
    deps=MART_ASSET_KEYS,
    kinds={"quicksight"},
    description=(
        "The Athena data source and one SPICE dataset per mart, with columns and types from the "
        "marts' enforced dbt contracts; created, or fully updated when the definition changed."
    ),
)
def quicksight_datasets(
    context: dg.AssetExecutionContext,
    quicksight: QuickSightResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    # Depends on the marts so that the tables (and their contract columns) exist before a
    # dataset is created or updated: both start an ingestion that reads them.
    with _quicksight_step(settings):
        specs = build_dataset_specs(settings)
        deployed = ensure_data_source_and_datasets(quicksight.get_client(), settings, specs)
    context.log.info(
        "data source %s %s; datasets: %s",
        deployed.data_source_id,
        deployed.data_source_action,
        ", ".join(f"{key} {action}" for key, action in deployed.dataset_actions.items()),
    )
    metadata: dict[str, dg.RawMetadataValue] = {
        "data_source_id": deployed.data_source_id,
        "data_source_action": deployed.data_source_action,
    }
    for spec in specs:
        metadata[f"{spec.mart}.dataset_id"] = spec.dataset_id
        metadata[f"{spec.mart}.action"] = deployed.dataset_actions[spec.dataset_id]
        metadata[f"{spec.mart}.columns"] = len(spec.columns)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=QUICKSIGHT_DASHBOARD,
    group_name="publish",
    deps=[QUICKSIGHT_DATASETS],
    kinds={"quicksight"},
    description=(
        "The QuickSight dashboard as code (findings and archive compliance sheets), built from the "
        "marts' dbt contracts; a new version is published only once QuickSight has built it, and "
        "nothing is deployed when its definition is unchanged."
    ),
)
def quicksight_dashboard(
    context: dg.AssetExecutionContext,
    quicksight: QuickSightResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    with _quicksight_step(settings):
        request = create_dashboard_request(settings, build_dataset_specs(settings))
        deployed = deploy_dashboard(
            quicksight.get_client(),
            request,
            options=quicksight.dashboard_options(),
            log=context.log,
        )
    if not request.get("Permissions"):
        context.log.warning(
            "No QUICKSIGHT_DASHBOARD_OWNER_ARNS or QUICKSIGHT_PRINCIPAL_ARN: the dashboard has no "
            "permissions and only QuickSight admins can grant access to it."
        )
    context.log.info(
        "dashboard %s %s (published version %s)",
        deployed.dashboard_id,
        deployed.action,
        deployed.version_number,
    )
    return dg.MaterializeResult(
        metadata={
            "dashboard_id": deployed.dashboard_id,
            "action": deployed.action,
            "published_version": dg.MetadataValue.int(deployed.version_number or 0),
            "version_description": deployed.version_description,
            "sheets": len(request["Definition"]["Sheets"]),
        }
    )


def _marts_rebuilt_at(instance: dg.DagsterInstance) -> float | None:
    """When the last published mart was materialized (epoch seconds); None if one never was."""
    events = [instance.get_latest_materialization_event(key) for key in MART_ASSET_KEYS]
    if any(event is None for event in events):
        return None
    return max(event.timestamp for event in events if event is not None)


def _refresh_metadata(outcome: RefreshOutcome, marts: dict[str, str]) -> dict:
    metadata: dict[str, dg.RawMetadataValue] = {}
    rows = ["| mart | status | rows ingested | rows dropped | seconds |", "|---|---|---|---|---|"]
    for dataset_id, mart in marts.items():
        result = outcome.results.get(dataset_id)
        if result is None:
            rows.append(f"| {mart} | FAILED | | | |")
            metadata[f"{mart}.status"] = "FAILED"
            continue
        metadata[f"{mart}.status"] = result.status
        metadata[f"{mart}.ingestion_id"] = result.ingestion_id or ""
        if result.message:
            metadata[f"{mart}.message"] = result.message
        metadata[f"{mart}.rows_ingested"] = dg.MetadataValue.int(result.rows_ingested or 0)
        metadata[f"{mart}.rows_dropped"] = dg.MetadataValue.int(result.rows_dropped or 0)
        metadata[f"{mart}.seconds"] = dg.MetadataValue.int(result.seconds or 0)
        metadata[f"{mart}.bytes"] = dg.MetadataValue.int(result.bytes or 0)
        rows.append(
            f"| {mart} | {result.status} | {result.rows_ingested or ''} | "
            f"{result.rows_dropped if result.rows_dropped is not None else ''} | "
            f"{result.seconds or ''} |"
        )
    metadata["summary"] = dg.MetadataValue.md("\n".join(rows))
    return metadata


@dg.asset(
    key=SPICE_REFRESH,
    group_name="publish",
    deps=[*MART_ASSET_KEYS, QUICKSIGHT_DATASETS],
    kinds={"quicksight"},
    description=(
        "A FULL_REFRESH SPICE ingestion of every mart dataset, within the edition's daily refresh "
        "budget; an ingestion already running is waited for first, since it may predate the marts."
    ),
)
def spice_refresh(
    context: dg.AssetExecutionContext,
    quicksight: QuickSightResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    _require_quicksight(settings)
    marts = {
        dataset_id_for(settings.quicksight_dataset_prefix, mart): mart
        for mart in load_published_marts()
    }
    outcome = refresh_datasets(
        quicksight.get_client(),
        account_id=settings.quicksight_account_id,
        dataset_ids=list(marts),
        run_id=context.run.run_id,
        options=quicksight.refresh_options(settings, _marts_rebuilt_at(context.instance)),
        max_workers=settings.quicksight_max_concurrent_refreshes,
        log=context.log,
    )
    metadata = _refresh_metadata(outcome, marts)
    if outcome.failed:
        # Raised only now, so that every dataset got its chance to refresh.
        messages = [str(error) for error in outcome.errors.values()]
        for message in messages:
            context.log.error(message)
        raise dg.Failure(
            description=(
                f"{len(messages)} of {len(marts)} SPICE refreshes failed:\n- "
                + "\n- ".join(messages)
            ),
            metadata=metadata,
            allow_retries=False,
        )
    return dg.MaterializeResult(metadata=metadata)
