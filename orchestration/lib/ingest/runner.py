"""Incremental, crash-safe ingest of raw GuardDuty objects into the lake's Iceberg tables.

A run works in batches; each batch is committed by ``lake.commit.commit_batch`` (findings, then
quarantine, then the ledger rows as the commit point), so readers never see part of a batch and a
crash re-reads only the objects of uncommitted batches. Objects already in the ledger (same URI,
size and ETag or modification time) are not read again; an object another run committed while
this one read it is counted as already ingested, never twice.

The source is listed from the ledger's listing cursor (``guardduty.listing-cursor``, a property
of the ledger table) minus a lookback, and the ledger is read only for the key dates listed (see
``orchestration/lib/ingest/listing.py``). The cursor moves on only once every object the listing
returned is committed, so a run that stops half-way leaves it where it was.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError
from pyiceberg.exceptions import CommitFailedException

from orchestration.lib.ingest.listing import DEFAULT_LOOKBACK, NewCandidates, object_date
from orchestration.lib.ingest.parsing import ObjectResult, ReadLimits, parse_object
from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import Lake
from orchestration.lib.lake.commit import BatchRows, commit_batch
from orchestration.lib.lake.reader import ledger_keys
from orchestration.lib.lake.store import ObjectStore, StoredObject

logger = logging.getLogger(__name__)

LISTING_CURSOR_PROPERTY = "guardduty.listing-cursor"


class IngestError(RuntimeError):
    """The run stopped; nothing it had not committed is visible, and the next run resumes."""


@dataclass
class IngestStats:
    """The run's accounting: objects_read = objects_ingested + objects_skipped +
    objects_quarantined."""

    objects_listed: int = 0
    objects_already_ingested: int = 0
    objects_read: int = 0
    objects_ingested: int = 0
    objects_skipped: int = 0
    objects_quarantined: int = 0
    findings_ingested: int = 0
    records_skipped: int = 0
    records_quarantined: int = 0
    bytes_read: int = 0
    batches_committed: list[str] = field(default_factory=list)
    partitions_written: set[str] = field(default_factory=set)

    @property
    def balanced(self) -> bool:
        return self.objects_read == (
            self.objects_ingested + self.objects_skipped + self.objects_quarantined
        )


@dataclass
class _Batch:
    findings: list = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)
    json_bytes: int = 0

    def __bool__(self) -> bool:
        return bool(self.ledger)


@dataclass(frozen=True)
class IngestOptions:
    concurrency: int = 32
    limits: ReadLimits = field(default_factory=ReadLimits)
    # A batch is committed when it holds this many findings or this much finding JSON. The JSON
    # budget bounds the ingest's memory: on 300k versions its peak RSS was 1,763 MiB at 256 MiB,
    # 1,103 MiB at 64 MiB, in the same time (bench/README.md).
    batch_max_findings: int = 250_000
    batch_max_json_bytes: int = 64 * 1024 * 1024
    progress_every_seconds: float = 15.0
    # How far before the listing cursor a run looks for objects written late into dated folders.
    listing_lookback: timedelta = DEFAULT_LOOKBACK
    # The same for the API backfill's pages (None: listing_lookback); its run's ingest sweeps them.
    api_pages_lookback: timedelta | None = None


def run_ingest(
    source: ObjectStore,
    lake: Lake,
    options: IngestOptions | None = None,
    log: logging.Logger | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestStats:
    """Ingest every object of ``source`` not yet in the lake's ledger.

    Raises:
        IngestError: the source or the lake failed; committed batches stay, the rest is redone.
    """
    options = options or IngestOptions()
    log = log or logger
    try:
        return _run(source, lake, options, log, clock)
    except (BotoCoreError, ClientError, OSError, CommitFailedException) as error:
        raise IngestError(
            f"Ingest stopped: {error}. Batches committed before this point are kept; nothing "
            "else is visible, and the next run reads the remaining objects again."
        ) from error


def _run(
    source: ObjectStore,
    lake: Lake,
    options: IngestOptions,
    log: logging.Logger,
    clock: Callable[[], datetime],
) -> IngestStats:
    stats = IngestStats()
    listed_on = clock().astimezone(UTC).date()
    cursor = listing_cursor(lake)
    candidates = NewCandidates(
        source, cursor, options.listing_lookback, listed_on, options.api_pages_lookback
    )
    ingested_before = ledger_keys(lake, since=candidates.earliest_day)

    def pending() -> Iterator[StoredObject]:
        # Read while the listing goes on: a listing of 20,000 objects takes seconds.
        for stored in candidates:
            stats.objects_listed += 1
            if (stored.uri, stored.size, stored.version) in ingested_before:
                stats.objects_already_ingested += 1
            else:
                yield stored

    batch = _Batch()
    last_progress = time.monotonic()
    for stored, result in _read_all(source, pending(), options, clock):
        _account(stored, result, batch, stats)
        if (
            len(batch.findings) >= options.batch_max_findings
            or batch.json_bytes >= options.batch_max_json_bytes
        ):
            _commit(lake, batch, stats, clock(), listed_on, log)
            batch = _Batch()
        if time.monotonic() - last_progress >= options.progress_every_seconds:
            last_progress = time.monotonic()
            log.info(
                "Read %d objects of %d listed so far (%d findings so far)",
                stats.objects_read,
                stats.objects_listed - stats.objects_already_ingested,
                stats.findings_ingested,
            )
    if batch:
        _commit(lake, batch, stats, clock(), listed_on, log)
    log.info(
        "Source %s: %d objects listed, %d already ingested, %d read",
        source.root_uri,
        stats.objects_listed,
        stats.objects_already_ingested,
        stats.objects_read,
    )
    new_cursor = candidates.next_cursor
    if new_cursor is not None and new_cursor != cursor:
        _store_listing_cursor(lake, new_cursor, log)
    return stats


def listing_cursor(lake: Lake) -> date | None:
    """Where the last complete run's listing ended (None: list everything)."""
    value = lake.table(tables.LEDGER).properties.get(LISTING_CURSOR_PROPERTY)
    return date.fromisoformat(value) if value else None


