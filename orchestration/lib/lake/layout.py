"""Layout and schemas of the Parquet lake: the contract between ingest, dbt sources and Athena.

    findings/updated_date=YYYY-MM-DD/<batch_id>.parquet    one row per finding version read
    quarantine/quarantined_date=YYYY-MM-DD/<batch_id>.parquet  one row per bad object or line
    _ledger/<batch_id>.parquet                             one row per source object read
    _staging/<batch_id>/...                                files of a batch not yet committed

Timestamps are UTC without a time zone (Parquet TIMESTAMP(MILLIS)), which DuckDB reads as
TIMESTAMP and Athena as timestamp(3).
"""

from __future__ import annotations

import pyarrow as pa

FINDINGS_DIR = "findings"
QUARANTINE_DIR = "quarantine"
LEDGER_DIR = "_ledger"
STAGING_DIR = "_staging"
FINDINGS_PARTITION = "updated_date"
QUARANTINE_PARTITION = "quarantined_date"

_TS = pa.timestamp("ms")

FINDINGS_SCHEMA = pa.schema(
    [
        pa.field("finding_id", pa.string(), nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("region", pa.string(), nullable=False),
        pa.field("finding_type", pa.string(), nullable=False),
        pa.field("severity", pa.float64(), nullable=False),
        pa.field("created_at", _TS, nullable=False),
        pa.field("updated_at", _TS, nullable=False),
        pa.field("event_count", pa.int64()),
        # The finding as camelCase JSON (PascalCase input converted, envelope removed), so models
        # can extract more fields later without re-ingesting.
        pa.field("finding_json", pa.string(), nullable=False),
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("line_number", pa.int64()),
        pa.field("ingest_batch_id", pa.string(), nullable=False),
        pa.field("ingested_at", _TS, nullable=False),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("line_number", pa.int64()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("excerpt", pa.string()),
        pa.field("object_size", pa.int64()),
        pa.field("ingest_batch_id", pa.string(), nullable=False),
        pa.field("quarantined_at", _TS, nullable=False),
    ]
)

LEDGER_SCHEMA = pa.schema(
    [
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("object_size", pa.int64(), nullable=False),
        # S3 ETag, or the local file's modification time in nanoseconds.
        pa.field("object_version", pa.string(), nullable=False),
        # ingested | skipped | quarantined
        pa.field("status", pa.string(), nullable=False),
        pa.field("findings", pa.int64(), nullable=False),
        pa.field("records_skipped", pa.int64(), nullable=False),
        pa.field("records_quarantined", pa.int64(), nullable=False),
        pa.field("skip_reason", pa.string()),
        pa.field("ingest_batch_id", pa.string(), nullable=False),
        pa.field("ingested_at", _TS, nullable=False),
    ]
)
