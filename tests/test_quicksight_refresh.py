"""SPICE refreshes, against a real boto3 client with Stubber.

Stubber validates every request and response against the botocore QuickSight model, and fails a
test on any call that was not expected. Sleep, clock and jitter are fakes: nothing waits.
"""

import logging
import re
import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from botocore.stub import ANY

from orchestration.defs.publish.quicksight_assets import spice_refresh
from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.publish.quicksight.errors import (
    IngestionErrorClass,
    IngestionFailed,
    QuickSightApiError,
    RefreshQuotaExceeded,
    RefreshTimedOut,
)
from orchestration.lib.publish.quicksight.marts import (
    dataset_id_for,
)
from orchestration.lib.publish.quicksight.refresh import (
    RefreshOptions,
    ingestion_id_for,
    refresh_dataset,
    refresh_datasets,
)
from orchestration.lib.publish.quicksight.refresh import (
    logger as refresh_logger,
)
from orchestration.lib.publish.quicksight.resource import QuickSightResource
from tests.helpers.quicksight_stubs import (
    ACCOUNT,
    NOW,
    PUBLISHED,
    REGION,
    FakeTime,
    expect_error,
    published_dataset_ids,
    stubbed_resource,
)

DATASET = "guardduty-fct-findings"
INGESTION = "run-1-guardduty-fct-findings"
DATASET_ARN_PREFIX = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/"


def options(fake_time: FakeTime, **overrides) -> RefreshOptions:
    values = {
        "refresh_budget": 8,
        "timeout_seconds": 3600,
        "poll_initial_seconds": 15,
        "poll_max_seconds": 60,
        "retry": RetryPolicy(max_attempts=4, base_delay_seconds=1, max_delay_seconds=30),
        "sleep": fake_time.sleep,
        "clock": fake_time.clock,
        "jitter": lambda: 0.5,
    }
    return RefreshOptions(**{**values, **overrides})


def ingestion(
    ingestion_id: str = INGESTION,
    status: str = "COMPLETED",
    created: datetime = NOW,
    dataset_id: str = DATASET,
    **fields,
) -> dict:
    return {
        "Arn": f"{DATASET_ARN_PREFIX}{dataset_id}/ingestion/{ingestion_id}",
        "IngestionId": ingestion_id,
        "IngestionStatus": status,
        "CreatedTime": created,
        **fields,
    }


def completed(ingestion_id: str = INGESTION, dataset_id: str = DATASET, dropped: int = 0) -> dict:
    return ingestion(
        ingestion_id,
        "COMPLETED",
        dataset_id=dataset_id,
        RowInfo={"RowsIngested": 1200, "RowsDropped": dropped, "TotalRowsInDataset": 1200},
        IngestionTimeInSeconds=42,
        IngestionSizeInBytes=65536,
    )


def ids(dataset_id: str = DATASET, ingestion_id: str = INGESTION) -> dict:
    return {"AwsAccountId": ACCOUNT, "DataSetId": dataset_id, "IngestionId": ingestion_id}


def expect_list(stub, ingestions=(), dataset_id=DATASET, next_token=None, token_in=None):
    request = {"AwsAccountId": ACCOUNT, "DataSetId": dataset_id, "MaxResults": 100}
    if token_in:
        request["NextToken"] = token_in
    response = {"Ingestions": list(ingestions), "Status": 200}
    if next_token:
        response["NextToken"] = next_token
    stub.add_response("list_ingestions", response, request)


def expect_create(stub, dataset_id=DATASET, ingestion_id=INGESTION):
    stub.add_response(
        "create_ingestion",
        {
            "Arn": ingestion(ingestion_id, dataset_id=dataset_id)["Arn"],
            "IngestionId": ingestion_id,
            "IngestionStatus": "INITIALIZED",
            "Status": 201,
        },
        {**ids(dataset_id, ingestion_id), "IngestionType": "FULL_REFRESH"},
    )


def expect_describe(stub, found: dict, dataset_id=DATASET, ingestion_id=INGESTION):
    stub.add_response(
        "describe_ingestion",
        {"Ingestion": found, "Status": 200},
        ids(dataset_id, ingestion_id),
    )


def refresh(client, fake_time, **overrides):
    return refresh_dataset(
        client,
        account_id=ACCOUNT,
        dataset_id=DATASET,
        ingestion_id=INGESTION,
        options=options(fake_time, **overrides),
    )


# ---------------------------------------------------------------------------------------------
# Refreshing one dataset


