from datetime import timedelta
from typing import TYPE_CHECKING

import dagster as dg
from dagster_aws.s3 import S3Resource

from orchestration.defs.audit.assets import GUARDDUTY_API_BACKFILL
from orchestration.lib.aws.clients import boto3_client
from orchestration.lib.environment import Settings
from orchestration.lib.lake.catalog import open_lake
from orchestration.lib.lake.store import open_store

if TYPE_CHECKING:
    from orchestration.lib.ingest.runner import IngestStats

RAW_FINDINGS = dg.AssetKey(["raw", "guardduty_findings"])
LAKE_FINDINGS = dg.AssetKey(["lake", "findings"])
LAKE_QUARANTINE = dg.AssetKey(["lake", "quarantine"])
LAKE_LEDGER = dg.AssetKey(["lake", "ingest_ledger"])
INGEST_POOL = "guardduty_ingest"

raw_guardduty_findings = dg.AssetSpec(
    key=RAW_FINDINGS,
    group_name="ingest",
    kinds={"s3", "json"},
    description=(
        "Raw GuardDuty findings as delivered: EventBridge events written by the capture Lambda, "
        "GuardDuty's native S3 export (.jsonl.gz), bare findings, arrays and GetFindings pages, "
        "under GUARDDUTY_SOURCE_URI (a local folder or an s3:// prefix)."
    ),
)


def _lake_table_spec(key: dg.AssetKey, description: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key,
        deps=[RAW_FINDINGS, GUARDDUTY_API_BACKFILL],
        group_name="ingest",
        kinds={"iceberg"},
        description=description,
    )


@dg.multi_asset(
    specs=[
        _lake_table_spec(
            LAKE_FINDINGS,
            "Iceberg table: one row per finding version read, partitioned by the UTC date of "
            "updatedAt (updated_date), with the camelCase finding JSON beside the key columns and "
            "the source_uri. Rows are visible once their batch's ledger rows are committed.",
        ),
        _lake_table_spec(
            LAKE_QUARANTINE,
            "One row per raw object, or line of a JSON Lines object, that could not be read as a "
            "finding, with the reason.",
        ),
        _lake_table_spec(
            LAKE_LEDGER,
            "One row per raw object read (ingested, skipped or quarantined), committed after its "
            "batch's findings and quarantine rows: the commit point that makes them visible, and "
            "the record of what was read.",
        ),
    ],
    pool=INGEST_POOL,
)
def guardduty_lake(
    context: dg.AssetExecutionContext, s3: S3Resource, settings: dg.ResourceParam[Settings]
):
    """Ingest new raw objects into the Iceberg lake (incremental: each object is read once)."""
    # Imported here: pyarrow and pyiceberg are not needed to load the definitions.
    from orchestration.lib.ingest.listing import API_BACKFILL_LOOKBACK
    from orchestration.lib.ingest.parsing import ReadLimits
    from orchestration.lib.ingest.runner import IngestOptions, run_ingest

    def s3_client():
        # The S3Resource's settings, with a connection per concurrent reader.
        return boto3_client(s3, "s3", max_pool_connections=settings.ingest_concurrency)

    source = open_store(settings.source_uri, s3_client)
    lake = open_lake(settings)
    options = IngestOptions(
        concurrency=settings.ingest_concurrency,
        limits=ReadLimits(max_object_bytes=settings.max_object_bytes),
        listing_lookback=timedelta(days=settings.listing_lookback_days),
        api_pages_lookback=API_BACKFILL_LOOKBACK if _backfills_in_this_run(context) else None,
    )
    stats = run_ingest(source, lake, options, log=context.log)
    if not stats.balanced:
        raise dg.Failure(f"Ingest accounting does not balance: {stats}")
    context.log.info(_summary(stats))
    metadata = _metadata(stats, settings.source_uri, settings.lake_uri)
    yield dg.MaterializeResult(asset_key=LAKE_FINDINGS, metadata=metadata)
    yield dg.MaterializeResult(
        asset_key=LAKE_QUARANTINE,
        metadata={
            "records_quarantined": stats.records_quarantined,
            "objects_quarantined": stats.objects_quarantined,
        },
    )
    yield dg.MaterializeResult(
        asset_key=LAKE_LEDGER,
        metadata={
            "ledger_rows_committed": stats.objects_read,
            "batches_committed": stats.batches_committed,
        },
    )


def _backfills_in_this_run(context: dg.AssetExecutionContext) -> bool:
    """The GuardDuty API backfill writes pages under the day of a finding's updatedAt, anywhere
    in GuardDuty's retention: an ingest in the same run lists its prefix over that retention,
    other runs over the usual lookback (orchestration/lib/ingest/listing.py)."""
    return GUARDDUTY_API_BACKFILL in context.job_def.asset_layer.selected_asset_keys


def _summary(stats: "IngestStats") -> str:
    return (
        f"objects read {stats.objects_read} = ingested {stats.objects_ingested} + skipped "
        f"{stats.objects_skipped} + quarantined {stats.objects_quarantined}; "
        f"{stats.findings_ingested} findings, {stats.records_quarantined} quarantine records, "
        f"{stats.objects_already_ingested} objects already ingested"
    )


def _metadata(stats: "IngestStats", source_uri: str, lake_uri: str) -> dict:
    return {
        "source_uri": source_uri,
        "lake_uri": lake_uri,
        "objects_listed": stats.objects_listed,
        "objects_already_ingested": stats.objects_already_ingested,
        "objects_read": stats.objects_read,
        "objects_ingested": stats.objects_ingested,
        "objects_skipped": stats.objects_skipped,
        "objects_quarantined": stats.objects_quarantined,
        "findings_ingested": stats.findings_ingested,
        "records_skipped": stats.records_skipped,
        "records_quarantined": stats.records_quarantined,
        "bytes_read": stats.bytes_read,
        "partitions_written": sorted(stats.partitions_written),
        "batches_committed": stats.batches_committed,
    }
