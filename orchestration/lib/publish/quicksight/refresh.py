"""SPICE refreshes of the published datasets.

Refresh semantics, per dataset:

1. ``ListIngestions`` (paginated) once. An ingestion already ``INITIALIZED``/``QUEUED``/``RUNNING``
   (a console refresh, a schedule, another run) is waited for, within the same timeout. If it was
   created after the marts were rebuilt (``data_ready_at``, e.g. the ingestion a dataset update
   starts) and completes, it is this run's refresh. Otherwise it may have read the marts before
   they were rebuilt, and reporting it would report stale data as refreshed, so this run then
   starts its own. Still running at the timeout: the dataset fails as not refreshed, and the other
   ingestion is left to finish (it is not this run's to cancel).
2. Budget: the ingestions created in the last 24 hours are counted against the edition's quota
   (8 STANDARD, 32 ENTERPRISE, per dataset, rolling). When the budget is used up the dataset
   **fails** (it is not skipped): a skipped refresh would leave dashboards silently stale, and an
   exhausted budget means something refreshes more often than the edition allows, which a person
   has to fix. The message says when the next refresh becomes possible.
3. ``CreateIngestion`` with a deterministic id per (Dagster run, dataset), so a retried step
   finds its own ingestion (``ResourceExistsException`` -> describe) instead of
   starting, and paying for, another one.
4. ``DescribeIngestion`` with exponential backoff until a terminal state or the timeout, which
   cancels the ingestion and fails.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from orchestration.lib.aws.clients import RetryPolicy, error_code
from orchestration.lib.publish.quicksight.api import QuickSightCaller
from orchestration.lib.publish.quicksight.errors import (
    ERROR_ADVICE,
    IngestionErrorClass,
    IngestionFailed,
    QuickSightApiError,
    QuickSightError,
    RefreshQuotaExceeded,
    RefreshTimedOut,
    classify_ingestion_error,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

REFRESH_QUOTA_PER_DAY = {"STANDARD": 8, "ENTERPRISE": 32}
REFRESH_WINDOW = timedelta(hours=24)
IN_PROGRESS_STATUSES = frozenset({"INITIALIZED", "QUEUED", "RUNNING"})
INGESTION_ID_MAX_LENGTH = 128
LIST_INGESTIONS_PAGE_SIZE = 100
# 1,000 ingestions is far above 24 h of any quota; the bound only stops a runaway pagination.
LIST_INGESTIONS_MAX_PAGES = 10

_INGESTION_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def refresh_quota(edition: str) -> int:
    """Refreshes per dataset per rolling 24 hours allowed by a QuickSight edition."""
    try:
        return REFRESH_QUOTA_PER_DAY[edition.upper()]
    except KeyError as error:
        raise ValueError(
            f"Unknown QuickSight edition {edition!r}: expected {sorted(REFRESH_QUOTA_PER_DAY)}."
        ) from error


def ingestion_id_for(run_id: str, dataset_id: str) -> str:
    """The deterministic ingestion id of one (Dagster run, dataset).

    A retried step of the same run therefore follows the ingestion it already started (or reports
    its outcome) instead of paying for another; a re-execution is a new run and a new id. Ids
    longer than 128 characters keep a readable prefix and end in a hash of the full id.
    """
    raw = f"{run_id}-{dataset_id}"
    safe = _INGESTION_ID_UNSAFE.sub("-", raw)
    if len(safe) <= INGESTION_ID_MAX_LENGTH:
        return safe
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return f"{safe[: INGESTION_ID_MAX_LENGTH - len(digest) - 1]}-{digest}"


@dataclass(frozen=True)
class RefreshOptions:
    """How to run and wait for SPICE refreshes. Clock and sleep are injectable for tests.

    Attributes:
        refresh_budget: ingestions allowed per dataset per rolling 24 hours (edition quota).
        timeout_seconds: longest wait for one ingestion before it is cancelled.
        poll_initial_seconds: first wait between DescribeIngestion calls; doubles each poll.
        poll_max_seconds: cap on that wait.
        ingestion_type: FULL_REFRESH: GuardDuty findings are updated in place, so an incremental
            refresh on a lookback column would miss updates to older findings.
        retry: backoff for throttling and internal failures.
        data_ready_at: when the marts were last rebuilt (seconds since the epoch), if known: an
            ingestion created since then reads current data.
        sleep: ``time.sleep`` or a fake.
        clock: seconds since the epoch (``time.time``) or a fake.
        jitter: a float in [0, 1) (``random.random``) or a fake.
    """

    refresh_budget: int = REFRESH_QUOTA_PER_DAY["ENTERPRISE"]
    timeout_seconds: float = 2 * 3600
    poll_initial_seconds: float = 15.0
    poll_max_seconds: float = 60.0
    ingestion_type: str = "FULL_REFRESH"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    data_ready_at: float | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    jitter: Callable[[], float] = random.random


@dataclass(frozen=True)
class RefreshResult:
    """The outcome of one dataset's refresh that did not fail."""

    dataset_id: str
    status: str
    ingestion_id: str | None
    rows_ingested: int | None = None
    rows_dropped: int | None = None
    seconds: int | None = None
    bytes: int | None = None
    message: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefreshOutcome:
    """Results of all datasets, in the order asked; failed datasets are in ``errors``."""

    results: dict[str, RefreshResult]
    errors: dict[str, Exception]

    @property
    def failed(self) -> bool:
        return bool(self.errors)


