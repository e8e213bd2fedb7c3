"""QuickSight as code: the Athena data source, one SPICE dataset per mart, and SPICE refreshes.

Plain logic with no Dagster definitions: `orchestration/defs/publish/quicksight_assets.py` wires it
into assets. The facts this module relies on (quotas, statuses, error codes) are in
`aws-operations.md` §1; the numbered requirements it implements are items 4-13 of that document.

Refresh semantics, per dataset:

1. ``ListIngestions`` (paginated) once. An ingestion already ``INITIALIZED``/``QUEUED``/``RUNNING``
   means QuickSight is loading the table now: the dataset is skipped, because a second request
   would only queue behind it and burn one of the day's refreshes.
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import yaml
from botocore.exceptions import ClientError
from dagster_aws.utils import ResourceWithBoto3Configuration
from pydantic import Field

from orchestration.lib.aws.clients import RetryPolicy, backoff_delay, boto3_client, error_code
from orchestration.lib.environment import DBT_PROJECT_DIR, Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"
ATHENA_CATALOG = "AwsDataCatalog"
PHYSICAL_TABLE_ID = "athena-table"
LOGICAL_TABLE_ID = "mart"


def _names(words: str) -> tuple[str, ...]:
    return tuple(words.split())


# The marts that QuickSight publishes, with the columns their dashboards rely on
# (data-contract.md §4). Types come from the dbt contracts; this only guards against drift.
PUBLISHED_MARTS: dict[str, tuple[str, ...]] = {
    "agg_findings_by_severity": _names(
        "finding_date account_id region severity_label finding_count occurrence_count"
    ),
    "agg_findings_by_action_type": _names(
        "finding_date account_id region action_type finding_count occurrence_count"
    ),
    "agg_findings_by_country": _names(
        "finding_date account_id region country_code country_name finding_count occurrence_count"
    ),
    "fct_findings": _names(
        "finding_id account_id region finding_type threat_purpose resource_type severity "
        "severity_label action_type connection_direction is_archived occurrence_count created_at "
        "updated_at first_seen_at last_seen_at title"
    ),
    "fct_finding_remote_endpoints": _names(
        "finding_id endpoint_source ip_address ip_version country_code country_name city latitude "
        "longitude asn asn_org"
    ),
}

DATASET_TITLES = {
    "agg_findings_by_severity": "GuardDuty findings by severity",
    "agg_findings_by_action_type": "GuardDuty findings by action type",
    "agg_findings_by_country": "GuardDuty findings by country",
    "fct_findings": "GuardDuty findings (detail)",
    "fct_finding_remote_endpoints": "GuardDuty finding remote endpoints (map)",
}

# Columns QuickSight should plot on a map without an author setting the role by hand. A column's
# dbt `meta: {quicksight: {geographic_role: ...}}` overrides this.
GEOGRAPHIC_ROLES = {
    "country_code": "COUNTRY",
    "city": "CITY",
    "latitude": "LATITUDE",
    "longitude": "LONGITUDE",
}
_GEOGRAPHIC_ROLE_VALUES = frozenset(
    {"COUNTRY", "STATE", "COUNTY", "CITY", "POSTCODE", "LONGITUDE", "LATITUDE"}
)

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

REFRESH_QUOTA_PER_DAY = {"STANDARD": 8, "ENTERPRISE": 32}
REFRESH_WINDOW = timedelta(hours=24)
IN_PROGRESS_STATUSES = frozenset({"INITIALIZED", "QUEUED", "RUNNING"})
INGESTION_ID_MAX_LENGTH = 128
LIST_INGESTIONS_PAGE_SIZE = 100
# 1,000 ingestions is far above 24 h of any quota; the bound only stops a runaway pagination.
LIST_INGESTIONS_MAX_PAGES = 10

RETRYABLE_ERROR_CODES = frozenset({"ThrottlingException", "InternalFailureException"})

_INGESTION_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class QuickSightError(Exception):
    """A QuickSight operation of this project failed; the message says what to do."""


class MartSchemaError(QuickSightError):
    """The dbt YAML of a published mart is missing, incomplete or has an unmappable type."""


class QuickSightApiError(QuickSightError):
    """An API call failed for good (not retryable, or retries used up)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class RefreshError(QuickSightError):
    """A SPICE refresh of one dataset did not complete."""

    def __init__(self, message: str, dataset_id: str, ingestion_id: str | None = None) -> None:
        super().__init__(message)
        self.dataset_id = dataset_id
        self.ingestion_id = ingestion_id


