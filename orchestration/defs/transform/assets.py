"""The dbt project as assets: incremental models daily-partitioned, the rest unpartitioned."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.transform.partitions import DAILY_PARTITIONS
from orchestration.defs.transform.project import dbt_project
from orchestration.lib.environment import Settings, temporary_environment
from orchestration.lib.lake import reader
from orchestration.lib.lake.catalog import open_lake
from orchestration.lib.transform.backfill_window import backfill_window_environment
from orchestration.lib.transform.dbt_artifacts import keep_parse_state, prune_invocations
from orchestration.lib.transform.translator import GuardDutyDbtTranslator

# The country seed goes with the incremental models: the endpoint marts among them read it, and a
# partitioned run may come before any run of the other models.
INCREMENTAL_SELECTOR = "config.materialized:incremental country_codes"
WAREHOUSE_POOL = "guardduty_warehouse"
# The run tag of the lake snapshots its dbt steps read, as JSON {"run_id": ..., "snapshots": ...}.
LAKE_PIN_TAG = "guardduty/lake_snapshots"

TRANSLATOR = GuardDutyDbtTranslator()


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    # dbt's unit tests check the models' code on fixed inputs: `make test` runs them, a pipeline
    # run need not. Add "test" to skip the data tests (the dbt asset checks) of a build.
    exclude_resource_types: list[str] = ["unit_test"]


def dbt_build_args(config: DbtBuildConfig) -> list[str]:
    """`dbt build` arguments for a run's config."""
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    for resource_type in config.exclude_resource_types:
        args += ["--exclude-resource-type", resource_type]
    return args


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=INCREMENTAL_SELECTOR,
    partitions_def=DAILY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    dagster_dbt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
    name="dbt_incremental_models",
)
def dbt_incremental_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    config: DbtBuildConfig,
    settings: dg.ResourceParam[Settings],
) -> Iterator[Any]:
    window = context.partition_time_window
    # Cautious: a test that also reads a mart of the other asset waits for that asset's run.
    args = [*dbt_build_args(config), "--indirect-selection", "cautious"]
    window_environment = backfill_window_environment(window.start, window.end)
    yield from _build_on_pinned_lake(context, dbt, args, settings, window_environment)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=INCREMENTAL_SELECTOR,
    dagster_dbt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
    name="dbt_models",
)
def dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    config: DbtBuildConfig,
    settings: dg.ResourceParam[Settings],
) -> Iterator[Any]:
    args = dbt_build_args(config)
    yield from _build_on_pinned_lake(context, dbt, args, settings)


def _build_on_pinned_lake(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    args: list[str],
    settings: Settings,
    environment: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """Run dbt on the run's pinned snapshot of each lake table, recorded in the outputs' metadata.

    On DuckDB dbt reads exactly these snapshots (dbt_duckdb_plugin); Athena reads the Iceberg
    tables at query time, so there the ids record the lake as the build started.
    """
    # Imported here: the plugin loads dbt-duckdb and DuckDB, which the definitions do not need.
    from orchestration.lib.lake.dbt_duckdb_plugin import snapshots_environment

    snapshot_ids = pin_for_run(context, settings)
    lake_metadata = {
        f"lake_snapshot_{name}": str(snapshot_id) for name, snapshot_id in snapshot_ids.items()
    }
    context.log.info("dbt reads lake snapshots %s", snapshot_ids)
    # dagster-dbt copies this process's environment when it starts dbt.
    with temporary_environment({**snapshots_environment(snapshot_ids), **(environment or {})}):
        invocation = dbt.cli(args, context=context)
        for event in invocation.stream():
            yield (
                event.with_metadata({**event.metadata, **lake_metadata})
                if isinstance(event, dg.Output)
                else event
            )
    # Where dagster-dbt seeds every invocation from: the project's target/, or DBT_TARGET_PATH.
    base_target = invocation.target_path.parent
    keep_parse_state(invocation.target_path, base_target)
    prune_invocations(base_target)


def pin_for_run(context: dg.AssetExecutionContext, settings: Settings) -> dict[str, int | None]:
    """The lake snapshots of this run: pinned by its first dbt step and kept in a run tag, so
    every later dbt step of the run reads the same lake whatever commits in between.

    The warehouse pool runs one dbt step at a time, so the steps of a run cannot both pin. The
    tag names its run: a re-execution copies its parent's tags but pins the lake afresh.
    """
    run_id = context.run.run_id
    # Read afresh: the run's tags as this step started may predate an earlier step's pin.
    run = context.instance.get_run_by_id(run_id)
    recorded = json.loads(run.tags.get(LAKE_PIN_TAG, "{}")) if run else {}
    if recorded.get("run_id") == run_id:
        return recorded["snapshots"]
    snapshot_ids = reader.pin(open_lake(settings)).snapshot_ids
    pin = {"run_id": run_id, "snapshots": snapshot_ids}
    context.instance.add_run_tags(run_id, {LAKE_PIN_TAG: json.dumps(pin)})
    return snapshot_ids
