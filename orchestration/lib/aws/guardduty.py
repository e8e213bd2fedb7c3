"""Calls to the GuardDuty API shared by the history backfill and the reconciliation check.

Plain logic with no Dagster definitions besides the client resource. GuardDuty throttles per
account and Region; every call here goes through ``call_with_retries``, which retries throttling
and internal errors with bounded, jittered exponential backoff and fails at once, with a message
naming the missing permission, on access denied. Request shapes follow the botocore model
(``guardduty/2017-11-28``): the ``FindingCriteria`` time bounds use the ``Long`` members
(``GreaterThanOrEqual``/``LessThan``), because the older ``Gte``/``Lt`` members are deprecated
32-bit integers that cannot hold epoch milliseconds.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from dagster_aws.utils import ResourceWithBoto3Configuration

from orchestration.lib.aws.clients import (
    RetryPolicy,
    boto3_client,
    call_with_retries,
    error_code,
)

T = TypeVar("T")

RETRYABLE_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "InternalServerErrorException",
        "InternalFailure",
        "ServiceUnavailableException",
    }
)
ACCESS_DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
# The API's page and batch limits (ListFindings MaxResults <= 50, GetFindings <= 50 ids).
MAX_PAGE_SIZE = 50
SEVERITY_LABELS = ("Critical", "High", "Medium", "Low")
DEFAULT_RETRY_POLICY = RetryPolicy(max_delay_seconds=20.0)


class GuardDutyApiError(RuntimeError):
    """A GuardDuty call failed for good; the message says which call and why."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class GuardDutyAccessDenied(GuardDutyApiError):
    """The caller lacks a GuardDuty permission; retrying cannot help."""


@dataclass
class ApiCaller:
    """Runs GuardDuty calls with the retry policy; sleep and jitter are injectable for tests."""

    policy: RetryPolicy = DEFAULT_RETRY_POLICY
    sleep: Callable[[float], None] = time.sleep
    # Full jitter in [0, 1): spreads the retries of concurrent callers apart.
    jitter: Callable[[], float] = random.random
    retries: int = 0

    def call(self, description: str, call: Callable[[], T]) -> T:
        """Run ``call``, retrying throttling and internal errors.

        Raises:
            GuardDutyAccessDenied: on access denied, from the first attempt.
            GuardDutyApiError: any other client error, or a retryable one that persisted.
        """
        try:
            return call_with_retries(
                call,
                description=description,
                policy=self.policy,
                is_retryable=_is_retryable,
                gave_up=lambda error, attempts: GuardDutyApiError(
                    f"{description}: still {error_code(error)} after {attempts} attempts; "
                    "GuardDuty is throttling or failing internally. Rerun later, or backfill "
                    "fewer Regions at once.",
                    error_code(error),
                ),
                sleep=self._retry_after,
                jitter=self.jitter,
            )
        except ClientError as error:
            code = error_code(error)
            if _is_access_denied(error):
                raise GuardDutyAccessDenied(
                    f"{description}: access denied ({code}: {_message(error)}). The role "
                    "running the pipeline needs guardduty:ListDetectors, "
                    "guardduty:ListFindings, guardduty:GetFindings and "
                    "guardduty:GetFindingsStatistics in this account and Region.",
                    code,
                ) from error
            raise GuardDutyApiError(
                f"{description}: {code or 'error'}: {_message(error)}", code
            ) from error

    def _retry_after(self, delay: float) -> None:
        self.retries += 1
        self.sleep(delay)


def _message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or "no message"


def _http_status(error: ClientError) -> int | None:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _is_access_denied(error: ClientError) -> bool:
    return error_code(error) in ACCESS_DENIED_CODES or _http_status(error) == 403


def _is_retryable(error: ClientError) -> bool:
    if _is_access_denied(error):
        return False
    return error_code(error) in RETRYABLE_ERROR_CODES or _http_status(error) in (429, 500, 503)


def epoch_milliseconds(moment: datetime) -> int:
    """A time as GuardDuty's ``updatedAt`` criterion wants it: Unix epoch milliseconds."""
    return int(moment.astimezone(UTC).timestamp() * 1000)