class IngestionFailed(RefreshError):
    """The ingestion ended FAILED or CANCELLED; carries QuickSight's ErrorInfo and its class."""

    def __init__(
        self,
        message: str,
        dataset_id: str,
        ingestion_id: str,
        *,
        status: str,
        error_type: str | None,
        error_class: IngestionErrorClass,
    ) -> None:
        super().__init__(message, dataset_id, ingestion_id)
        self.status = status
        self.error_type = error_type
        self.error_class = error_class


class RefreshQuotaExceeded(RefreshError):
    """The daily refresh quota (QuickSight's LimitExceededException) or our budget is used up."""


class RefreshTimedOut(RefreshError):
    """The ingestion did not reach a terminal state in time and was cancelled."""


class IngestionErrorClass(Enum):
    """What kind of problem an ingestion's ErrorInfo.Type is, which decides what to do about it."""

    CAPACITY = "capacity"
    TRANSIENT = "transient"
    SCHEMA = "schema"
    PERMISSION = "permission"
    CONFIGURATION = "configuration"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


_ERROR_CLASSES: dict[IngestionErrorClass, frozenset[str]] = {
    IngestionErrorClass.CAPACITY: frozenset(
        {
            "ACCOUNT_CAPACITY_LIMIT_EXCEEDED",
            "DATA_SET_SIZE_LIMIT_EXCEEDED",
            "ROW_SIZE_LIMIT_EXCEEDED",
        }
    ),
    IngestionErrorClass.TRANSIENT: frozenset(
        {
            "QUERY_TIMEOUT",
            "CONNECTION_FAILURE",
            "INTERNAL_SERVICE_ERROR",
            "SOURCE_API_LIMIT_EXCEEDED_FAILURE",
            "SOURCE_RESOURCE_LIMIT_EXCEEDED",
            "DATA_SOURCE_CONNECTION_FAILED",
        }
    ),
    IngestionErrorClass.SCHEMA: frozenset(
        {
            "SQL_SCHEMA_MISMATCH_ERROR",
            "SQL_TABLE_NOT_FOUND",
            "SQL_EXCEPTION",
            "SQL_INVALID_PARAMETER_VALUE",
            "SQL_NUMERIC_OVERFLOW",
            "INVALID_DATE_FORMAT",
            "INVALID_DATAPREP_SYNTAX",
            "DUPLICATE_COLUMN_NAMES_FOUND",
            "DATA_TOLERANCE_EXCEPTION",
        }
    ),
    IngestionErrorClass.PERMISSION: frozenset(
        {
            "FAILURE_TO_ASSUME_ROLE",
            "IAM_ROLE_NOT_AVAILABLE",
            "PERMISSION_DENIED",
            "PERMISSION_NOT_FOUND",
            "S3_FILE_INACCESSIBLE",
            "DATA_SOURCE_AUTH_FAILED",
            "PASSWORD_AUTHENTICATION_FAILURE",
            "OAUTH_TOKEN_FAILURE",
        }
    ),
    IngestionErrorClass.CONFIGURATION: frozenset(
        {
            "DATA_SOURCE_NOT_FOUND",
            "DATA_SET_DELETED",
            "DATA_SET_NOT_SPICE",
            "SPICE_TABLE_NOT_FOUND",
            "INVALID_DATA_SOURCE_CONFIG",
            "UNRESOLVABLE_HOST",
            "UNROUTABLE_HOST",
            "SSL_CERTIFICATE_VALIDATION_FAILURE",
        }
    ),
    IngestionErrorClass.CANCELLED: frozenset(
        {"INGESTION_CANCELED", "INGESTION_SUPERSEDED", "REFRESH_SUPPRESSED_BY_EDIT"}
    ),
}

