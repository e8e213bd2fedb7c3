"""Alerts on new High/Critical findings and escalations: once per finding and level."""

import json
from datetime import UTC, datetime, timedelta
from itertools import count

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from orchestration.lib.audit.alerts import (
    ALERT_STATE_KEY,
    Alert,
    JsonLinesAlertSink,
    SnsAlertSink,
    SnsResource,
    is_sample,
    send_new_alerts,
    sns_publish_request,
)
from orchestration.lib.ingest.runner import IngestError, run_ingest
from orchestration.lib.lake import commit
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.finding_fixtures import a_finding, eventbridge_event, to_bytes, with_service
from tests.helpers.guardduty_api_stubs import stubbed_client
from tests.helpers.settings import settings_resources

NOW = datetime(2026, 10, 3, tzinfo=UTC)
MAX_AGE = timedelta(days=7)
TOPIC_ARN = "arn:aws:sns:eu-west-1:012345678901:guardduty-alerts"


class RecordingSink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Lake:
    """A raw folder and a lake; each ``deliver`` is one ingest run, so one committed batch."""

    def __init__(self, root) -> None:
        self.source = LocalStore(root / "raw")
        self.iceberg = connect_lake(str(root / "lake"))
        # the alert state is kept beside the lake's tables
        self.store = LocalStore(root / "lake")
        self.sink = RecordingSink()
        self._objects = count()

    def deliver(self, *findings: dict, at: datetime | None = None) -> None:
        """One ingest run, committed at ``at`` (default now): batch ids are commit times."""
        for finding in findings:
            key = f"events/{next(self._objects)}.json"
            self.source.write(key, to_bytes(eventbridge_event(finding)))
        if at is None:
            run_ingest(self.source, self.iceberg)
        else:
            run_ingest(self.source, self.iceberg, clock=lambda: at)

    def evaluate(self, now: datetime = NOW):
        return send_new_alerts(
            self.iceberg, self.store, self.sink, now=now, max_finding_age=MAX_AGE
        )

    def alerted(self) -> list[tuple[str, str, str | None]]:
        return [(a.finding_id, a.severity_label, a.previous_label) for a in self.sink.alerts]


def version(finding_id: str, severity: float, updated_at: str, **overrides) -> dict:
    return a_finding(id=finding_id, severity=severity, updatedAt=updated_at, **overrides)


def an_alert(**overrides) -> Alert:
    fields = {
        "finding_id": "h1",
        "finding_type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "severity": 8.0,
        "severity_label": "High",
        "previous_label": None,
        "account_id": "012345678901",
        "region": "eu-west-1",
        "title": "SSH brute force attacks against i-0abc.",
        "first_seen_at": "2026-10-01T10:00:00Z",
        "last_seen_at": "2026-10-02T11:00:00Z",
        "updated_at": "2026-10-02T11:05:00.000Z",
        "ingest_batch_id": "20261002T110600000000Z-abcdef01",
    }
    return Alert(**{**fields, **overrides})


@pytest.fixture
def lake(tmp_path):
    return Lake(tmp_path)


def test_a_new_high_finding_alerts_once_with_its_details(lake):
    lake.deliver(
        version("h1", 7.5, "2026-10-02T11:05:00Z"), version("m1", 5, "2026-10-02T11:00:00Z")
    )

    run = lake.evaluate()

    (alert,) = lake.sink.alerts
    assert alert.kind == "new"
    assert alert == an_alert(
        severity=7.5,
        last_seen_at="2026-10-02T11:00:00.000Z",
        ingest_batch_id=run.batches_processed[0],
    )


def test_updates_and_redeliveries_of_an_alerted_finding_do_not_alert_again(lake):
    lake.deliver(version("h1", 8, "2026-10-02T11:00:00Z"))
    lake.evaluate()
    lake.deliver(version("h1", 8, "2026-10-02T11:00:00Z"))
    lake.deliver(version("h1", 8.5, "2026-10-02T17:00:00Z"))

    run = lake.evaluate()

    assert lake.alerted() == [("h1", "High", None)]
    assert len(run.batches_processed) == 2


