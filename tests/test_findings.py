"""Reading raw objects: every input form of the data contract and every quirk of the format."""

import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest

from orchestration.lib.ingest.parsing import ReadLimits, Rejection, parse_object, parse_severity
from tests.helpers.finding_fixtures import (
    a_finding,
    eventbridge_event,
    jsonl_gz,
    to_bytes,
    with_service,
)


def only_finding(result):
    assert result.status == "ingested", result.quarantined
    assert len(result.findings) == 1
    return result.findings[0]


def stored_json(finding):
    return json.loads(finding.finding_json)


class TestInputForms:
    def test_eventbridge_event_compact_and_pretty_printed_yield_the_detail(self):
        for pretty in (False, True):
            finding = only_finding(
                parse_object("e.json", to_bytes(eventbridge_event(a_finding()), pretty=pretty))
            )
            assert finding.finding_id == "f0a1b2c3d4e5f60718293a4b5c6d7e8f"
            assert "detail-type" not in stored_json(finding)

    def test_gzip_eventbridge_event_is_read(self):
        data = gzip.compress(to_bytes(eventbridge_event(a_finding())))
        assert only_finding(parse_object("e.json.gz", data)).severity == 5.0

    def test_native_export_jsonl_gz_reads_every_line(self):
        lines = [a_finding(id=f"id{n}") for n in range(1500)]
        result = parse_object(
            "AWSLogs/012345678901/GuardDuty/eu-west-1/2026/10/02/u.jsonl.gz", jsonl_gz(lines)
        )
        assert [f.finding_id for f in result.findings] == [f"id{n}" for n in range(1500)]
        assert [f.line_number for f in result.findings][:3] == [1, 2, 3]

    def test_bare_finding_and_array_of_findings(self):
        assert only_finding(parse_object("f.json", to_bytes(a_finding())))
        result = parse_object("a.json", to_bytes([a_finding(id="a"), a_finding(id="b")]))
        assert [f.finding_id for f in result.findings] == ["a", "b"]

    def test_getfindings_page_camel_case(self):
        result = parse_object("p.json", to_bytes({"findings": [a_finding(id="x")]}))
        assert [f.finding_id for f in result.findings] == ["x"]

    def test_getfindings_page_pascal_case_is_converted_to_camel_case(self):
        pascal = {
            "SchemaVersion": "2.0",
            "AccountId": "012345678901",
            "Region": "eu-west-1",
            "Id": "pascal-1",
            "Arn": "arn:aws:guardduty:eu-west-1:012345678901:detector/d/finding/pascal-1",
            "Type": "Discovery:Kubernetes/TorIPCaller",
            "Severity": 5.0,
            "CreatedAt": "2026-10-01T10:05:00.123Z",
            "UpdatedAt": "2026-10-02T11:05:00.456Z",
            "Resource": {"ResourceType": "EKSCluster"},
            "Service": {
                "Count": 2,
                "Archived": True,
                "AdditionalInfo": {"Type": "default", "Value": '{"sample":true}'},
                "Action": {
                    "ActionType": "KUBERNETES_API_CALL",
                    "KubernetesApiCallAction": {"SourceIps": ["10.0.0.23"], "Verb": "get"},
                },
            },
        }
        finding = only_finding(parse_object("p.json", to_bytes({"Findings": [pascal]})))
        stored = stored_json(finding)
        assert finding.finding_id == "pascal-1" and finding.event_count == 2
        assert stored["service"]["action"]["actionType"] == "KUBERNETES_API_CALL"
        assert stored["service"]["action"]["kubernetesApiCallAction"]["sourceIPs"] == ["10.0.0.23"]
        assert stored["service"]["additionalInfo"] == {
            "type": "default",
            "value": '{"sample":true}',
        }

    def test_pascal_and_camel_case_findings_mixed_in_one_page(self):
        pascal = {
            "AccountId": "012345678901",
            "Region": "eu-west-1",
            "Id": "p",
            "Type": "Recon:EC2/PortProbeUnprotectedPort",
            "Severity": 2,
            "CreatedAt": "2026-10-01T10:05:00Z",
            "UpdatedAt": "2026-10-01T10:05:00Z",
        }
        result = parse_object("p.json", to_bytes({"findings": [a_finding(id="c"), pascal]}))
        assert sorted(f.finding_id for f in result.findings) == ["c", "p"]


class TestSkippedNonFindings:
    @pytest.mark.parametrize(
        "detail_type",
        [
            "GuardDuty Runtime Protection Unhealthy",
            "GuardDuty Malware Protection Object Scan Result",
        ],
    )
    def test_other_guardduty_events_are_skipped_not_quarantined(self, detail_type):
        result = parse_object("e.json", to_bytes(eventbridge_event({"x": 1}, detail_type)))
        assert result.status == "skipped" and result.skipped_records == 1
        assert detail_type in result.skip_reasons[0]

    def test_empty_getfindings_page_is_skipped(self):
        result = parse_object("p.json", b'{"findings": []}')
        assert result.status == "skipped"

    def test_empty_page_line_among_findings_is_counted_as_skipped(self):
        result = parse_object("x.jsonl", jsonl_gz([a_finding(), {"findings": []}]))
        assert result.status == "ingested" and result.skipped_records == 1


