"""Freshness and reconciliation checks on the findings lake."""

from datetime import UTC, datetime, timedelta
from itertools import count

import dagster as dg
import pytest

from orchestration.lib.audit.lake_health import (
    lake_staleness,
    reconcile_with_guardduty,
    silent_sources,
)
from orchestration.lib.aws.guardduty import ApiCaller, GuardDutyResource
from orchestration.lib.ingest import parsing
from orchestration.lib.ingest.runner import run_ingest
from orchestration.lib.lake.catalog import Lake, connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.finding_fixtures import a_finding, eventbridge_event, to_bytes
from tests.helpers.guardduty_api_stubs import DETECTOR_ID, stubbed_client, updated_criteria
from tests.helpers.settings import settings_resources

ACCOUNT_A, ACCOUNT_B = "111111111111", "222222222222"
_objects = count()


def ingest(root, *findings: dict, at: datetime | None = None) -> Lake:
    """Ingest ``findings`` (one EventBridge object each) into the lake under ``root``, at ``at``
    (default: just after the newest ``updatedAt``)."""
    at = at or max(_utc(finding["updatedAt"]) for finding in findings) + timedelta(minutes=5)
    source, lake = LocalStore(root / "raw"), connect_lake(str(root / "lake"))
    for finding in findings:
        event = {**eventbridge_event(finding), "time": finding["updatedAt"]}
        source.write(f"events/{next(_objects)}.json", to_bytes(event))
    run_ingest(source, lake, clock=lambda: at)
    return lake


