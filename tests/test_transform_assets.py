import json
import os
import sys
from datetime import datetime
from graphlib import TopologicalSorter
from pathlib import Path

import dagster as dg
import pytest
from dagster_dbt import DbtCliResource

from orchestration.defs.transform.project import dbt_project
from orchestration.lib.environment import get_settings
from orchestration.lib.lake import reader
from orchestration.lib.lake.catalog import open_lake
from orchestration.lib.lake.dbt_duckdb_plugin import SNAPSHOTS_VARIABLE
from orchestration.lib.transform.backfill_window import (
    FIRST_DATE,
    LAST_DATE,
    backfill_window_environment,
)
from orchestration.lib.transform.dbt_resource import DbtCli
from orchestration.lib.transform.translator import dbt_group_name
from tests.helpers.dbt_lake_builder import finding, write_batch
from tests.helpers.settings import settings_resources


def _assets_module():
    from orchestration.defs.transform import assets

    return assets


def test_a_daily_partition_becomes_a_one_day_inclusive_window():
    assert backfill_window_environment(datetime(2024, 3, 1), datetime(2024, 3, 2)) == {
        "GUARDDUTY_BACKFILL_FIRST_DATE": "2024-03-01",
        "GUARDDUTY_BACKFILL_LAST_DATE": "2024-03-01",
    }


def test_a_backfill_range_becomes_its_first_and_last_day():
    assert backfill_window_environment(datetime(2024, 2, 27), datetime(2024, 3, 2)) == {
        "GUARDDUTY_BACKFILL_FIRST_DATE": "2024-02-27",
        "GUARDDUTY_BACKFILL_LAST_DATE": "2024-03-01",
    }


def test_a_pipeline_build_skips_unit_tests_and_passes_no_vars():
    assets = _assets_module()
    config = assets.DbtBuildConfig(full_refresh=True)
    assert assets.dbt_build_args(config) == [
        "build",
        "--full-refresh",
        "--exclude-resource-type",
        "unit_test",
    ]


def test_a_build_can_also_skip_the_data_tests():
    assets = _assets_module()
    config = assets.DbtBuildConfig(exclude_resource_types=["unit_test", "test"])
    assert assets.dbt_build_args(config) == [
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--exclude-resource-type",
        "test",
    ]


def test_groups_come_from_the_layer_folder():
    assert dbt_group_name({"fqn": ["guardduty", "marts", "findings", "fct_findings"]}) == "marts"
    assert dbt_group_name({"fqn": ["guardduty", "staging", "guardduty", "stg"]}) == "staging"
    assert dbt_group_name({"resource_type": "seed", "fqn": ["guardduty", "c"]}) == "seeds"


def test_asset_keys_groups_and_lake_dependencies():
    assets = _assets_module()
    incremental, rest = assets.dbt_incremental_models, assets.dbt_models
    assert {
        dg.AssetKey(["stg_guardduty__findings"]),
        dg.AssetKey(["int_findings_current"]),
        dg.AssetKey(["int_lake_batches_processed"]),
        # The fact and daily marts recompute only what changed, so they are incremental too.
        dg.AssetKey(["fct_findings"]),
        dg.AssetKey(["agg_findings_by_country"]),
    } <= set(incremental.keys)
    assert incremental.partitions_def is not None and rest.partitions_def is None
    specs = {**incremental.specs_by_key, **rest.specs_by_key}
    for key in ("fct_findings", "agg_findings_by_country", "ingest_quarantine"):
        assert specs[dg.AssetKey([key])].group_name == "marts"
        assert "Grain:" in specs[dg.AssetKey([key])].description
    assert dg.AssetKey(["lake", "findings"]) in incremental.dependency_keys
    assert dg.AssetKey(["lake", "ingest_ledger"]) in incremental.dependency_keys
    assert dg.AssetKey(["lake", "quarantine"]) in rest.dependency_keys
    assert any(
        check.asset_key == dg.AssetKey(["fct_findings"]) for check in incremental.check_specs
    )


@pytest.mark.integration
def test_every_model_compiles_and_parses_for_athena():
    from tools.athena_check import main

    assert main() == 0


