"""The code location: it loads, shows the whole lineage, and its schedule and sensor behave."""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator
from dagster_aws.s3 import S3Resource
from moto import mock_aws

from orchestration.lib.publish.schedule_policy import REFRESHES_PER_DAY, pipeline_cron
from tests.helpers.finding_fixtures import a_finding, to_bytes
from tests.helpers.fresh_definitions import definitions_loaded_afresh
from tests.helpers.settings import settings_resources

CONTRACT_MARTS = [
    "fct_findings",
    "fct_finding_remote_endpoints",
    "agg_findings_by_severity",
    "agg_findings_by_action_type",
    "agg_findings_by_country",
    "ingest_quarantine",
]


@pytest.fixture(scope="module")
def definitions():
    from orchestration.definitions import defs

    return defs()


def key(*parts: str) -> dg.AssetKey:
    return dg.AssetKey(list(parts))


def test_definitions_load_with_every_contract_table_as_an_asset(definitions):
    keys = definitions.resolve_all_asset_keys()
    for mart in [*CONTRACT_MARTS, "stg_guardduty__findings"]:
        assert key(mart) in keys
    for asset in (
        key("raw", "guardduty_findings"),
        key("lake", "findings"),
        key("lake", "quarantine"),
        key("quicksight", "datasets"),
        key("quicksight", "spice_refresh"),
        key("reports", "offline_dashboard"),
    ):
        assert asset in keys


def test_lineage_runs_raw_to_lake_to_staging_to_marts_to_quicksight(definitions):
    graph = definitions.resolve_asset_graph()

    def upstream(asset: dg.AssetKey) -> set[dg.AssetKey]:
        return set(graph.get(asset).parent_keys)

    assert key("raw", "guardduty_findings") in upstream(key("lake", "findings"))
    assert key("lake", "findings") in upstream(key("stg_guardduty__findings"))
    assert key("lake", "quarantine") in upstream(key("stg_guardduty__quarantine"))
    assert key("fct_findings") in upstream(key("quicksight", "spice_refresh"))
    assert key("fct_finding_remote_endpoints") in upstream(key("reports", "offline_dashboard"))
    assert key("quicksight", "datasets") in upstream(key("quicksight", "dashboard"))


def test_every_contract_mart_has_dbt_tests_as_asset_checks(definitions):
    graph = definitions.resolve_asset_graph()
    checked = {check.asset_key for check in graph.asset_check_keys}
    for mart in CONTRACT_MARTS:
        assert key(mart) in checked, mart


@pytest.mark.parametrize("target", ["duckdb", "athena"])
def test_every_job_resolves_on_both_targets(target):
    # Job selections differ by target; a selection that splits a multi-asset fails only at load.
    jobs = definitions_loaded_afresh(target).jobs
    assert {"guardduty_pipeline", "guardduty_ingest", "guardduty_history_backfill"} <= jobs


def test_the_lake_health_checks_run_with_the_pipeline_and_backfill_not_every_sensor_ingest(
    definitions,
):
    def lake_checks(job_name: str) -> set[str]:
        job = definitions.resolve_job_def(job_name)
        return {name for name in job.graph.node_names() if name.startswith("lake__findings_")}

    health_checks = {
        "lake__findings_findings_lake_fresh",
        "lake__findings_findings_sources_reporting",
        "lake__findings_findings_match_guardduty",
    }
    assert lake_checks("guardduty_ingest") == set()
    assert lake_checks("guardduty_pipeline") == health_checks
    assert lake_checks("guardduty_history_backfill") == health_checks


def test_dbt_models_are_grouped_by_layer(definitions):
    graph = definitions.resolve_asset_graph()
    assert graph.get(key("stg_guardduty__findings")).group_name == "staging"
    assert graph.get(key("fct_findings")).group_name == "marts"


def test_the_local_pipeline_leaves_out_quicksight_and_production_the_offline_dashboard(
    definitions,
):
    from orchestration.defs.pipeline.jobs import pipeline_selection

    graph = definitions.resolve_asset_graph()
    local = pipeline_selection(uses_athena=False).resolve(graph)
    production = pipeline_selection(uses_athena=True).resolve(graph)
    assert key("reports", "offline_dashboard") in local
    assert not {key("quicksight", "datasets"), key("quicksight", "spice_refresh")} & local
    assert key("quicksight", "spice_refresh") in production
    assert key("reports", "offline_dashboard") not in production
    assert key("reports", "review_report") in local
    assert key("reports", "review_report") not in production
    assert key("lake", "findings") in local and key("fct_findings") in production


