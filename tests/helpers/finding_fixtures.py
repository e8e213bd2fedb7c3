"""Small, explicit GuardDuty findings for tests, written by this project (not copied samples)."""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any


def a_finding(**overrides: Any) -> dict[str, Any]:
    """A minimal camelCase finding (NETWORK_CONNECTION, inbound); keyword overrides replace keys."""
    finding = {
        "schemaVersion": "2.0",
        "accountId": "012345678901",
        "region": "eu-west-1",
        "partition": "aws",
        "id": "f0a1b2c3d4e5f60718293a4b5c6d7e8f",
        "arn": (
            "arn:aws:guardduty:eu-west-1:012345678901:detector/d1/finding/"
            "f0a1b2c3d4e5f60718293a4b5c6d7e8f"
        ),
        "type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0abc"}},
        "service": {
            "serviceName": "guardduty",
            "detectorId": "d1",
            "action": {
                "actionType": "NETWORK_CONNECTION",
                "networkConnectionAction": {
                    "connectionDirection": "INBOUND",
                    "remoteIpDetails": {
                        "ipAddressV4": "203.0.113.7",
                        "country": {"countryName": "Latvia"},
                        "city": {"cityName": ""},
                        "geoLocation": {"lat": 57.0, "lon": 25.0},
                        "organization": {"asn": "38814", "asnOrg": "Example Hosting"},
                    },
                },
            },
            "archived": False,
            "count": 3,
            "eventFirstSeen": "2026-10-01T10:00:00Z",
            "eventLastSeen": "2026-10-02T11:00:00.000Z",
            "evidence": None,
            "additionalInfo": {},
        },
        "severity": 5,
        "createdAt": "2026-10-01T10:05:00.123Z",
        "updatedAt": "2026-10-02T11:05:00.456Z",
        "title": "SSH brute force attacks against i-0abc.",
        "description": "203.0.113.7 is performing SSH brute force attacks.",
    }
    finding.update(overrides)
    return copy.deepcopy(finding)


def with_service(finding: dict[str, Any], **service_overrides: Any) -> dict[str, Any]:
    finding = copy.deepcopy(finding)
    finding["service"].update(service_overrides)
    return finding


def eventbridge_event(finding: Any, detail_type: str = "GuardDuty Finding") -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6f1a2b3c-0000-4000-8000-000000000001",
        "detail-type": detail_type,
        "source": "aws.guardduty",
        "account": "012345678901",
        "time": "2026-10-02T11:05:10Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": finding,
    }


def to_bytes(value: Any, *, pretty: bool = False) -> bytes:
    return json.dumps(value, indent=2 if pretty else None).encode()


def jsonl_gz(lines: list[Any]) -> bytes:
    return gzip.compress(
        b"".join(
            (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
            for line in lines
        )
    )
