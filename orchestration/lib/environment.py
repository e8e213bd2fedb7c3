"""The one place that reads configuration from the environment.

Every variable is optional: with none set the project runs its embedded default (a local folder of
raw findings, a Parquet lake on disk, dbt on DuckDB and an offline HTML dashboard). Setting
``DBT_TARGET=athena`` and the AWS variables is the only change needed for production.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"

DBT_TARGETS = ("duckdb", "athena")
LAKE_CATALOGS = ("sql", "glue")
QUICKSIGHT_EDITIONS = ("STANDARD", "ENTERPRISE")

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,254}$")
_QUICKSIGHT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class ConfigurationError(ValueError):
    """A configuration variable has a value the project cannot use."""


def validate_sql_identifier(name: str, variable: str) -> str:
    """Return ``name`` if it is a safe, lowercase SQL identifier (Glue and Athena rules)."""
    if not _IDENTIFIER.match(name):
        raise ConfigurationError(
            f"{variable}={name!r} is not a valid identifier: use lowercase letters, digits and "
            "underscores, starting with a letter or underscore."
        )
    return name


def is_s3_uri(uri: str) -> bool:
    return uri.startswith("s3://")


def _local_path(value: str, variable: str) -> str:
    """Resolve a local path from configuration to an absolute, normalised path."""
    if "\x00" in value:
        raise ConfigurationError(f"{variable} contains a NUL byte.")
    return str(Path(value).expanduser().resolve())


def _uri(variable: str, default: Path) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        return str(default)
    if is_s3_uri(value):
        bucket = value[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise ConfigurationError(f"{variable}={value!r} has no bucket name.")
        return value.rstrip("/")
    if "://" in value:
        raise ConfigurationError(
            f"{variable}={value!r}: only local paths and s3:// URIs are supported."
        )
    return _local_path(value, variable)


def _int(variable: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigurationError(f"{variable}={raw!r} is not a whole number.") from error
    if value < minimum:
        raise ConfigurationError(f"{variable}={value} must be at least {minimum}.")
    return value


def _arn(variable: str, value: str) -> str:
    value = value.strip()
    if value and not re.fullmatch(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{0,12}:\S+", value):
        raise ConfigurationError(f"{variable}: {value!r} is not an ARN.")
    return value


def _arns(variable: str, default: str) -> tuple[str, ...]:
    """A comma-separated list of ARNs; ``default`` (one ARN or empty) when the variable is unset."""
    raw = os.environ.get(variable, "").strip() or default
    return tuple(_arn(variable, item) for item in raw.split(",") if item.strip())


def _quicksight_id(variable: str, default: str) -> str:
    value = os.environ.get(variable, "").strip() or default
    if not _QUICKSIGHT_ID.match(value):
        raise ConfigurationError(f"{variable}={value!r}: use 1-128 letters, digits, '-' or '_'.")
    return value


def _cron(variable: str, default: str) -> str:
    """A five-field cron schedule; ``default`` (which may be empty: no override) when unset."""
    value = " ".join(os.environ.get(variable, "").split()) or default
    if value and len(value.split(" ")) != 5:
        raise ConfigurationError(
            f"{variable}={value!r} is not a cron schedule of five fields (minute hour day "
            "month weekday), e.g. '30 4 * * *'."
        )
    return value


def _date(variable: str, default: str) -> str:
    value = os.environ.get(variable, "").strip() or default
    try:
        date.fromisoformat(value)
    except ValueError as error:
        raise ConfigurationError(f"{variable}={value!r} is not a date (YYYY-MM-DD).") from error
    return value


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Secrets are never held here: resources read them via dg.EnvVar."""

    data_dir: str
    source_uri: str
    source_is_default: bool
    lake_uri: str
    # Iceberg catalog of the lake: "sql" (SQLite, the embedded default) or "glue".
    lake_catalog: str
    duckdb_path: str
    report_dir: str
    dbt_target: str
    aws_region: str
    ingest_concurrency: int
    max_object_bytes: int
    # Days before the listing cursor the source is listed again, for objects written late.
    listing_lookback_days: int
    # First day of the daily partitions that backfills of the dbt models can choose from.
    partitions_start: str
    # The pipeline schedule chosen by the user; empty: the QuickSight edition's default.
    pipeline_cron_override: str
    glue_database: str
    athena_schema: str
    athena_workgroup: str
    quicksight_account_id: str
    quicksight_data_source_id: str
    quicksight_dataset_prefix: str
    quicksight_principal_arn: str
    quicksight_edition: str
    quicksight_refresh_timeout_seconds: int
    quicksight_max_concurrent_refreshes: int
    quicksight_data_source_role_arn: str
    quicksight_dashboard_id: str
    quicksight_dashboard_owner_arns: tuple[str, ...]
    quicksight_dashboard_viewer_arns: tuple[str, ...]

    @property
    def uses_athena(self) -> bool:
        """The marts are built in Athena (the AWS deployment), not in the local DuckDB file."""
        return self.dbt_target == "athena"

    @property
    def quicksight_configured(self) -> bool:
        return bool(self.quicksight_account_id)