ERROR_ADVICE = {
    IngestionErrorClass.CAPACITY: (
        "SPICE capacity or a dataset size limit is exhausted in this Region. Retrying will not "
        "help: free or buy SPICE capacity in the dataset's Region (CloudWatch "
        "SPICECapacityConsumedInMB vs SPICECapacityLimitInMB), or reduce the mart's rows/columns."
    ),
    IngestionErrorClass.TRANSIENT: (
        "Probably transient (Athena or the connection). Rerun the asset; each rerun uses one of "
        "the dataset's daily refreshes. If it repeats, check the Athena workgroup's query history "
        "and concurrency quota."
    ),
    IngestionErrorClass.SCHEMA: (
        "The Athena table no longer matches the dataset definition. Materialize "
        "quicksight/datasets (it redeploys the columns from the dbt contract), then refresh."
    ),
    IngestionErrorClass.PERMISSION: (
        "QuickSight cannot read the data: check the QuickSight service role (or the data "
        "source's RoleArn) has AWSQuicksightAthenaAccess, S3 read on the mart bucket and KMS "
        "decrypt (aws-operations.md §1.11)."
    ),
    IngestionErrorClass.CONFIGURATION: (
        "The data source or dataset is missing or misconfigured. Materialize quicksight/datasets "
        "to recreate it, and check ATHENA_WORKGROUP and ATHENA_SCHEMA."
    ),
    IngestionErrorClass.CANCELLED: (
        "The ingestion was cancelled or replaced (console, API or a dataset edit). Rerun the asset "
        "if the dashboards must show the latest data."
    ),
    IngestionErrorClass.UNKNOWN: (
        "Unclassified failure: read the message, the dataset's ingestion history in the "
        "QuickSight console and the Athena query history."
    ),
}


def classify_ingestion_error(error_type: str | None) -> IngestionErrorClass:
    """Return the class of an ingestion ``ErrorInfo.Type`` (unknown types are UNKNOWN)."""
    for error_class, types in _ERROR_CLASSES.items():
        if error_type in types:
            return error_class
    return IngestionErrorClass.UNKNOWN


# ---------------------------------------------------------------------------------------------
# Resource


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

    def refresh_options(self, settings: Settings) -> RefreshOptions:
        """Refresh options from this resource's polling fields and the project settings."""
        return RefreshOptions(
            refresh_budget=refresh_quota(settings.quicksight_edition),
            timeout_seconds=settings.quicksight_refresh_timeout_seconds,
            poll_initial_seconds=self.poll_initial_seconds,
            poll_max_seconds=self.poll_max_seconds,
            retry=RetryPolicy(max_attempts=self.api_max_attempts),
        )


# ---------------------------------------------------------------------------------------------
# Dataset declarations from the dbt contracts


@dataclass(frozen=True)
class ColumnSpec:
    """One QuickSight input column."""

    name: str
    type: str
    sub_type: str | None = None
    geographic_role: str | None = None

    def input_column(self) -> dict[str, str]:
        column = {"Name": self.name, "Type": self.type}
        if self.sub_type:
            column["SubType"] = self.sub_type
        return column


@dataclass(frozen=True)
class DatasetSpec:
    """A SPICE dataset reading one mart table from Athena."""

    mart: str
    dataset_id: str
    name: str
    schema: str
    table: str
    columns: tuple[ColumnSpec, ...]
    catalog: str = ATHENA_CATALOG

    def physical_table_map(self, data_source_arn: str) -> dict[str, Any]:
        return {
            PHYSICAL_TABLE_ID: {
                "RelationalTable": {
                    "DataSourceArn": data_source_arn,
                    "Catalog": self.catalog,
                    "Schema": self.schema,
                    "Name": self.table,
                    "InputColumns": [column.input_column() for column in self.columns],
                }
            }
        }

    def logical_table_map(self) -> dict[str, Any] | None:
        """Geographic tags for map visuals, or None when the mart has no geographic column."""
        tags = [
            {
                "TagColumnOperation": {
                    "ColumnName": column.name,
                    "Tags": [{"ColumnGeographicRole": column.geographic_role}],
                }
            }
            for column in self.columns
            if column.geographic_role
        ]
        if not tags:
            return None
        return {
            LOGICAL_TABLE_ID: {
                "Alias": self.table[:64],
                "Source": {"PhysicalTableId": PHYSICAL_TABLE_ID},
                "DataTransforms": tags,
            }
        }


