from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster_aws.s3 import S3Resource

from orchestration.lib.audit.alerts import (
    AlertSink,
    JsonLinesAlertSink,
    SnsAlertSink,
    SnsResource,
    send_new_alerts,
)
from orchestration.lib.environment import AuditSettings, Settings
from orchestration.lib.lake.catalog import open_lake
from orchestration.lib.lake.store import open_store


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Notifies once per finding and level on new High or Critical GuardDuty findings and on "
        "escalations, reading newly committed lake batches: to the SNS topic "
        "GUARDDUTY_ALERT_SNS_TOPIC_ARN when set, otherwise to GUARDDUTY_ALERT_FILE (JSON Lines)."
    ),
)
def guardduty_alerts_sensor(
    context: dg.SensorEvaluationContext,
    s3: S3Resource,
    sns: SnsResource,
    settings: dg.ResourceParam[Settings],
    audit_settings: dg.ResourceParam[AuditSettings],
):
    sink: AlertSink = (
        SnsAlertSink(sns.get_client(), audit_settings.alert_sns_topic_arn)
        if audit_settings.alert_sns_topic_arn
        else JsonLinesAlertSink(audit_settings.alert_file)
    )
    run = send_new_alerts(
        open_lake(settings),
        open_store(settings.lake_uri, s3.get_client),
        sink,
        now=datetime.now(UTC),
        max_finding_age=timedelta(hours=audit_settings.alert_max_age_hours),
        cursor=context.cursor,
        log=context.log,
    )
    if not run.batches_processed:
        return dg.SkipReason(f"No new lake batches after {context.cursor or 'the start'}.")
    return dg.SensorResult(
        cursor=run.last_batch_id,
        skip_reason=(
            f"{len(run.alerts)} alerts sent from {len(run.batches_processed)} batches "
            f"({run.versions_read} finding versions, {run.samples_ignored} samples and "
            f"{run.archived_ignored} archived versions ignored)."
        ),
    )