def test_medium_then_high_then_critical_gives_two_alerts_both_escalations(lake):
    lake.deliver(version("e1", 5, "2026-10-02T01:00:00Z"))
    lake.deliver(version("e1", 7, "2026-10-02T02:00:00Z"))
    lake.deliver(version("e1", 9.2, "2026-10-02T03:00:00Z"))
    lake.deliver(version("e1", 9.2, "2026-10-02T04:00:00Z"))

    lake.evaluate()

    assert lake.alerted() == [("e1", "High", "Medium"), ("e1", "Critical", "High")]
    assert [alert.kind for alert in lake.sink.alerts] == ["escalation", "escalation"]


def test_a_medium_finding_that_rises_to_high_is_labelled_an_escalation_in_message_and_record(
    lake, tmp_path
):
    lake.deliver(version("m1", 5, "2026-10-02T01:00:00Z"))
    lake.evaluate()
    lake.deliver(version("m1", 7.5, "2026-10-02T02:00:00Z"))

    lake.evaluate()

    (alert,) = lake.sink.alerts
    message = json.loads(sns_publish_request(TOPIC_ARN, alert)["Message"])
    JsonLinesAlertSink(tmp_path / "alerts.jsonl").send(alert)
    record = json.loads((tmp_path / "alerts.jsonl").read_text())
    for document in (message, record):
        assert (document["kind"], document["previous_label"]) == ("escalation", "Medium")
    assert sns_publish_request(TOPIC_ARN, alert)["Subject"].startswith("GuardDuty Medium -> High")


def test_a_finding_first_seen_at_high_is_new_even_after_other_findings_were_medium(lake):
    lake.deliver(version("m1", 5, "2026-10-02T01:00:00Z"))
    lake.deliver(version("h1", 8, "2026-10-02T02:00:00Z"))

    lake.evaluate()

    assert lake.alerted() == [("h1", "High", None)]


def test_alerts_do_not_depend_on_how_often_the_sensor_runs(tmp_path):
    once, each = Lake(tmp_path / "once"), Lake(tmp_path / "each")
    for severity, hour in ((5, 1), (7, 2), (9, 3)):
        for lake in (once, each):
            lake.deliver(version("e1", severity, f"2026-10-02T0{hour}:00:00Z"))
        each.evaluate()
    once.evaluate()

    expected = [("e1", "High", "Medium"), ("e1", "Critical", "High")]
    assert once.alerted() == each.alerted() == expected


def test_archived_findings_never_alert_even_when_recent_and_high(lake):
    suppressed = with_service(version("s1", 8.5, "2026-10-02T10:00:00Z"), archived=True)
    archived_as_text = with_service(version("s2", 9.5, "2026-10-02T10:00:00Z"), archived="true")

    lake.deliver(suppressed, archived_as_text)
    run = lake.evaluate()

    assert lake.sink.alerts == []
    assert run.archived_ignored == 2


def test_a_finding_unarchived_and_updated_at_high_alerts(lake):
    lake.deliver(with_service(version("s1", 8, "2026-10-02T10:00:00Z"), archived=True))
    lake.evaluate()
    lake.deliver(version("s1", 8, "2026-10-02T12:00:00Z"))

    lake.evaluate()

    assert lake.alerted() == [("s1", "High", None)]


def test_an_older_lower_version_arriving_late_does_not_alert(lake):
    lake.deliver(version("o1", 9, "2026-10-02T05:00:00Z"))
    lake.evaluate()
    lake.deliver(version("o1", 7, "2026-10-02T01:00:00Z"))
    lake.deliver(version("o1", 4, "2026-10-02T06:00:00Z"))

    lake.evaluate()

    assert lake.alerted() == [("o1", "Critical", None)]


def test_versions_of_one_batch_alert_once_at_their_highest_level(lake):
    lake.deliver(
        version("b1", 7, "2026-10-02T01:00:00Z"),
        version("b1", 9.5, "2026-10-02T02:00:00Z"),
        version("b1", 8, "2026-10-02T03:00:00Z"),
    )

    lake.evaluate()

    assert lake.alerted() == [("b1", "Critical", None)]
    assert lake.sink.alerts[0].severity == 9.5


