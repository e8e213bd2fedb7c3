"""Reading raw objects: every input form of the data contract and every quirk of the format."""

import gzip
import json

import pytest

from finding_fixtures import a_finding, eventbridge_event, jsonl_gz, to_bytes, with_service
from orchestration.lib.ingest.parsing import ReadLimits, Rejection, parse_object, parse_severity


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
            (gzip.compress(b""), "white space"),
            (gzip.compress(to_bytes(a_finding()))[:-8], "corrupt gzip"),
            (gzip.compress(b"not json"), "not valid JSON"),
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
