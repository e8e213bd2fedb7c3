"""A small Iceberg lake of hand-made findings for the dbt tests, written with the ingest's commit.

Each builder returns plain dicts so tests can compute their expectations independently in Python.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.commit import BatchRows, commit_batch


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).replace(tzinfo=None)


def remote_ip(ip: str, country: str | None = None, code: str | None = None, **extra) -> dict:
    details: dict = {"ipAddressV6" if ":" in ip else "ipAddressV4": ip}
    if country is not None or code is not None:
        details["country"] = {
            key: value
            for key, value in (("countryName", country), ("countryCode", code))
            if value is not None
        }
    details["organization"] = {"asn": extra.get("asn", "64500"), "asnOrg": "Example Net"}
    details["city"] = {"cityName": extra.get("city", "")}
    details["geoLocation"] = {"lat": extra.get("lat", 1.5), "lon": extra.get("lon", 2.5)}
    return details


def finding(
    finding_id: str,
    *,
    finding_type: str = "Recon:EC2/PortProbeUnprotectedPort",
    severity: float = 5.0,
    created_at: str = "2024-03-01T10:00:00.000Z",
    updated_at: str = "2024-03-01T10:00:00.000Z",
    count: int | None = 1,
    account_id: str = "111122223333",
    region: str = "us-east-1",
    action: dict | None = None,
    additional_info: dict | None = None,
    resource_type: str = "Instance",
    detection: dict | None = None,
) -> dict:
    """One finding as the ingest stores it (camelCase JSON plus the extracted columns)."""
    service: dict = {
        "serviceName": "guardduty",
        "detectorId": "d1",
        "archived": False,
        "resourceRole": "TARGET",
        "eventFirstSeen": created_at.replace(".000Z", "Z"),
        "eventLastSeen": updated_at,
        "additionalInfo": additional_info or {},
    }
    if count is not None:
        service["count"] = count
    if action is not None:
        service["action"] = action
    if detection is not None:
        service["detection"] = detection
    body = {
        "schemaVersion": "2.0",
        "accountId": account_id,
        "region": region,
        "partition": "aws",
        "id": finding_id,
        "arn": f"arn:aws:guardduty:{region}:{account_id}:detector/d1/finding/{finding_id}",
        "type": finding_type,
        "resource": {"resourceType": resource_type},
        "service": service,
        "severity": severity,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "title": f"Title of {finding_id}",
        "description": "A test finding.",
    }
    return {
        "finding_id": finding_id,
        "account_id": account_id,
        "region": region,
        "finding_type": finding_type,
        "severity": float(severity),
        "created_at": _ts(created_at),
        "updated_at": _ts(updated_at),
        "event_count": count,
        "finding_json": json.dumps(body),
    }


def first_version(finding_id: str, at: str, **fields) -> dict:
    """A finding's first version: created and updated at `at`."""
    return finding(finding_id, created_at=at, updated_at=at, **fields)


def network_connection(details: dict, direction: str = "INBOUND") -> dict:
    return {
        "actionType": "NETWORK_CONNECTION",
        "networkConnectionAction": {
            "connectionDirection": direction,
            "remoteIpDetails": details,
            "localPortDetails": {"port": "22"},
            "protocol": "TCP",
        },
    }


def connection_from(ip: str, country: str, **details) -> dict:
    """An inbound network connection from one remote IP (details as remote_ip takes them)."""
    return network_connection(remote_ip(ip, country, **details))


def port_probe(*details: dict) -> dict:
    return {
        "actionType": "PORT_PROBE",
        "portProbeAction": {
            "blocked": False,
            "portProbeDetails": [
                {"localPortDetails": {"port": 22 + i}, "remoteIpDetails": d}
                for i, d in enumerate(details)
            ],
        },
    }


def write_batch(lake: Path, batch_id: str, ingested_at: str, rows: list[dict]) -> None:
    """Commit rows as one ingest batch: findings rows, then a ledger row per source object."""
    committed_at = _ts(ingested_at)
    findings = [
        {
            "observed_at": None,
            **row,
            "source_uri": row.get("source_uri", f"file:///raw/{batch_id}.jsonl"),
            "line_number": line_number,
            "ingest_batch_id": batch_id,
            "ingested_at": committed_at,
            "updated_date": row["updated_at"].date(),
        }
        for line_number, row in enumerate(rows, start=1)
    ]
    _commit(lake, batch_id, committed_at, findings=findings)


def write_quarantine(lake: Path, batch_id: str, quarantined_at: str, rows: list[dict]) -> None:
    """Commit quarantine rows as one ingest batch, with a ledger row per quarantined object."""
    committed_at = _ts(quarantined_at)
    quarantine = [
        {
            "excerpt": None,
            "object_size": 10,
            "line_number": None,
            "record_index": None,
            **row,
            "ingest_batch_id": batch_id,
            "quarantined_at": committed_at,
            "quarantined_date": committed_at.date(),
        }
        for row in rows
    ]
    _commit(lake, batch_id, committed_at, quarantine=quarantine)


def _commit(
    lake: Path,
    batch_id: str,
    committed_at: datetime,
    *,
    findings: list[dict] = (),
    quarantine: list[dict] = (),
) -> None:
    """Commit the rows with a ledger row per source object: ingested, or quarantined whole."""

    def table(name: str, rows: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(list(rows), schema=tables.arrow_schema(name))

    ingested = Counter(row["source_uri"] for row in findings)
    quarantined = Counter(row["source_uri"] for row in quarantine)
    ledger = [
        {
            "source_uri": source_uri,
            "object_size": 10,
            "status": "ingested" if source_uri in ingested else "quarantined",
            "findings": ingested[source_uri],
            "records_skipped": 0,
            "records_quarantined": quarantined[source_uri],
            "skip_reason": None,
            "object_date": None,
            # Each batch read its own version of the object: none is dropped as already committed.
            "object_version": batch_id,
            "ingest_batch_id": batch_id,
            "ingested_at": committed_at,
            "ingested_date": committed_at.date(),
        }
        for source_uri in {**ingested, **quarantined}
    ]
    commit_batch(
        connect_lake(str(lake)),
        BatchRows(
            batch_id,
            table(tables.FINDINGS, findings),
            table(tables.QUARANTINE, quarantine),
            table(tables.LEDGER, ledger),
        ),
        listed_on=committed_at.date(),
    )


def severity_label(severity: float) -> str:
    """The data contract's bands, written out here independently of the models under test."""
    if severity >= 9:
        return "Critical"
    if severity >= 7:
        return "High"
    if severity >= 4:
        return "Medium"
    return "Low"