@pytest.mark.parametrize(
    "additional_info",
    [
        {"sample": True},
        {"sample": "true"},
        {"sample": "True"},
        {"type": "default", "value": '{"sample":true}'},
        {"type": "default", "value": '{"sample":"True"}'},
    ],
)
def test_sample_findings_never_alert(lake, additional_info):
    sample = with_service(version("s1", 9, "2026-10-02T01:00:00Z"), additionalInfo=additional_info)

    lake.deliver(sample)
    run = lake.evaluate()

    assert lake.sink.alerts == []
    assert run.samples_ignored == 1


def test_a_boto3_api_page_sample_is_recognised_after_conversion():
    finding = {"service": {"additionalInfo": {"type": "default", "value": '{"sample": true}'}}}

    assert is_sample(finding)
    assert not is_sample({"service": {"additionalInfo": {"value": "not json"}}})
    assert not is_sample({"service": {"additionalInfo": {"sample": False}}})


def test_findings_last_updated_before_the_maximum_age_do_not_alert(lake):
    lake.deliver(
        version("old", 9, "2026-09-01T00:00:00Z"), version("new", 9, "2026-10-02T00:00:00Z")
    )

    run = lake.evaluate()

    assert lake.alerted() == [("new", "Critical", None)]
    assert run.too_old_ignored == 1


def test_nothing_new_sends_nothing_and_keeps_the_cursor(lake):
    lake.deliver(version("h1", 8, "2026-10-02T11:00:00Z"))
    first = lake.evaluate()

    second = lake.evaluate()

    assert second.batches_processed == []
    assert second.last_batch_id == first.last_batch_id
    assert len(lake.sink.alerts) == 1