class TestQuarantine:
    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"", "empty object"),
            (gzip.compress(b"", mtime=0), "white space"),
            (gzip.compress(to_bytes(a_finding()), mtime=0)[:-8], "corrupt gzip"),
            (gzip.compress(b"not json", mtime=0), "not valid JSON"),
            (b'{"id": "a", "type": ', "not valid JSON"),
            (b"\xff\xfe{}", "not valid JSON"),
            (b'{"a": 1}\x00', "not valid JSON"),
            (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
        ],
    )
    def test_unreadable_objects_are_quarantined_whole_with_a_reason(self, data, reason):
        result = parse_object("bad.json", data)
        assert result.status == "quarantined"
        assert reason in result.quarantined[0].reason
        assert result.quarantined[0].line_number is None

    @pytest.mark.parametrize(
        ("finding", "reason"),
        [
            (a_finding(id=None), "missing 'id'"),
            (a_finding(id=42), "'id' is a number"),
            (a_finding(type=None), "missing 'type'"),
            (a_finding(updatedAt="yesterday"), "'updatedAt'"),
            (a_finding(updatedAt=None), "missing 'updatedAt'"),
            (a_finding(severity="high"), "not a number in 0-10"),
            (a_finding(severity=11), "not a number in 0-10"),
            (a_finding(severity=-1), "not a number in 0-10"),
            (with_service(a_finding(), count=-5), "negative"),
            (with_service(a_finding(), count=2**70), "64-bit"),
        ],
    )
    def test_invalid_findings_are_quarantined_with_the_rule_they_break(self, finding, reason):
        result = parse_object("f.json", to_bytes(finding))
        assert result.status == "quarantined"
        assert reason in result.quarantined[0].reason

    def test_nan_and_infinity_severity_are_quarantined(self):
        for token in (b"NaN", b"Infinity"):
            data = to_bytes(a_finding()).replace(b'"severity": 5', b'"severity": ' + token)
            assert parse_object("f.json", data).status == "quarantined"

    def test_detail_null_or_list_is_quarantined(self):
        for detail in (None, [a_finding()]):
            result = parse_object("e.json", to_bytes(eventbridge_event(detail)))
            assert result.status == "quarantined"
            assert "'detail'" in result.quarantined[0].reason

    def test_one_bad_line_is_quarantined_and_the_other_lines_ingested(self):
        data = jsonl_gz([a_finding(id="a"), b'{"id": "broken', a_finding(id="c")])
        result = parse_object("x.jsonl.gz", data)
        assert [f.finding_id for f in result.findings] == ["a", "c"]
        assert [(q.line_number, "not valid JSON" in q.reason) for q in result.quarantined] == [
            (2, True)
        ]

    def test_a_line_beyond_the_record_limit_is_quarantined_without_being_held(self):
        data = jsonl_gz([a_finding(id="a"), {"id": "b", "pad": "x" * 5000}, a_finding(id="c")])
        result = parse_object("x.jsonl.gz", data, ReadLimits(max_record_bytes=2000))
        assert [f.finding_id for f in result.findings] == ["a", "c"]
        assert "record limit" in result.quarantined[0].reason

    def test_bad_element_of_an_array_is_quarantined_with_its_position(self):
        result = parse_object("a.json", to_bytes([a_finding(id="a"), a_finding(id=None)]))
        assert [f.finding_id for f in result.findings] == ["a"]
        assert result.quarantined[0].reason.startswith("element 1 of array")


