"""Findings-table rows written directly, for the lake maintenance and migration tests."""

from datetime import datetime


def finding_row(
    finding_id: str,
    *,
    updated_at: datetime,
    event_count: int,
    source_uri: str,
    batch_id: str,
    ingested_at: datetime,
) -> dict:
    """A port probe finding created and last updated at `updated_at`, in the columns the Parquet
    layout and the Iceberg table share."""
    return {
        "finding_id": finding_id,
        "account_id": "123456789012",
        "region": "eu-west-1",
        "finding_type": "Recon:EC2/PortProbeUnprotectedPort",
        "severity": 5.0,
        "created_at": updated_at,
        "updated_at": updated_at,
        "event_count": event_count,
        "finding_json": "{}",
        "source_uri": source_uri,
        "line_number": None,
        "ingest_batch_id": batch_id,
        "ingested_at": ingested_at,
    }