def _store_listing_cursor(lake: Lake, cursor: date, log: logging.Logger) -> None:
    """Move the cursor forward (never back: a concurrent run may have moved it further)."""
    for _attempt in range(3):
        stored = listing_cursor(lake)
        if stored is not None and stored >= cursor:
            return
        try:
            with lake.table(tables.LEDGER).transaction() as transaction:
                transaction.set_properties({LISTING_CURSOR_PROPERTY: cursor.isoformat()})
        except CommitFailedException:
            continue
        return
    log.warning("The listing cursor stays at %s: the ledger kept changing meanwhile", stored)


def _read_all(
    source: ObjectStore,
    pending: Iterable[StoredObject],
    options: IngestOptions,
    clock: Callable[[], datetime],
) -> Iterator[tuple[StoredObject, ObjectResult]]:
    """Read and parse objects concurrently (bounded), yielding results in listing order."""

    def read_one(stored: StoredObject) -> ObjectResult:
        if stored.refusal:
            result = ObjectResult()
            if stored.refusal.startswith("folder marker"):
                result.skipped_records = 1
                result.skip_reasons.append(stored.refusal)
            else:
                result.quarantine_whole_object(stored.refusal)
            return result
        if stored.size > options.limits.max_object_bytes:
            result = ObjectResult()
            result.quarantine_whole_object(
                f"object of {stored.size} bytes is larger than the "
                f"{options.limits.max_object_bytes} byte limit (GUARDDUTY_MAX_OBJECT_BYTES)"
            )
            return result
        return parse_object(
            stored.key,
            source.read(stored.key),
            options.limits,
            ingested_at=clock(),
            last_modified=stored.last_modified,
        )

    window = max(1, options.concurrency) * 4
    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        in_flight: list[tuple[StoredObject, Future[ObjectResult]]] = []
        for stored in pending:
            in_flight.append((stored, pool.submit(read_one, stored)))
            if len(in_flight) >= window:
                head, future = in_flight.pop(0)
                yield head, future.result()
        for stored, future in in_flight:
            yield stored, future.result()


def _account(stored: StoredObject, result: ObjectResult, batch: _Batch, stats: IngestStats) -> None:
    stats.objects_read += 1
    stats.bytes_read += stored.size if not stored.refusal else 0
    status = result.status
    setattr(stats, f"objects_{status}", getattr(stats, f"objects_{status}") + 1)
    stats.findings_ingested += len(result.findings)
    stats.records_skipped += result.skipped_records
    stats.records_quarantined += len(result.quarantined)
    for finding in result.findings:
        batch.findings.append((stored.uri, finding))
        batch.json_bytes += len(finding.finding_json)
    for entry in result.quarantined:
        batch.quarantine.append(
            {
                "source_uri": stored.uri,
                "line_number": entry.line_number,
                # Parsing records the element of an array or page (when it knows it).
                "record_index": getattr(entry, "record_index", None),
                "reason": entry.reason,
                "excerpt": entry.excerpt,
                "object_size": stored.size,
            }
        )
    batch.ledger.append(
        {
            "source_uri": stored.uri,
            "object_size": stored.size,
            "object_version": stored.version,
            "status": status,
            "findings": len(result.findings),
            "records_skipped": result.skipped_records,
            "records_quarantined": len(result.quarantined),
            "skip_reason": "; ".join(sorted(set(result.skip_reasons))) or None,
            "object_date": object_date(stored.key),
        }
    )