def test_findings_of_a_batch_whose_ledger_commit_failed_never_alert(lake, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("simulated crash before the ledger commit")

    monkeypatch.setattr(commit, "commit_ledger", crash)
    with pytest.raises(IngestError):
        lake.deliver(version("h1", 8, "2026-10-02T11:00:00Z"))
    uncommitted = lake.evaluate()
    monkeypatch.undo()
    lake.deliver()  # the next ingest reads the object again and commits it
    committed = lake.evaluate()

    assert uncommitted.batches_processed == [] and uncommitted.versions_read == 0
    assert len(committed.batches_processed) == 1
    assert lake.alerted() == [("h1", "High", None)]


def test_a_batch_that_becomes_visible_after_one_with_a_later_id_still_alerts(lake):
    # Two ingests racing (or two clocks): the batch stamped earlier commits last.
    lake.deliver(version("late", 8, "2026-10-02T11:00:00Z"), at=NOW + timedelta(hours=2))
    lake.evaluate(now=NOW + timedelta(hours=3))
    lake.deliver(version("early", 8, "2026-10-02T10:00:00Z"), at=NOW + timedelta(hours=1))

    run = lake.evaluate(now=NOW + timedelta(hours=3))

    assert lake.alerted() == [("late", "High", None), ("early", "High", None)]
    assert len(run.batches_processed) == 1


def test_processed_batches_are_remembered_by_id_only_within_the_late_batch_horizon(lake):
    for hour in (1, 2):
        lake.deliver(version(f"h{hour}", 8, "2026-10-02T10:00:00Z"), at=NOW + timedelta(hours=hour))

    lake.evaluate(now=NOW + timedelta(hours=3))
    recent = json.loads(lake.store.read(ALERT_STATE_KEY))
    lake.deliver(version("h3", 8, "2026-10-04T10:00:00Z"), at=NOW + timedelta(days=2))
    lake.evaluate(now=NOW + timedelta(days=2, hours=1))
    later = json.loads(lake.store.read(ALERT_STATE_KEY))

    assert (recent["last_batch_id"], len(recent["processed_batches"])) == (None, 2)
    assert later["last_batch_id"] == max(recent["processed_batches"])
    assert len(later["processed_batches"]) == 1
    assert len(lake.sink.alerts) == 3


def test_the_state_survives_a_lost_sensor_cursor(lake):
    lake.deliver(version("h1", 8, "2026-10-02T11:00:00Z"))
    lake.evaluate()
    state = json.loads(lake.store.read(ALERT_STATE_KEY))

    again = send_new_alerts(
        lake.iceberg, lake.store, lake.sink, now=NOW, max_finding_age=MAX_AGE, cursor=None
    )

    assert state["alerted"]["h1"]["label"] == "High"
    assert again.batches_processed == []
    assert len(lake.sink.alerts) == 1


def test_sns_publish_sends_a_validated_request_with_subject_and_attributes():
    client, stubber = stubbed_client("sns")
    alert = an_alert(severity=9.0, severity_label="Critical", previous_label="High")
    stubber.add_response(
        "publish",
        {"MessageId": "m-1"},
        {
            "TopicArn": TOPIC_ARN,
            "Subject": (
                "GuardDuty High -> Critical (9): UnauthorizedAccess:EC2/SSHBruteForce in "
                "012345678901/eu-west-1"
            ),
            "Message": json.dumps(alert.to_dict(), indent=2, sort_keys=True),
            "MessageAttributes": {
                "severity_label": {"DataType": "String", "StringValue": "Critical"},
                "finding_type": {
                    "DataType": "String",
                    "StringValue": "UnauthorizedAccess:EC2/SSHBruteForce",
                },
                "account_id": {"DataType": "String", "StringValue": "012345678901"},
                "kind": {"DataType": "String", "StringValue": "escalation"},
            },
        },
    )

    SnsAlertSink(client, TOPIC_ARN).send(alert)

    stubber.assert_no_pending_responses()


def test_sns_subjects_stay_under_100_printable_ascii_characters():
    alert = an_alert(
        finding_type="Execution:Runtime/" + "VeryLongThreatFamilyName" * 3 + "\u00e9\n"
    )

    subject = sns_publish_request(TOPIC_ARN, alert)["Subject"]

    assert len(subject) < 100
    assert subject.endswith("...")
    assert subject.isascii() and subject.isprintable()


def test_the_local_file_gets_one_json_line_per_alert_appended(tmp_path):
    path = tmp_path / "alerts" / "alerts.jsonl"
    sink = JsonLinesAlertSink(path)

    sink.send(an_alert(finding_id="a"))
    sink.send(an_alert(finding_id="b"))

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["finding_id"] for line in lines] == ["a", "b"]
    assert lines[0]["severity_label"] == "High"


class TestSensor:
    @pytest.fixture
    def settings(self, fresh_settings, monkeypatch):
        monkeypatch.delenv("GUARDDUTY_ALERT_SNS_TOPIC_ARN", raising=False)
        monkeypatch.delenv("GUARDDUTY_ALERT_FILE", raising=False)
        return fresh_settings / "data"

    def evaluate(self, cursor):
        from orchestration.defs.audit.sensors import guardduty_alerts_sensor

        context = dg.build_sensor_context(
            cursor=cursor,
            resources={
                "s3": S3Resource(),
                "sns": SnsResource(region_name="eu-west-1"),
                **settings_resources(),
            },
        )
        return guardduty_alerts_sensor(context)

    def test_the_sensor_writes_alerts_locally_advances_its_cursor_then_skips(self, settings):
        recent = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        source = LocalStore(settings / "demo_corpus")
        source.write("e.json", to_bytes(eventbridge_event(version("h1", 8, recent))))
        (batch,) = run_ingest(source, connect_lake(str(settings / "lake"))).batches_committed

        first = self.evaluate(cursor=None)
        second = self.evaluate(cursor=first.cursor)

        assert isinstance(first, dg.SensorResult)
        assert first.cursor == batch
        assert "1 alerts sent" in first.skip_reason.skip_message
        lines = (settings / "alerts" / "alerts.jsonl").read_text().splitlines()
        assert [json.loads(line)["finding_id"] for line in lines] == ["h1"]
        assert isinstance(second, dg.SkipReason)
        assert "No new lake batches" in second.skip_message