def dataset_id_for(prefix: str, mart: str) -> str:
    """The QuickSight dataset id of a mart: ``<prefix>-<mart with _ as ->``."""
    return f"{prefix}-{mart.replace('_', '-')}"


_DBT_MACRO_TYPES = {
    "string": ("STRING", None),
    "timestamp": ("DATETIME", None),
    "int": ("INTEGER", None),
    "bigint": ("INTEGER", None),
    "float": ("DECIMAL", "FLOAT"),
    "numeric": ("DECIMAL", "FIXED"),
    "boolean": ("BOOLEAN", None),
}
_SQL_TYPES = {
    **dict.fromkeys(("varchar", "char", "string", "text", "uuid"), ("STRING", None)),
    **dict.fromkeys(
        ("tinyint", "smallint", "int", "integer", "bigint", "hugeint", "long"), ("INTEGER", None)
    ),
    **dict.fromkeys(("double", "float", "real", "float4", "float8"), ("DECIMAL", "FLOAT")),
    **dict.fromkeys(("decimal", "numeric"), ("DECIMAL", "FIXED")),
    **dict.fromkeys(("timestamp", "timestamptz", "datetime", "date"), ("DATETIME", None)),
    **dict.fromkeys(("boolean", "bool"), ("BOOLEAN", None)),
}


def quicksight_type(dbt_data_type: str) -> tuple[str, str | None]:
    """Map a dbt contract ``data_type`` (Athena or DuckDB spelling) to a QuickSight input type.

    Returns:
        ``(Type, SubType)``: SubType is FLOAT/FIXED for DECIMAL columns, otherwise None.

    Raises:
        MartSchemaError: the type has no SPICE equivalent (arrays, maps, structs, ...).
    """
    text = dbt_data_type.strip().lower()
    macro = re.search(r"type_(\w+)\s*\(", text)
    if macro and macro.group(1) in _DBT_MACRO_TYPES:
        return _DBT_MACRO_TYPES[macro.group(1)]
    # "timestamp(6) with time zone", "decimal(10, 2)", "double precision" -> the leading word.
    base = re.split(r"[\s(]", text, maxsplit=1)[0]
    if base in _SQL_TYPES:
        return _SQL_TYPES[base]
    raise MartSchemaError(
        f"dbt data_type {dbt_data_type!r} has no QuickSight SPICE type: publish scalar columns "
        "only (flatten arrays/maps/structs in the mart)."
    )


def _column_meta(column: Mapping[str, Any]) -> Mapping[str, Any]:
    # dbt >= 1.10 moves `meta` under `config`; accept both spellings.
    meta = dict(column.get("meta") or {})
    meta.update((column.get("config") or {}).get("meta") or {})
    return meta


def load_mart_columns(
    marts_dir: Path | None = None, marts: Iterable[str] = PUBLISHED_MARTS
) -> dict[str, tuple[ColumnSpec, ...]]:
    """Read the QuickSight columns of each mart from the dbt model YAML under ``marts_dir``.

    Args:
        marts_dir: folder searched recursively for ``*.yml``/``*.yaml`` model properties;
            ``dbt_project/models/marts`` by default.
        marts: the model names to return.

    Raises:
        MartSchemaError: a mart has no YAML, a column has no ``data_type``, a contract column
            (data-contract.md §4) is missing, or a type cannot be mapped.
    """
    marts_dir = marts_dir or MARTS_DIR
    wanted = list(marts)
    models: dict[str, Mapping[str, Any]] = {}
    for path in sorted([*marts_dir.rglob("*.yml"), *marts_dir.rglob("*.yaml")]):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            if model.get("name") in wanted:
                models[model["name"]] = model
    missing_models = [mart for mart in wanted if mart not in models]
    if missing_models:
        raise MartSchemaError(
            f"No dbt model YAML for {', '.join(missing_models)} under {marts_dir}: the QuickSight "
            "columns come from each mart's enforced contract (columns with data_type)."
        )
    columns_by_mart: dict[str, tuple[ColumnSpec, ...]] = {}
    for mart in wanted:
        columns = []
        for column in models[mart].get("columns") or []:
            name = column.get("name")
            data_type = column.get("data_type")
            if not name or not data_type:
                raise MartSchemaError(
                    f"{mart}: column {name!r} has no data_type; an enforced contract needs one."
                )
            qs_type, sub_type = quicksight_type(str(data_type))
            role = (_column_meta(column).get("quicksight") or {}).get("geographic_role")
            role = str(role).upper() if role else GEOGRAPHIC_ROLES.get(name)
            if role and role not in _GEOGRAPHIC_ROLE_VALUES:
                raise MartSchemaError(f"{mart}.{name}: unknown geographic_role {role!r}.")
            columns.append(ColumnSpec(name, qs_type, sub_type, role))
        names = {column.name for column in columns}
        absent = [name for name in PUBLISHED_MARTS.get(mart, ()) if name not in names]
        if absent:
            raise MartSchemaError(
                f"{mart}: the dbt YAML lacks contract columns {', '.join(absent)} "
                "(data-contract.md §4) that the dashboards rely on."
            )
        columns_by_mart[mart] = tuple(columns)
    return columns_by_mart


