"""QuickSight datasets as code and SPICE refreshes, against a real boto3 client with Stubber.

Stubber validates every request and response against the botocore QuickSight model, and fails a
test on any call that was not expected. Sleep, clock and jitter are fakes: nothing waits.
"""

import logging
import re
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import dagster as dg
import pytest
from botocore.stub import ANY, Stubber

from orchestration.defs.publish import quicksight_assets
from orchestration.defs.publish.quicksight_assets import quicksight_datasets, spice_refresh
from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.environment import DBT_PROJECT_DIR, load_settings
from orchestration.lib.publish.quicksight import marts
from orchestration.lib.publish.quicksight.datasets import (
    DATA_SOURCE_ACTIONS,
    DATASET_ACTIONS,
    ensure_data_source_and_datasets,
)
from orchestration.lib.publish.quicksight.errors import (
    IngestionErrorClass,
    IngestionFailed,
    MartSchemaError,
    QuickSightApiError,
    QuickSightError,
    RefreshQuotaExceeded,
    RefreshTimedOut,
)
from orchestration.lib.publish.quicksight.marts import (
    build_dataset_specs,
    dataset_id_for,
    load_mart_columns,
    load_published_marts,
    quicksight_type,
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

FIXTURE_MARTS = Path(__file__).parent / "fixtures" / "quicksight_marts"
ACCOUNT = "123456789012"
REGION = "us-east-1"
PRINCIPAL = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/guardduty-authors"
DATASET = "guardduty-fct-findings"
INGESTION = "run-1-guardduty-fct-findings"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DATASET_ARN_PREFIX = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/"
DATA_SOURCE_ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:datasource/guardduty-athena"
PUBLISHED = [
    "agg_findings_by_severity",
    "agg_findings_by_action_type",
    "agg_findings_by_country",
    "fct_findings",
    "fct_finding_remote_endpoints",
    "agg_archive_compliance_by_severity",
    "fct_findings_open_past_target",
]


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self, start: datetime = NOW) -> None:
        self.now = start.timestamp()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client():
    return boto3.client(
        "quicksight",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def stub(client):
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("QUICKSIGHT_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("QUICKSIGHT_PRINCIPAL_ARN", PRINCIPAL)
    monkeypatch.setenv("QUICKSIGHT_EDITION", "STANDARD")
    monkeypatch.setenv("QUICKSIGHT_MAX_CONCURRENT_REFRESHES", "1")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("ATHENA_WORKGROUP", "guardduty")
    monkeypatch.setenv("ATHENA_SCHEMA", "guardduty_marts")
    monkeypatch.delenv("QUICKSIGHT_DATASET_PREFIX", raising=False)
    monkeypatch.delenv("QUICKSIGHT_DATA_SOURCE_ID", raising=False)
    return load_settings()


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


def expect_error(stub, operation: str, code: str, status: int, expected_params=None):
    stub.add_client_error(
        operation,
        service_error_code=code,
        service_message=f"{code} from the stub",
        http_status_code=status,
        expected_params=expected_params,
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
# Dataset declarations


@pytest.mark.parametrize(
    ("dbt_type", "expected"),
    [
        ("varchar", ("STRING", None)),
        ("VARCHAR(64)", ("STRING", None)),
        ("bigint", ("INTEGER", None)),
        ("integer", ("INTEGER", None)),
        ("double", ("DECIMAL", "FLOAT")),
        ("decimal(10, 2)", ("DECIMAL", "FIXED")),
        ("timestamp(6)", ("DATETIME", None)),
        ("timestamp with time zone", ("DATETIME", None)),
        ("date", ("DATETIME", None)),
        ("boolean", ("BOOLEAN", None)),
        ("{{ dbt.type_string() }}", ("STRING", None)),
        ("{{ dbt.type_timestamp() }}", ("DATETIME", None)),
    ],
)
def test_dbt_data_types_map_to_quicksight_input_types(dbt_type, expected):
    assert quicksight_type(dbt_type) == expected


@pytest.mark.parametrize("dbt_type", ["array(varchar)", "map(varchar, varchar)", "row(a int)"])
def test_nested_types_are_refused_with_advice(dbt_type):
    with pytest.raises(MartSchemaError, match="flatten"):
        quicksight_type(dbt_type)


def test_columns_come_from_the_mart_yaml_with_map_roles():
    columns = load_mart_columns(FIXTURE_MARTS)

    assert set(columns) == set(PUBLISHED)
    endpoints = {column.name: column for column in columns["fct_finding_remote_endpoints"]}
    assert endpoints["latitude"].type == "DECIMAL"
    assert endpoints["latitude"].geographic_role == "LATITUDE"
    assert endpoints["longitude"].geographic_role == "LONGITUDE"
    assert endpoints["country_code"].geographic_role == "COUNTRY"
    assert endpoints["ip_version"].type == "INTEGER"
    findings = {column.name: column for column in columns["fct_findings"]}
    assert findings["created_at"].type == "DATETIME"
    assert findings["is_archived"].type == "BOOLEAN"
    # A column's dbt meta sets a role the naming convention does not know.
    assert findings["remote_country_code"].geographic_role == "COUNTRY"


def publish(marts_dir: Path, mart: str, *required_columns: str) -> None:
    """Declare ``mart`` in a quicksight_datasets exposure under ``marts_dir``."""
    (marts_dir / "_exposures.yml").write_text(
        f"""
exposures:
  - name: quicksight_datasets
    type: analysis
    owner: {{name: tests}}
    depends_on: ["ref('{mart}')"]
    config:
      meta:
        quicksight:
          datasets:
            {mart}: {{title: A mart, required_columns: {list(required_columns)}}}
"""
    )


def test_the_published_marts_are_the_exposure_s_dependencies_with_titles():
    published = load_published_marts(FIXTURE_MARTS)

    assert list(published) == PUBLISHED
    assert published["fct_findings"].title == "GuardDuty findings (detail)"
    assert "finding_date" in published["fct_finding_remote_endpoints"].required_columns


def test_marts_without_the_exposure_are_an_error(tmp_path):
    with pytest.raises(MartSchemaError, match="No dbt exposure quicksight_datasets"):
        load_published_marts(tmp_path)


def test_an_exposure_whose_dependencies_and_datasets_differ_is_an_error(tmp_path):
    publish(tmp_path, "fct_findings")
    text = (tmp_path / "_exposures.yml").read_text()
    (tmp_path / "_exposures.yml").write_text(text.replace("ref('fct_findings')", "ref('other')"))

    with pytest.raises(MartSchemaError, match="must name the same marts"):
        load_published_marts(tmp_path)


def test_a_mart_without_yaml_is_an_error(tmp_path):
    publish(tmp_path, "fct_findings")

    with pytest.raises(MartSchemaError, match="No dbt model YAML for fct_findings"):
        load_mart_columns(tmp_path)


def test_a_column_without_data_type_is_an_error(tmp_path):
    publish(tmp_path, "fct_findings")
    (tmp_path / "m.yml").write_text(
        "models:\n  - name: fct_findings\n    columns:\n      - name: finding_id\n"
    )

    with pytest.raises(MartSchemaError, match=r"finding_id.*no data_type"):
        load_mart_columns(tmp_path)


def test_a_mart_missing_a_column_the_exposure_requires_is_an_error(tmp_path):
    publish(tmp_path, "agg_findings_by_severity", "finding_date", "account_id")
    (tmp_path / "m.yml").write_text(
        "models:\n  - name: agg_findings_by_severity\n    columns:\n"
        "      - {name: finding_date, data_type: date}\n"
    )

    with pytest.raises(MartSchemaError, match="lacks contract columns account_id"):
        load_mart_columns(tmp_path)


def test_the_project_marts_yaml_maps_to_quicksight_types():
    marts_dir = DBT_PROJECT_DIR / "models" / "marts"

    columns = load_mart_columns(marts_dir)

    assert set(columns) == set(load_published_marts(marts_dir))
    assert {"fct_findings", "fct_finding_remote_endpoints"} <= set(columns)


def test_dataset_ids_are_the_prefix_and_the_mart_with_dashes(settings):
    specs = build_dataset_specs(settings, FIXTURE_MARTS)

    assert [spec.dataset_id for spec in specs] == [
        "guardduty-agg-findings-by-severity",
        "guardduty-agg-findings-by-action-type",
        "guardduty-agg-findings-by-country",
        "guardduty-fct-findings",
        "guardduty-fct-finding-remote-endpoints",
        "guardduty-agg-archive-compliance-by-severity",
        "guardduty-fct-findings-open-past-target",
    ]
    assert {spec.schema for spec in specs} == {"guardduty_marts"}
    assert [spec.table for spec in specs] == list(PUBLISHED)


# ---------------------------------------------------------------------------------------------
# Data source and datasets


def expect_data_source_missing(stub):
    expect_error(
        stub,
        "describe_data_source",
        "ResourceNotFoundException",
        404,
        {"AwsAccountId": ACCOUNT, "DataSourceId": "guardduty-athena"},
    )


def existing_data_source(workgroup: str = "guardduty", status: str = "CREATION_SUCCESSFUL"):
    return {
        "DataSource": {
            "Arn": DATA_SOURCE_ARN,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "Type": "ATHENA",
            "Status": status,
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": workgroup}},
        },
        "Status": 200,
    }


def dataset_request(spec) -> dict:
    request = {
        "AwsAccountId": ACCOUNT,
        "DataSetId": spec.dataset_id,
        "Name": spec.name,
        "PhysicalTableMap": spec.physical_table_map(DATA_SOURCE_ARN),
        "ImportMode": "SPICE",
    }
    if spec.logical_table_map():
        request["LogicalTableMap"] = spec.logical_table_map()
    return request


def dataset_response(spec) -> dict:
    return {
        "Arn": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/{spec.dataset_id}",
        "DataSetId": spec.dataset_id,
        "IngestionId": f"initial-{spec.dataset_id}",
        "Status": 201,
    }


def grant(kind: str, resource_id: str, actions) -> tuple[str, dict, dict]:
    key = "DataSetId" if kind == "data_set" else "DataSourceId"
    return (
        f"update_{kind}_permissions",
        {"Status": 200},
        {
            "AwsAccountId": ACCOUNT,
            key: resource_id,
            "GrantPermissions": [{"Principal": PRINCIPAL, "Actions": list(actions)}],
        },
    )


def test_missing_data_source_and_datasets_are_created(client, stub, settings, fake_time):
    specs = build_dataset_specs(settings, FIXTURE_MARTS)
    expect_data_source_missing(stub)
    stub.add_response(
        "create_data_source",
        {"Arn": DATA_SOURCE_ARN, "CreationStatus": "CREATION_SUCCESSFUL", "Status": 202},
        {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "Type": "ATHENA",
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": "guardduty"}},
            "Permissions": [{"Principal": PRINCIPAL, "Actions": list(DATA_SOURCE_ACTIONS)}],
        },
    )
    for spec in specs:
        expect_error(
            stub,
            "describe_data_set",
            "ResourceNotFoundException",
            404,
            {"AwsAccountId": ACCOUNT, "DataSetId": spec.dataset_id},
        )
        permissions = [{"Principal": PRINCIPAL, "Actions": list(DATASET_ACTIONS)}]
        stub.add_response(
            "create_data_set",
            dataset_response(spec),
            {**dataset_request(spec), "Permissions": permissions},
        )

    deployed = ensure_data_source_and_datasets(client, settings, specs, sleep=fake_time.sleep)

    assert deployed.data_source_action == "created"
    assert set(deployed.dataset_actions.values()) == {"created"}
    assert deployed.dataset_ingestion_ids["guardduty-fct-findings"] == (
        "initial-guardduty-fct-findings"
    )


def test_the_map_dataset_reads_the_athena_table_with_typed_columns_and_geographic_roles(
    settings,
):
    spec = next(
        spec
        for spec in build_dataset_specs(settings, FIXTURE_MARTS)
        if spec.mart == "fct_finding_remote_endpoints"
    )

    table = spec.physical_table_map(DATA_SOURCE_ARN)["athena-table"]["RelationalTable"]
    assert (table["Catalog"], table["Schema"], table["Name"]) == (
        "AwsDataCatalog",
        "guardduty_marts",
        "fct_finding_remote_endpoints",
    )
    assert {"Name": "latitude", "Type": "DECIMAL", "SubType": "FLOAT"} in table["InputColumns"]
    tags = spec.logical_table_map()["mart"]["DataTransforms"]
    roles = {
        tag["TagColumnOperation"]["ColumnName"]: tag["TagColumnOperation"]["Tags"][0][
            "ColumnGeographicRole"
        ]
        for tag in tags
    }
    assert roles == {
        "country_code": "COUNTRY",
        "city": "CITY",
        "latitude": "LATITUDE",
        "longitude": "LONGITUDE",
    }


def test_existing_resources_that_differ_are_fully_updated_and_shared(
    client, stub, settings, fake_time
):
    specs = build_dataset_specs(settings, FIXTURE_MARTS)[:1]
    spec = specs[0]
    stub.add_response("describe_data_source", existing_data_source(workgroup="primary"))
    stub.add_response(
        "update_data_source",
        {"Arn": DATA_SOURCE_ARN, "UpdateStatus": "UPDATE_SUCCESSFUL", "Status": 202},
        {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": "guardduty"}},
        },
    )
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))
    outdated = dataset_request(spec)
    outdated["PhysicalTableMap"]["athena-table"]["RelationalTable"]["InputColumns"] = [
        {"Name": "finding_date", "Type": "STRING"}
    ]
    stub.add_response(
        "describe_data_set",
        {"DataSet": {key: outdated[key] for key in ("Name", "PhysicalTableMap", "ImportMode")}},
    )
    stub.add_response("update_data_set", dataset_response(spec), dataset_request(spec))
    stub.add_response(*grant("data_set", spec.dataset_id, DATASET_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, specs, sleep=fake_time.sleep)

    assert deployed.data_source_action == "updated"
    assert deployed.dataset_actions == {spec.dataset_id: "updated"}


def test_unchanged_resources_are_not_updated_so_no_refresh_is_spent(
    client, stub, settings, fake_time
):
    specs = [
        spec
        for spec in build_dataset_specs(settings, FIXTURE_MARTS)
        if spec.mart == "fct_finding_remote_endpoints"
    ]
    spec = specs[0]
    stub.add_response("describe_data_source", existing_data_source())
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))
    current = dataset_request(spec)
    stub.add_response(
        "describe_data_set",
        {
            "DataSet": {
                key: current[key]
                for key in ("Name", "PhysicalTableMap", "LogicalTableMap", "ImportMode")
            }
        },
    )
    stub.add_response(*grant("data_set", spec.dataset_id, DATASET_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, specs, sleep=fake_time.sleep)

    assert deployed.data_source_action == "unchanged"
    assert deployed.dataset_actions == {spec.dataset_id: "unchanged"}


STACK_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/guardduty-lake-quicksight-athena"


def test_a_data_source_created_by_the_stack_keeps_its_role(client, stub, settings, fake_time):
    # The stack creates the data source with AthenaParameters.RoleArn; the pipeline, which is not
    # told the role, must not see that as a difference and update the role away.
    with_role = existing_data_source()
    with_role["DataSource"]["DataSourceParameters"]["AthenaParameters"]["RoleArn"] = STACK_ROLE_ARN
    stub.add_response("describe_data_source", with_role)
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "unchanged"


def test_a_changed_workgroup_is_updated_with_the_existing_role_kept(
    client, stub, settings, fake_time
):
    with_role = existing_data_source(workgroup="primary")
    with_role["DataSource"]["DataSourceParameters"]["AthenaParameters"]["RoleArn"] = STACK_ROLE_ARN
    stub.add_response("describe_data_source", with_role)
    stub.add_response(
        "update_data_source",
        {"Arn": DATA_SOURCE_ARN, "UpdateStatus": "UPDATE_SUCCESSFUL", "Status": 202},
        {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "DataSourceParameters": {
                "AthenaParameters": {"WorkGroup": "guardduty", "RoleArn": STACK_ROLE_ARN}
            },
        },
    )
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "updated"


def test_a_configured_role_is_set_on_the_data_source(client, stub, settings, fake_time):
    configured = replace(settings, quicksight_data_source_role_arn=STACK_ROLE_ARN)
    stub.add_response("describe_data_source", existing_data_source())
    stub.add_response(
        "update_data_source",
        {"Arn": DATA_SOURCE_ARN, "UpdateStatus": "UPDATE_SUCCESSFUL", "Status": 202},
        {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "DataSourceParameters": {
                "AthenaParameters": {"WorkGroup": "guardduty", "RoleArn": STACK_ROLE_ARN}
            },
        },
    )
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, configured, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "updated"


def test_datasets_wait_for_a_data_source_that_is_still_being_created(
    client, stub, settings, fake_time
):
    expect_data_source_missing(stub)
    stub.add_response(
        "create_data_source",
        {"Arn": DATA_SOURCE_ARN, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
    )
    stub.add_response("describe_data_source", existing_data_source(status="CREATION_IN_PROGRESS"))
    stub.add_response("describe_data_source", existing_data_source(status="CREATION_SUCCESSFUL"))

    deployed = ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "created"
    assert fake_time.sleeps == [2.0]


def test_a_data_source_that_failed_to_create_is_an_error(client, stub, settings, fake_time):
    expect_data_source_missing(stub)
    stub.add_response(
        "create_data_source",
        {"Arn": DATA_SOURCE_ARN, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
    )
    failed = existing_data_source(status="CREATION_FAILED")
    failed["DataSource"]["ErrorInfo"] = {"Type": "ACCESS_DENIED", "Message": "no workgroup"}
    stub.add_response("describe_data_source", failed)

    with pytest.raises(QuickSightError, match="CREATION_FAILED: ACCESS_DENIED"):
        ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)


# ---------------------------------------------------------------------------------------------
# Assets


def stubbed_resource(client) -> QuickSightResource:
    class StubbedQuickSightResource(QuickSightResource):
        def get_client(self):
            return client

    return StubbedQuickSightResource(
        region_name=REGION, poll_initial_seconds=0.0, poll_max_seconds=0.0
    )


@pytest.fixture
def asset_settings(settings, monkeypatch):
    monkeypatch.setattr(quicksight_assets, "get_settings", lambda: settings)
    monkeypatch.setattr(marts, "MARTS_DIR", FIXTURE_MARTS)
    return settings


def mart_dataset_ids() -> list[str]:
    return [dataset_id_for("guardduty", mart) for mart in PUBLISHED]


def test_spice_refresh_materializes_with_rows_per_dataset(client, stub, asset_settings):
    for dataset_id in mart_dataset_ids():
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

    result = dg.materialize([spice_refresh], resources={"quicksight": stubbed_resource(client)})

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
    for dataset_id in mart_dataset_ids():
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
        [spice_refresh], resources={"quicksight": stubbed_resource(client)}, instance=instance
    )

    assert result.success
    [materialization] = result.asset_materializations_for_node("quicksight__spice_refresh")
    assert materialization.metadata["fct_findings.ingestion_id"].value == "dataset-update"


def test_spice_refresh_fails_after_all_datasets_ran_with_every_message(
    client, stub, asset_settings
):
    failing = {"guardduty-agg-findings-by-country", "guardduty-fct-findings"}
    for dataset_id in mart_dataset_ids():
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
        resources={"quicksight": stubbed_resource(client)},
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


def test_quicksight_datasets_deploys_from_the_dbt_contracts(client, stub, asset_settings):
    stub.add_response("describe_data_source", existing_data_source())
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))
    for dataset_id in mart_dataset_ids():
        expect_error(stub, "describe_data_set", "ResourceNotFoundException", 404)
        stub.add_response("create_data_set", {"DataSetId": dataset_id, "Status": 201})
    context = dg.build_asset_context(resources={"quicksight": stubbed_resource(client)})

    result = quicksight_datasets(context)

    assert result.metadata["data_source_action"] == "unchanged"
    assert result.metadata["fct_findings.action"] == "created"
    assert result.metadata["fct_finding_remote_endpoints.columns"] == 15


@pytest.mark.parametrize("asset", [quicksight_datasets, spice_refresh])
def test_assets_fail_clearly_when_quicksight_is_not_configured(
    client, asset, settings, monkeypatch
):
    monkeypatch.delenv("QUICKSIGHT_ACCOUNT_ID")
    unconfigured = load_settings()
    monkeypatch.setattr(quicksight_assets, "get_settings", lambda: unconfigured)
    context = dg.build_asset_context(resources={"quicksight": stubbed_resource(client)})

    with pytest.raises(dg.Failure, match="QUICKSIGHT_ACCOUNT_ID"):
        asset(context)


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