def ingest_into_a_legacy_lake(root, *findings: dict, at: datetime) -> Lake:
    """Ingest as before times were bounded at ingest, so the lake may hold an invented time."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsing, "MAX_CLOCK_SKEW", timedelta(days=365 * 200))
        return ingest(root, *findings, at=at)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def version(
    finding_id, updated_at, *, account=ACCOUNT_A, region="eu-west-1", severity=5.0, count=1
):
    finding = a_finding(
        id=finding_id, accountId=account, region=region, updatedAt=updated_at, severity=severity
    )
    finding["service"]["count"] = count
    return finding


class TestSilentSources:
    def test_a_source_quiet_for_longer_than_the_window_fails_with_its_last_seen_time(
        self, tmp_path
    ):
        lake = ingest(
            tmp_path,
            version("a1", "2026-10-05T12:00:00Z", account=ACCOUNT_A),
            version("b1", "2026-10-03T08:00:00Z", account=ACCOUNT_B),
            version("b2", "2026-10-01T09:00:00Z", account=ACCOUNT_B),
        )

        outcome = silent_sources(lake, timedelta(hours=48))

        assert not outcome.passed
        assert outcome.metadata["silent_sources"] == [
            {
                "account_id": ACCOUNT_B,
                "region": "eu-west-1",
                "last_seen_at": "2026-10-03T08:00:00+00:00",
                "silent_hours": 52.0,
            }
        ]
        assert outcome.metadata["sources_checked"] == 2
        assert outcome.metadata["newest_finding_updated_at"] == "2026-10-05T12:00:00+00:00"

    def test_sources_reporting_within_the_window_pass(self, tmp_path):
        lake = ingest(
            tmp_path,
            version("a1", "2026-10-05T12:00:00Z", account=ACCOUNT_A),
            version("b1", "2026-10-04T08:00:00Z", account=ACCOUNT_B),
            version("c1", "2026-10-04T08:00:00Z", region="us-east-1"),
        )

        outcome = silent_sources(lake, timedelta(hours=48))

        assert outcome.passed
        assert outcome.metadata["silent_sources"] == []
        assert outcome.metadata["sources_checked"] == 3

    def test_the_same_account_in_another_region_is_its_own_source(self, tmp_path):
        lake = ingest(
            tmp_path,
            version("a1", "2026-10-05T12:00:00Z", region="eu-west-1"),
            version("a2", "2026-10-01T12:00:00Z", region="us-east-1"),
        )

        outcome = silent_sources(lake, timedelta(hours=48))

        assert [s["region"] for s in outcome.metadata["silent_sources"]] == ["us-east-1"]

    def test_an_empty_lake_has_no_silent_source(self, tmp_path):
        assert silent_sources(connect_lake(str(tmp_path / "lake")), timedelta(hours=48)).passed

    def test_a_version_dated_in_the_future_does_not_make_every_real_source_silent(self, tmp_path):
        ingest(
            tmp_path,
            version("a1", "2026-10-05T12:00:00Z", account=ACCOUNT_A),
            version("b1", "2026-10-05T08:00:00Z", account=ACCOUNT_B),
        )
        ingest_into_a_legacy_lake(
            tmp_path,
            version("bogus", "2099-01-01T00:00:00Z", account="333333333333"),
            at=datetime(2026, 10, 5, 13, tzinfo=UTC),
        )

        outcome = silent_sources(connect_lake(str(tmp_path / "lake")), timedelta(hours=48))

        assert outcome.passed, outcome.metadata["silent_sources"]
        assert outcome.metadata["newest_finding_updated_at"] == "2026-10-05T12:00:00+00:00"


class TestLakeStaleness:
    def test_a_lake_updated_within_the_maximum_age_passes(self, tmp_path):
        lake = ingest(
            tmp_path, version("a1", "2026-10-04T12:00:00Z"), version("a2", "2026-10-05T02:00:00Z")
        )

        outcome = lake_staleness(lake, datetime(2026, 10, 5, 12, tzinfo=UTC), timedelta(hours=36))

        assert outcome.passed
        assert outcome.metadata["newest_partition"] == "updated_date=2026-10-05"
        assert outcome.metadata["age_hours"] == 10.0

    def test_a_lake_older_than_the_maximum_age_fails(self, tmp_path):
        lake = ingest(tmp_path, version("a1", "2026-10-05T02:00:00Z"))

        outcome = lake_staleness(lake, datetime(2026, 10, 6, 16, tzinfo=UTC), timedelta(hours=36))

        assert not outcome.passed
        assert outcome.metadata["age_hours"] == 38.0
        assert outcome.metadata["max_age_hours"] == 36.0

    def test_a_version_dated_in_the_future_does_not_make_a_stale_lake_fresh(self, tmp_path):
        ten_days_ago = datetime(2026, 10, 5, 12, tzinfo=UTC)
        ingest(tmp_path, version("a1", "2026-10-05T11:00:00Z"), at=ten_days_ago)
        ingest_into_a_legacy_lake(
            tmp_path, version("bogus", "2099-01-01T00:00:00Z"), at=ten_days_ago
        )

        outcome = lake_staleness(
            connect_lake(str(tmp_path / "lake")),
            datetime(2026, 10, 15, 12, tzinfo=UTC),
            timedelta(hours=36),
        )

        assert not outcome.passed
        assert outcome.metadata["newest_finding_updated_at"] == "2026-10-05T11:00:00+00:00"
        assert outcome.metadata["age_hours"] == 241.0
        assert outcome.metadata["ingest_age_hours"] == 240.0

    def test_freshness_is_also_measured_from_the_last_ingest(self, tmp_path):
        lake = ingest(
            tmp_path,
            version("a1", "2026-10-05T02:00:00Z"),
            at=datetime(2026, 10, 5, 3, tzinfo=UTC),
        )

        outcome = lake_staleness(lake, datetime(2026, 10, 5, 12, tzinfo=UTC), timedelta(hours=36))

        assert outcome.passed
        assert outcome.metadata["newest_ingested_at"] == "2026-10-05T03:00:00+00:00"
        assert outcome.metadata["ingest_age_hours"] == 9.0

    def test_an_empty_lake_is_not_fresh(self, tmp_path):
        outcome = lake_staleness(
            connect_lake(str(tmp_path / "lake")), datetime.now(UTC), timedelta(hours=36)
        )

        assert not outcome.passed


NEWEST = "2026-10-05T12:00:00Z"
WINDOW_END = datetime(2026, 10, 5, 12, 0, 0, 1000, tzinfo=UTC)
WINDOW_START = WINDOW_END - timedelta(days=7)


def reconciliation_lake(tmp_path) -> Lake:
    return ingest(
        tmp_path,
        # Medium then High: counted once, as High (its current version).
        version("e1", "2026-10-02T00:00:00Z", severity=5, count=1),
        version("e1", "2026-10-03T00:00:00Z", severity=8, count=2),
        version("c1", NEWEST, severity=9.5),
        version("m1", "2026-10-04T00:00:00Z", severity=4),
        # Current version older than the window: not counted.
        version("old", "2026-09-20T00:00:00Z", severity=8),
        # Another Region is compared separately.
        version("u1", "2026-10-04T00:00:00Z", region="us-east-1", severity=2),
    )


def expect_statistics(stubber, grouped: list[tuple[float, int]]) -> None:
    stubber.add_response("list_detectors", {"DetectorIds": [DETECTOR_ID]}, {"MaxResults": 50})
    stubber.add_response(
        "get_findings_statistics",
        {
            "FindingStatistics": {
                "GroupedBySeverity": [
                    {"Severity": severity, "TotalFindings": total} for severity, total in grouped
                ]
            }
        },
        {
            "DetectorId": DETECTOR_ID,
            "FindingCriteria": updated_criteria(WINDOW_START, WINDOW_END),
            "GroupBy": "SEVERITY",
            "MaxResults": 100,
        },
    )


def reconcile(lake, client):
    return reconcile_with_guardduty(
        lake,
        lambda region: client,
        ["eu-west-1"],
        days=7,
        now=datetime(2026, 10, 6, tzinfo=UTC),
        caller=ApiCaller(sleep=lambda seconds: None),
    )


class TestReconciliation:
    def test_matching_counts_per_label_pass(self, tmp_path):
        client, stubber = stubbed_client()
        expect_statistics(stubber, [(9.5, 1), (8.0, 1), (4.0, 1)])

        outcome = reconcile(reconciliation_lake(tmp_path), client)

        stubber.assert_no_pending_responses()
        assert outcome.passed
        expected = {"Critical": 1, "High": 1, "Medium": 1, "Low": 0}
        assert outcome.metadata["lake_counts"] == {"eu-west-1": expected}
        assert outcome.metadata["guardduty_counts"] == {"eu-west-1": expected}
        assert outcome.metadata["window_end"] == WINDOW_END.isoformat()

    def test_a_difference_fails_with_both_sets_of_numbers(self, tmp_path):
        client, stubber = stubbed_client()
        # GuardDuty also holds a High finding the lake never received, and two Lows.
        expect_statistics(stubber, [(9.5, 1), (8.0, 1), (7.0, 1), (4.0, 1), (2.0, 2)])

        outcome = reconcile(reconciliation_lake(tmp_path), client)

        assert not outcome.passed
        assert outcome.metadata["guardduty_counts"]["eu-west-1"]["High"] == 2
        assert outcome.metadata["lake_counts"]["eu-west-1"]["High"] == 1
        assert outcome.metadata["differences_lake_minus_guardduty"] == {
            "eu-west-1": {"High": -1, "Low": -2}
        }
        assert outcome.metadata["detectors"] == [f"eu-west-1/{DETECTOR_ID}"]


class TestAssetChecks:
    @pytest.fixture
    def lake_path(self, fresh_settings, monkeypatch):
        for variable in ("GUARDDUTY_RECONCILE", "GUARDDUTY_SILENCE_HOURS", "DBT_TARGET"):
            monkeypatch.delenv(variable, raising=False)
        return fresh_settings / "data"

    def test_the_silence_check_fails_with_error_severity(self, lake_path):
        from orchestration.defs.audit.checks import findings_sources_reporting

        ingest(
            lake_path,
            version("a1", "2026-10-05T12:00:00Z", account=ACCOUNT_A),
            version("b1", "2026-10-01T12:00:00Z", account=ACCOUNT_B),
        )

        result = findings_sources_reporting(**settings_resources())

        assert not result.passed
        assert result.severity == dg.AssetCheckSeverity.ERROR
        assert result.metadata["silent_source_count"].value == 1

    def test_reconciliation_is_not_applicable_without_aws(self, lake_path):
        from orchestration.defs.audit.checks import findings_match_guardduty

        result = findings_match_guardduty(
            guardduty=GuardDutyResource(region_name="eu-west-1"), **settings_resources()
        )

        assert result.passed
        assert result.metadata["status"].value.startswith("not applicable")

    def test_the_checks_are_on_the_lake_findings_asset(self):
        from orchestration.defs.audit import checks

        keys = {
            spec.key
            for definition in (
                checks.findings_sources_reporting,
                checks.findings_lake_fresh,
                checks.findings_match_guardduty,
            )
            for spec in definition.check_specs
        }
        assert keys == {
            dg.AssetCheckKey(dg.AssetKey(["lake", "findings"]), name)
            for name in (
                "findings_sources_reporting",
                "findings_lake_fresh",
                "findings_match_guardduty",
            )
        }
