"""QuickSight errors, and what an ingestion's ErrorInfo.Type means for an operator."""

from __future__ import annotations

from enum import Enum


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
        "decrypt (docs/deploy-aws.md, section 10)."
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


class DashboardVersionFailed(QuickSightError):
    """A new dashboard version ended CREATION_FAILED/UPDATE_FAILED; the published one stays live."""

    def __init__(self, message: str, version_number: int, errors: list[dict]) -> None:
        super().__init__(message)
        self.version_number = version_number
        self.errors = errors
