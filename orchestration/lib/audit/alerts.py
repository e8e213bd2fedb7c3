"""Alerts on new High and Critical findings and on escalations, once per finding and level.

The alert sensor reads newly committed lake data through ``lake.reader`` (never from DuckDB, whose
single write lock a dbt run may hold), on one pinned snapshot per evaluation. The committed batches
(the ledger's ``ingest_batch_id``s) are taken as a set: each evaluation reads the findings of every
committed batch not yet processed, oldest id first. Batch ids sort by commit time, but a batch can
become visible after one with a later id (two ingests racing, clocks that disagree), so batches
processed in the last day are remembered by id, and only older ones by a watermark.

De-duplication: ``_alerts/state.json`` in the lake holds, per finding, the highest level already
alerted (and Medium for findings seen at Medium). A version alerts only when its level is above
that: a new High or Critical finding, or an escalation (Medium -> High or Critical, High ->
Critical), labelled as such. Re-deliveries, further updates and versions arriving out of order with
a lower severity never alert again. Batches are processed one by one, so which alerts are sent does
not depend on how often the sensor runs. Sample findings never alert, archived versions (archived
by an analyst or a suppression rule, as the API backfill delivers them) never alert, and neither do
versions last updated longer ago than a maximum age (a backfill of old history must not page
anyone).

Delivery is at least once: the state is written after each batch and whenever a send fails, so
only a crash between a send and that write can repeat an alert.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from dagster_aws.utils import ResourceWithBoto3Configuration
from pyiceberg.expressions import GreaterThanOrEqual

from orchestration.lib.aws.clients import boto3_client
from orchestration.lib.aws.guardduty import severity_label
from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import Lake
from orchestration.lib.lake.store import ObjectStore

logger = logging.getLogger(__name__)

ALERT_STATE_KEY = "_alerts/state.json"
ALERT_SEVERITY_THRESHOLD = 7.0
# Only High and Critical alert; Medium is remembered so that its rise is reported as an escalation.
ALERT_LEVELS = {"Medium": 0, "High": 1, "Critical": 2}
ESCALATION_FROM_THRESHOLD = 4.0
SNS_SUBJECT_MAX_CHARS = 99
# GuardDuty deletes a finding 90 days after its last update; state older than this is dead weight.
STATE_RETENTION = timedelta(days=120)
# A batch id older than this when its batch becomes visible would be missed: ids are commit times.
LATE_BATCH_HORIZON = timedelta(days=1)
# The time prefix of a batch id, as the ingest writes it.
_BATCH_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_FINDING_COLUMNS = [
    "finding_id",
    "account_id",
    "region",
    "finding_type",
    "severity",
    "updated_at",
    "finding_json",
]
_NOT_SUBJECT_TEXT = re.compile(r"[^\x20-\x7e]+")


@dataclass(frozen=True)
class Alert:
    """One notification: a finding reached a level it had not been alerted at."""

    finding_id: str
    finding_type: str
    severity: float
    severity_label: str
    previous_label: str | None
    account_id: str
    region: str
    title: str | None
    first_seen_at: str | None
    last_seen_at: str | None
    updated_at: str
    ingest_batch_id: str

    @property
    def kind(self) -> str:
        return "escalation" if self.previous_label else "new"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    def subject(self) -> str:
        """A one-line summary within SNS's subject limit (printable ASCII, under 100 chars)."""
        change = f"{self.previous_label} -> " if self.previous_label else ""
        text = (
            f"GuardDuty {change}{self.severity_label} ({self.severity:g}): {self.finding_type} "
            f"in {self.account_id}/{self.region}"
        )
        text = _NOT_SUBJECT_TEXT.sub(" ", text).strip()
        if len(text) > SNS_SUBJECT_MAX_CHARS:
            text = text[: SNS_SUBJECT_MAX_CHARS - 3].rstrip() + "..."
        return text