def test_a_refresh_starts_a_full_refresh_and_reports_rows_seconds_and_bytes(
    client, stub, fake_time
):
    expect_list(stub)
    expect_create(stub)
    expect_describe(stub, ingestion(status="RUNNING"))
    expect_describe(stub, completed())

    result = refresh(client, fake_time)

    assert result.status == "COMPLETED"
    assert result.ingestion_id == INGESTION
    assert (result.rows_ingested, result.rows_dropped) == (1200, 0)
    assert (result.seconds, result.bytes) == (42, 65536)
    assert result.warnings == ()
    assert fake_time.sleeps == [15]


def test_polling_backs_off_exponentially_up_to_the_maximum_interval(client, stub, fake_time):
    expect_list(stub)
    expect_create(stub)
    for _ in range(4):
        expect_describe(stub, ingestion(status="QUEUED"))
    expect_describe(stub, completed())

    refresh(client, fake_time)

    assert fake_time.sleeps == [15, 30, 60, 60]


def test_a_refresh_already_running_is_waited_for_then_this_run_refreshes(client, stub, fake_time):
    # The running ingestion may have started before this run rebuilt the marts: following it
    # alone would report stale data as refreshed.
    expect_list(stub, [completed("older-run"), ingestion("console-refresh", "RUNNING")])
    expect_describe(stub, ingestion("console-refresh", "RUNNING"), ingestion_id="console-refresh")
    expect_describe(stub, completed("console-refresh"), ingestion_id="console-refresh")
    expect_create(stub)
    expect_describe(stub, completed())

    result = refresh(client, fake_time)

    assert result.status == "COMPLETED"
    assert result.ingestion_id == INGESTION
    assert "waited for ingestion console-refresh" in result.message
    assert fake_time.sleeps == [15]


def test_a_running_ingestion_created_after_the_marts_were_rebuilt_is_this_run_s_refresh(
    client, stub, fake_time
):
    # E.g. the ingestion the dataset update of this run started: it reads the new marts.
    rebuilt = NOW - timedelta(minutes=10)
    fresh = ingestion("initial-ingestion", "RUNNING", created=NOW - timedelta(minutes=5))
    expect_list(stub, [fresh])
    expect_describe(stub, completed("initial-ingestion"), ingestion_id="initial-ingestion")

    result = refresh(client, fake_time, data_ready_at=rebuilt.timestamp())

    assert result.status == "COMPLETED"
    assert result.ingestion_id == "initial-ingestion"
    assert "created after the marts were rebuilt" in result.message


def test_a_running_ingestion_created_before_the_marts_were_rebuilt_is_followed_by_a_refresh(
    client, stub, fake_time
):
    stale = ingestion("console-refresh", "RUNNING", created=NOW - timedelta(minutes=30))
    expect_list(stub, [stale])
    expect_describe(stub, completed("console-refresh"), ingestion_id="console-refresh")
    expect_create(stub)
    expect_describe(stub, completed())

    result = refresh(client, fake_time, data_ready_at=(NOW - timedelta(minutes=10)).timestamp())

    assert result.ingestion_id == INGESTION


@pytest.mark.parametrize("status", ["INITIALIZED", "QUEUED", "RUNNING"])
def test_every_in_progress_status_is_waited_for(client, stub, fake_time, status):
    expect_list(stub, [ingestion("other", status)])
    expect_describe(stub, ingestion("other", "FAILED"), ingestion_id="other")
    expect_create(stub)
    expect_describe(stub, completed())

    assert refresh(client, fake_time).status == "COMPLETED"


def test_a_refresh_that_is_still_running_at_the_timeout_fails_as_not_refreshed_uncancelled(
    client, stub, fake_time
):
    expect_list(stub, [ingestion("console-refresh", "RUNNING")])
    for _ in range(3):
        expect_describe(
            stub, ingestion("console-refresh", "RUNNING"), ingestion_id="console-refresh"
        )

    with pytest.raises(RefreshTimedOut, match="not refreshed") as raised:
        refresh(client, fake_time, timeout_seconds=40)

    # Not this run's ingestion: it is left to finish, and nothing was created.
    assert "console-refresh" in str(raised.value)
    assert fake_time.sleeps == [15, 25]


def test_resource_exists_on_create_describes_the_existing_ingestion_instead(
    client, stub, fake_time
):
    expect_list(stub)
    expect_error(stub, "create_ingestion", "ResourceExistsException", 409)
    expect_describe(stub, completed())

    assert refresh(client, fake_time).status == "COMPLETED"


