"""The Dagster resource that hands out QuickSight clients and the refresh options."""

from __future__ import annotations

from typing import Any

from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field

from orchestration.lib.aws.clients import RetryPolicy, boto3_client
from orchestration.lib.environment import Settings
from orchestration.lib.publish.quicksight.dashboard_deploy import DashboardDeployOptions
from orchestration.lib.publish.quicksight.refresh import RefreshOptions, refresh_quota


class QuickSightResource(ResourceWithBoto3Configuration):
    """A boto3 QuickSight client (standard retry mode) plus how to poll SPICE refreshes.

    The region, endpoint, profile and credential fields come from
    ``ResourceWithBoto3Configuration``; ``max_attempts`` is botocore's own retry budget per call,
    on top of which the refresh routine retries throttling with longer, jittered backoff.

    Example:
        ``QuickSightResource(region_name=settings.aws_region)``
    """

    poll_initial_seconds: float = Field(
        default=15.0, description="Wait before the second DescribeIngestion; doubles each poll."
    )
    poll_max_seconds: float = Field(
        default=60.0, description="Longest wait between two DescribeIngestion calls."
    )
    api_max_attempts: int = Field(
        default=6,
        description="Attempts per QuickSight call on ThrottlingException/InternalFailureException.",
    )

    def get_client(self) -> Any:
        """Return a new boto3 QuickSight client configured from this resource."""
        return boto3_client(self, "quicksight")

    def refresh_options(
        self, settings: Settings, data_ready_at: float | None = None
    ) -> RefreshOptions:
        """Refresh options from this resource's polling fields and the project settings."""
        return RefreshOptions(
            data_ready_at=data_ready_at,
            refresh_budget=refresh_quota(settings.quicksight_edition),
            timeout_seconds=settings.quicksight_refresh_timeout_seconds,
            poll_initial_seconds=self.poll_initial_seconds,
            poll_max_seconds=self.poll_max_seconds,
            retry=RetryPolicy(max_attempts=self.api_max_attempts),
        )

    def dashboard_options(self) -> DashboardDeployOptions:
        """Dashboard deployment options with this resource's retry budget."""
        return DashboardDeployOptions(retry=RetryPolicy(max_attempts=self.api_max_attempts))
