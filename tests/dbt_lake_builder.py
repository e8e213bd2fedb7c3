"""A small Parquet lake (lake_layout schemas) of hand-made findings for the dbt tests.

Each builder returns plain dicts so tests can compute their expectations independently in Python.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.lake import layout as lake_layout


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
    """Write rows as one ingest batch: a Parquet file per updated_date partition."""
    by_date: dict[str, list[dict]] = {}
    for line_number, row in enumerate(rows, start=1):
        full = {
            **row,
            "source_uri": row.get("source_uri", f"file:///raw/{batch_id}.jsonl"),
            "line_number": line_number,
            "ingest_batch_id": batch_id,
            "ingested_at": _ts(ingested_at),
        }
        by_date.setdefault(full["updated_at"].date().isoformat(), []).append(full)
    for day, day_rows in by_date.items():
        folder = lake / lake_layout.FINDINGS_DIR / f"{lake_layout.FINDINGS_PARTITION}={day}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pylist(day_rows, schema=lake_layout.FINDINGS_SCHEMA)
        pq.write_table(table, folder / f"{batch_id}-0.parquet")


def write_quarantine(lake: Path, batch_id: str, quarantined_at: str, rows: list[dict]) -> None:
    day = quarantined_at[:10]
    folder = lake / lake_layout.QUARANTINE_DIR / f"{lake_layout.QUARANTINE_PARTITION}={day}"
    folder.mkdir(parents=True, exist_ok=True)
    full = [
        {
            "excerpt": None,
            "object_size": 10,
            **row,
            "ingest_batch_id": batch_id,
            "quarantined_at": _ts(quarantined_at),
        }
        for row in rows
    ]
    table = pa.Table.from_pylist(full, schema=lake_layout.QUARANTINE_SCHEMA)
    pq.write_table(table, folder / f"{batch_id}.parquet")


def severity_label(severity: float) -> str:
    """The data contract's bands, written out here independently of the models under test."""
    if severity >= 9:
        return "Critical"
    if severity >= 7:
        return "High"
    if severity >= 4:
        return "Medium"
    return "Low"
