from datetime import UTC, datetime

import dagster as dg

from orchestration.defs.audit.assets import GUARDDUTY_API_BACKFILL
from orchestration.defs.audit.report_assets import REVIEW_REPORT, ReviewReportConfig
from orchestration.defs.ingest.assets import RAW_FINDINGS
from orchestration.lib.audit.review_report import Month
from orchestration.lib.environment import get_settings

REVIEW_REPORT_OP = "reports__review_report"


def review_report_selection(uses_athena: bool) -> dg.AssetSelection:
    """The report and everything it reads, rebuilt first in the same run: the ingest, the dbt
    models and, on AWS, the API backfill. Archive state reaches the lake only through that
    backfill, so the report never judges archive compliance on stale archive states."""
    selection = dg.AssetSelection.assets(
        REVIEW_REPORT
    ).upstream().required_multi_asset_neighbors() - dg.AssetSelection.assets(RAW_FINDINGS)
    if not uses_athena:
        # The embedded default has no GuardDuty API to ask.
        selection = selection - dg.AssetSelection.assets(GUARDDUTY_API_BACKFILL)
    return selection


audit_review_report = dg.define_asset_job(
    "audit_review_report",
    selection=review_report_selection(get_settings().uses_athena),
    description=(
        "The monthly review report (AU-6), after a fresh archive-state backfill from the "
        "GuardDuty API (on AWS), an ingest and a dbt build of the models it reads."
    ),
)


@dg.schedule(
    job=audit_review_report,
    # Early on the 1st, after the month closed.
    cron_schedule="0 6 1 * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="The review report of the month just ended, on archive states read that morning.",
)
def monthly_review_report_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled_at = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
    month = Month.of(scheduled_at).previous().label
    return dg.RunRequest(
        run_key=f"review-report-{month}",
        # The dbt models' partition: everything newly ingested, and the day the run starts.
        partition_key=scheduled_at.date().isoformat(),
        run_config=dg.RunConfig(ops={REVIEW_REPORT_OP: ReviewReportConfig(month=month)}),
        tags={"guardduty/report_month": month},
    )
