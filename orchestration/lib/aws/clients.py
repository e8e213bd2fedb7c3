"""What the project's AWS API clients share: client construction, retry policy and error codes.

Plain logic with no Dagster definitions. The QuickSight, GuardDuty and SNS resources build their
boto3 clients with ``boto3_client``; the QuickSight and GuardDuty retry loops, which differ in what
they retry and how they report failure, take their backoff from ``RetryPolicy`` and
``backoff_delay``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from dagster_aws.utils import ResourceWithBoto3Configuration, construct_boto_client_retry_config


def boto3_client(
    resource: ResourceWithBoto3Configuration,
    service_name: str,
    region_name: str | None = None,
    max_pool_connections: int | None = None,
) -> Any:
    """Return a new boto3 client (standard retry mode) configured from ``resource``.

    Args:
        resource: supplies the profile, Region, endpoint, TLS, credential and ``max_attempts``
            fields of ``ResourceWithBoto3Configuration``.
        service_name: the boto3 service, e.g. ``"sns"``.
        region_name: overrides the resource's Region when given.
        max_pool_connections: HTTP connections kept open; size it to the threads sharing the
            client (botocore's default of 10 makes more threads open and drop connections).

    Returns:
        The boto3 client.
    """
    config = construct_boto_client_retry_config(resource.max_attempts)
    if max_pool_connections:
        config = config.merge(Config(max_pool_connections=max_pool_connections))
    session = boto3.session.Session(profile_name=resource.profile_name)
    return session.client(
        service_name,
        region_name=region_name or resource.region_name,
        use_ssl=resource.use_ssl,
        verify=resource.verify,
        endpoint_url=resource.endpoint_url,
        aws_access_key_id=resource.aws_access_key_id,
        aws_secret_access_key=resource.aws_secret_access_key,
        aws_session_token=resource.aws_session_token,
        config=config,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff for throttling and internal failures.

    Attributes:
        max_attempts: calls in total, the first one included.
        base_delay_seconds: cap of the first backoff; doubles per attempt.
        max_delay_seconds: cap of any single backoff.
    """

    max_attempts: int = 6
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0


def backoff_delay(policy: RetryPolicy, attempt: int, jitter: Callable[[], float]) -> float:
    """Return the wait after failed attempt ``attempt`` (1-based): full jitter of a capped doubling.

    Args:
        policy: the base and maximum delays.
        attempt: the number of the attempt that just failed, starting at 1.
        jitter: returns a float in [0, 1) (``random.random``) or a fake.

    Returns:
        The delay in seconds, never above ``policy.max_delay_seconds``.
    """
    cap = min(policy.max_delay_seconds, policy.base_delay_seconds * 2 ** (attempt - 1))
    return cap * jitter()


def error_code(error: ClientError) -> str:
    """Return the AWS error code of ``error`` (e.g. ``"ThrottlingException"``), or ``""``."""
    return str(error.response.get("Error", {}).get("Code", ""))
