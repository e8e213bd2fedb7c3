from datetime import UTC, datetime

import dagster as dg

from orchestration.defs.pipeline.jobs import guardduty_history_backfill
from orchestration.lib.environment import get_audit_settings


@dg.schedule(
    job=guardduty_history_backfill,
    cron_schedule=get_audit_settings().backfill_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Archive state arrives only through the GuardDuty API (the S3 export never carries it): "
        "backfills the retention window and ingests it, daily by default "
        "(GUARDDUTY_BACKFILL_CRON). The next pipeline run builds the marts from it."
    ),
)
def archive_state_backfill_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled_at = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
    return dg.RunRequest(run_key=f"archive-state-{scheduled_at:%Y-%m-%dT%H:%M}")