def _explain_api_error(error: ClientError, dataset_id: str, operation: str) -> QuickSightApiError:
    code = error_code(error)
    hints = {
        "AccessDeniedException": (
            f"the pipeline role may not call quicksight:{operation} on this dataset, or the "
            "account has no QuickSight subscription in AWS_REGION (docs/deploy-aws.md, section 10)."
        ),
        "ResourceNotFoundException": (
            "the dataset does not exist in this account and Region: materialize "
            "quicksight/datasets, and check QUICKSIGHT_ACCOUNT_ID and AWS_REGION."
        ),
        "InvalidParameterValueException": "QuickSight rejected a request parameter.",
    }
    hint = hints.get(code, "not retried.")
    message = error.response.get("Error", {}).get("Message", "")
    return QuickSightApiError(
        f"{dataset_id}: {operation} failed with {code}: {message} — {hint}", code
    )


class _Refresh:
    """One dataset's refresh; exists to share the client, ids and options between steps."""

    def __init__(
        self,
        client: Any,
        account_id: str,
        dataset_id: str,
        ingestion_id: str,
        options: RefreshOptions,
        log: logging.Logger | Any,
    ) -> None:
        self.client = client
        self.dataset_id = dataset_id
        # What every request about this dataset names it by.
        self.ids = {"AwsAccountId": account_id, "DataSetId": dataset_id}
        self.ingestion_id = ingestion_id
        self.options = options
        self.caller = QuickSightCaller(options.retry, options.sleep, options.jitter)
        self.log = log

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return self.caller.call(f"{operation} {self.dataset_id}", call)
        except ClientError as error:
            if error_code(error) in {"ResourceExistsException", "LimitExceededException"}:
                raise
            raise _explain_api_error(error, self.dataset_id, operation) from error

    def list_ingestions(self) -> list[dict[str, Any]]:
        ingestions: list[dict[str, Any]] = []
        request: dict[str, Any] = {**self.ids, "MaxResults": LIST_INGESTIONS_PAGE_SIZE}
        for _ in range(LIST_INGESTIONS_MAX_PAGES):
            page = self._call(
                "ListIngestions",
                lambda request=dict(request): self.client.list_ingestions(**request),
            )
            ingestions.extend(page.get("Ingestions") or [])
            if not page.get("NextToken"):
                return ingestions
            request["NextToken"] = page["NextToken"]
        self.log.warning(
            "%s: more than %d ingestions listed; counting the budget on those only.",
            self.dataset_id,
            len(ingestions),
        )
        return ingestions

    def run(self) -> RefreshResult:
        started = self.options.clock()
        deadline = started + self.options.timeout_seconds
        ingestions = self.list_ingestions()
        own = next((i for i in ingestions if i.get("IngestionId") == self.ingestion_id), None)
        if own is not None:
            # A re-executed step: follow the ingestion it already started instead of paying again.
            self.log.info(
                "%s: ingestion %s already exists, following it", self.dataset_id, self.ingestion_id
            )
            return self.wait(deadline)
        running = [i for i in ingestions if i.get("IngestionStatus") in IN_PROGRESS_STATUSES]
        waited = []
        for other in running:
            ended = self.wait_for_other(other, deadline)
            if ended["IngestionStatus"] == "COMPLETED" and self.reads_current_data(other):
                return self.completed(
                    ended,
                    f"followed ingestion {other['IngestionId']}, created after the marts were "
                    "rebuilt",
                )
            waited.append(
                f"waited for ingestion {other['IngestionId']} ({ended['IngestionStatus']}) "
                "that was already running"
            )
        message = "; ".join(waited)
        self.check_budget(ingestions, started)
        try:
            self._call(
                "CreateIngestion",
                lambda: self.client.create_ingestion(
                    **self.ids,
                    IngestionId=self.ingestion_id,
                    IngestionType=self.options.ingestion_type,
                ),
            )
        except ClientError as error:
            code = error_code(error)
            if code == "LimitExceededException":
                raise RefreshQuotaExceeded(
                    f"{self.dataset_id}: QuickSight refused the refresh with "
                    "LimitExceededException: the dataset's daily refresh quota (refreshes per "
                    "rolling 24 hours: 8 on STANDARD, 32 on ENTERPRISE) is used up, counting "
                    "refreshes started outside this pipeline. Not retried: wait for the window to "
                    "roll, and schedule fewer refreshes.",
                    self.dataset_id,
                    self.ingestion_id,
                ) from error
            # ResourceExistsException: the id is ours (deterministic), so the ingestion is ours.
            self.log.info(
                "%s: ingestion %s already exists, describing it instead",
                self.dataset_id,
                self.ingestion_id,
            )
        return self.wait(deadline, message)

    def reads_current_data(self, ingestion: Mapping[str, Any]) -> bool:
        ready = self.options.data_ready_at
        created = ingestion.get("CreatedTime")
        return ready is not None and created is not None and _as_utc(created).timestamp() >= ready

    def wait_for_other(self, other: Mapping[str, Any], deadline: float) -> Mapping[str, Any]:
        other_id = other["IngestionId"]
        self.log.info(
            "%s: ingestion %s is %s; waiting for it before refreshing",
            self.dataset_id,
            other_id,
            other.get("IngestionStatus"),
        )
        ended = self.poll(other_id, deadline)
        status = ended["IngestionStatus"]
        if status in IN_PROGRESS_STATUSES:
            raise RefreshTimedOut(
                f"{self.dataset_id}: not refreshed: ingestion {other_id}, not started by this "
                f"run, is still {status} after {self.options.timeout_seconds:.0f}s, so this run's "
                "refresh was never started and the dataset may hold data older than the marts. "
                f"{other_id} is left to finish; rerun the asset after it.",
                self.dataset_id,
                other_id,
            )
        return ended

    def check_budget(self, ingestions: Sequence[Mapping[str, Any]], now: float) -> None:
        window_start = datetime.fromtimestamp(now, UTC) - REFRESH_WINDOW
        # Every ingestion in the window counts, whatever its type or outcome: that can only
        # under-use the quota, never exhaust it.
        created = sorted(
            _as_utc(i["CreatedTime"])
            for i in ingestions
            if i.get("CreatedTime") and _as_utc(i["CreatedTime"]) >= window_start
        )
        budget = self.options.refresh_budget
        if len(created) >= budget:
            next_possible = created[len(created) - budget] + REFRESH_WINDOW
            raise RefreshQuotaExceeded(
                f"{self.dataset_id}: refresh budget exhausted: {len(created)} ingestions in the "
                f"last 24 hours, budget {budget} (the QuickSight edition's daily refresh quota). "
                f"Not started, so the quota is never exceeded. The next refresh is possible after "
                f"{next_possible.isoformat()}; refresh less often (schedule) if this repeats.",
                self.dataset_id,
            )

    def poll(self, ingestion_id: str, deadline: float) -> Mapping[str, Any]:
        """Describe an ingestion, backing off, until it has ended or the deadline has passed."""
        options = self.options
        delay = options.poll_initial_seconds
        while True:
            ingestion = self._call(
                "DescribeIngestion",
                lambda: self.client.describe_ingestion(**self.ids, IngestionId=ingestion_id),
            )["Ingestion"]
            remaining = deadline - options.clock()
            if ingestion["IngestionStatus"] not in IN_PROGRESS_STATUSES or remaining <= 0:
                return ingestion
            options.sleep(min(delay, remaining))
            delay = min(delay * 2, options.poll_max_seconds)

    def wait(self, deadline: float, message: str = "") -> RefreshResult:
        ingestion = self.poll(self.ingestion_id, deadline)
        status = ingestion["IngestionStatus"]
        if status == "COMPLETED":
            return self.completed(ingestion, message)
        if status in IN_PROGRESS_STATUSES:
            raise self.timed_out(status)
        raise self.failed(ingestion)

    def completed(self, ingestion: Mapping[str, Any], message: str) -> RefreshResult:
        ingestion_id = ingestion.get("IngestionId") or self.ingestion_id
        rows = ingestion.get("RowInfo") or {}
        dropped = rows.get("RowsDropped") or 0
        warnings = ()
        if dropped:
            warnings = (
                f"{self.dataset_id}: {dropped} rows dropped by SPICE in ingestion "
                f"{ingestion_id} (values that do not fit the column types); the dashboards "
                "miss them. Compare the dbt contract types with the data.",
            )
            for warning in warnings:
                self.log.warning(warning)
        return RefreshResult(
            dataset_id=self.dataset_id,
            status="COMPLETED",
            ingestion_id=ingestion_id,
            rows_ingested=rows.get("RowsIngested"),
            rows_dropped=dropped,
            seconds=ingestion.get("IngestionTimeInSeconds"),
            bytes=ingestion.get("IngestionSizeInBytes"),
            message=message,
            warnings=warnings,
        )

    def failed(self, ingestion: Mapping[str, Any]) -> IngestionFailed:
        status = ingestion["IngestionStatus"]
        error_info = ingestion.get("ErrorInfo") or {}
        error_type = error_info.get("Type")
        error_class = classify_ingestion_error(error_type)
        if error_type is None and status == "CANCELLED":
            error_class = IngestionErrorClass.CANCELLED
        return IngestionFailed(
            f"{self.dataset_id}: SPICE ingestion {self.ingestion_id} {status}: "
            f"{error_type or 'no ErrorInfo'}: {error_info.get('Message', '')} "
            f"[{error_class.value}] {ERROR_ADVICE[error_class]}",
            self.dataset_id,
            self.ingestion_id,
            status=status,
            error_type=error_type,
            error_class=error_class,
        )

    def timed_out(self, status: str) -> RefreshTimedOut:
        try:
            self._call(
                "CancelIngestion",
                lambda: self.client.cancel_ingestion(**self.ids, IngestionId=self.ingestion_id),
            )
            cancelled = "cancelled it"
        except (ClientError, QuickSightError) as error:
            cancelled = f"could not cancel it ({error})"
        return RefreshTimedOut(
            f"{self.dataset_id}: SPICE ingestion {self.ingestion_id} still {status} after "
            f"{self.options.timeout_seconds:.0f}s; {cancelled}. If the dataset legitimately needs "
            "longer, raise QUICKSIGHT_REFRESH_TIMEOUT_SECONDS; otherwise check the Athena query.",
            self.dataset_id,
            self.ingestion_id,
        )


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def refresh_dataset(
    client: Any,
    *,
    account_id: str,
    dataset_id: str,
    ingestion_id: str,
    options: RefreshOptions,
    log: logging.Logger | Any = logger,
) -> RefreshResult:
    """Refresh one SPICE dataset (see the module docstring for the exact semantics).

    Args:
        client: a boto3 QuickSight client.
        account_id: the AWS account that owns the dataset.
        dataset_id: the dataset to refresh.
        ingestion_id: from ``ingestion_id_for``.
        options: budget, timeout, polling, retry policy, and the injectable clock and sleep.
        log: a ``logging.Logger``-like object (Dagster's ``context.log`` works).

    Returns:
        COMPLETED with rows ingested/dropped, seconds, bytes, and which ingestions were
        waited for.

    Raises:
        RefreshQuotaExceeded: budget exhausted, or LimitExceededException from QuickSight.
        RefreshTimedOut: not terminal in time (this run's ingestion is cancelled), or another
            ingestion was still running at the timeout (not refreshed).
        IngestionFailed: the ingestion ended FAILED or CANCELLED.
        QuickSightApiError: an API call failed for good.
    """
    return _Refresh(client, account_id, dataset_id, ingestion_id, options, log).run()


def refresh_datasets(
    client: Any,
    *,
    account_id: str,
    dataset_ids: Sequence[str],
    run_id: str,
    options: RefreshOptions,
    max_workers: int,
    log: logging.Logger | Any = logger,
) -> RefreshOutcome:
    """Refresh several datasets concurrently, at most ``max_workers`` at a time.

    A failing dataset does not stop the others: every dataset runs to its end, and the failures
    are returned together in ``RefreshOutcome.errors``.
    """
    results: dict[str, RefreshResult] = {}
    errors: dict[str, Exception] = {}
    workers = max(1, min(max_workers, len(dataset_ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spice-refresh") as pool:
        futures = {
            dataset_id: pool.submit(
                refresh_dataset,
                client,
                account_id=account_id,
                dataset_id=dataset_id,
                ingestion_id=ingestion_id_for(run_id, dataset_id),
                options=options,
                log=log,
            )
            for dataset_id in dataset_ids
        }
        for dataset_id, future in futures.items():
            try:
                results[dataset_id] = future.result()
            # Any failure is reported with the others; none may hide the rest.
            except Exception as error:
                errors[dataset_id] = error
    return RefreshOutcome(results=results, errors=errors)
