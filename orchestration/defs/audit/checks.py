"""Freshness and reconciliation checks on the findings lake (AU-6 evidence that review data is
complete and current).

Severities:
- ``findings_sources_reporting`` (ERROR): an account or Region that stopped reporting usually
  means a broken export or capture (a removed EventBridge rule, a KMS or bucket policy change),
  so its findings are missing from every review until someone fixes it.
- ``findings_lake_fresh`` (ERROR): a stale lake means the pipeline itself is not running; every
  report built on it is out of date.
- ``findings_match_guardduty`` (WARN): counts can differ briefly for benign reasons (a finding
  updated in GuardDuty after the last ingest, suppressed findings before the history backfill
  ran), so a difference asks for a look rather than declaring the data wrong.

The reconciliation needs AWS. Where AWS is not configured (the embedded local default, unless
GUARDDUTY_RECONCILE=true) it passes with ``status: not applicable``: there is no GuardDuty to
compare with, and a permanent warning on every local run would teach people to ignore warnings.
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from orchestration.defs.ingest.assets import LAKE_FINDINGS
from orchestration.lib.audit.lake_health import (
    Outcome,
    lake_staleness,
    reconcile_with_guardduty,
    silent_sources,
)
from orchestration.lib.aws.guardduty import GuardDutyResource
from orchestration.lib.environment import AuditSettings, Settings
from orchestration.lib.lake.catalog import open_lake


def _result(outcome: Outcome, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata, severity=severity)


@dg.asset_check(
    asset=LAKE_FINDINGS,
    description=(
        "Every (account, region) that reported in the last 90 days has a finding version within "
        "GUARDDUTY_SILENCE_HOURS (48) of the newest data in the lake."
    ),
)
def findings_sources_reporting(
    settings: dg.ResourceParam[Settings], audit_settings: dg.ResourceParam[AuditSettings]
) -> dg.AssetCheckResult:
    outcome = silent_sources(open_lake(settings), timedelta(hours=audit_settings.silence_hours))
    return _result(outcome, dg.AssetCheckSeverity.ERROR)


@dg.asset_check(
    asset=LAKE_FINDINGS,
    description=(
        "The newest committed ingest batch, and the newest finding version updated by now "
        "(versions dated after their own ingest are ignored), are at most "
        "GUARDDUTY_MAX_LAKE_AGE_HOURS (36) old."
    ),
)
def findings_lake_fresh(
    settings: dg.ResourceParam[Settings], audit_settings: dg.ResourceParam[AuditSettings]
) -> dg.AssetCheckResult:
    outcome = lake_staleness(
        open_lake(settings),
        now=datetime.now(UTC),
        max_age=timedelta(hours=audit_settings.max_lake_age_hours),
    )
    return _result(outcome, dg.AssetCheckSeverity.ERROR)


@dg.asset_check(
    asset=LAKE_FINDINGS,
    description=(
        "Current findings per severity label updated in the last GUARDDUTY_RECONCILE_DAYS (7) "
        "days match GuardDuty's GetFindingsStatistics in each GUARDDUTY_BACKFILL_REGIONS Region. "
        "Not applicable without AWS (GUARDDUTY_RECONCILE)."
    ),
)
def findings_match_guardduty(
    guardduty: GuardDutyResource,
    settings: dg.ResourceParam[Settings],
    audit_settings: dg.ResourceParam[AuditSettings],
) -> dg.AssetCheckResult:
    if not audit_settings.reconcile_enabled:
        return dg.AssetCheckResult(
            passed=True,
            metadata={
                "status": "not applicable: AWS is not configured (DBT_TARGET is not athena and "
                "GUARDDUTY_RECONCILE is not true), so there is no GuardDuty to compare with"
            },
        )
    outcome = reconcile_with_guardduty(
        open_lake(settings),
        guardduty.get_client,
        audit_settings.backfill_regions,
        days=audit_settings.reconcile_days,
        now=datetime.now(UTC),
    )
    return _result(outcome, dg.AssetCheckSeverity.WARN)
