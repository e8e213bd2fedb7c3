"""Refreshing one SPICE dataset, against a real boto3 client with Stubber: waiting for a refresh
already running, polling with backoff, retries, failures, timeouts and the daily budget.

Stubber validates every request and response against the botocore QuickSight model, and fails a
test on any call that was not expected. Sleep, clock and jitter are fakes: nothing waits.
"""

import logging
from datetime import timedelta

import pytest

from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.publish.quicksight.errors import (
    IngestionErrorClass,
    IngestionFailed,
    QuickSightApiError,
    RefreshQuotaExceeded,
    RefreshTimedOut,
)
from orchestration.lib.publish.quicksight.refresh import logger as refresh_logger
from orchestration.lib.publish.quicksight.refresh import refresh_dataset
from tests.helpers.quicksight_stubs import ACCOUNT, NOW, expect_error
from tests.helpers.spice_stubs import (
    DATASET,
    INGESTION,
    completed,
    expect_create,
    expect_describe,
    expect_list,
    ids,
    ingestion,
    refresh_options,
)


def refresh(client, fake_time, **overrides):
    return refresh_dataset(
        client,
        account_id=ACCOUNT,
        dataset_id=DATASET,
        ingestion_id=INGESTION,
        options=refresh_options(fake_time, **overrides),
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
