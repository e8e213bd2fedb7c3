"""Shared by the QuickSight tests: the fake account, a stubbable client, a fake clock, settings."""

from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from orchestration.lib.environment import Settings, load_settings
from orchestration.lib.publish.quicksight.resource import QuickSightResource

FIXTURE_MARTS = Path(__file__).parents[1] / "fixtures" / "quicksight_marts"
ACCOUNT = "123456789012"
REGION = "us-east-1"
PRINCIPAL = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/guardduty-authors"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
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

    def wait_controls(self) -> dict:
        """The sleep, clock and jitter a waiting loop takes: jitter is always half its range."""
        return {"sleep": self.sleep, "clock": self.clock, "jitter": lambda: 0.5}


def quicksight_client():
    return boto3.client(
        "quicksight",
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def quicksight_settings(monkeypatch: pytest.MonkeyPatch, **variables: str) -> Settings:
    """Settings for the fake account; ``variables`` set more environment variables."""
    defaults = {
        "QUICKSIGHT_ACCOUNT_ID": ACCOUNT,
        "QUICKSIGHT_PRINCIPAL_ARN": PRINCIPAL,
        "QUICKSIGHT_EDITION": "STANDARD",
        "QUICKSIGHT_MAX_CONCURRENT_REFRESHES": "1",
        "AWS_REGION": REGION,
        "ATHENA_WORKGROUP": "guardduty",
        "ATHENA_SCHEMA": "guardduty_marts",
    }
    for variable, value in {**defaults, **variables}.items():
        monkeypatch.setenv(variable, value)
    for variable in (
        "QUICKSIGHT_DATASET_PREFIX",
        "QUICKSIGHT_DATA_SOURCE_ID",
        "QUICKSIGHT_DATA_SOURCE_ROLE_ARN",
        "QUICKSIGHT_DASHBOARD_ID",
        "QUICKSIGHT_DASHBOARD_OWNER_ARNS",
        "QUICKSIGHT_DASHBOARD_VIEWER_ARNS",
    ):
        if variable not in variables:
            monkeypatch.delenv(variable, raising=False)
    return load_settings()


def stubbed_resource(client) -> QuickSightResource:
    """The QuickSight resource handing out ``client`` (a stubbed one), polling without waits."""

    class StubbedQuickSightResource(QuickSightResource):
        def get_client(self):
            return client

    return StubbedQuickSightResource(
        region_name=REGION, poll_initial_seconds=0.0, poll_max_seconds=0.0
    )


def expect_error(stub, operation: str, code: str, status: int, expected_params=None) -> None:
    stub.add_client_error(
        operation,
        service_error_code=code,
        service_message=f"{code} from the stub",
        http_status_code=status,
        expected_params=expected_params,
    )


def published_dataset_ids() -> list[str]:
    """The dataset ids of the fixture's published marts, with the default prefix."""
    return [f"guardduty-{mart.replace('_', '-')}" for mart in PUBLISHED]