@pytest.mark.parametrize("edition", ["STANDARD", "ENTERPRISE"])
def test_default_schedule_stays_within_the_quicksight_refresh_quota(edition):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    runs = 0
    for tick in cron_string_iterator(start.timestamp(), pipeline_cron(edition), "UTC"):
        if tick >= start + timedelta(hours=24):
            break
        runs += 1
    assert 0 < runs <= REFRESHES_PER_DAY[edition] - 4


def test_a_configured_pipeline_cron_replaces_the_edition_default():
    assert pipeline_cron("STANDARD", "45 23 * * *") == "45 23 * * *"
    assert pipeline_cron("STANDARD", "") == pipeline_cron("STANDARD")


def test_schedule_requests_a_partition_that_exists_for_the_day_it_runs(definitions):
    from orchestration.defs.pipeline.schedules import guardduty_pipeline_schedule

    scheduled = datetime(2026, 11, 27, 23, 15, tzinfo=UTC)
    request = guardduty_pipeline_schedule(
        dg.build_schedule_context(scheduled_execution_time=scheduled)
    )
    assert request.partition_key == "2026-11-27"
    job = definitions.resolve_job_def("guardduty_pipeline")
    assert request.partition_key in job.partitions_def.get_partition_keys(current_time=scheduled)


def test_sensor_requests_an_ingest_run_only_when_new_objects_arrive(fresh_settings, monkeypatch):
    from orchestration.defs.pipeline.sensors import new_raw_objects_sensor

    raw = fresh_settings / "raw"
    raw.mkdir()
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", str(raw))
    (raw / "one.json").write_bytes(to_bytes(a_finding()))
    resources = {"s3": S3Resource(), **settings_resources()}

    first = new_raw_objects_sensor(dg.build_sensor_context(resources=resources))
    assert isinstance(first, dg.RunRequest)
    with dg.build_sensor_context(resources=resources, cursor=None) as context:
        new_raw_objects_sensor(context)
        cursor = context.cursor
    assert cursor

    unchanged = new_raw_objects_sensor(dg.build_sensor_context(resources=resources, cursor=cursor))
    assert isinstance(unchanged, dg.SkipReason)

    later = raw / "two.json"
    later.write_bytes(to_bytes(a_finding(id="two")))
    future = datetime.fromisoformat(cursor).timestamp() + 60
    os.utime(later, (future, future))
    again = new_raw_objects_sensor(dg.build_sensor_context(resources=resources, cursor=cursor))
    assert isinstance(again, dg.RunRequest)
    assert again.tags["guardduty/new_objects"] == "1"


def test_sensor_lists_s3_with_a_last_modified_cursor(fresh_settings, monkeypatch):
    from orchestration.defs.pipeline.sensors import new_raw_objects_sensor

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", "s3://sensor-raw/guardduty")
    with mock_aws():
        resources = {"s3": S3Resource(region_name="us-east-1"), **settings_resources()}
        client = resources["s3"].get_client()
        client.create_bucket(Bucket="sensor-raw")
        empty = new_raw_objects_sensor(dg.build_sensor_context(resources=resources))
        assert isinstance(empty, dg.SkipReason)
        client.put_object(Bucket="sensor-raw", Key="guardduty/a.json", Body=b"{}")
        with dg.build_sensor_context(resources=resources) as context:
            assert isinstance(new_raw_objects_sensor(context), dg.RunRequest)
            cursor = context.cursor
        again = new_raw_objects_sensor(dg.build_sensor_context(resources=resources, cursor=cursor))
        assert isinstance(again, dg.SkipReason)


def test_steps_and_sensor_ticks_share_one_s3_client_per_configuration(definitions, monkeypatch):
    from orchestration.lib.aws.s3 import CachedS3Resource

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001")
    resource = definitions.resources["s3"]
    assert isinstance(resource, CachedS3Resource)
    first = resource.get_client()

    with dg.build_sensor_context(resources={"s3": resource}) as context:
        assert context.resources.s3 is first
    assert CachedS3Resource(region_name=resource.region_name, max_attempts=5).get_client() is first
    assert CachedS3Resource(region_name="eu-west-3").get_client() is not first

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9002")
    moved = resource.get_client()
    assert moved is not first
    assert moved.meta.endpoint_url == "http://127.0.0.1:9002"
