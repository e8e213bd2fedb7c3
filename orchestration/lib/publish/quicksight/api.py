"""Calling QuickSight: retries for throttling and internal failures, and small shared helpers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from orchestration.lib.aws.clients import RetryPolicy, call_with_retries, error_code
from orchestration.lib.publish.quicksight.errors import QuickSightApiError

T = TypeVar("T")

RETRYABLE_ERROR_CODES = frozenset({"ThrottlingException", "InternalFailureException"})


@dataclass(frozen=True)
class QuickSightCaller:
    """Runs QuickSight calls with the retry policy; sleep and jitter are injectable for tests.

    Only the ``retryable`` error codes are retried (throttling and internal failures by default).
    Every other error (AccessDenied, ResourceNotFound, InvalidParameterValue, LimitExceeded,
    ResourceExists, ...) is raised from the first attempt unchanged, so callers can act on it.
    """

    policy: RetryPolicy
    sleep: Callable[[float], None]
    jitter: Callable[[], float]
    retryable: frozenset[str] = RETRYABLE_ERROR_CODES

    def call(self, description: str, call: Callable[[], T]) -> T:
        """Run ``call``, retrying the ``retryable`` error codes.

        Raises:
            QuickSightApiError: the retryable error persisted for ``policy.max_attempts`` calls.
            ClientError: any non-retryable error.
        """

        def gave_up(error: ClientError, attempts: int) -> QuickSightApiError:
            code = error_code(error)
            return QuickSightApiError(
                f"{description}: still {code} after {attempts} attempts; QuickSight is "
                "throttling, failing internally or busy with the resource. Rerun later, or lower "
                "QUICKSIGHT_MAX_CONCURRENT_REFRESHES.",
                code,
            )

        return call_with_retries(
            call,
            description=description,
            policy=self.policy,
            is_retryable=lambda error: error_code(error) in self.retryable,
            gave_up=gave_up,
            sleep=self.sleep,
            jitter=self.jitter,
        )


def is_not_found(error: ClientError) -> bool:
    return error_code(error) == "ResourceNotFoundException"


def grants_for(principal_arn: str, actions: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Principal": principal_arn, "Actions": list(actions)}] if principal_arn else []
