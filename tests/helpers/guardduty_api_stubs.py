"""Helpers for tests of GuardDuty API code: clients stubbed with botocore's Stubber, which checks
every request against the service model, and findings shaped as boto3 returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
from botocore.stub import Stubber

from orchestration.lib.aws.guardduty import epoch_milliseconds

ACCOUNT_ID = "012345678901"
REGION = "eu-west-1"
DETECTOR_ID = "12abc34d567e8fa901bc2d34e56789f0"


def stubbed_client(service: str = "guardduty", region: str = REGION) -> tuple[Any, Stubber]:
    client = boto3.client(
        service,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def boto3_finding(
    finding_id: str,
    updated_at: str = "2026-10-01T10:00:00.000Z",
    *,
    archived: bool = False,
    severity: float = 5.0,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> dict[str, Any]:
    """A finding as boto3's get_findings returns it: PascalCase, timestamps as strings."""
    return {
        "AccountId": account_id,
        "Arn": (
            f"arn:aws:guardduty:{region}:{account_id}:detector/{DETECTOR_ID}/finding/{finding_id}"
        ),
        "CreatedAt": "2026-09-30T08:00:00.000Z",
        "Id": finding_id,
        "Partition": "aws",
        "Region": region,
        "Resource": {
            "ResourceType": "Instance",
            "InstanceDetails": {"InstanceId": "i-0abc"},
        },
        "SchemaVersion": "2.0",
        "Service": {
            "ServiceName": "guardduty",
            "DetectorId": DETECTOR_ID,
            "Archived": archived,
            "Count": 2,
            "EventFirstSeen": "2026-09-30T07:55:00.000Z",
            "EventLastSeen": updated_at,
            "AdditionalInfo": {"Type": "default", "Value": "{}"},
            "Action": {
                "ActionType": "NETWORK_CONNECTION",
                "NetworkConnectionAction": {
                    "ConnectionDirection": "INBOUND",
                    "RemoteIpDetails": {
                        "IpAddressV4": "203.0.113.7",
                        "Country": {"CountryName": "Latvia"},
                    },
                },
            },
        },
        "Severity": severity,
        "Title": f"Finding {finding_id}",
        "Type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "UpdatedAt": updated_at,
    }


def updated_criteria(start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "Criterion": {
            "updatedAt": {
                "GreaterThanOrEqual": epoch_milliseconds(start),
                "LessThan": epoch_milliseconds(end),
            }
        }
    }


def expect_list_detectors(stubber: Stubber, detector_ids: list[str]) -> None:
    stubber.add_response("list_detectors", {"DetectorIds": detector_ids}, {"MaxResults": 50})


def expect_list_findings(
    stubber: Stubber,
    start: datetime,
    end: datetime,
    pages: list[list[str]],
    detector_id: str = DETECTOR_ID,
) -> None:
    """ListFindings over ``[start, end)`` answered in ``pages``, chained by NextToken."""
    for index, ids in enumerate(pages):
        request: dict[str, Any] = {
            "DetectorId": detector_id,
            "FindingCriteria": updated_criteria(start, end),
            "MaxResults": 50,
        }
        if index:
            request["NextToken"] = f"token-{index}"
        response: dict[str, Any] = {"FindingIds": ids}
        if index + 1 < len(pages):
            response["NextToken"] = f"token-{index + 1}"
        stubber.add_response("list_findings", response, request)


def expect_get_findings(
    stubber: Stubber,
    ids: list[str],
    findings: list[dict[str, Any]],
    detector_id: str = DETECTOR_ID,
) -> None:
    stubber.add_response(
        "get_findings",
        {"Findings": findings},
        {"DetectorId": detector_id, "FindingIds": ids},
    )


def expect_error(
    stubber: Stubber, operation: str, code: str, status: int, message: str = "refused"
) -> None:
    stubber.add_client_error(
        operation, service_error_code=code, service_message=message, http_status_code=status
    )
