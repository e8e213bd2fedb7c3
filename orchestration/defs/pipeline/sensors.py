from datetime import UTC, datetime

import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_aws.s3.sensor import get_objects

from orchestration.defs.pipeline.jobs import guardduty_ingest
from orchestration.lib.environment import get_settings, is_s3_uri
from orchestration.lib.lake.store import LocalStore


@dg.sensor(
    job=guardduty_ingest,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Starts an ingest run when new raw objects arrive under GUARDDUTY_SOURCE_URI.",
)
def new_raw_objects_sensor(context: dg.SensorEvaluationContext, s3: S3Resource):
    source_uri = get_settings().source_uri
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    newest, count = _newest_object(source_uri, since, s3)
    if newest is None:
        return dg.SkipReason(f"No new objects under {source_uri} since {context.cursor or 'ever'}.")
    context.update_cursor(newest.isoformat())
    return dg.RunRequest(
        run_key=f"raw-objects-until-{newest.isoformat()}",
        tags={"guardduty/new_objects": str(count)},
    )


def _newest_object(
    source_uri: str, since: datetime | None, s3: S3Resource
) -> tuple[datetime | None, int]:
    """The newest modification time after ``since``, and how many objects are newer."""
    if is_s3_uri(source_uri):
        bucket, _, prefix = source_uri[len("s3://") :].partition("/")
        objects = get_objects(
            bucket, prefix=prefix, since_last_modified=since, client=s3.get_client()
        )
        times = [item["LastModified"] for item in objects]
    else:
        times = [
            datetime.fromtimestamp(int(stored.version) / 1e9, UTC)
            for stored in LocalStore(source_uri).list()
            if stored.version.isdigit()
        ]
        times = [moment for moment in times if since is None or moment > since]
    return (max(times), len(times)) if times else (None, 0)
