from datetime import datetime, timedelta

import dagster as dg
from dagster_aws.s3 import S3Resource

from orchestration.defs.pipeline.jobs import guardduty_ingest
from orchestration.lib.environment import Settings
from orchestration.lib.ingest.listing import list_new_candidates
from orchestration.lib.lake.store import open_store


@dg.sensor(
    job=guardduty_ingest,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Starts an ingest run when new raw objects arrive under GUARDDUTY_SOURCE_URI. A tick lists "
        "only the dated folders from its cursor's day minus the lookback (see "
        "orchestration/lib/ingest/listing.py), never the whole bucket, and reads no lake table."
    ),
)
def new_raw_objects_sensor(
    context: dg.SensorEvaluationContext, s3: S3Resource, settings: dg.ResourceParam[Settings]
):
    """The cursor is the newest LastModified seen; objects modified after it are new.

    Its day is also the listing cursor: an object written after it lands in a folder dated no
    earlier than the lookback allows. Whether an object was already ingested is the ingest's
    business (its ledger), so a tick never reads the lake.
    """
    source_uri = settings.source_uri
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    objects, _ = list_new_candidates(
        open_store(source_uri, s3.get_client),
        since.date() if since else None,
        timedelta(days=settings.listing_lookback_days),
    )
    new = [
        stored.last_modified
        for stored in objects
        if stored.last_modified and (since is None or stored.last_modified > since)
    ]
    if not new:
        return dg.SkipReason(f"No new objects under {source_uri} since {context.cursor or 'ever'}.")
    newest = max(new)
    context.update_cursor(newest.isoformat())
    return dg.RunRequest(
        run_key=f"raw-objects-until-{newest.isoformat()}",
        tags={"guardduty/new_objects": str(len(new))},
    )