class _DbtThatRecordsTheLakeItReads(DbtCliResource):
    """Instead of dbt: note the snapshots and the backfill window a dbt process would read, then
    commit a new batch."""

    lake_dir: str

    def cli(self, args, *, context=None, **kwargs):
        reads = Path(self.lake_dir).parent / "dbt-reads.jsonl"
        window = [os.environ.get(FIRST_DATE), os.environ.get(LAST_DATE)]
        with reads.open("a") as log:
            log.write(json.dumps([json.loads(os.environ[SNAPSHOTS_VARIABLE]), window]) + "\n")
        batch = f"after-read-{len(reads.read_text().splitlines())}"
        write_batch(Path(self.lake_dir), batch, "2024-03-02T00:00:00Z", [finding(batch)])
        return _EveryOutputAsNone(context, Path(self.lake_dir).parent / "target" / batch)

    def reads(self) -> list[dict]:
        return [snapshots for snapshots, _ in self._log()]

    def windows(self) -> list[list[str | None]]:
        return [window for _, window in self._log()]

    def _log(self) -> list[list]:
        lines = (Path(self.lake_dir).parent / "dbt-reads.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


class _EveryOutputAsNone:
    def __init__(self, context, target_path: Path):
        self.context = context
        self.target_path = target_path
        target_path.mkdir(parents=True)

    def stream(self):
        assets_def = self.context.assets_def
        output_by_key = {key: name for name, key in assets_def.node_keys_by_output_name.items()}
        selected = self.context.op_execution_context.selected_output_names
        graph = {key: assets_def.asset_deps.get(key, set()) for key in output_by_key}
        for key in TopologicalSorter(graph).static_order():
            if output_by_key.get(key) in selected:
                yield dg.Output(None, output_name=output_by_key[key])


def _recording_dbt(lake_dir: Path) -> _DbtThatRecordsTheLakeItReads:
    return _DbtThatRecordsTheLakeItReads(
        project_dir=str(dbt_project.project_dir),
        dbt_executable=str(Path(sys.executable).parent / "dbt"),
        lake_dir=str(lake_dir),
    )


@pytest.mark.integration
def test_the_dbt_steps_of_one_run_read_the_lake_its_first_dbt_step_pinned(fresh_settings):
    assets = _assets_module()
    lake_dir = Path(get_settings().lake_uri)
    write_batch(lake_dir, "before-the-run", "2024-03-01T00:00:00Z", [finding("a")])
    before_the_run = reader.pin(open_lake(get_settings())).snapshot_ids
    dbt = _recording_dbt(lake_dir)

    result = dg.materialize(
        [assets.dbt_incremental_models, assets.dbt_models],
        partition_key="2024-03-01",
        resources={"dbt": dbt, **settings_resources()},
    )

    assert result.success
    # A batch committed after each step: the second step still read the lake of the first.
    assert dbt.reads() == [before_the_run, before_the_run]
    # The partitioned step re-reads its day; the window is not left behind for the next step.
    assert dbt.windows() == [["2024-03-01", "2024-03-01"], [None, None]]
    assert reader.pin(open_lake(get_settings())).snapshot_ids != before_the_run
    materialized = result.asset_materializations_for_node("dbt_models")
    assert materialized[0].metadata["lake_snapshot_findings"].value == str(
        before_the_run["findings"]
    )


@pytest.mark.integration
def test_each_run_pins_the_lake_afresh(fresh_settings):
    assets = _assets_module()
    lake_dir = Path(get_settings().lake_uri)
    write_batch(lake_dir, "before-the-runs", "2024-03-01T00:00:00Z", [finding("a")])
    dbt = _recording_dbt(lake_dir)
    resources = {"dbt": dbt, **settings_resources()}
    instance = dg.DagsterInstance.ephemeral()

    dg.materialize([assets.dbt_models], resources=resources, instance=instance)
    dg.materialize([assets.dbt_models], resources=resources, instance=instance)

    first_run, second_run = dbt.reads()
    assert second_run["findings"] != first_run["findings"]


def test_the_dbt_resource_starts_one_dbt_process_per_command_and_opens_no_adapter(tmp_path):
    calls = tmp_path / "calls.txt"
    recording_dbt = tmp_path / "dbt"
    recording_dbt.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    recording_dbt.chmod(0o755)
    resource = DbtCli(
        project_dir=str(dbt_project.project_dir),
        profiles_dir=str(dbt_project.project_dir),
        target="duckdb",
        dbt_executable=str(recording_dbt),
    )

    invocation = resource.cli(["parse"], manifest=dbt_project.manifest_path).wait()

    assert [line.split()[0] for line in calls.read_text().splitlines()] == ["parse"]
    assert invocation.adapter is None
