"""Configuration of the audit domain (history backfill, alerts, freshness and reconciliation).

These settings belong in ``environment.py``, the one place that reads the environment; they live
here only until they are merged there (same helpers, same validation), after which this module
becomes an import of ``get_audit_settings`` from ``environment``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.lib.environment import (
    ConfigurationError,
    Settings,
    _int,
    _local_path,
    get_settings,
)

_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class AuditSettings:
    """Resolved audit configuration (see README, "Configuration")."""

    backfill_days: int
    backfill_regions: tuple[str, ...]
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
        reconcile_enabled=_flag("GUARDDUTY_RECONCILE", settings.is_production),
    )


@cache
def get_audit_settings() -> AuditSettings:
    """The audit settings of this process, read once."""
    return load_audit_settings(get_settings())
