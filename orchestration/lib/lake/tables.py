"""The lake's Iceberg tables: schemas, partitioning and table properties.

    findings       one row per finding version read, partitioned by updated_date
    quarantine     one row per bad object, line or array element, partitioned by quarantined_date
    ingest_ledger  one row per source object read, partitioned by object_date

The ledger is the commit point of an ingest batch: a findings or quarantine row is visible only
when its (ingest_batch_id, source_uri) is in the ledger. Timestamps are UTC without a zone, in
microseconds (Iceberg's precision).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    DoubleType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
)

if TYPE_CHECKING:
    import pyarrow as pa

FINDINGS = "findings"
QUARANTINE = "quarantine"
LEDGER = "ingest_ledger"
TABLES = (FINDINGS, QUARANTINE, LEDGER)

FINDINGS_PARTITION = "updated_date"
QUARANTINE_PARTITION = "quarantined_date"
LEDGER_PARTITION = "object_date"

# The snapshot summary property naming the ingest batch that wrote the snapshot.
BATCH_ID_PROPERTY = "guardduty.batch-id"


def _schema(*fields: tuple[str, object, bool]) -> Schema:
    return Schema(
        *(
            NestedField(field_id, name, field_type, required=required)
            for field_id, (name, field_type, required) in enumerate(fields, start=1)
        )
    )


FINDINGS_SCHEMA = _schema(
    ("finding_id", StringType(), True),
    ("account_id", StringType(), True),
    ("region", StringType(), True),
    ("finding_type", StringType(), True),
    ("severity", DoubleType(), True),
    ("created_at", TimestampType(), True),
    ("updated_at", TimestampType(), True),
    ("event_count", LongType(), False),
    # The finding as camelCase JSON (PascalCase input converted, envelope removed), so models
    # can extract more fields later without re-ingesting.
    ("finding_json", StringType(), True),
    ("source_uri", StringType(), True),
    ("line_number", LongType(), False),
    ("ingest_batch_id", StringType(), True),
    ("ingested_at", TimestampType(), True),
    # When this copy of the version was observed (delivery time), when the source says.
    ("observed_at", TimestampType(), False),
    ("updated_date", DateType(), True),
)

QUARANTINE_SCHEMA = _schema(
    ("source_uri", StringType(), True),
    ("line_number", LongType(), False),
    # Index of the element within a JSON array or a findings page; null for a whole object.
    ("record_index", LongType(), False),
    ("reason", StringType(), True),
    ("excerpt", StringType(), False),
    ("object_size", LongType(), False),
    ("ingest_batch_id", StringType(), True),
    ("quarantined_at", TimestampType(), True),
    ("quarantined_date", DateType(), True),
)

LEDGER_SCHEMA = _schema(
    ("source_uri", StringType(), True),
    ("object_size", LongType(), True),
    # S3 ETag, or the local file's modification time in nanoseconds.
    ("object_version", StringType(), True),
    # ingested | skipped | quarantined
    ("status", StringType(), True),
    ("findings", LongType(), True),
    ("records_skipped", LongType(), True),
    ("records_quarantined", LongType(), True),
    ("skip_reason", StringType(), False),
    ("ingest_batch_id", StringType(), True),
    ("ingested_at", TimestampType(), True),
    ("ingested_date", DateType(), True),
    # The date in the object's key (.../YYYY/MM/DD/...), null for undated keys: lookups of the
    # objects a bounded listing found read only the partitions of their dates.
    ("object_date", DateType(), False),
)

SCHEMAS = {FINDINGS: FINDINGS_SCHEMA, QUARANTINE: QUARANTINE_SCHEMA, LEDGER: LEDGER_SCHEMA}
PARTITION_COLUMNS = {
    FINDINGS: FINDINGS_PARTITION,
    QUARANTINE: QUARANTINE_PARTITION,
    LEDGER: LEDGER_PARTITION,
}

_COMMON_PROPERTIES = {
    "format-version": "2",
    "commit.manifest-merge.enabled": "true",
    # Every batch commit adds a manifest, and every scan reads them all: merged at each commit
    # (not at Iceberg's default of 100), a table keeps one or two. Measured in the soak: a
    # sensor ingest read some 350 ledger files on day 10 with the default, mostly manifests.
    "commit.manifest.min-count-to-merge": "2",
    "write.parquet.compression-codec": "zstd",
}
# Set on tables at creation only.
CREATION_ONLY_PROPERTIES = {"format-version"}
TABLE_PROPERTIES = {
    # Appends of concurrent runs never conflict; pyiceberg retries them on a newer snapshot.
    FINDINGS: {**_COMMON_PROPERTIES, "commit.retry.num-retries": "20"},
    QUARANTINE: {**_COMMON_PROPERTIES, "commit.retry.num-retries": "20"},
    # The ledger commit is the batch's commit point and must not be retried blindly: the ingest
    # re-checks for objects another run committed meanwhile before each attempt.
    LEDGER: {**_COMMON_PROPERTIES, "commit.retry.num-retries": "0"},
}


def partition_spec(table_name: str) -> PartitionSpec:
    schema = SCHEMAS[table_name]
    source = schema.find_field(PARTITION_COLUMNS[table_name])
    return PartitionSpec(
        PartitionField(
            source_id=source.field_id,
            field_id=1000,
            transform=IdentityTransform(),
            name=source.name,
        )
    )


def arrow_schema(table_name: str) -> pa.Schema:
    """The Arrow schema of rows appended to a table (µs timestamps, required fields non-null)."""
    # Imported here: loading the Dagster definitions needs the schemas, not pyarrow.
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(SCHEMAS[table_name], include_field_ids=False)
