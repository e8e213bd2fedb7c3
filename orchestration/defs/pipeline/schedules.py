from datetime import UTC, datetime

import dagster as dg

from orchestration.defs.pipeline.jobs import guardduty_pipeline
from orchestration.lib.environment import get_settings
from orchestration.lib.publish.schedule_policy import pipeline_cron


@dg.schedule(
    job=guardduty_pipeline,
    cron_schedule=pipeline_cron(
        get_settings().quicksight_edition, get_settings().pipeline_cron_override
    ),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Runs the whole pipeline; the default interval keeps SPICE refreshes within the "
        "QuickSight edition's daily quota (GUARDDUTY_PIPELINE_CRON overrides it)."
    ),
)
def guardduty_pipeline_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled_at = context.scheduled_execution_time or datetime.now(UTC)
    # The run processes everything newly ingested and re-derives the day it runs in.
    return dg.RunRequest(partition_key=scheduled_at.astimezone(UTC).date().isoformat())