def load_settings() -> Settings:
    """Read and validate every configuration variable (see README, "Configuration")."""
    data_dir = Path(_uri("GUARDDUTY_DATA_DIR", DEFAULT_DATA_DIR))
    source_is_default = not os.environ.get("GUARDDUTY_SOURCE_URI", "").strip()
    dbt_target = os.environ.get("DBT_TARGET", "duckdb").strip() or "duckdb"
    if dbt_target not in DBT_TARGETS:
        raise ConfigurationError(f"DBT_TARGET={dbt_target!r}: expected one of {DBT_TARGETS}.")
    lake_catalog = os.environ.get("GUARDDUTY_LAKE_CATALOG", "sql").strip().lower() or "sql"
    if lake_catalog not in LAKE_CATALOGS:
        raise ConfigurationError(
            f"GUARDDUTY_LAKE_CATALOG={lake_catalog!r}: expected one of {LAKE_CATALOGS}."
        )
    edition = os.environ.get("QUICKSIGHT_EDITION", "ENTERPRISE").strip().upper() or "ENTERPRISE"
    if edition not in QUICKSIGHT_EDITIONS:
        raise ConfigurationError(
            f"QUICKSIGHT_EDITION={edition!r}: expected one of {QUICKSIGHT_EDITIONS}."
        )
    account_id = os.environ.get("QUICKSIGHT_ACCOUNT_ID", "").strip()
    if account_id and not re.fullmatch(r"\d{12}", account_id):
        raise ConfigurationError(f"QUICKSIGHT_ACCOUNT_ID={account_id!r} is not a 12-digit id.")
    data_source_id = os.environ.get("QUICKSIGHT_DATA_SOURCE_ID", "guardduty-athena").strip()
    dataset_prefix = os.environ.get("QUICKSIGHT_DATASET_PREFIX", "guardduty").strip()
    for variable, value in (
        ("QUICKSIGHT_DATA_SOURCE_ID", data_source_id),
        ("QUICKSIGHT_DATASET_PREFIX", dataset_prefix),
    ):
        if not _QUICKSIGHT_ID.match(value):
            raise ConfigurationError(
                f"{variable}={value!r}: use 1-128 letters, digits, '-' or '_'."
            )
    return Settings(
        data_dir=str(data_dir),
        source_uri=_uri("GUARDDUTY_SOURCE_URI", data_dir / "demo_corpus"),
        source_is_default=source_is_default,
        lake_uri=_uri("GUARDDUTY_LAKE_URI", data_dir / "lake"),
        lake_catalog=lake_catalog,
        duckdb_path=_uri("GUARDDUTY_DUCKDB_PATH", data_dir / "warehouse.duckdb"),
        report_dir=_uri("GUARDDUTY_REPORT_DIR", data_dir / "reports"),
        dbt_target=dbt_target,
        aws_region=(
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        ).strip(),
        ingest_concurrency=_int("GUARDDUTY_INGEST_CONCURRENCY", 32),
        max_object_bytes=_int("GUARDDUTY_MAX_OBJECT_BYTES", 256 * 1024 * 1024),
        listing_lookback_days=_int("GUARDDUTY_LISTING_LOOKBACK_DAYS", 2),
        partitions_start=_date("GUARDDUTY_PARTITIONS_START", "2024-01-01"),
        pipeline_cron_override=_cron("GUARDDUTY_PIPELINE_CRON", ""),
        glue_database=validate_sql_identifier(
            os.environ.get("GUARDDUTY_GLUE_DATABASE", "guardduty_lake").strip(),
            "GUARDDUTY_GLUE_DATABASE",
        ),
        athena_schema=validate_sql_identifier(
            os.environ.get("ATHENA_SCHEMA", "guardduty_marts").strip(), "ATHENA_SCHEMA"
        ),
        athena_workgroup=os.environ.get("ATHENA_WORKGROUP", "guardduty").strip(),
        quicksight_account_id=account_id,
        quicksight_data_source_id=data_source_id,
        quicksight_dataset_prefix=dataset_prefix,
        quicksight_principal_arn=os.environ.get("QUICKSIGHT_PRINCIPAL_ARN", "").strip(),
        quicksight_edition=edition,
        quicksight_refresh_timeout_seconds=_int("QUICKSIGHT_REFRESH_TIMEOUT_SECONDS", 2 * 3600),
        quicksight_max_concurrent_refreshes=_int("QUICKSIGHT_MAX_CONCURRENT_REFRESHES", 4),
        quicksight_data_source_role_arn=_arn(
            "QUICKSIGHT_DATA_SOURCE_ROLE_ARN", os.environ.get("QUICKSIGHT_DATA_SOURCE_ROLE_ARN", "")
        ),
        quicksight_dashboard_id=_quicksight_id("QUICKSIGHT_DASHBOARD_ID", "guardduty-findings"),
        quicksight_dashboard_owner_arns=_arns(
            "QUICKSIGHT_DASHBOARD_OWNER_ARNS",
            os.environ.get("QUICKSIGHT_PRINCIPAL_ARN", "").strip(),
        ),
        quicksight_dashboard_viewer_arns=_arns("QUICKSIGHT_DASHBOARD_VIEWER_ARNS", ""),
    )


