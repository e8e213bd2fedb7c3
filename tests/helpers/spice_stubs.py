"""Stubbed SPICE ingestions for the refresh tests: the fake dataset and ingestion, the options a
refresh runs with on a fake clock, and the ListIngestions / CreateIngestion / DescribeIngestion
calls a refresh is expected to make.
"""

from datetime import datetime

from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.publish.quicksight.refresh import RefreshOptions
from tests.helpers.quicksight_stubs import ACCOUNT, NOW, REGION, FakeTime

DATASET = "guardduty-fct-findings"
INGESTION = "run-1-guardduty-fct-findings"
DATASET_ARN_PREFIX = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/"


def refresh_options(fake_time: FakeTime, **overrides) -> RefreshOptions:
    values = {
        "refresh_budget": 8,
        "timeout_seconds": 3600,
        "poll_initial_seconds": 15,
        "poll_max_seconds": 60,
        "retry": RetryPolicy(max_attempts=4, base_delay_seconds=1, max_delay_seconds=30),
        **fake_time.wait_controls(),
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
