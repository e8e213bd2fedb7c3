from datetime import UTC, datetime

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from orchestration.lib.aws.guardduty import GuardDutyResource
from orchestration.lib.environment import AuditSettings, Settings
from orchestration.lib.ingest.api_backfill import (
    GUARDDUTY_RETENTION_DAYS,
    BackfillStats,
    BackfillWindow,
    run_backfill,
)
from orchestration.lib.lake.store import open_store

GUARDDUTY_API_BACKFILL = dg.AssetKey(["raw", "guardduty_api_backfill"])


class BackfillConfig(dg.Config):
    """Run configuration of the history backfill."""

    days: int | None = Field(
        default=None,
        ge=1,
        le=GUARDDUTY_RETENTION_DAYS,
        description="Days of history to read; default GUARDDUTY_BACKFILL_DAYS (90).",
    )


@dg.asset(
    key=GUARDDUTY_API_BACKFILL,
    group_name="audit",
    kinds={"guardduty", "json"},
    description=(
        "Every finding GuardDuty still holds (90-day retention), archived ones included, copied "
        "from the API (ListFindings, GetFindings) into the raw source as GetFindings pages under "
        "guardduty-api/<account>/<region>/<YYYY>/<MM>/<DD>/, each with the time it was captured "
        "(capturedAt). Idempotent: a re-run over unchanged findings writes nothing. Needs AWS "
        "credentials with GuardDuty read access."
    ),
)
def guardduty_api_backfill(
    context: dg.AssetExecutionContext,
    config: BackfillConfig,
    s3: S3Resource,
    guardduty: GuardDutyResource,
    settings: dg.ResourceParam[Settings],
    audit_settings: dg.ResourceParam[AuditSettings],
) -> dg.MaterializeResult:
    """Backfill finding history and archive state from the GuardDuty API into the raw source."""
    now = datetime.now(UTC)
    window = BackfillWindow.last_days(config.days or audit_settings.backfill_days, now)
    stats = run_backfill(
        guardduty.get_client,
        open_store(settings.source_uri, s3.get_client),
        audit_settings.backfill_regions,
        window,
        log=context.log,
        captured_at=now,
    )
    return dg.MaterializeResult(metadata=backfill_metadata(stats, settings.source_uri))


def backfill_metadata(stats: BackfillStats, source_uri: str) -> dict:
    return {
        "source_uri": source_uri,
        "window_start": stats.window_start.isoformat(),
        "window_end": stats.window_end.isoformat(),
        "detectors": stats.detectors,
        "findings_listed": stats.findings_listed,
        "findings_written": stats.findings_written,
        "archived_findings_written": stats.archived_findings_written,
        "objects_written": stats.objects_written,
        "objects_rewritten": stats.objects_rewritten,
        "objects_skipped": stats.objects_skipped,
        "objects_reobserved": stats.objects_reobserved,
        "api_retries": stats.api_retries,
    }