@cache
def get_settings() -> Settings:
    """The settings of this process, read once: for definitions and the command line.

    Assets, checks and sensors receive them as the ``settings`` resource instead.
    """
    return load_settings()


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class AuditSettings:
    """Resolved audit configuration (see README, "Configuration")."""

    backfill_days: int
    backfill_regions: tuple[str, ...]
    backfill_cron: str
    alert_sns_topic_arn: str
    alert_file: str
    alert_max_age_hours: int
    silence_hours: int
    max_lake_age_hours: int
    reconcile_days: int
    reconcile_enabled: bool


def _regions(default_region: str) -> tuple[str, ...]:
    raw = os.environ.get("GUARDDUTY_BACKFILL_REGIONS", "").strip()
    regions = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for region in regions:
        if not _REGION.match(region):
            raise ConfigurationError(
                f"GUARDDUTY_BACKFILL_REGIONS: {region!r} is not an AWS region name."
            )
    return regions or (default_region,)


def _flag(variable: str, default: bool) -> bool:
    raw = os.environ.get(variable, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{variable}={raw!r}: expected true or false.")


def load_audit_settings(settings: Settings) -> AuditSettings:
    """Read and validate the audit variables; defaults derive from the general ``settings``."""
    topic_arn = os.environ.get("GUARDDUTY_ALERT_SNS_TOPIC_ARN", "").strip()
    if topic_arn and not _SNS_TOPIC_ARN.match(topic_arn):
        raise ConfigurationError(f"GUARDDUTY_ALERT_SNS_TOPIC_ARN={topic_arn!r} is not an SNS ARN.")
    alert_file = os.environ.get("GUARDDUTY_ALERT_FILE", "").strip()
    return AuditSettings(
        # GuardDuty keeps findings for 90 days, so a longer window finds nothing more.
        backfill_days=min(_int("GUARDDUTY_BACKFILL_DAYS", 90), 90),
        backfill_regions=_regions(settings.aws_region),
        # Archive state reaches the lake only through the API backfill: daily by default.
        backfill_cron=_cron("GUARDDUTY_BACKFILL_CRON", "30 4 * * *"),
        alert_sns_topic_arn=topic_arn,
        alert_file=(
            _local_path(alert_file, "GUARDDUTY_ALERT_FILE")
            if alert_file
            else str(Path(settings.data_dir) / "alerts" / "alerts.jsonl")
        ),
        alert_max_age_hours=_int("GUARDDUTY_ALERT_MAX_AGE_HOURS", 7 * 24),
        silence_hours=_int("GUARDDUTY_SILENCE_HOURS", 48),
        max_lake_age_hours=_int("GUARDDUTY_MAX_LAKE_AGE_HOURS", 36),
        reconcile_days=_int("GUARDDUTY_RECONCILE_DAYS", 7),
        reconcile_enabled=_flag("GUARDDUTY_RECONCILE", settings.uses_athena),
    )


@cache
def get_audit_settings() -> AuditSettings:
    """The audit settings of this process, read once (``audit_settings`` resource in runs)."""
    return load_audit_settings(get_settings())


def export_for_dbt(settings: Settings) -> None:
    """Put the resolved paths into the environment, where dbt's ``env_var()`` reads them.

    dbt runs as a subprocess of Dagster and inherits this environment, so Python and dbt always
    agree on where the lake and the warehouse are, with or without variables set by the user.
    """
    os.environ["GUARDDUTY_DATA_DIR"] = settings.data_dir
    os.environ["GUARDDUTY_LAKE_URI"] = settings.lake_uri
    os.environ["GUARDDUTY_LAKE_CATALOG"] = settings.lake_catalog
    os.environ["GUARDDUTY_DUCKDB_PATH"] = settings.duckdb_path
    os.environ["GUARDDUTY_GLUE_DATABASE"] = settings.glue_database
    os.environ["ATHENA_SCHEMA"] = settings.athena_schema
    os.environ["DBT_TARGET"] = settings.dbt_target
    os.environ["AWS_REGION"] = settings.aws_region


@contextmanager
def temporary_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set these variables inside the block (for the processes and clients it starts), then
    restore them."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
