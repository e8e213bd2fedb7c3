"""Specifications of the demo corpus builders that tests use to write their own fixtures."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime

import pytest

from tools.demo_corpus import (
    COUNTRIES,
    build_finding,
    build_next_version,
    eventbridge_event,
    remote_ip_details,
    to_pascal_case,
)


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible fixtures, not security


def test_pascal_case_follows_the_botocore_model():
    rng = _rng(1)
    finding = build_finding(rng, action_type="KUBERNETES_API_CALL", sample_form="string")
    before = json.dumps(finding, sort_keys=True)

    pascal = to_pascal_case(finding)

    assert json.dumps(finding, sort_keys=True) == before, "the input is not modified"
    assert pascal["Id"] == finding["id"]
    assert pascal["AccountId"] == finding["accountId"]
    action = pascal["Service"]["Action"]
    assert action["ActionType"] == "KUBERNETES_API_CALL"
    call = action["KubernetesApiCallAction"]
    assert call["SourceIps"] == finding["service"]["action"]["kubernetesApiCallAction"]["sourceIPs"]
    assert call["RemoteIpDetails"]["Country"]["CountryName"]
    assert set(call["RemoteIpDetails"]["GeoLocation"]) == {"Lat", "Lon"}
    additional = pascal["Service"]["AdditionalInfo"]
    assert additional["Type"] == "default"
    assert isinstance(additional["Value"], str)
    assert json.loads(additional["Value"]) == {"sample": "True"}


def test_pascal_case_keeps_map_keys_and_api_value_strings():
    rng = _rng(2)
    finding = build_finding(
        rng, action_type="AWS_API_CALL", caller_type="Domain", sample_form="flag"
    )
    rds = build_finding(rng, action_type="RDS_LOGIN_ATTEMPT")

    api_call = to_pascal_case(finding)["Service"]["Action"]["AwsApiCallAction"]
    rds_action = to_pascal_case(rds)["Service"]["Action"]["RdsLoginAttemptAction"]
    additional = to_pascal_case(finding)["Service"]["AdditionalInfo"]

    assert api_call["CallerType"] == "Domain"
    assert "AWS::IAM::Role" in api_call["AffectedResources"]
    assert api_call["DomainDetails"]["Domain"]
    assert rds_action["LoginAttributes"][0]["FailedLoginAttempts"] >= 0
    assert json.loads(additional["Value"]) == {"sample": True}


def test_build_finding_honours_its_arguments_and_never_reads_the_clock():
    created = datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=UTC)
    arguments = dict(
        action_type="NETWORK_CONNECTION", connection_direction="OUTBOUND",
        account_id="000000000042", region="eu-west-1", created_at=created, severity="7.0",
        archived=True, ipv6=True, country_name="Côte d'Ivoire", count=3,
    )  # fmt: skip
    finding = build_finding(_rng(9), **arguments)

    assert finding == build_finding(_rng(9), **arguments)
    assert finding["createdAt"] == finding["updatedAt"] == "2024-02-29T23:59:59.123Z"
    assert finding["accountId"] == "000000000042"
    assert finding["severity"] == "7.0"
    assert finding["service"]["archived"] is True
    assert finding["service"]["count"] == 3
    assert finding["service"]["resourceRole"] == "ACTOR"
    connection = finding["service"]["action"]["networkConnectionAction"]
    assert connection["connectionDirection"] == "OUTBOUND"
    assert connection["remoteIpDetails"]["country"]["countryName"] == "Côte d'Ivoire"
    assert "ipAddressV6" in connection["remoteIpDetails"]
    assert finding["arn"].endswith(f"/finding/{finding['id']}")


def test_build_finding_without_action_for_each_feature():
    rng = _rng(4)
    runtime = build_finding(rng, action_type="NONE", feature_name="RuntimeMonitoring")
    malware = build_finding(rng, action_type="NONE", feature_name="EbsVolumeScan")
    sequence = build_finding(rng, action_type="NONE", feature_name="Correlation")

    assert runtime["service"]["action"] == {}
    assert "action" not in malware["service"]
    assert "action" not in sequence["service"]
    assert sequence["resource"] == {"resourceType": "AttackSequence"}
    with pytest.raises(ValueError, match="action type"):
        build_finding(rng, action_type="FILE_UPLOAD")


def test_build_next_version_grows_counters_and_keeps_identity():
    rng = _rng(6)
    first = build_finding(rng, action_type="PORT_PROBE", with_milliseconds=False)
    second = build_next_version(first, rng, added_count=5, new_actor=True, archived=True)

    assert second["id"] == first["id"]
    assert second["createdAt"] == first["createdAt"]
    assert second["updatedAt"] > first["updatedAt"]
    assert "." not in second["updatedAt"]
    assert second["service"]["count"] == first["service"]["count"] + 5
    assert second["service"]["eventLastSeen"] >= first["service"]["eventLastSeen"]
    assert second["service"]["archived"] is True
    assert first["service"]["archived"] is False
    assert second["service"]["action"] != first["service"]["action"]


def test_eventbridge_event_wraps_one_finding_in_the_full_envelope():
    rng = _rng(8)
    finding = build_finding(rng, action_type="DNS_REQUEST")

    event = eventbridge_event(finding, rng)

    assert set(event) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources",
        "detail",
    }  # fmt: skip
    assert event["detail-type"] == "GuardDuty Finding"
    assert event["source"] == "aws.guardduty"
    assert event["account"] == finding["accountId"]
    assert event["region"] == finding["region"]
    assert event["resources"] == []
    assert event["detail"] is finding
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", event["id"]
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])


def test_every_country_of_the_data_file_is_complete_and_plausible():
    assert len({country.name for country in COUNTRIES}) == len(COUNTRIES)
    assert len({country.code for country in COUNTRIES}) == len(COUNTRIES)
    for country in COUNTRIES:
        assert re.fullmatch(r"[A-Z]{2}", country.code)
        assert country.weight > 0
        assert country.cities
        assert country.networks
        for _, lat, lon in ((country.name, *country.centroid), *country.cities):
            assert -90 <= lat <= 90
            assert -180 <= lon <= 180
        assert all(1 <= octet <= 223 for octet in country.ipv4_first_octets)
        assert all(asn.isdigit() and org and isp for asn, org, isp in country.networks)


def test_remote_ip_details_takes_a_forced_country_and_refuses_an_unknown_one():
    japan = next(country for country in COUNTRIES if country.name == "Japan")

    details = remote_ip_details(_rng(3), country_name="Japan")

    assert details["country"]["countryName"] == "Japan"
    assert int(details["ipAddressV4"].split(".")[0]) in japan.ipv4_first_octets
    assert (details["organization"]["asn"], details["organization"]["asnOrg"]) in {
        (asn, org) for asn, org, _ in japan.networks
    }
    with pytest.raises(ValueError, match="unknown country 'Atlantis'"):
        remote_ip_details(_rng(3), country_name="Atlantis")
