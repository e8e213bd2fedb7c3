"""Archive state arrives on a schedule, and the monthly review report is built on a fresh one."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator

from orchestration.lib.environment import ConfigurationError, load_audit_settings, load_settings


@pytest.fixture(scope="module")
def asset_graph():
    from orchestration.definitions import defs

    return defs().resolve_asset_graph()


def runs_in_a_week(cron: str) -> list[datetime]:
    start = datetime(2026, 11, 2, tzinfo=UTC)
    ticks = []
    for tick in cron_string_iterator(start.timestamp(), cron, "UTC"):
        if tick >= start + timedelta(days=7):
            return ticks
        ticks.append(tick)
    return ticks


def test_the_archive_state_backfill_runs_daily_by_default_through_the_backfill_job(monkeypatch):
    from orchestration.defs.audit.backfill_schedules import archive_state_backfill_schedule

    monkeypatch.delenv("GUARDDUTY_BACKFILL_CRON", raising=False)

    assert len(runs_in_a_week(load_audit_settings(load_settings()).backfill_cron)) == 7
    assert archive_state_backfill_schedule.job_name == "guardduty_history_backfill"
    request = archive_state_backfill_schedule(
        dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 2, 4, 30))
    )
    assert request.run_key == "archive-state-2026-11-02T04:30"


def test_the_backfill_schedule_is_configurable_and_validated(monkeypatch):
    monkeypatch.setenv("GUARDDUTY_BACKFILL_CRON", " 0  */6 * * * ")
    assert load_audit_settings(load_settings()).backfill_cron == "0 */6 * * *"

    monkeypatch.setenv("GUARDDUTY_BACKFILL_CRON", "daily")
    with pytest.raises(ConfigurationError, match="GUARDDUTY_BACKFILL_CRON"):
        load_audit_settings(load_settings())


def test_on_aws_the_report_job_backfills_ingests_and_builds_what_the_report_reads_first(
    asset_graph,
):
    from orchestration.defs.audit.report_schedules import review_report_selection

    selected = review_report_selection(uses_athena=True).resolve(asset_graph)

    backfill = dg.AssetKey(["raw", "guardduty_api_backfill"])
    lake = dg.AssetKey(["lake", "findings"])
    archive_times = dg.AssetKey(["fct_finding_archive_times"])
    report = dg.AssetKey(["reports", "review_report"])
    assert {backfill, lake, archive_times, dg.AssetKey(["stg_guardduty__findings"]), report} <= (
        selected
    )
    # Run in dependency order: the backfill before the ingest, the marts before the report.
    assert backfill in asset_graph.get(lake).parent_keys
    assert archive_times in asset_graph.get(report).parent_keys
    assert not any(key.path[0] == "quicksight" for key in selected)


def test_locally_the_report_job_has_no_guardduty_api_to_ask(asset_graph):
    from orchestration.defs.audit.report_schedules import review_report_selection

    selected = review_report_selection(uses_athena=False).resolve(asset_graph)

    assert dg.AssetKey(["raw", "guardduty_api_backfill"]) not in selected
    assert dg.AssetKey(["lake", "findings"]) in selected


def test_the_monthly_schedule_requests_a_partition_of_the_report_job():
    from orchestration.definitions import defs
    from orchestration.defs.audit.report_schedules import monthly_review_report_schedule

    scheduled = datetime(2026, 11, 1, 6, tzinfo=UTC)
    request = monthly_review_report_schedule(
        dg.build_schedule_context(scheduled_execution_time=scheduled)
    )

    job = defs().resolve_job_def("audit_review_report")
    assert request.partition_key == "2026-11-01"
    assert request.partition_key in job.partitions_def.get_partition_keys(current_time=scheduled)
    assert request.tags["guardduty/report_month"] == "2026-10"
