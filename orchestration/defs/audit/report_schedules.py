from datetime import UTC, datetime

import dagster as dg

from orchestration.defs.audit.report_assets import REVIEW_REPORT, ReviewReportConfig
from orchestration.lib.audit.review_report import Month

REVIEW_REPORT_OP = "reports__review_report"

audit_review_report = dg.define_asset_job(
    "audit_review_report",
    selection=dg.AssetSelection.assets(REVIEW_REPORT),
    description="The monthly review report (AU-6) from the marts as they are; no ingest, no dbt.",
)


@dg.schedule(
    job=audit_review_report,
    # Early on the 1st, after the month closed; the marts are whatever the pipeline built last.
    cron_schedule="0 6 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The review report of the month just ended.",
)
def monthly_review_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled_at = context.scheduled_execution_time or datetime.now(UTC)
    month = Month.of(scheduled_at.astimezone(UTC)).previous().label
    return dg.RunRequest(
        run_key=f"review-report-{month}",
        run_config=dg.RunConfig(ops={REVIEW_REPORT_OP: ReviewReportConfig(month=month)}),
        tags={"guardduty/report_month": month},
    )