def updated_between(start: datetime, end: datetime) -> dict[str, Any]:
    """A ``FindingCriteria`` selecting findings whose ``updatedAt`` is in ``[start, end)``."""
    return {
        "Criterion": {
            "updatedAt": {
                "GreaterThanOrEqual": epoch_milliseconds(start),
                "LessThan": epoch_milliseconds(end),
            }
        }
    }


def list_detector_ids(client: Any, caller: ApiCaller, region: str) -> list[str]:
    """Every detector id in the client's Region (at most one per account and Region)."""
    detector_ids: list[str] = []
    request: dict[str, Any] = {"MaxResults": MAX_PAGE_SIZE}
    while True:
        response = caller.call(
            f"ListDetectors in {region}", lambda request=request: client.list_detectors(**request)
        )
        detector_ids.extend(response.get("DetectorIds", []))
        next_token = response.get("NextToken")
        if not next_token:
            return detector_ids
        request = {"MaxResults": MAX_PAGE_SIZE, "NextToken": next_token}


def list_finding_ids(
    client: Any,
    caller: ApiCaller,
    detector_id: str,
    criteria: dict[str, Any],
    description: str,
) -> Iterator[str]:
    """The ids of every finding matching ``criteria``, archived or not, page by page."""
    request: dict[str, Any] = {
        "DetectorId": detector_id,
        "FindingCriteria": criteria,
        "MaxResults": MAX_PAGE_SIZE,
    }
    while True:
        response = caller.call(
            f"ListFindings {description}",
            lambda request=request: client.list_findings(**request),
        )
        yield from response.get("FindingIds", [])
        next_token = response.get("NextToken")
        if not next_token:
            return
        request = {**request, "NextToken": next_token}


def severity_label(severity: float) -> str:
    """The data contract's label for a numeric severity (Critical >= 9, High >= 7, Medium >= 4)."""
    if severity >= 9.0:
        return "Critical"
    if severity >= 7.0:
        return "High"
    if severity >= 4.0:
        return "Medium"
    return "Low"


def finding_counts_by_severity_label(
    client: Any,
    caller: ApiCaller,
    detector_id: str,
    start: datetime,
    end: datetime,
    description: str,
) -> dict[str, int]:
    """How many findings GuardDuty holds with ``updatedAt`` in ``[start, end)``, per label.

    ``GroupBy=SEVERITY`` is the current form of the request (``FindingStatisticTypes`` and its
    ``CountBySeverity`` answer are deprecated); the answer is per severity value, bucketed here
    into the contract's labels. A ``CountBySeverity`` answer is still understood.
    """
    response = caller.call(
        f"GetFindingsStatistics {description}",
        lambda: client.get_findings_statistics(
            DetectorId=detector_id,
            FindingCriteria=updated_between(start, end),
            GroupBy="SEVERITY",
            MaxResults=100,
        ),
    )
    statistics = response.get("FindingStatistics", {})
    counts = dict.fromkeys(SEVERITY_LABELS, 0)
    for group in statistics.get("GroupedBySeverity", []):
        label = severity_label(float(group.get("Severity", 0.0)))
        counts[label] += int(group.get("TotalFindings", 0))
    for severity, count in statistics.get("CountBySeverity", {}).items():
        counts[severity_label(float(severity))] += int(count)
    return counts


class GuardDutyResource(ResourceWithBoto3Configuration):
    """A boto3 GuardDuty client factory, one client per Region.

    The endpoint, profile and credential fields come from ``ResourceWithBoto3Configuration``;
    ``max_attempts`` is botocore's own retry budget per call, on top of which this project
    retries throttling with longer, jittered backoff (``RetryPolicy``).

    Example:
        ``GuardDutyResource(region_name=settings.aws_region, max_attempts=5)``
    """

    def get_client(self, region_name: str | None = None) -> Any:
        """Return a new boto3 GuardDuty client for ``region_name`` (default: the resource's)."""
        return boto3_client(self, "guardduty", region_name)
