"""The Athena data source and one SPICE dataset per published mart, created or updated as code."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.environment import Settings
from orchestration.lib.publish.quicksight.api import QuickSightCaller, grants_for, is_not_found
from orchestration.lib.publish.quicksight.errors import QuickSightError
from orchestration.lib.publish.quicksight.marts import DatasetSpec, build_dataset_specs

logger = logging.getLogger(__name__)


# Datasets are managed as code, so the configured principal may use them (analyses, dashboards)
# but not edit them: a console edit would be overwritten by the next deploy. These are the action
# sets the QuickSight console grants a "viewer" of a data source / dataset.
DATA_SOURCE_ACTIONS = (
    "quicksight:DescribeDataSource",
    "quicksight:DescribeDataSourcePermissions",
    "quicksight:PassDataSource",
)
DATASET_ACTIONS = (
    "quicksight:DescribeDataSet",
    "quicksight:DescribeDataSetPermissions",
    "quicksight:PassDataSet",
    "quicksight:DescribeIngestion",
    "quicksight:ListIngestions",
)


@dataclass(frozen=True)
class DeployResult:
    """What ``ensure_data_source_and_datasets`` did: action per resource id."""

    data_source_id: str
    data_source_action: str
    dataset_actions: dict[str, str]
    dataset_ingestion_ids: dict[str, str] = field(default_factory=dict)


def _wait_for_data_source(
    client: Any,
    account_id: str,
    data_source_id: str,
    caller: QuickSightCaller,
    *,
    polls: int = 30,
    interval_seconds: float = 2.0,
) -> None:
    """Wait until an Athena data source has finished creating/updating; fail if that failed."""
    for _ in range(polls):
        data_source = caller.call(
            f"DescribeDataSource {data_source_id}",
            lambda: client.describe_data_source(
                AwsAccountId=account_id, DataSourceId=data_source_id
            ),
        )["DataSource"]
        status = data_source.get("Status", "")
        if status.endswith("_FAILED"):
            error = data_source.get("ErrorInfo") or {}
            raise QuickSightError(
                f"Data source {data_source_id} is {status}: {error.get('Type')}: "
                f"{error.get('Message')}. Check ATHENA_WORKGROUP exists and the QuickSight "
                "service role may use it."
            )
        if not status.endswith("_IN_PROGRESS"):
            return
        caller.sleep(interval_seconds)
    raise QuickSightError(
        f"Data source {data_source_id} is still in progress after {polls} checks; rerun later."
    )


def _athena_parameters(
    settings: Settings, existing: Mapping[str, Any] | None
) -> dict[str, dict[str, str]]:
    """The data source's AthenaParameters: the workgroup, and the role QuickSight assumes.

    The role is the configured one, else the one the data source already has (the stack creates
    it with its own role): an update must never drop a role the pipeline was not told about.
    """
    athena = {"WorkGroup": settings.athena_workgroup}
    current = ((existing or {}).get("DataSourceParameters") or {}).get("AthenaParameters") or {}
    role_arn = settings.quicksight_data_source_role_arn or current.get("RoleArn")
    if role_arn:
        athena["RoleArn"] = role_arn
    return {"AthenaParameters": athena}


def _ensure_data_source(
    client: Any, settings: Settings, caller: QuickSightCaller
) -> tuple[str, str]:
    account_id = settings.quicksight_account_id
    data_source_id = settings.quicksight_data_source_id
    name = "GuardDuty marts (Athena)"
    try:
        existing = caller.call(
            f"DescribeDataSource {data_source_id}",
            lambda: client.describe_data_source(
                AwsAccountId=account_id, DataSourceId=data_source_id
            ),
        )["DataSource"]
    except ClientError as error:
        if not is_not_found(error):
            raise
        existing = None

    parameters = _athena_parameters(settings, existing)
    if existing is None:
        request: dict[str, Any] = {
            "AwsAccountId": account_id,
            "DataSourceId": data_source_id,
            "Name": name,
            "Type": "ATHENA",
            "DataSourceParameters": parameters,
        }
        permissions = grants_for(settings.quicksight_principal_arn, DATA_SOURCE_ACTIONS)
        if permissions:
            request["Permissions"] = permissions
        response = caller.call(
            f"CreateDataSource {data_source_id}", lambda: client.create_data_source(**request)
        )
        action, arn, status = "created", response["Arn"], response.get("CreationStatus", "")
    else:
        unchanged = (
            existing.get("Name") == name
            and existing.get("Type") == "ATHENA"
            and existing.get("DataSourceParameters") == parameters
        )
        if unchanged:
            action, arn, status = "unchanged", existing["Arn"], existing.get("Status", "")
        else:
            response = caller.call(
                f"UpdateDataSource {data_source_id}",
                lambda: client.update_data_source(
                    AwsAccountId=account_id,
                    DataSourceId=data_source_id,
                    Name=name,
                    DataSourceParameters=parameters,
                ),
            )
            action, arn, status = "updated", response["Arn"], response.get("UpdateStatus", "")
        if settings.quicksight_principal_arn:
            caller.call(
                f"UpdateDataSourcePermissions {data_source_id}",
                lambda: client.update_data_source_permissions(
                    AwsAccountId=account_id,
                    DataSourceId=data_source_id,
                    GrantPermissions=grants_for(
                        settings.quicksight_principal_arn, DATA_SOURCE_ACTIONS
                    ),
                ),
            )
    if status.endswith("_IN_PROGRESS"):
        # Datasets created against a data source that is still being created fail to ingest.
        _wait_for_data_source(client, account_id, data_source_id, caller)
    return arn, action


def _geographic_tags(logical_table_map: Mapping[str, Any] | None) -> list[Any]:
    tags = []
    for table in (logical_table_map or {}).values():
        for transform in table.get("DataTransforms") or []:
            if "TagColumnOperation" in transform:
                tags.append(transform["TagColumnOperation"])
    return sorted(tags, key=lambda tag: tag["ColumnName"])


def _dataset_unchanged(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return (
        existing.get("Name") == desired["Name"]
        and existing.get("ImportMode") == desired["ImportMode"]
        and existing.get("PhysicalTableMap") == desired["PhysicalTableMap"]
        and _geographic_tags(existing.get("LogicalTableMap"))
        == _geographic_tags(desired.get("LogicalTableMap"))
    )


def ensure_data_source_and_datasets(
    client: Any,
    settings: Settings,
    specs: Sequence[DatasetSpec] | None = None,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[], float] = random.random,
) -> DeployResult:
    """Create or fully update the Athena data source and one SPICE dataset per mart.

    Idempotent: each resource is described first, created when missing, left alone when it
    already matches (an update of a SPICE dataset starts an ingestion, which costs one of the
    day's refreshes), and otherwise replaced with a full ``UpdateDataSet`` (QuickSight has no
    partial update). Permissions for ``settings.quicksight_principal_arn`` are granted on every
    call; grants are idempotent.

    Args:
        client: a boto3 QuickSight client.
        settings: account id, data source id, dataset prefix, workgroup, schema, principal.
        specs: the datasets; by default read from the dbt mart YAML now.
        retry: backoff for throttling; the default policy when None.
        sleep: injectable for tests.
        jitter: returns a float in [0, 1); injectable for tests.

    Returns:
        What was created, updated or left unchanged.
    """
    caller = QuickSightCaller(retry or RetryPolicy(), sleep, jitter)
    specs = build_dataset_specs(settings) if specs is None else specs
    account_id = settings.quicksight_account_id
    principal = settings.quicksight_principal_arn
    if not principal:
        logger.warning(
            "QUICKSIGHT_PRINCIPAL_ARN is not set: the datasets are created without permissions "
            "and only QuickSight admins will see them."
        )
    data_source_arn, data_source_action = _ensure_data_source(client, settings, caller)

    actions: dict[str, str] = {}
    ingestion_ids: dict[str, str] = {}
    for spec in specs:
        desired: dict[str, Any] = {
            "AwsAccountId": account_id,
            "DataSetId": spec.dataset_id,
            "Name": spec.name,
            "PhysicalTableMap": spec.physical_table_map(data_source_arn),
            "ImportMode": "SPICE",
        }
        logical_table_map = spec.logical_table_map()
        if logical_table_map:
            desired["LogicalTableMap"] = logical_table_map
        try:
            existing = caller.call(
                f"DescribeDataSet {spec.dataset_id}",
                lambda spec=spec: client.describe_data_set(
                    AwsAccountId=account_id, DataSetId=spec.dataset_id
                ),
            )["DataSet"]
        except ClientError as error:
            if not is_not_found(error):
                raise
            existing = None
        if existing is None:
            request = dict(desired)
            permissions = grants_for(principal, DATASET_ACTIONS)
            if permissions:
                request["Permissions"] = permissions
            response = caller.call(
                f"CreateDataSet {spec.dataset_id}",
                lambda request=request: client.create_data_set(**request),
            )
            actions[spec.dataset_id] = "created"
        elif _dataset_unchanged(existing, desired):
            response = {}
            actions[spec.dataset_id] = "unchanged"
        else:
            response = caller.call(
                f"UpdateDataSet {spec.dataset_id}",
                lambda desired=desired: client.update_data_set(**desired),
            )
            actions[spec.dataset_id] = "updated"
        if response.get("IngestionId"):
            ingestion_ids[spec.dataset_id] = response["IngestionId"]
        if existing is not None and principal:
            caller.call(
                f"UpdateDataSetPermissions {spec.dataset_id}",
                lambda spec=spec: client.update_data_set_permissions(
                    AwsAccountId=account_id,
                    DataSetId=spec.dataset_id,
                    GrantPermissions=grants_for(principal, DATASET_ACTIONS),
                ),
            )
    return DeployResult(
        data_source_id=settings.quicksight_data_source_id,
        data_source_action=data_source_action,
        dataset_actions=actions,
        dataset_ingestion_ids=ingestion_ids,
    )
