"""History backfill from the GuardDuty API into the raw source (requests checked by Stubber)."""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.aws.guardduty import (
    ApiCaller,
    GuardDutyAccessDenied,
    GuardDutyApiError,
)
from orchestration.lib.ingest.api_backfill import (
    BackfillWindow,
    page_bytes,
    page_key,
    run_backfill,
)
from orchestration.lib.ingest.parsing import parse_object
from orchestration.lib.ingest.runner import run_ingest
from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.guardduty_api_stubs import (
    ACCOUNT_ID,
    DETECTOR_ID,
    REGION,
    boto3_finding,
    expect_error,
    expect_get_findings,
    expect_list_detectors,
    expect_list_findings,
    stubbed_client,
)
from tests.helpers.settings import settings_resources

NOW = datetime(2026, 10, 2, 12, 0, tzinfo=UTC)
DAY_1 = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 2, tzinfo=UTC))
DAY_2 = (datetime(2026, 10, 2, tzinfo=UTC), NOW)
WINDOW = BackfillWindow.last_days(1, NOW)


def finding_ids(count: int, prefix: str = "f") -> list[str]:
    return [f"{prefix}{index:031x}" for index in range(count)]


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def a_caller(max_attempts: int = 4) -> tuple[ApiCaller, RecordingSleep]:
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=max_attempts, base_delay_seconds=1.0, max_delay_seconds=4.0)
    return ApiCaller(policy=policy, sleep=sleep, jitter=lambda: 1.0), sleep


def stub_window(stubber, day_1_pages, day_2_pages=(), findings=None):
    """One detector; the findings GetFindings returns are built from the sorted ids."""
    findings = findings or {}
    expect_list_detectors(stubber, [DETECTOR_ID])
    for (start, end), pages in ((DAY_1, day_1_pages), (DAY_2, list(day_2_pages) or [[]])):
        expect_list_findings(stubber, start, end, pages)
        ids = sorted({finding_id for page in pages for finding_id in page})
        for offset in range(0, len(ids), 50):
            batch = ids[offset : offset + 50]
            expect_get_findings(
                stubber, batch, [findings.get(item) or boto3_finding(item) for item in batch]
            )


def run(client, store, caller=None, captured_at=NOW):
    return run_backfill(
        lambda region: client,
        store,
        [REGION],
        WINDOW,
        caller or a_caller()[0],
        captured_at=captured_at,
    )


def written_pages(store: LocalStore) -> dict[str, list[dict]]:
    return {
        stored.key: json.loads(store.read(stored.key))["Findings"]
        for stored in store.list("guardduty-api/")
    }


def test_the_window_is_whole_utc_days_back_from_today_up_to_now():
    window = BackfillWindow.last_days(90, NOW)

    days = list(window.days())

    assert window.start == datetime(2026, 7, 4, tzinfo=UTC)
    assert len(days) == 91
    assert days[0][0] == date(2026, 7, 4)
    assert days[-1] == (date(2026, 10, 2), DAY_2[0], NOW)


def test_several_list_pages_are_followed_and_fetched_fifty_ids_at_a_time(tmp_path):
    client, stubber = stubbed_client()
    ids = finding_ids(120)
    stub_window(stubber, [ids[:50], ids[50:100], ids[100:]])
    store = LocalStore(tmp_path / "raw")

    stats = run(client, store)

    stubber.assert_no_pending_responses()
    pages = written_pages(store)
    assert sorted(len(findings) for findings in pages.values()) == [20, 50, 50]
    assert sorted(f["Id"] for findings in pages.values() for f in findings) == ids
    assert stats.findings_listed == 120
    assert stats.findings_written == 120
    assert stats.objects_written == 3
    assert stats.detectors == [f"{REGION}/{DETECTOR_ID}"]