def build_dataset_specs(settings: Settings, marts_dir: Path | None = None) -> list[DatasetSpec]:
    """One dataset declaration per published mart, with columns read from the dbt YAML now."""
    columns_by_mart = load_mart_columns(marts_dir)
    return [
        DatasetSpec(
            mart=mart,
            dataset_id=dataset_id_for(settings.quicksight_dataset_prefix, mart),
            name=DATASET_TITLES[mart],
            schema=settings.athena_schema,
            table=mart,
            columns=columns,
        )
        for mart, columns in columns_by_mart.items()
    ]


# ---------------------------------------------------------------------------------------------
# Retries


def call_with_retries(
    call: Callable[[], T],
    *,
    description: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    jitter: Callable[[], float],
) -> T:
    """Run ``call``, retrying only ThrottlingException and InternalFailureException.

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
            if code not in RETRYABLE_ERROR_CODES:
                raise
            if attempt == policy.max_attempts:
                raise QuickSightApiError(
                    f"{description}: still {code} after {attempt} attempts; QuickSight is "
                    "throttling or failing internally. Rerun later, or lower "
                    "QUICKSIGHT_MAX_CONCURRENT_REFRESHES.",
                    code,
                ) from error
            delay = backoff_delay(policy, attempt, jitter)
            logger.info("%s: %s, retry %d in %.1fs", description, code, attempt, delay)
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")


# ---------------------------------------------------------------------------------------------
# Data source and datasets


@dataclass(frozen=True)
class DeployResult:
    """What ``ensure_data_source_and_datasets`` did: action per resource id."""

    data_source_id: str
    data_source_action: str
    dataset_actions: dict[str, str]
    dataset_ingestion_ids: dict[str, str] = field(default_factory=dict)


def _is_not_found(error: ClientError) -> bool:
    return error_code(error) == "ResourceNotFoundException"


def _permissions(principal_arn: str, actions: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Principal": principal_arn, "Actions": list(actions)}] if principal_arn else []


def _wait_for_data_source(
    client: Any,
    account_id: str,
    data_source_id: str,
    *,
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    jitter: Callable[[], float],
    polls: int = 30,
    interval_seconds: float = 2.0,
) -> None:
    """Wait until an Athena data source has finished creating/updating; fail if that failed."""
    for _ in range(polls):
        data_source = call_with_retries(
            lambda: client.describe_data_source(
                AwsAccountId=account_id, DataSourceId=data_source_id
            ),
            description=f"DescribeDataSource {data_source_id}",
            policy=retry,
            sleep=sleep,
            jitter=jitter,
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
        sleep(interval_seconds)
    raise QuickSightError(
        f"Data source {data_source_id} is still in progress after {polls} checks; rerun later."
    )


def _ensure_data_source(
    client: Any,
    settings: Settings,
    *,
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    jitter: Callable[[], float],
) -> tuple[str, str]:
    account_id = settings.quicksight_account_id
    data_source_id = settings.quicksight_data_source_id
    name = "GuardDuty marts (Athena)"
    parameters = {"AthenaParameters": {"WorkGroup": settings.athena_workgroup}}

    def retried(description: str, call: Callable[[], T]) -> T:
        return call_with_retries(
            call, description=description, policy=retry, sleep=sleep, jitter=jitter
        )

    try:
        existing = retried(
            f"DescribeDataSource {data_source_id}",
            lambda: client.describe_data_source(
                AwsAccountId=account_id, DataSourceId=data_source_id
            ),
        )["DataSource"]
    except ClientError as error:
        if not _is_not_found(error):
            raise
        existing = None

    if existing is None:
        request: dict[str, Any] = {
            "AwsAccountId": account_id,
            "DataSourceId": data_source_id,
            "Name": name,
            "Type": "ATHENA",
            "DataSourceParameters": parameters,
        }
        permissions = _permissions(settings.quicksight_principal_arn, DATA_SOURCE_ACTIONS)
        if permissions:
            request["Permissions"] = permissions
        response = retried(
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
            response = retried(
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
            retried(
                f"UpdateDataSourcePermissions {data_source_id}",
                lambda: client.update_data_source_permissions(
                    AwsAccountId=account_id,
                    DataSourceId=data_source_id,
                    GrantPermissions=_permissions(
                        settings.quicksight_principal_arn, DATA_SOURCE_ACTIONS
                    ),
                ),
            )
    if status.endswith("_IN_PROGRESS"):
        # Datasets created against a data source that is still being created fail to ingest.
        _wait_for_data_source(
            client, account_id, data_source_id, retry=retry, sleep=sleep, jitter=jitter
        )
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
    retry = retry or RetryPolicy()
    specs = build_dataset_specs(settings) if specs is None else specs
    account_id = settings.quicksight_account_id
    principal = settings.quicksight_principal_arn
    if not principal:
        logger.warning(
            "QUICKSIGHT_PRINCIPAL_ARN is not set: the datasets are created without permissions "
            "and only QuickSight admins will see them."
        )
    data_source_arn, data_source_action = _ensure_data_source(
        client, settings, retry=retry, sleep=sleep, jitter=jitter
    )

    def retried(description: str, call: Callable[[], T]) -> T:
        return call_with_retries(
            call, description=description, policy=retry, sleep=sleep, jitter=jitter
        )

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
            existing = retried(
                f"DescribeDataSet {spec.dataset_id}",
                lambda spec=spec: client.describe_data_set(
                    AwsAccountId=account_id, DataSetId=spec.dataset_id
                ),
            )["DataSet"]
        except ClientError as error:
            if not _is_not_found(error):
                raise
            existing = None
        if existing is None:
            request = dict(desired)
            permissions = _permissions(principal, DATASET_ACTIONS)
            if permissions:
                request["Permissions"] = permissions
            response = retried(
                f"CreateDataSet {spec.dataset_id}",
                lambda request=request: client.create_data_set(**request),
            )
            actions[spec.dataset_id] = "created"
        elif _dataset_unchanged(existing, desired):
            response = {}
            actions[spec.dataset_id] = "unchanged"
        else:
            response = retried(
                f"UpdateDataSet {spec.dataset_id}",
                lambda desired=desired: client.update_data_set(**desired),
            )
            actions[spec.dataset_id] = "updated"
        if response.get("IngestionId"):
            ingestion_ids[spec.dataset_id] = response["IngestionId"]
        if existing is not None and principal:
            retried(
                f"UpdateDataSetPermissions {spec.dataset_id}",
                lambda spec=spec: client.update_data_set_permissions(
                    AwsAccountId=account_id,
                    DataSetId=spec.dataset_id,
                    GrantPermissions=_permissions(principal, DATASET_ACTIONS),
                ),
            )
    return DeployResult(
        data_source_id=settings.quicksight_data_source_id,
        data_source_action=data_source_action,
        dataset_actions=actions,
        dataset_ingestion_ids=ingestion_ids,
    )


# ---------------------------------------------------------------------------------------------
# SPICE refresh


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

    @property
    def skipped(self) -> bool:
        return self.status == "SKIPPED"


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
            "account has no QuickSight subscription in AWS_REGION (aws-operations.md §1.11)."
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
        self.account_id = account_id
        self.dataset_id = dataset_id
        self.ingestion_id = ingestion_id
        self.options = options
        self.log = log

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        try:
            return call_with_retries(
                call,
                description=f"{operation} {self.dataset_id}",
                policy=self.options.retry,
                sleep=self.options.sleep,
                jitter=self.options.jitter,
            )
        except ClientError as error:
            if error_code(error) in {"ResourceExistsException", "LimitExceededException"}:
                raise
            raise _explain_api_error(error, self.dataset_id, operation) from error

    def list_ingestions(self) -> list[dict[str, Any]]:
        ingestions: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "AwsAccountId": self.account_id,
            "DataSetId": self.dataset_id,
            "MaxResults": LIST_INGESTIONS_PAGE_SIZE,
        }
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
        ingestions = self.list_ingestions()
        own = next((i for i in ingestions if i.get("IngestionId") == self.ingestion_id), None)
        if own is not None:
            # A re-executed step: follow the ingestion it already started instead of paying again.
            self.log.info(
                "%s: ingestion %s already exists, following it", self.dataset_id, self.ingestion_id
            )
            return self.wait(started)
        running = [i for i in ingestions if i.get("IngestionStatus") in IN_PROGRESS_STATUSES]
        if running:
            other = running[0]
            return RefreshResult(
                dataset_id=self.dataset_id,
                status="SKIPPED",
                ingestion_id=other.get("IngestionId"),
                message=(
                    f"skipped: ingestion {other.get('IngestionId')} is already "
                    f"{other.get('IngestionStatus')}; a second request would only queue behind "
                    "it and use one of the day's refreshes."
                ),
            )
        self.check_budget(ingestions, started)
        try:
            self._call(
                "CreateIngestion",
                lambda: self.client.create_ingestion(
                    AwsAccountId=self.account_id,
                    DataSetId=self.dataset_id,
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
        return self.wait(started)

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

    def wait(self, started: float) -> RefreshResult:
        options = self.options
        deadline = started + options.timeout_seconds
        delay = options.poll_initial_seconds
        while True:
            ingestion = self._call(
                "DescribeIngestion",
                lambda: self.client.describe_ingestion(
                    AwsAccountId=self.account_id,
                    DataSetId=self.dataset_id,
                    IngestionId=self.ingestion_id,
                ),
            )["Ingestion"]
            status = ingestion["IngestionStatus"]
            if status == "COMPLETED":
                return self.completed(ingestion)
            if status in {"FAILED", "CANCELLED"}:
                raise self.failed(ingestion)
            remaining = deadline - options.clock()
            if remaining <= 0:
                raise self.timed_out(status)
            options.sleep(min(delay, remaining))
            delay = min(delay * 2, options.poll_max_seconds)

    def completed(self, ingestion: Mapping[str, Any]) -> RefreshResult:
        rows = ingestion.get("RowInfo") or {}
        dropped = rows.get("RowsDropped") or 0
        warnings = ()
        if dropped:
            warnings = (
                f"{self.dataset_id}: {dropped} rows dropped by SPICE in ingestion "
                f"{self.ingestion_id} (values that do not fit the column types); the dashboards "
                "miss them. Compare the dbt contract types with the data.",
            )
            for warning in warnings:
                self.log.warning(warning)
        return RefreshResult(
            dataset_id=self.dataset_id,
            status="COMPLETED",
            ingestion_id=self.ingestion_id,
            rows_ingested=rows.get("RowsIngested"),
            rows_dropped=dropped,
            seconds=ingestion.get("IngestionTimeInSeconds"),
            bytes=ingestion.get("IngestionSizeInBytes"),
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
                lambda: self.client.cancel_ingestion(
                    AwsAccountId=self.account_id,
                    DataSetId=self.dataset_id,
                    IngestionId=self.ingestion_id,
                ),
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
        COMPLETED (rows ingested/dropped, seconds, bytes) or SKIPPED (one already running).

    Raises:
        RefreshQuotaExceeded: budget exhausted, or LimitExceededException from QuickSight.
        RefreshTimedOut: not terminal in time; the ingestion was cancelled.
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
