"""SPICE refreshes of several datasets, their ingestion ids, and the spice_refresh asset and
QuickSight resource that run them, against a real boto3 client with Stubber.
"""

import re
import threading
from datetime import UTC, datetime

import dagster as dg
import pytest
from botocore.stub import ANY

from orchestration.defs.publish.quicksight_assets import spice_refresh
from orchestration.lib.publish.quicksight.errors import IngestionFailed
from orchestration.lib.publish.quicksight.marts import dataset_id_for
from orchestration.lib.publish.quicksight.refresh import (
    ingestion_id_for,
    refresh_datasets,
)
from orchestration.lib.publish.quicksight.resource import QuickSightResource
from tests.helpers.quicksight_stubs import (
    ACCOUNT,
    PUBLISHED,
    REGION,
    expect_error,
    published_dataset_ids,
    stubbed_resource,
)
from tests.helpers.spice_stubs import (
    DATASET,
    completed,
    expect_create,
    expect_describe,
    expect_list,
    ingestion,
    refresh_options,
)

# ---------------------------------------------------------------------------------------------
# Ingestion ids


def test_ingestion_ids_are_deterministic_per_run_and_dataset():
    run_id = "0f2b3c4d-aaaa-bbbb-cccc-1234567890ab"

    assert ingestion_id_for(run_id, DATASET) == ingestion_id_for(run_id, DATASET)
    assert ingestion_id_for(run_id, DATASET) != ingestion_id_for(run_id, "guardduty-other")
    assert ingestion_id_for(run_id, DATASET) != ingestion_id_for("another-run", DATASET)


@pytest.mark.parametrize("dataset_id", [DATASET, "x" * 128, "odd id/with:chars"])
def test_ingestion_ids_match_the_api_pattern_and_length(dataset_id):
    ingestion_id = ingestion_id_for("0f2b3c4d-aaaa-bbbb-cccc-1234567890ab", dataset_id)

    assert re.fullmatch(r"[a-zA-Z0-9-_]+", ingestion_id)
    assert 1 <= len(ingestion_id) <= 128


def test_long_ingestion_ids_stay_distinct():
    first = ingestion_id_for("run", "x" * 200 + "a")
    second = ingestion_id_for("run", "x" * 200 + "b")

    assert first != second


# ---------------------------------------------------------------------------------------------
# Several datasets