def new_batch_id(now: datetime) -> str:
    """Batch ids sort by time, so the newest batch is the greatest."""
    return f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


def _commit(
    lake: Lake,
    batch: _Batch,
    stats: IngestStats,
    now: datetime,
    listed_on: date,
    log: logging.Logger,
) -> None:
    rows = batch_rows(batch, new_batch_id(now), now.astimezone(UTC).replace(tzinfo=None))
    committed_elsewhere = commit_batch(lake, rows, listed_on)
    for row in batch.ledger:
        if (row["source_uri"], row["object_size"], row["object_version"]) in committed_elsewhere:
            _unaccount(row, stats)
    stats.batches_committed.append(rows.batch_id)
    days = set(rows.findings.column(tables.FINDINGS_PARTITION).to_pylist())
    stats.partitions_written.update(day.isoformat() for day in days)
    log.info(
        "Committed batch %s: %d objects, %d findings in %d partitions, %d quarantine records%s",
        rows.batch_id,
        rows.ledger.num_rows - len(committed_elsewhere),
        rows.findings.num_rows,
        len(days),
        rows.quarantine.num_rows,
        f"; {len(committed_elsewhere)} objects were committed by another run meanwhile"
        if committed_elsewhere
        else "",
    )


def _unaccount(ledger_row: dict, stats: IngestStats) -> None:
    """Another run committed this object first: it counts as already ingested, not as read."""
    status = ledger_row["status"]
    setattr(stats, f"objects_{status}", getattr(stats, f"objects_{status}") - 1)
    stats.objects_read -= 1
    stats.objects_already_ingested += 1
    stats.bytes_read -= ledger_row["object_size"]
    stats.findings_ingested -= ledger_row["findings"]
    stats.records_skipped -= ledger_row["records_skipped"]
    stats.records_quarantined -= ledger_row["records_quarantined"]


def batch_rows(batch: _Batch, batch_id: str, ingested_at: datetime) -> BatchRows:
    """The batch as Arrow tables of the lake's schemas, findings clustered by partition and id."""
    findings = sorted(
        batch.findings, key=lambda row: (row[1].updated_at, row[1].finding_id, row[0])
    )
    return BatchRows(
        batch_id=batch_id,
        findings=pa.Table.from_pylist(
            [
                {
                    "finding_id": finding.finding_id,
                    "account_id": finding.account_id,
                    "region": finding.region,
                    "finding_type": finding.finding_type,
                    "severity": finding.severity,
                    "created_at": finding.created_at,
                    "updated_at": finding.updated_at,
                    "event_count": finding.event_count,
                    "finding_json": finding.finding_json,
                    "source_uri": source_uri,
                    "line_number": finding.line_number,
                    "ingest_batch_id": batch_id,
                    "ingested_at": ingested_at,
                    "observed_at": getattr(finding, "observed_at", None),
                    "updated_date": finding.updated_at.date(),
                }
                for source_uri, finding in findings
            ],
            schema=tables.arrow_schema(tables.FINDINGS),
        ),
        quarantine=_stamped(
            batch.quarantine, tables.QUARANTINE, batch_id, "quarantined", ingested_at
        ),
        ledger=_stamped(batch.ledger, tables.LEDGER, batch_id, "ingested", ingested_at),
    )


def _stamped(rows: list[dict], table: str, batch_id: str, event: str, moment: datetime) -> pa.Table:
    """``rows`` with their batch's id, and its ingest time and UTC date as ``<event>_at`` and
    ``<event>_date``."""
    return pa.Table.from_pylist(
        [
            {
                **row,
                "ingest_batch_id": batch_id,
                f"{event}_at": moment,
                f"{event}_date": moment.date(),
            }
            for row in rows
        ],
        schema=tables.arrow_schema(table),
    )
