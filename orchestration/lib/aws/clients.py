"""What the project's AWS API clients share: client construction, retry policy and error codes.

Plain logic with no Dagster definitions. The QuickSight, GuardDuty and SNS resources build their
boto3 clients with ``boto3_client``; their calls go through ``call_with_retries``, which backs off
per ``RetryPolicy`` on the errors each service counts as transient, and lets each say how it reports
an error that persisted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from dagster_aws.utils import ResourceWithBoto3Configuration, construct_boto_client_retry_config

logger = logging.getLogger(__name__)

T = TypeVar("T")


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


def call_with_retries(
    call: Callable[[], T],
    *,
    description: str,
    policy: RetryPolicy,
    is_retryable: Callable[[ClientError], bool],
    gave_up: Callable[[ClientError, int], Exception],
    sleep: Callable[[float], None],
    jitter: Callable[[], float],
) -> T:
    """Run ``call``, backing off and calling again while it fails with a retryable error.

    Args:
        call: the API call.
        description: names the call in the log.
        policy: how many attempts, and the backoff between them.
        is_retryable: whether an error is transient (throttling, an internal failure, ...).
        gave_up: the exception to raise when a retryable error persisted for every attempt,
            given that error and the number of attempts.
        sleep: ``time.sleep`` or a fake; called once per retry.
        jitter: returns a float in [0, 1) (``random.random``) or a fake.

    Raises:
        ClientError: a non-retryable error, from the attempt that met it, unchanged.
        Exception: ``gave_up``'s, chained to the last error.
    """
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except ClientError as error:
            if not is_retryable(error):
                raise
            if attempt == policy.max_attempts:
                raise gave_up(error, attempt) from error
            delay = backoff_delay(policy, attempt, jitter)
            logger.info("%s: %s, retry %d in %.2fs", description, error_code(error), attempt, delay)
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")


def error_code(error: ClientError) -> str:
    """Return the AWS error code of ``error`` (e.g. ``"ThrottlingException"``), or ``""``."""
    return str(error.response.get("Error", {}).get("Code", ""))
