"""Public builders of GuardDuty findings, their later versions and their EventBridge envelope."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from tools.demo_corpus.actions import action_for, first_remote_ip, refreshed_action
from tools.demo_corpus.kinds import TYPES_BY_KIND, kind_for
from tools.demo_corpus.random_values import (
    detector_id,
    pick,
    randint,
    random_hex,
    random_uuid,
    randrange,
)
from tools.demo_corpus.resources import resource_for, resource_label
from tools.demo_corpus.service_details import (
    additional_info,
    detection_sequence,
    ebs_volume_scan_details,
    runtime_details,
)
from tools.demo_corpus.timestamps import from_iso, iso, to_ms

SAMPLE_FORMS = ("flag", "string", "value")

FINDING_DETAIL_TYPE = "GuardDuty Finding"


ACCOUNT_REGIONS: dict[str, tuple[str, ...]] = {
    "004215587723": ("us-east-1", "eu-west-1"),
    "318645072909": ("us-east-1", "us-west-2", "eu-central-1"),
    "741258963014": ("eu-west-1", "ap-southeast-2"),
    "562093817456": ("us-east-1",),
    "890123456781": ("eu-central-1", "ap-southeast-2"),
}
ACCOUNT_REGION_PAIRS = tuple((a, r) for a, regions in ACCOUNT_REGIONS.items() for r in regions)

DEFAULT_CREATED_AT = datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


_BOUNDARY_SEVERITIES = (3.9, 4.0, 6.9, 7.0, 8.9, 9.0)


_THREAT_LISTS = ("ProofPoint", "CrowdStrike", "Amazon", "TorExitNodes", "CustomBlockList")


def _severity(rng: random.Random, base: float, kind: str) -> float | int | str:
    if kind == "attack_sequence":
        value: float | int = pick(rng, (9.0, 9.0, 9.2, 9.5, 9.9, 10.0))
    else:
        roll = rng.random()
        if roll < 0.15:
            value = pick(rng, _BOUNDARY_SEVERITIES[:5])
        elif roll < 0.35:
            value = int(base)  # as the sample findings carry them
        else:
            value = base
    if rng.random() < 0.04:
        return f"{float(value):.1f}"
    return value


def build_finding(
    rng: random.Random,
    *,
    action_type: str,
    connection_direction: str = "INBOUND",
    caller_type: str = "Remote IP",
    feature_name: str | None = None,
    finding_type: str | None = None,
    finding_id: str | None = None,
    account_id: str | None = None,
    region: str | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    count: int = 1,
    severity: float | str | None = None,
    sample_form: str | None = None,
    archived: bool = False,
    ipv6: bool = False,
    country_name: str | None = None,
    with_milliseconds: bool = True,
) -> dict[str, Any]:
    """Build one realistic GuardDuty finding in the camelCase shape of EventBridge and S3.

    Anything not given is drawn from ``rng``; the clock is never read.

    Args:
        rng: The random source.
        action_type: One of `ACTION_TYPES`; ``NONE`` builds a finding without an action.
        connection_direction: ``INBOUND`` or ``OUTBOUND`` (NETWORK_CONNECTION; OUTBOUND makes the
            instance the ACTOR).
        caller_type: ``Remote IP`` or ``Domain`` (AWS_API_CALL; Domain has no remoteIpDetails).
        feature_name: For ``NONE``: ``RuntimeMonitoring`` (``"action": {}``), ``EbsVolumeScan``
            (Malware Protection, no action) or ``Correlation`` (attack sequence, no action);
            drawn when None.
        finding_type: Override the finding type drawn for the kind.
        finding_id: Override the 32-hex-character id.
        account_id: A 12-digit account id; drawn from `ACCOUNT_REGIONS` when None.
        region: The region; drawn from the account's regions when None.
        created_at: When the finding was created (default `DEFAULT_CREATED_AT`).
        updated_at: When this version was published (default ``created_at``).
        count: ``service.count``.
        severity: Override the severity (a number or numeric string).
        sample_form: Make a sample finding: ``flag`` (``additionalInfo.sample: true``),
            ``string`` (``"sample": "True"``) or ``value`` (only the ``value`` JSON string).
        archived: ``service.archived``.
        ipv6: Remote addresses as ``ipAddressV6``.
        country_name: Force the remote country (``""`` for unknown).
        with_milliseconds: Write timestamps with milliseconds.

    Returns:
        The finding as a dict.
    """
    kind = kind_for(action_type, connection_direction, caller_type, feature_name, rng)
    if account_id is None:
        account_id, drawn_region = pick(rng, ACCOUNT_REGION_PAIRS)
        region = region or drawn_region
    elif region is None:
        region = pick(rng, ACCOUNT_REGIONS.get(account_id, ("us-east-1",)))
    type_name, base_severity, title = pick(rng, TYPES_BY_KIND[kind])
    finding_type = finding_type or type_name
    finding_id = finding_id or random_hex(rng, 32)
    created_ms = to_ms(created_at or DEFAULT_CREATED_AT)
    updated_ms = to_ms(updated_at) if updated_at else created_ms
    if not with_milliseconds:
        created_ms -= created_ms % 1000
        updated_ms -= updated_ms % 1000
    sample = sample_form is not None
    detector = detector_id(account_id, region)
    resource = resource_for(rng, kind, account_id, region, sample)
    action = action_for(
        rng, kind, ipv6=ipv6, sample=sample, country_name=country_name, finding_type=finding_type
    )
    threat_list = pick(rng, _THREAT_LISTS) if kind in ("network_outbound", "dns") else None
    first_seen_ms = created_ms - randrange(rng, 0, 900_000)
    service: dict[str, Any] = {"serviceName": "guardduty", "detectorId": detector}
    if action is not None:
        service["action"] = action
    elif kind == "runtime":
        service["action"] = {}
    service["resourceRole"] = "ACTOR" if kind == "network_outbound" else "TARGET"
    service["additionalInfo"] = additional_info(rng, sample_form, threat_list)
    roll = rng.random()
    if threat_list and roll < 0.6:
        service["evidence"] = {
            "threatIntelligenceDetails": [
                {"threatListName": threat_list, "threatNames": ["Malicious"]}
            ]
        }
    elif roll < 0.8:
        service["evidence"] = None
    if kind == "runtime":
        service["featureName"] = "RuntimeMonitoring"
        service["runtimeDetails"] = runtime_details(rng, finding_type)
    elif kind == "malware":
        service["featureName"] = "EbsVolumeScan"
        service["ebsVolumeScanDetails"] = ebs_volume_scan_details(rng, created_ms, finding_type)
    elif kind == "attack_sequence":
        service["featureName"] = "Correlation"
        service["detection"] = detection_sequence(rng, created_ms, account_id, region)
    service["eventFirstSeen"] = iso(first_seen_ms, with_milliseconds)
    service["eventLastSeen"] = iso(
        max(first_seen_ms, updated_ms - randrange(rng, 0, 60_000)), with_milliseconds
    )
    service["archived"] = archived
    service["count"] = count
    label = resource_label(resource)
    remote_ip = first_remote_ip(action) or "an unknown host"
    api = action["awsApiCallAction"]["api"] if action and "awsApiCallAction" in action else ""
    return {
        "schemaVersion": "2.0",
        "accountId": account_id,
        "region": region,
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:{region}:{account_id}:detector/{detector}/finding/{finding_id}",
        "type": finding_type,
        "resource": resource,
        "service": service,
        "severity": severity if severity is not None else _severity(rng, base_severity, kind),
        "createdAt": iso(created_ms, with_milliseconds),
        "updatedAt": iso(updated_ms, with_milliseconds),
        "title": title.format(target=label, ip=remote_ip, api=api),
        "description": title.format(target=label, ip=remote_ip, api=api)
        + " Investigate the activity and the resource involved.",
    }


def build_next_version(
    finding: dict[str, Any],
    rng: random.Random,
    *,
    updated_at: datetime | None = None,
    added_count: int | None = None,
    new_actor: bool | None = None,
    archived: bool | None = None,
) -> dict[str, Any]:
    """The next version of a finding, as GuardDuty re-emits it after further occurrences.

    The id and ``createdAt`` stay; ``service.count``, ``updatedAt`` and ``service.eventLastSeen``
    grow. The input is not modified.

    Args:
        finding: The previous version (camelCase).
        rng: The random source.
        updated_at: When the new version is published; by default 15 minutes to 6 hours later.
        added_count: Occurrences added to ``service.count`` (drawn when None).
        new_actor: Replace the remote endpoints with those of a new actor, as GuardDuty does
            (drawn when None).
        archived: Set ``service.archived`` (unchanged when None).

    Returns:
        The new version.
    """
    with_ms = "." in finding["updatedAt"]
    previous_ms = from_iso(finding["updatedAt"])
    if updated_at is None:
        updated_ms = previous_ms + pick(rng, (900, 3600, 21600)) * 1000 + randrange(rng, 60_000)
    else:
        updated_ms = to_ms(updated_at)
    return next_version(
        finding,
        rng,
        updated_ms=updated_ms,
        added_count=added_count if added_count is not None else randint(rng, 1, 25),
        new_actor=new_actor if new_actor is not None else rng.random() < 0.3,
        archived=archived,
        with_ms=with_ms,
    )


def next_version(
    finding: dict[str, Any],
    rng: random.Random,
    *,
    updated_ms: int,
    added_count: int,
    new_actor: bool,
    archived: bool | None,
    with_ms: bool,
) -> dict[str, Any]:
    version = dict(finding)
    service = dict(finding["service"])
    version["service"] = service
    version["updatedAt"] = iso(updated_ms, with_ms)
    service["count"] = service["count"] + added_count
    service["eventLastSeen"] = iso(updated_ms - randrange(rng, 0, 60_000), with_ms)
    if archived is not None:
        service["archived"] = archived
    if new_actor and service.get("action"):
        service["action"] = refreshed_action(rng, service["action"])
    return version


def eventbridge_event(
    finding: dict[str, Any], rng: random.Random, *, time: str | None = None
) -> dict[str, Any]:
    """Wrap a camelCase finding in the EventBridge envelope that the capture Lambda stores.

    Args:
        finding: The finding (becomes ``detail``).
        rng: The random source of the event id.
        time: The event time; by default ``updatedAt`` to the second.

    Returns:
        The event dict.
    """
    if time is None:
        time = finding["updatedAt"][:19] + "Z"
    return {
        "version": "0",
        "id": random_uuid(rng),
        "detail-type": FINDING_DETAIL_TYPE,
        "source": "aws.guardduty",
        "account": finding["accountId"],
        "time": time,
        "region": finding["region"],
        "resources": [],
        "detail": finding,
    }