def test_a_retried_step_follows_its_own_ingestion_instead_of_creating_one(client, stub, fake_time):
    expect_list(stub, [ingestion(INGESTION, "RUNNING")])
    expect_describe(stub, completed())

    result = refresh(client, fake_time)

    assert result.status == "COMPLETED"
    assert result.ingestion_id == INGESTION


def test_throttling_is_retried_with_jittered_exponential_backoff(client, stub, fake_time):
    expect_list(stub)
    expect_error(stub, "create_ingestion", "ThrottlingException", 429)
    expect_error(stub, "create_ingestion", "ThrottlingException", 429)
    expect_create(stub)
    expect_describe(stub, completed())

    result = refresh(client, fake_time)

    assert result.status == "COMPLETED"
    # Full jitter: half (the fake jitter) of a 1 s, then 2 s cap.
    assert fake_time.sleeps == [0.5, 1.0]


def test_an_internal_failure_is_retried_then_succeeds(client, stub, fake_time):
    expect_list(stub)
    expect_create(stub)
    expect_error(stub, "describe_ingestion", "InternalFailureException", 500)
    expect_describe(stub, completed())

    assert refresh(client, fake_time).status == "COMPLETED"
    assert fake_time.sleeps == [0.5]


def test_throttling_retries_are_bounded(client, stub, fake_time):
    for _ in range(4):
        expect_error(stub, "list_ingestions", "ThrottlingException", 429)

    with pytest.raises(QuickSightApiError, match="still ThrottlingException after 4 attempts"):
        refresh(client, fake_time)

    assert len(fake_time.sleeps) == 3


def test_backoff_never_exceeds_the_maximum_delay(client, stub, fake_time):
    for _ in range(6):
        expect_error(stub, "list_ingestions", "InternalFailureException", 500)
    retry = RetryPolicy(max_attempts=6, base_delay_seconds=10, max_delay_seconds=25)

    with pytest.raises(QuickSightApiError):
        refresh(client, fake_time, retry=retry, jitter=lambda: 0.999)

    assert max(fake_time.sleeps) <= 25
    assert len(fake_time.sleeps) == 5


def test_limit_exceeded_fails_at_once_with_the_daily_quota_in_the_message(client, stub, fake_time):
    expect_list(stub)
    expect_error(stub, "create_ingestion", "LimitExceededException", 409)

    with pytest.raises(RefreshQuotaExceeded, match="daily refresh quota") as raised:
        refresh(client, fake_time)

    assert "Not retried" in str(raised.value)
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("error_type", "error_class", "advice"),
    [
        ("ACCOUNT_CAPACITY_LIMIT_EXCEEDED", IngestionErrorClass.CAPACITY, "SPICE capacity"),
        ("QUERY_TIMEOUT", IngestionErrorClass.TRANSIENT, "Rerun the asset"),
        ("SQL_SCHEMA_MISMATCH_ERROR", IngestionErrorClass.SCHEMA, "quicksight/datasets"),
        ("PERMISSION_DENIED", IngestionErrorClass.PERMISSION, "AWSQuicksightAthenaAccess"),
        ("DATA_SOURCE_NOT_FOUND", IngestionErrorClass.CONFIGURATION, "ATHENA_WORKGROUP"),
        ("INGESTION_SUPERSEDED", IngestionErrorClass.CANCELLED, "Rerun the asset"),
        ("IOT_FILE_NOT_FOUND", IngestionErrorClass.UNKNOWN, "Unclassified"),
    ],
)
def test_a_failed_ingestion_raises_its_error_type_message_class_and_what_to_do(
    client, stub, fake_time, error_type, error_class, advice
):
    expect_list(stub)
    expect_create(stub)
    error_info = {"Type": error_type, "Message": "details from QuickSight"}
    expect_describe(stub, ingestion(status="FAILED", ErrorInfo=error_info))

    with pytest.raises(IngestionFailed) as raised:
        refresh(client, fake_time)

    failure = raised.value
    assert (failure.status, failure.error_type, failure.error_class) == (
        "FAILED",
        error_type,
        error_class,
    )
    assert error_type in str(failure)
    assert "details from QuickSight" in str(failure)
    assert advice in str(failure)


def test_a_cancelled_ingestion_raises(client, stub, fake_time):
    expect_list(stub)
    expect_create(stub)
    expect_describe(stub, ingestion(status="CANCELLED"))

    with pytest.raises(IngestionFailed, match="CANCELLED") as raised:
        refresh(client, fake_time)

    assert raised.value.error_class is IngestionErrorClass.CANCELLED