@dataclass
class AlertState:
    """The batches processed and, per alerted finding, its level and last update seen.

    Every committed batch up to ``last_batch_id`` is processed; above it, the processed batches
    are listed in ``processed_batches``.
    """

    last_batch_id: str | None = None
    alerted: dict[str, dict[str, str]] = field(default_factory=dict)
    processed_batches: set[str] = field(default_factory=set)

    def is_processed(self, batch_id: str) -> bool:
        return self._below_watermark(batch_id) or batch_id in self.processed_batches

    def _below_watermark(self, batch_id: str) -> bool:
        return self.last_batch_id is not None and batch_id <= self.last_batch_id

    def newest_processed(self) -> str | None:
        return max(self.processed_batches | {self.last_batch_id or ""}) or None

    def advance_watermark(self, committed: list[str], now: datetime) -> None:
        """Raise ``last_batch_id`` over the oldest processed batches, up to the late-batch
        horizon, and forget the ids it covers."""
        horizon = (now - LATE_BATCH_HORIZON).astimezone(UTC).strftime(_BATCH_TIME_FORMAT)
        for batch_id in committed:
            if batch_id > horizon or not self.is_processed(batch_id):
                break
            self.last_batch_id = max(self.last_batch_id or batch_id, batch_id)
        self.processed_batches = {
            batch_id for batch_id in self.processed_batches if not self._below_watermark(batch_id)
        }

    def level_of(self, finding_id: str) -> int:
        entry = self.alerted.get(finding_id)
        return ALERT_LEVELS.get(entry["label"], 0) if entry else 0

    def record(self, finding_id: str, label: str, updated_at: str) -> None:
        self.alerted[finding_id] = {"label": label, "updated_at": updated_at}

    def remember_medium(self, finding_id: str, updated_at: str) -> None:
        """Note a finding seen at Medium, so that reaching High is an escalation, not new."""
        if finding_id not in self.alerted:
            self.record(finding_id, "Medium", updated_at)

    def touch(self, finding_id: str, updated_at: str) -> None:
        entry = self.alerted.get(finding_id)
        if entry and updated_at > entry["updated_at"]:
            entry["updated_at"] = updated_at

    def prune(self, now: datetime) -> None:
        cutoff = _iso(now - STATE_RETENTION)
        self.alerted = {
            finding_id: entry
            for finding_id, entry in self.alerted.items()
            if entry["updated_at"] >= cutoff
        }

    def to_bytes(self) -> bytes:
        document = {
            "version": 2,
            "last_batch_id": self.last_batch_id,
            "processed_batches": sorted(self.processed_batches),
            "alerted": self.alerted,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> AlertState:
        document = json.loads(data)
        return cls(
            document.get("last_batch_id"),
            dict(document.get("alerted", {})),
            set(document.get("processed_batches", [])),
        )


def load_state(lake: ObjectStore) -> AlertState:
    """The alert state in the lake, or an empty one before the first evaluation."""
    if not any(stored.key == ALERT_STATE_KEY for stored in lake.list("_alerts/")):
        return AlertState()
    return AlertState.from_bytes(lake.read(ALERT_STATE_KEY))


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


class JsonLinesAlertSink:
    """Appends one JSON object per alert to a local file (the embedded default)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def send(self, alert: Alert) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(alert.to_dict(), sort_keys=True) + "\n")


class SnsAlertSink:
    """Publishes each alert to an SNS topic; attributes allow subscription filter policies."""

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def send(self, alert: Alert) -> None:
        self.client.publish(**sns_publish_request(self.topic_arn, alert))


def sns_publish_request(topic_arn: str, alert: Alert) -> dict[str, Any]:
    """The ``sns.publish`` arguments for an alert."""
    return {
        "TopicArn": topic_arn,
        "Subject": alert.subject(),
        "Message": json.dumps(alert.to_dict(), indent=2, sort_keys=True),
        "MessageAttributes": {
            "severity_label": {"DataType": "String", "StringValue": alert.severity_label},
            "finding_type": {"DataType": "String", "StringValue": alert.finding_type},
            "account_id": {"DataType": "String", "StringValue": alert.account_id},
            "kind": {"DataType": "String", "StringValue": alert.kind},
        },
    }


def is_sample(finding: dict[str, Any]) -> bool:
    """True for GuardDuty sample findings, in the flattened or the API ``{type, value}`` form."""
    service = finding.get("service")
    info = service.get("additionalInfo") if isinstance(service, dict) else None
    if not isinstance(info, dict):
        return False
    if _is_true(info.get("sample")):
        return True
    value = info.get("value")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    return isinstance(value, dict) and _is_true(value.get("sample"))


def is_archived(finding: dict[str, Any]) -> bool:
    """True for a version GuardDuty holds as archived (``service.archived``)."""
    service = finding.get("service")
    return isinstance(service, dict) and _is_true(service.get("archived"))


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


@dataclass
class AlertRun:
    """What one evaluation did."""

    batches_processed: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    versions_read: int = 0
    samples_ignored: int = 0
    archived_ignored: int = 0
    too_old_ignored: int = 0
    last_batch_id: str | None = None


def send_new_alerts(
    lake: Lake,
    state_store: ObjectStore,
    sink: AlertSink,
    now: datetime,
    max_finding_age: timedelta,
    cursor: str | None = None,
    log: logging.Logger | None = None,
    max_batches: int = 200,
) -> AlertRun:
    """Alert on the findings of every committed batch not yet processed.

    Args:
        lake: the Iceberg lake.
        state_store: where the alert state is kept (``_alerts/state.json``, beside the lake).
        sink: where alerts go (SNS or a local file).
        now: the current time; versions updated before ``now - max_finding_age`` do not alert.
        max_finding_age: see ``now``.
        cursor: the sensor's cursor (a batch id): every batch up to it counts as processed when
            the lake holds no alert state.
        log: where progress goes.
        max_batches: batches read per call, so one evaluation stays short on a large backlog;
            the next call continues with the rest.
    """
    log = log or logger
    state = load_state(state_store)
    if state.newest_processed() is None:
        state.last_batch_id = cursor
    run = AlertRun(last_batch_id=state.newest_processed())
    pinned = reader.pin(lake)
    committed = _committed_batches(pinned, state.last_batch_id)
    pending = [batch for batch in committed if not state.is_processed(batch)][:max_batches]
    if not pending:
        return run
    versions_by_batch = _versions_by_batch(pinned, pending)
    oldest_alertable = now - max_finding_age
    for batch_id in pending:
        versions = versions_by_batch.get(batch_id, [])
        run.versions_read += len(versions)
        try:
            for alert in _alerts_for_batch(batch_id, versions, state, oldest_alertable, run):
                sink.send(alert)
                state.record(alert.finding_id, alert.severity_label, alert.updated_at)
                run.alerts.append(alert)
            state.processed_batches.add(batch_id)
        finally:
            state.advance_watermark(committed, now)
            state.prune(now)
            state_store.write(ALERT_STATE_KEY, state.to_bytes())
        run.batches_processed.append(batch_id)
        run.last_batch_id = state.newest_processed()
    log.info("Read %d batches of lake snapshot %s", len(pending), pinned.snapshot_ids)
    return run


def _alerts_for_batch(
    batch_id: str,
    versions: list[dict[str, Any]],
    state: AlertState,
    oldest_alertable: datetime,
    run: AlertRun,
) -> list[Alert]:
    strongest: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    seen_at_medium: list[tuple[str, str]] = []
    for version in versions:
        finding_id = version["finding_id"]
        updated_at = _iso(version["updated_at"])
        state.touch(finding_id, updated_at)
        if version["severity"] < ESCALATION_FROM_THRESHOLD:
            continue
        if version["updated_at"] < oldest_alertable.astimezone(UTC).replace(tzinfo=None):
            run.too_old_ignored += version["severity"] >= ALERT_SEVERITY_THRESHOLD
            continue
        finding = json.loads(version["finding_json"])
        if is_sample(finding):
            run.samples_ignored += 1
            continue
        if is_archived(finding):
            run.archived_ignored += 1
            continue
        if version["severity"] < ALERT_SEVERITY_THRESHOLD:
            seen_at_medium.append((finding_id, updated_at))
            continue
        current = strongest.get(finding_id)
        if current is None or (version["severity"], version["updated_at"]) > (
            current[0]["severity"],
            current[0]["updated_at"],
        ):
            strongest[finding_id] = (version, finding)
    alerts = []
    for finding_id, (version, finding) in sorted(strongest.items()):
        label = severity_label(version["severity"])
        if ALERT_LEVELS[label] <= state.level_of(finding_id):
            continue
        previous = state.alerted.get(finding_id)
        service = finding.get("service") if isinstance(finding.get("service"), dict) else {}
        alerts.append(
            Alert(
                finding_id=finding_id,
                finding_type=version["finding_type"],
                severity=version["severity"],
                severity_label=label,
                previous_label=previous["label"] if previous else None,
                account_id=version["account_id"],
                region=version["region"],
                title=_string(finding.get("title")),
                first_seen_at=_string(service.get("eventFirstSeen")),
                last_seen_at=_string(service.get("eventLastSeen")),
                updated_at=_iso(version["updated_at"]),
                ingest_batch_id=batch_id,
            )
        )
    # Remembered after this batch's alerts: a rise within one batch is reported as new.
    for finding_id, updated_at in seen_at_medium:
        state.remember_medium(finding_id, updated_at)
    return alerts


def _committed_batches(pinned: reader.PinnedLake, watermark: str | None) -> list[str]:
    """Committed batch ids, oldest first; those far below the watermark are not read at all."""
    row_filter = reader.ALL_ROWS
    if watermark:
        committed_at = datetime.strptime(watermark.split("-", 1)[0], _BATCH_TIME_FORMAT)
        row_filter = GreaterThanOrEqual(
            "ingested_date", (committed_at - LATE_BATCH_HORIZON).date().isoformat()
        )
    return sorted(set(pinned.ledger(["ingest_batch_id"], row_filter).column(0).to_pylist()))


def _versions_by_batch(
    pinned: reader.PinnedLake, batches: list[str]
) -> dict[str, list[dict[str, Any]]]:
    rows = pinned.visible(tables.FINDINGS, [*_FINDING_COLUMNS, "ingest_batch_id"], batches=batches)
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(rows.to_pylist(), key=lambda row: (row["finding_id"], row["updated_at"])):
        versions[row.pop("ingest_batch_id")].append(row)
    return versions


def _iso(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds; lexical order is time order."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class SnsResource(ResourceWithBoto3Configuration):
    """A boto3 SNS client for publishing alerts (standard retry mode).

    Example:
        ``SnsResource(region_name=settings.aws_region, max_attempts=5)``
    """

    def get_client(self) -> Any:
        """Return a new boto3 SNS client configured from this resource."""
        return boto3_client(self, "sns")