class TestQuirks:
    def test_numeric_string_severity_is_a_number(self):
        assert (
            only_finding(parse_object("f.json", to_bytes(a_finding(severity="5.0")))).severity
            == 5.0
        )

    def test_timestamps_with_and_without_milliseconds_are_utc(self):
        finding = only_finding(
            parse_object(
                "f.json",
                to_bytes(
                    a_finding(
                        createdAt="2026-10-01T10:05:00Z", updatedAt="2026-10-02T13:05:00.5+02:00"
                    )
                ),
            )
        )
        assert finding.created_at.isoformat() == "2026-10-01T10:05:00"
        assert finding.updated_at.isoformat() == "2026-10-02T11:05:00.500000"

    def test_account_and_region_come_from_the_envelope_or_export_path_when_missing(self):
        bare = a_finding()
        del bare["accountId"], bare["region"], bare["arn"]
        from_event = only_finding(parse_object("e.json", to_bytes(eventbridge_event(bare))))
        assert (from_event.account_id, from_event.region) == ("012345678901", "eu-west-1")
        from_path = only_finding(
            parse_object(
                "AWSLogs/111122223333/GuardDuty/us-east-2/2026/10/02/u.jsonl", to_bytes(bare)
            )
        )
        assert (from_path.account_id, from_path.region) == ("111122223333", "us-east-2")

    def test_finding_without_action_or_with_empty_action_is_accepted(self):
        runtime = with_service(
            a_finding(type="PrivilegeEscalation:Runtime/DockerSocketAccessed"), action={}
        )
        attack = a_finding(type="AttackSequence:IAM/CompromisedCredentials", severity=9)
        del attack["service"]["action"]
        for finding in (runtime, attack):
            assert only_finding(parse_object("f.json", to_bytes(finding)))

    def test_unknown_fields_and_future_action_types_are_kept(self):
        finding = with_service(a_finding(futureField={"a": 1}), action={"actionType": "NEW_ACTION"})
        stored = stored_json(only_finding(parse_object("f.json", to_bytes(finding))))
        assert stored["futureField"] == {"a": 1}
        assert stored["service"]["action"]["actionType"] == "NEW_ACTION"

    def test_utf8_byte_order_mark_is_ignored(self):
        assert only_finding(parse_object("f.json", b"\xef\xbb\xbf" + to_bytes(a_finding())))

    def test_missing_service_count_is_null(self):
        finding = a_finding()
        del finding["service"]["count"]
        assert only_finding(parse_object("f.json", to_bytes(finding))).event_count is None


@pytest.mark.parametrize("value", [True, None, [], "5 stars", float("nan")])
def test_severity_rejects_values_that_are_not_numbers(value):
    with pytest.raises(Rejection):
        parse_severity(value)


INGESTED_AT = datetime(2026, 10, 2, 12, 0, tzinfo=UTC)


class TestTimestampBounds:
    """updatedAt and createdAt must lie between GuardDuty's launch and the ingest (+15 minutes)."""

    @pytest.mark.parametrize(
        ("field", "value", "reason"),
        [
            ("updatedAt", "2026-10-02T12:15:01Z", "more than 15 minutes after the ingest time"),
            ("createdAt", "2026-10-02T14:00:00+02:00", None),
            ("updatedAt", "2099-01-01T00:00:00Z", "more than 15 minutes after the ingest time"),
            ("createdAt", "2099-01-01T00:00:00Z", "more than 15 minutes after the ingest time"),
            ("updatedAt", "2017-10-31T23:59:59Z", "before GuardDuty existed (2017-11-01)"),
            ("createdAt", "1999-01-01T00:00:00Z", "before GuardDuty existed (2017-11-01)"),
        ],
    )
    def test_a_time_after_the_ingest_or_before_guardduty_is_quarantined_with_that_reason(
        self, field, value, reason
    ):
        times = {"createdAt": "2026-10-01T10:00:00Z", "updatedAt": "2026-10-02T11:00:00Z"}
        finding = a_finding(**{**times, field: value})

        result = parse_object("f.json", to_bytes(finding), ingested_at=INGESTED_AT)

        if reason is None:
            assert result.status == "ingested", result.quarantined
        else:
            (entry,) = result.quarantined
            assert result.status == "quarantined"
            assert f"'{field}'" in entry.reason and reason in entry.reason

    def test_up_to_15_minutes_of_clock_skew_is_accepted(self):
        finding = a_finding(updatedAt="2026-10-02T12:15:00Z")

        result = parse_object("f.json", to_bytes(finding), ingested_at=INGESTED_AT)

        assert only_finding(result).updated_at == datetime(2026, 10, 2, 12, 15)

    def test_without_an_ingest_time_the_bound_is_now(self):
        assert parse_object(
            "f.json", to_bytes(a_finding(updatedAt="2099-01-01T00:00:00Z"))
        ).status == ("quarantined")
        assert parse_object(
            "f.json", to_bytes(a_finding(createdAt="2016-01-01T00:00:00Z"))
        ).status == ("quarantined")

    def test_one_bad_time_in_a_page_quarantines_only_that_element(self):
        page = {
            "findings": [a_finding(id="ok"), a_finding(id="late", updatedAt="2030-01-01T00:00:00Z")]
        }

        result = parse_object("p.json", to_bytes(page), ingested_at=INGESTED_AT)

        assert [f.finding_id for f in result.findings] == ["ok"]
        assert result.quarantined[0].reason.startswith("element 1 of 'findings': 'updatedAt'")


