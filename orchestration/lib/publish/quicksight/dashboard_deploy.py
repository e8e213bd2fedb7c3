"""Deploy the dashboard like a careful operator.

1. ``DescribeDashboard`` (the published version). Its ``VersionDescription`` carries the hash of
   the Definition it was built from: the same hash means nothing to do (permissions are still
   granted, so a new principal gets access without a new version).
2. ``CreateDashboard`` when missing (``ResourceExistsException``, a concurrent create, falls
   through to an update), else ``UpdateDashboard``, which makes a new, unpublished version.
3. ``DescribeDashboard`` of that version until it is built. ``CREATION_FAILED``/``UPDATE_FAILED``
   raise with the version's ``Errors[]``; the version that was published stays live, since
   nothing is published until the new one is built.
4. ``UpdateDashboardPublishedVersion`` only then (publishing a version still being built fails).

``ConflictException`` (another update of the dashboard in progress) is retried with backoff, like
throttling.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from orchestration.lib.aws.clients import RetryPolicy, error_code
from orchestration.lib.publish.quicksight.api import (
    RETRYABLE_ERROR_CODES,
    QuickSightCaller,
    is_not_found,
)
from orchestration.lib.publish.quicksight.errors import DashboardVersionFailed, QuickSightError

logger = logging.getLogger(__name__)

T = TypeVar("T")

DASHBOARD_RETRYABLE_CODES = RETRYABLE_ERROR_CODES | {"ConflictException"}
BUILT_STATUSES = frozenset({"CREATION_SUCCESSFUL", "UPDATE_SUCCESSFUL"})
FAILED_STATUSES = frozenset({"CREATION_FAILED", "UPDATE_FAILED"})


@dataclass(frozen=True)
class DashboardDeployOptions:
    """Polling and retries of a dashboard deployment; clock, sleep and jitter are injectable."""

    poll_seconds: float = 5.0
    timeout_seconds: float = 900.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    jitter: Callable[[], float] = random.random


@dataclass(frozen=True)
class DashboardDeployResult:
    """What ``deploy_dashboard`` did: created, updated or unchanged, and the published version."""

    dashboard_id: str
    action: str
    version_number: int | None
    version_description: str


def version_number_of(version_arn: str) -> int:
    """The number at the end of a dashboard version ARN (``.../dashboard/<id>/version/<n>``)."""
    _, separator, number = version_arn.rpartition("/version/")
    if not separator or not number.isdigit():
        raise QuickSightError(f"Cannot read a version number from {version_arn!r}.")
    return int(number)


class _Deployment:
    def __init__(
        self,
        client: Any,
        request: Mapping[str, Any],
        options: DashboardDeployOptions,
        log: logging.Logger | Any,
    ) -> None:
        self.client = client
        self.request = request
        self.options = options
        self.caller = QuickSightCaller(
            options.retry, options.sleep, options.jitter, DASHBOARD_RETRYABLE_CODES
        )
        self.log = log
        self.ids = {"AwsAccountId": request["AwsAccountId"], "DashboardId": request["DashboardId"]}

    def call(self, operation: str, call: Callable[[], T]) -> T:
        return self.caller.call(f"{operation} {self.request['DashboardId']}", call)

    def run(self) -> DashboardDeployResult:
        description = self.request["VersionDescription"]
        published = self.describe_published()
        if published is not None and published.get("Description") == description:
            self.grant_permissions()
            return self.result("unchanged", published.get("VersionNumber"))
        action, version_arn = self.create_or_update(exists=published is not None)
        version_number = version_number_of(version_arn)
        self.wait_until_built(version_number)
        self.call(
            "UpdateDashboardPublishedVersion",
            lambda: self.client.update_dashboard_published_version(
                **self.ids, VersionNumber=version_number
            ),
        )
        if action == "updated":
            self.grant_permissions()
        return self.result(action, version_number)

    def result(self, action: str, version_number: int | None) -> DashboardDeployResult:
        return DashboardDeployResult(
            dashboard_id=self.request["DashboardId"],
            action=action,
            version_number=version_number,
            version_description=self.request["VersionDescription"],
        )

    def describe_published(self) -> Mapping[str, Any] | None:
        try:
            response = self.call(
                "DescribeDashboard", lambda: self.client.describe_dashboard(**self.ids)
            )
        except ClientError as error:
            if is_not_found(error):
                return None
            raise
        return response["Dashboard"].get("Version") or {}

    def create_or_update(self, *, exists: bool) -> tuple[str, str]:
        if not exists:
            try:
                response = self.call(
                    "CreateDashboard", lambda: self.client.create_dashboard(**self.request)
                )
                return "created", response["VersionArn"]
            except ClientError as error:
                if error_code(error) != "ResourceExistsException":
                    raise
                self.log.info("%s was created meanwhile; updating it", self.ids["DashboardId"])
        update = {key: value for key, value in self.request.items() if key != "Permissions"}
        response = self.call("UpdateDashboard", lambda: self.client.update_dashboard(**update))
        return "updated", response["VersionArn"]

    def wait_until_built(self, version_number: int) -> None:
        deadline = self.options.clock() + self.options.timeout_seconds
        while True:
            version = self.call(
                "DescribeDashboard",
                lambda: self.client.describe_dashboard(**self.ids, VersionNumber=version_number),
            )["Dashboard"]["Version"]
            status = version.get("Status", "")
            if status in BUILT_STATUSES:
                return
            if status in FAILED_STATUSES:
                errors = version.get("Errors") or []
                details = "; ".join(
                    f"{error.get('Type')}: {error.get('Message')}"
                    + "".join(
                        f" [{entity.get('Path')}]" for entity in error.get("ViolatedEntities") or []
                    )
                    for error in errors
                )
                raise DashboardVersionFailed(
                    f"Dashboard {self.ids['DashboardId']} version {version_number} {status}: "
                    f"{details or 'no errors reported'}. Not published: the previously published "
                    "version stays live. Check the datasets' columns against the dbt contracts "
                    "(materialize quicksight/datasets) and `python -m orchestration.cli "
                    "quicksight-dashboard`.",
                    version_number,
                    errors,
                )
            if self.options.clock() >= deadline:
                raise QuickSightError(
                    f"Dashboard {self.ids['DashboardId']} version {version_number} still "
                    f"{status} after {self.options.timeout_seconds:.0f}s; not published. Rerun "
                    "the asset later."
                )
            self.options.sleep(self.options.poll_seconds)

    def grant_permissions(self) -> None:
        permissions = self.request.get("Permissions")
        if not permissions:
            return
        self.call(
            "UpdateDashboardPermissions",
            lambda: self.client.update_dashboard_permissions(
                **self.ids, GrantPermissions=permissions
            ),
        )


def deploy_dashboard(
    client: Any,
    request: Mapping[str, Any],
    *,
    options: DashboardDeployOptions | None = None,
    log: logging.Logger | Any = logger,
) -> DashboardDeployResult:
    """Create, update or leave the dashboard of a ``CreateDashboard`` request; see the module.

    Raises:
        DashboardVersionFailed: the new version failed to build; nothing was published.
        QuickSightError: the version was not built in time, or a call failed for good.
    """
    return _Deployment(client, request, options or DashboardDeployOptions(), log).run()