class ConcurrencyProbe:
    """A fake QuickSight client that records how many refreshes are in flight at once."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.bound_reached = threading.Event()
        self.never_set = threading.Event()

    def list_ingestions(self, **request):
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            if self.active >= self.bound:
                self.bound_reached.set()
        # Hold each refresh until the bound is reached, then a moment longer, so that a pool
        # larger than the bound would be caught running more at once.
        self.bound_reached.wait(timeout=5)
        self.never_set.wait(timeout=0.05)
        return {"Ingestions": []}

    def create_ingestion(self, **request):
        return {"IngestionId": request["IngestionId"], "IngestionStatus": "INITIALIZED"}

    def describe_ingestion(self, **request):
        with self.lock:
            self.active -= 1
        return {"Ingestion": completed(request["IngestionId"], request["DataSetId"])}


def test_datasets_refresh_concurrently_but_never_more_than_the_bound(fake_time):
    probe = ConcurrencyProbe(bound=2)
    dataset_ids = [dataset_id_for("guardduty", mart) for mart in PUBLISHED]

    outcome = refresh_datasets(
        probe,
        account_id=ACCOUNT,
        dataset_ids=dataset_ids,
        run_id="run-1",
        options=refresh_options(fake_time),
        max_workers=2,
    )

    assert not outcome.failed
    assert list(outcome.results) == dataset_ids
    assert probe.max_active == 2


def test_one_failing_dataset_does_not_stop_the_others(client, stub, fake_time):
    first, second = "guardduty-agg-findings-by-severity", "guardduty-fct-findings"
    first_id, second_id = ingestion_id_for("run-1", first), ingestion_id_for("run-1", second)
    expect_list(stub, dataset_id=first)
    expect_create(stub, first, first_id)
    expect_describe(
        stub,
        ingestion(first_id, "FAILED", dataset_id=first, ErrorInfo={"Type": "QUERY_TIMEOUT"}),
        first,
        first_id,
    )
    expect_list(stub, dataset_id=second)
    expect_create(stub, second, second_id)
    expect_describe(stub, completed(second_id, second), second, second_id)

    outcome = refresh_datasets(
        client,
        account_id=ACCOUNT,
        dataset_ids=[first, second],
        run_id="run-1",
        options=refresh_options(fake_time),
        max_workers=1,
    )

    assert outcome.failed
    assert isinstance(outcome.errors[first], IngestionFailed)
    assert outcome.results[second].status == "COMPLETED"


# ---------------------------------------------------------------------------------------------
# The asset and the resource


@pytest.mark.integration
def test_spice_refresh_materializes_with_rows_per_dataset(client, stub, asset_settings):
    for dataset_id in published_dataset_ids():
        expect_list(stub, dataset_id=dataset_id)
        stub.add_response(
            "create_ingestion",
            {"IngestionId": "x", "IngestionStatus": "INITIALIZED", "Status": 201},
            {
                "AwsAccountId": ACCOUNT,
                "DataSetId": dataset_id,
                "IngestionId": ANY,
                "IngestionType": "FULL_REFRESH",
            },
        )
        stub.add_response(
            "describe_ingestion",
            {"Ingestion": completed(dataset_id=dataset_id)},
            {"AwsAccountId": ACCOUNT, "DataSetId": dataset_id, "IngestionId": ANY},
        )

    result = dg.materialize(
        [spice_refresh],
        resources={"quicksight": stubbed_resource(client), "settings": asset_settings},
    )

    assert result.success
    [materialization] = result.asset_materializations_for_node("quicksight__spice_refresh")
    metadata = materialization.metadata
    assert materialization.asset_key == dg.AssetKey(["quicksight", "spice_refresh"])
    assert metadata["fct_findings.rows_ingested"].value == 1200
    assert metadata["fct_findings.rows_dropped"].value == 0
    assert metadata["fct_findings.seconds"].value == 42
    assert metadata["fct_findings.bytes"].value == 65536
    assert metadata["fct_findings.ingestion_id"].value.endswith("-guardduty-fct-findings")
    assert ACCOUNT not in str(metadata)


@pytest.mark.integration
def test_spice_refresh_counts_an_ingestion_started_after_the_marts_were_materialized(
    client, stub, asset_settings
):
    instance = dg.DagsterInstance.ephemeral()
    for mart in PUBLISHED:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=mart))
    # Every dataset is being loaded by an ingestion created now, after those materializations.
    for dataset_id in published_dataset_ids():
        running = ingestion(
            "dataset-update", "RUNNING", created=datetime.now(UTC), dataset_id=dataset_id
        )
        expect_list(stub, [running], dataset_id=dataset_id)
        stub.add_response(
            "describe_ingestion",
            {"Ingestion": completed("dataset-update", dataset_id)},
            {"AwsAccountId": ACCOUNT, "DataSetId": dataset_id, "IngestionId": "dataset-update"},
        )

    result = dg.materialize(
        [spice_refresh],
        resources={"quicksight": stubbed_resource(client), "settings": asset_settings},
        instance=instance,
    )

    assert result.success
    [materialization] = result.asset_materializations_for_node("quicksight__spice_refresh")
    assert materialization.metadata["fct_findings.ingestion_id"].value == "dataset-update"


@pytest.mark.integration
def test_spice_refresh_fails_after_all_datasets_ran_with_every_message(
    client, stub, asset_settings
):
    failing = {"guardduty-agg-findings-by-country", "guardduty-fct-findings"}
    for dataset_id in published_dataset_ids():
        expect_list(stub, dataset_id=dataset_id)
        if dataset_id == "guardduty-agg-findings-by-country":
            expect_error(stub, "create_ingestion", "LimitExceededException", 409)
            continue
        stub.add_response("create_ingestion", {"IngestionId": "x", "Status": 201})
        found = completed(dataset_id=dataset_id)
        if dataset_id == "guardduty-fct-findings":
            found = ingestion(
                status="FAILED",
                dataset_id=dataset_id,
                ErrorInfo={"Type": "SQL_TABLE_NOT_FOUND", "Message": "no table"},
            )
        stub.add_response("describe_ingestion", {"Ingestion": found})

    result = dg.materialize(
        [spice_refresh],
        resources={"quicksight": stubbed_resource(client), "settings": asset_settings},
        raise_on_error=False,
    )

    assert not result.success
    [failure] = result.get_step_failure_events()
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith(f"{len(failing)} of 7 SPICE refreshes failed")
    assert "daily refresh quota" in description
    assert "SQL_TABLE_NOT_FOUND" in description


def test_spice_refresh_depends_on_the_marts_and_the_datasets():
    spec = next(iter(spice_refresh.specs))

    assert {dep.asset_key for dep in spec.deps} == {
        dg.AssetKey(["agg_findings_by_severity"]),
        dg.AssetKey(["agg_findings_by_action_type"]),
        dg.AssetKey(["agg_findings_by_country"]),
        dg.AssetKey(["fct_findings"]),
        dg.AssetKey(["fct_finding_remote_endpoints"]),
        dg.AssetKey(["agg_archive_compliance_by_severity"]),
        dg.AssetKey(["fct_findings_open_past_target"]),
        dg.AssetKey(["quicksight", "datasets"]),
    }
    assert spec.group_name == "publish"


def test_the_resource_builds_a_standard_retry_mode_client():
    resource = QuickSightResource(region_name="eu-west-1", max_attempts=7)

    quicksight_client = resource.get_client()

    assert quicksight_client.meta.region_name == "eu-west-1"
    # botocore counts max_attempts as retries after the first call.
    assert quicksight_client.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}


def test_refresh_options_follow_the_edition_and_timeout(settings):
    resource = QuickSightResource(region_name=REGION, api_max_attempts=3)

    options = resource.refresh_options(settings)

    assert options.refresh_budget == 8
    assert options.timeout_seconds == settings.quicksight_refresh_timeout_seconds
    assert options.retry.max_attempts == 3
    assert options.ingestion_type == "FULL_REFRESH"
