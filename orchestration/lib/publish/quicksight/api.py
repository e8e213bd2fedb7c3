"""Calling QuickSight: retries for throttling and internal failures, and small shared helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from orchestration.lib.aws.clients import RetryPolicy, backoff_delay, error_code
from orchestration.lib.publish.quicksight.errors import QuickSightApiError

logger = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_ERROR_CODES = frozenset({"ThrottlingException", "InternalFailureException"})


def call_with_retries(
    call: Callable[[], T],
    *,
    description: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    jitter: Callable[[], float],
    retryable: frozenset[str] = RETRYABLE_ERROR_CODES,
) -> T:
    """Run ``call``, retrying only the ``retryable`` error codes (throttling and internal failures
    by default).

    Every other error (AccessDenied, ResourceNotFound, InvalidParameterValue, LimitExceeded,
    ResourceExists, ...) is raised from the first attempt unchanged, so callers can act on it.

    Raises:
        QuickSightApiError: the retryable error persisted for ``policy.max_attempts`` calls.
        ClientError: any non-retryable error.
    """
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return call()
        except ClientError as error:
            code = error_code(error)
            if code not in retryable:
                raise
            if attempt == policy.max_attempts:
                raise QuickSightApiError(
                    f"{description}: still {code} after {attempt} attempts; QuickSight is "
                    "throttling, failing internally or busy with the resource. Rerun later, or "
                    "lower QUICKSIGHT_MAX_CONCURRENT_REFRESHES.",
                    code,
                ) from error
            delay = backoff_delay(policy, attempt, jitter)
            logger.info("%s: %s, retry %d in %.1fs", description, code, attempt, delay)
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")


def is_not_found(error: ClientError) -> bool:
    return error_code(error) == "ResourceNotFoundException"


def grants_for(principal_arn: str, actions: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Principal": principal_arn, "Actions": list(actions)}] if principal_arn else []