def test_pages_are_written_under_account_region_and_day_keys_as_getfindings_output(tmp_path):
    client, stubber = stubbed_client()
    stub_window(stubber, [["a" * 32]], [["b" * 32]])
    store = LocalStore(tmp_path / "raw")

    run(client, store)

    keys = sorted(written_pages(store))
    assert [key.rsplit("/", 1)[0] for key in keys] == [
        f"guardduty-api/{ACCOUNT_ID}/{REGION}/2026/10/01",
        f"guardduty-api/{ACCOUNT_ID}/{REGION}/2026/10/02",
    ]
    first = json.loads(store.read(keys[0]))
    assert first == {
        "Findings": [boto3_finding("a" * 32)],
        "capturedAt": "2026-10-02T12:00:00.000Z",
    }


def test_archived_and_active_findings_are_both_backfilled(tmp_path):
    client, stubber = stubbed_client()
    archived, active = "a" * 32, "b" * 32
    stub_window(
        stubber, [[archived, active]], findings={archived: boto3_finding(archived, archived=True)}
    )
    store = LocalStore(tmp_path / "raw")

    stats = run(client, store)

    (findings,) = written_pages(store).values()
    assert {f["Id"]: f["Service"]["Archived"] for f in findings} == {archived: True, active: False}
    assert stats.archived_findings_written == 1


def test_a_second_run_over_the_same_findings_writes_nothing(tmp_path):
    store = LocalStore(tmp_path / "raw")
    ids = finding_ids(60)
    for captured_at in (NOW, NOW + timedelta(hours=1)):
        client, stubber = stubbed_client()
        # The API may list ids in another order; the objects must not change.
        stub_window(stubber, [list(reversed(ids))])
        stats = run(client, store, captured_at=captured_at)
        stubber.assert_no_pending_responses()
    before = {stored.key: stored.version for stored in store.list()}

    assert stats.objects_written == 0
    assert stats.objects_skipped == 2
    assert stats.findings_written == 0
    assert {stored.key: stored.version for stored in store.list()} == before


def test_a_finding_archived_since_the_last_run_is_written_again(tmp_path):
    store = LocalStore(tmp_path / "raw")
    finding_id = "c" * 32
    for archived in (False, True):
        client, stubber = stubbed_client()
        stub_window(
            stubber,
            [[finding_id]],
            findings={finding_id: boto3_finding(finding_id, archived=archived)},
        )
        stats = run(client, store)

    assert stats.objects_written == 1
    assert len(written_pages(store)) == 2


def test_throttling_is_retried_with_growing_bounded_backoff_then_succeeds(tmp_path):
    client, stubber = stubbed_client()
    expect_error(stubber, "list_detectors", "ThrottlingException", 429)
    expect_error(stubber, "list_detectors", "TooManyRequestsException", 429)
    expect_error(stubber, "list_detectors", "InternalServerErrorException", 500)
    stub_window(stubber, [["d" * 32]])
    caller, sleep = a_caller(max_attempts=4)

    stats = run(client, LocalStore(tmp_path / "raw"), caller)

    stubber.assert_no_pending_responses()
    assert sleep.delays == [1.0, 2.0, 4.0]
    assert stats.api_retries == 3
    assert stats.findings_written == 1


def test_retries_are_bounded_and_then_fail_clearly(tmp_path):
    client, stubber = stubbed_client()
    for _ in range(3):
        expect_error(stubber, "list_detectors", "ThrottlingException", 429)
    caller, sleep = a_caller(max_attempts=3)

    with pytest.raises(GuardDutyApiError, match="still ThrottlingException after 3 attempts"):
        run(client, LocalStore(tmp_path / "raw"), caller)

    stubber.assert_no_pending_responses()
    assert len(sleep.delays) == 2


def test_access_denied_fails_at_once_naming_the_permissions(tmp_path):
    client, stubber = stubbed_client()
    expect_list_detectors(stubber, [DETECTOR_ID])
    expect_error(stubber, "list_findings", "AccessDeniedException", 403)
    caller, sleep = a_caller()

    with pytest.raises(GuardDutyAccessDenied, match="guardduty:ListFindings"):
        run(client, LocalStore(tmp_path / "raw"), caller)

    assert sleep.delays == []