class TestRecordIndex:
    def test_two_bad_elements_of_one_page_are_distinct_quarantine_records(self):
        page = [a_finding(id="good"), a_finding(severity="high"), a_finding(severity=11)]

        result = parse_object("a.json", to_bytes(page))

        assert [f.finding_id for f in result.findings] == ["good"]
        assert [(q.line_number, q.record_index) for q in result.quarantined] == [
            (None, 1),
            (None, 2),
        ]

    def test_elements_that_are_not_objects_carry_their_index(self):
        result = parse_object("p.json", to_bytes({"Findings": [a_finding(), "x", 3]}))

        assert [q.record_index for q in result.quarantined] == [1, 2]

    def test_a_json_lines_record_keeps_its_line_and_an_array_line_adds_the_index(self):
        data = jsonl_gz([a_finding(id="a"), [a_finding(id="b"), {"id": 1}], b'{"broken'])

        result = parse_object("x.jsonl.gz", data)

        assert [f.finding_id for f in result.findings] == ["a", "b"]
        assert [(q.line_number, q.record_index) for q in result.quarantined] == [(2, 1), (3, None)]

    def test_a_whole_object_has_neither_line_nor_index(self):
        (entry,) = parse_object("bad.json", b"not json").quarantined

        assert (entry.line_number, entry.record_index) == (None, None)


LAST_MODIFIED = datetime(2026, 10, 2, 13, 30, 0, tzinfo=UTC)


class TestObservedAt:
    """When each copy was observed, so that differing copies of one version can be ordered."""

    def test_an_eventbridge_copy_is_observed_at_the_envelope_time(self):
        event = eventbridge_event(a_finding())
        event["time"] = "2026-10-02T11:05:10Z"

        result = parse_object("e.json", to_bytes(event), last_modified=LAST_MODIFIED)

        assert only_finding(result).observed_at == datetime(2026, 10, 2, 11, 5, 10)

    def test_a_backfill_page_copy_is_observed_at_its_capture_time(self):
        page = {"Findings": [a_finding()], "capturedAt": "2026-10-02T12:00:00.250Z"}

        result = parse_object("guardduty-api/p.json", to_bytes(page), last_modified=LAST_MODIFIED)

        assert only_finding(result).observed_at == datetime(2026, 10, 2, 12, 0, 0, 250000)

    def test_an_export_copy_an_old_page_or_a_bare_finding_is_observed_at_last_modified(self):
        export = "AWSLogs/012345678901/GuardDuty/eu-west-1/2026/10/02/u.jsonl.gz"
        for name, data in (
            (export, jsonl_gz([a_finding()])),
            ("guardduty-api/old.json", to_bytes({"Findings": [a_finding()]})),
            ("f.json", to_bytes(a_finding())),
        ):
            result = parse_object(name, data, last_modified=LAST_MODIFIED)
            assert only_finding(result).observed_at == datetime(2026, 10, 2, 13, 30)

    def test_without_any_record_of_it_the_observation_time_is_unknown(self):
        assert only_finding(parse_object("f.json", to_bytes(a_finding()))).observed_at is None

    @pytest.mark.parametrize(
        ("time", "reason"),
        [
            ("soon", "EventBridge 'time' 'soon' is not an ISO-8601 timestamp"),
            (12, "EventBridge 'time' is a number"),
            ("2099-01-01T00:00:00Z", "more than 15 minutes after the ingest time"),
        ],
    )
    def test_an_unusable_envelope_time_quarantines_the_event(self, time, reason):
        event = eventbridge_event(a_finding())
        event["time"] = time

        result = parse_object("e.json", to_bytes(event), ingested_at=INGESTED_AT)

        assert result.status == "quarantined"
        assert reason in result.quarantined[0].reason

    def test_an_unusable_capture_time_quarantines_the_page(self):
        page = {"Findings": [a_finding(), a_finding(id="b")], "capturedAt": "1999-01-01T00:00:00Z"}

        result = parse_object("p.json", to_bytes(page), ingested_at=INGESTED_AT)

        (entry,) = result.quarantined
        assert entry.reason.startswith("page: capturedAt")
        assert "before GuardDuty existed" in entry.reason


def test_both_stores_report_each_objects_last_modification_in_utc(tmp_path, monkeypatch):
    import boto3
    from moto import mock_aws

    from orchestration.lib.lake.store import LocalStore, S3Store

    local = LocalStore(tmp_path)
    local.write("events/e.json", b"{}")
    (stored,) = local.list()
    assert stored.last_modified == datetime.fromtimestamp(
        (tmp_path / "events" / "e.json").stat().st_mtime_ns / 1e9, UTC
    )

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="raw-findings")
        s3 = S3Store("s3://raw-findings/guardduty", client)
        s3.write("events/e.json", b"{}")
        (listed,) = s3.list()
        (in_folder,) = s3.list_folder("events/").objects
        head = client.head_object(Bucket="raw-findings", Key="guardduty/events/e.json")
    assert listed.last_modified == in_folder.last_modified == head["LastModified"]
    assert listed.last_modified.utcoffset() == timedelta(0)