def test_a_refresh_that_outlives_the_timeout_is_cancelled_and_fails(client, stub, fake_time):
    expect_list(stub)
    expect_create(stub)
    for _ in range(4):
        expect_describe(stub, ingestion(status="RUNNING"))
    stub.add_response(
        "cancel_ingestion",
        {"Arn": ingestion()["Arn"], "IngestionId": INGESTION, "Status": 202},
        ids(),
    )

    with pytest.raises(RefreshTimedOut, match="still RUNNING after 100s; cancelled it"):
        refresh(client, fake_time, timeout_seconds=100)

    # The last wait is cut to the time left, so the timeout is honoured exactly.
    assert fake_time.sleeps == [15, 30, 55]


def test_a_timeout_still_fails_when_the_cancel_itself_fails(client, stub, fake_time):
    expect_list(stub)
    expect_create(stub)
    expect_describe(stub, ingestion(status="RUNNING"))
    expect_describe(stub, ingestion(status="RUNNING"))
    expect_error(stub, "cancel_ingestion", "AccessDeniedException", 401)

    with pytest.raises(RefreshTimedOut, match="could not cancel it"):
        refresh(client, fake_time, timeout_seconds=10)


def test_dropped_rows_complete_the_refresh_with_a_warning(client, stub, fake_time, caplog):
    expect_list(stub)
    expect_create(stub)
    expect_describe(stub, completed(dropped=3))

    with caplog.at_level(logging.WARNING, logger=refresh_logger.name):
        result = refresh(client, fake_time)

    assert result.status == "COMPLETED"
    assert result.rows_dropped == 3
    assert len(result.warnings) == 1
    assert "3 rows dropped" in result.warnings[0]
    assert "3 rows dropped" in caplog.text


def test_an_exhausted_budget_fails_before_creating_and_says_when_the_next_refresh_is_possible(
    client, stub, fake_time
):
    in_window = [
        completed(f"run-{hour}") | {"CreatedTime": NOW - timedelta(hours=hour)}
        for hour in range(1, 9)
    ]
    expect_list(stub, in_window)

    with pytest.raises(RefreshQuotaExceeded, match="budget exhausted: 8 ingestions") as raised:
        refresh(client, fake_time, refresh_budget=8)

    # The oldest of the 8 (8 h ago) leaves the 24 h window in 16 h.
    assert (NOW + timedelta(hours=16)).isoformat() in str(raised.value)


def test_the_budget_counts_ingestions_of_the_last_24_hours_across_pages(client, stub, fake_time):
    recent = [
        completed(f"recent-{hour}") | {"CreatedTime": NOW - timedelta(hours=hour)}
        for hour in range(1, 8)
    ]
    older = [
        completed(f"old-{hour}") | {"CreatedTime": NOW - timedelta(hours=24, minutes=hour)}
        for hour in range(1, 10)
    ]
    expect_list(stub, recent[:4], next_token="page-2")
    expect_list(stub, recent[4:] + older, token_in="page-2")
    expect_create(stub)
    expect_describe(stub, completed())

    assert refresh(client, fake_time, refresh_budget=8).status == "COMPLETED"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AccessDeniedException", 401),
        ("ResourceNotFoundException", 404),
        ("InvalidParameterValueException", 400),
    ],
)
def test_client_errors_are_not_retried(client, stub, fake_time, code, status):
    expect_list(stub)
    expect_error(stub, "create_ingestion", code, status)

    with pytest.raises(QuickSightApiError) as raised:
        refresh(client, fake_time)

    assert raised.value.code == code
    assert fake_time.sleeps == []


def test_access_denied_says_which_permission_is_missing(client, stub, fake_time):
    expect_error(stub, "list_ingestions", "AccessDeniedException", 401)

    with pytest.raises(QuickSightApiError, match="quicksight:ListIngestions"):
        refresh(client, fake_time)


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
        options=options(fake_time),
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
        options=options(fake_time),
        max_workers=1,
    )

    assert outcome.failed
    assert isinstance(outcome.errors[first], IngestionFailed)
    assert outcome.results[second].status == "COMPLETED"


# ---------------------------------------------------------------------------------------------
# The asset and the resource


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

    refresh_options = resource.refresh_options(settings)

    assert refresh_options.refresh_budget == 8
    assert refresh_options.timeout_seconds == settings.quicksight_refresh_timeout_seconds
    assert refresh_options.retry.max_attempts == 3
    assert refresh_options.ingestion_type == "FULL_REFRESH"