def test_a_bad_request_is_not_retried(tmp_path):
    client, stubber = stubbed_client()
    expect_list_detectors(stubber, [DETECTOR_ID])
    expect_error(stubber, "list_findings", "BadRequestException", 400, "bad criteria")
    caller, sleep = a_caller()

    with pytest.raises(GuardDutyApiError, match="BadRequestException: bad criteria"):
        run(client, LocalStore(tmp_path / "raw"), caller)

    assert sleep.delays == []


def test_page_key_depends_on_the_versions_not_their_order():
    findings = [boto3_finding("a" * 32), boto3_finding("b" * 32)]

    forward = page_key(ACCOUNT_ID, REGION, date(2026, 10, 1), findings)
    backward = page_key(ACCOUNT_ID, REGION, date(2026, 10, 1), findings[::-1])
    updated = page_key(
        ACCOUNT_ID,
        REGION,
        date(2026, 10, 1),
        [findings[0], boto3_finding("b" * 32, "2026-10-01T11:00:00Z")],
    )

    assert forward == backward
    assert forward != updated
    assert page_bytes(findings, NOW) == page_bytes(findings[::-1], NOW)


def test_members_botocore_parses_to_datetimes_are_written_as_epoch_seconds():
    finding = boto3_finding("a" * 32)
    finding["Service"]["EbsVolumeScanDetails"] = {
        "ScanStartedAt": datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
    }

    (written,) = json.loads(page_bytes([finding], NOW))["Findings"]

    assert written["Service"]["EbsVolumeScanDetails"]["ScanStartedAt"] == 1790848800.0


def test_backfilled_pages_are_ingested_into_the_lake_with_their_archived_flag(tmp_path):
    client, stubber = stubbed_client()
    archived, active = "a" * 32, "b" * 32
    stub_window(
        stubber, [[archived, active]], findings={archived: boto3_finding(archived, archived=True)}
    )
    source, lake = LocalStore(tmp_path / "raw"), connect_lake(str(tmp_path / "lake"))
    run(client, source)

    first = run_ingest(source, lake)
    client, stubber = stubbed_client()
    stub_window(
        stubber, [[archived, active]], findings={archived: boto3_finding(archived, archived=True)}
    )
    run(client, source)
    second = run_ingest(source, lake)

    assert first.findings_ingested == 2
    assert first.objects_quarantined == 0
    assert second.objects_read == 0
    visible = (
        reader.pin(lake)
        .visible(tables.FINDINGS, ["finding_id", "finding_json", "observed_at"])
        .to_pylist()
    )
    rows = {row["finding_id"]: json.loads(row["finding_json"]) for row in visible}
    assert {key: value["service"]["archived"] for key, value in rows.items()} == {
        archived: True,
        active: False,
    }
    assert rows[active]["accountId"] == ACCOUNT_ID
    # Each copy is observed when the backfill captured it.
    assert {row["observed_at"] for row in visible} == {NOW.replace(tzinfo=None)}


def backfill_states(store, finding_id, states):
    """One run per archive state, an hour apart; returns the stats of the last run."""
    for hour, archived in enumerate(states):
        client, stubber = stubbed_client()
        stub_window(
            stubber,
            [[finding_id]],
            findings={finding_id: boto3_finding(finding_id, archived=archived)},
        )
        stats = run(client, store, captured_at=NOW + timedelta(hours=hour))
        stubber.assert_no_pending_responses()
    return stats


def latest_observation(store: LocalStore) -> tuple[str, bool]:
    pages = [json.loads(store.read(stored.key)) for stored in store.list("guardduty-api/")]
    latest = max(pages, key=lambda page: page["capturedAt"])
    (finding,) = latest["Findings"]
    return latest["capturedAt"], finding["Service"]["Archived"]


def test_each_page_records_when_it_was_captured(tmp_path):
    store = LocalStore(tmp_path / "raw")

    backfill_states(store, "c" * 32, [False])

    assert latest_observation(store) == ("2026-10-02T12:00:00.000Z", False)


