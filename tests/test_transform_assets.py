from datetime import datetime

import dagster as dg
import pytest

from orchestration.lib.transform.translator import dbt_group_name


def _assets_module():
    from orchestration.defs.transform import assets

    return assets


def test_a_daily_partition_becomes_a_one_day_inclusive_window():
    assets = _assets_module()
    assert assets.partition_window_vars(datetime(2024, 3, 1), datetime(2024, 3, 2)) == {
        "min_date": "2024-03-01",
        "max_date": "2024-03-01",
    }


def test_a_backfill_range_becomes_its_first_and_last_day():
    assets = _assets_module()
    assert assets.partition_window_vars(datetime(2024, 2, 27), datetime(2024, 3, 2)) == {
        "min_date": "2024-02-27",
        "max_date": "2024-03-01",
    }


def test_a_pipeline_build_skips_unit_tests_and_passes_the_window():
    assets = _assets_module()
    config = assets.DbtBuildConfig(full_refresh=True)
    args = assets.dbt_build_args(config, {"min_date": "2024-03-01"})
    assert args[:2] == ["build", "--full-refresh"]
    assert args[2:4] == ["--exclude-resource-type", "unit_test"]
    assert args[4:] == ["--vars", '{"min_date": "2024-03-01"}']
    assert assets.dbt_build_args(assets.DbtBuildConfig()) == [
        "build",
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