def test_a_finding_archived_again_after_an_unarchive_is_observed_again(tmp_path):
    store = LocalStore(tmp_path / "raw")

    stats = backfill_states(store, "c" * 32, [True, False, True])

    assert stats.objects_reobserved == 1
    assert len(written_pages(store)) == 3
    assert latest_observation(store) == ("2026-10-02T14:00:00.000Z", True)
    again = backfill_states(store, "c" * 32, [True])
    assert (again.objects_written, again.objects_reobserved, again.objects_skipped) == (0, 0, 1)


def test_the_ingest_reads_each_page_as_a_copy_observed_at_its_capture_time(tmp_path):
    store = LocalStore(tmp_path / "raw")
    backfill_states(store, "c" * 32, [True, False, True])

    observations = sorted(
        (finding.observed_at, json.loads(finding.finding_json)["service"]["archived"])
        for stored in store.list("guardduty-api/")
        for finding in parse_object(stored.key, store.read(stored.key)).findings
    )

    assert observations == [
        (datetime(2026, 10, 2, 12), True),
        (datetime(2026, 10, 2, 13), False),
        (datetime(2026, 10, 2, 14), True),
    ]


def test_a_page_written_before_capture_times_is_kept_and_read_at_its_modification_time(
    tmp_path,
):
    store = LocalStore(tmp_path / "raw")
    finding = boto3_finding("c" * 32)
    key = page_key(ACCOUNT_ID, REGION, date(2026, 10, 1), [finding])
    store.write(key, json.dumps({"Findings": [finding]}).encode())

    stats = backfill_states(store, "c" * 32, [False])
    (stored,) = store.list("guardduty-api/")
    (parsed,) = parse_object(
        stored.key, store.read(stored.key), last_modified=stored.last_modified
    ).findings

    assert (stats.objects_skipped, stats.objects_written) == (1, 0)
    assert "capturedAt" not in json.loads(store.read(key))
    assert parsed.observed_at == stored.last_modified.replace(tzinfo=None)


class TestAsset:
    @pytest.mark.integration
    def test_the_asset_writes_into_the_raw_source_and_reports_what_it_did(
        self, fresh_settings, monkeypatch
    ):
        from botocore.stub import ANY
        from dagster_aws.s3 import S3Resource

        from orchestration.defs.audit.assets import GUARDDUTY_API_BACKFILL, guardduty_api_backfill
        from orchestration.lib.aws.guardduty import GuardDutyResource

        client, stubber = stubbed_client()
        clients = {REGION: client}

        class StubbedGuardDuty(GuardDutyResource):
            def get_client(self, region_name=None):
                return clients[region_name]

        monkeypatch.setenv("GUARDDUTY_BACKFILL_REGIONS", REGION)
        expect_list_detectors(stubber, [DETECTOR_ID])
        for ids in (["a" * 32], []):
            stubber.add_response(
                "list_findings",
                {"FindingIds": ids},
                {"DetectorId": DETECTOR_ID, "FindingCriteria": ANY, "MaxResults": 50},
            )
            if ids:
                expect_get_findings(stubber, ids, [boto3_finding(ids[0], archived=True)])

        result = dg.materialize(
            [guardduty_api_backfill],
            resources={"s3": S3Resource(), "guardduty": StubbedGuardDuty(), **settings_resources()},
            run_config={"ops": {"raw__guardduty_api_backfill": {"config": {"days": 1}}}},
        )

        stubber.assert_no_pending_responses()
        (materialization,) = result.asset_materializations_for_node("raw__guardduty_api_backfill")
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        assert materialization.asset_key == GUARDDUTY_API_BACKFILL
        assert metadata["objects_written"] == 1
        assert metadata["archived_findings_written"] == 1
        assert metadata["detectors"] == [f"{REGION}/{DETECTOR_ID}"]
        written = list(LocalStore(fresh_settings / "data" / "demo_corpus").list("guardduty-api/"))
        assert len(written) == 1
