"""Incremental, crash-safe ingest of raw GuardDuty objects into the Parquet lake.

A run works in batches. Each batch writes its Parquet files under ``_staging/<batch>/``, then
commits by writing ``_ledger/<batch>.parquet`` (one row per source object read), then publishes
its files to ``findings/`` and ``quarantine/``. A run first finishes what a crashed run left:
committed batches are published, uncommitted ones deleted, so models never read a half-written
batch and no object is counted twice. Objects already in the ledger (same URI, size and ETag or
modification time) are not read again.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from orchestration.lib.ingest.parsing import ObjectResult, ReadLimits, parse_object
from orchestration.lib.lake import layout as layout
from orchestration.lib.lake.lock import LakeLock
from orchestration.lib.lake.store import ObjectStore, StoredObject

logger = logging.getLogger(__name__)

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 6, "row_group_size": 131_072}


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
    lake_files_written: int = 0
    recovered_batches: int = 0
    discarded_batches: int = 0

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
    # A batch is committed when it holds this many findings or this much finding JSON.
    batch_max_findings: int = 250_000
    batch_max_json_bytes: int = 256 * 1024 * 1024
    progress_every_seconds: float = 15.0
    # A lock not refreshed for this long was left by a run that died, and is broken.
    lock_ttl: timedelta = timedelta(minutes=15)


def run_ingest(
    source: ObjectStore,
    lake: ObjectStore,
    options: IngestOptions | None = None,
    log: logging.Logger | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> IngestStats:
    """Ingest every object of ``source`` not yet in the lake's ledger.

    Raises:
        LakeLocked: another run holds the lake's ingest lock.
        IngestError: the source or the lake failed; committed batches stay, the rest is redone.
    """
    options = options or IngestOptions()
    log = log or logger
    lock = LakeLock(lake, options.lock_ttl, clock, log)
    try:
        lock.acquire()
        try:
            stats = _run_locked(source, lake, options, log, lock)
        except BaseException:
            lock.release_after_failure()
            raise
        lock.release()
        return stats
    except (BotoCoreError, ClientError, OSError) as error:
        raise IngestError(
            f"Ingest stopped: {error}. Batches committed before this point are kept; nothing "
            "else was published, and the next run reads the remaining objects again."
        ) from error


def _run_locked(
    source: ObjectStore,
    lake: ObjectStore,
    options: IngestOptions,
    log: logging.Logger,
    lock: LakeLock,
) -> IngestStats:
    stats = IngestStats()
    committed = recover_lake(lake, stats, log)
    ingested_before = read_ledger_keys(lake, committed)
    pending = []
    for stored in source.list():
        stats.objects_listed += 1
        if (stored.uri, stored.size, stored.version) in ingested_before:
            stats.objects_already_ingested += 1
        else:
            pending.append(stored)
    log.info(
        "Source %s: %d objects listed, %d already ingested, %d to read",
        source.root_uri,
        stats.objects_listed,
        stats.objects_already_ingested,
        len(pending),
    )
    batch = _Batch()
    last_progress = time.monotonic()
    for stored, result in _read_all(source, pending, options):
        _account(stored, result, batch, stats)
        if (
            len(batch.findings) >= options.batch_max_findings
            or batch.json_bytes >= options.batch_max_json_bytes
        ):
            _commit_batch(lake, batch, stats, lock.clock(), log)
            batch = _Batch()
        if time.monotonic() - last_progress >= options.progress_every_seconds:
            last_progress = time.monotonic()
            lock.refresh()
            log.info(
                "Read %d of %d objects (%d findings so far)",
                stats.objects_read,
                len(pending),
                stats.findings_ingested,
            )
    if batch:
        _commit_batch(lake, batch, stats, lock.clock(), log)
    return stats


def _read_all(
    source: ObjectStore, pending: list[StoredObject], options: IngestOptions
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
        return parse_object(stored.key, source.read(stored.key), options.limits)

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
        }
    )


def new_batch_id(now: datetime) -> str:
    """Batch ids sort by time, so the newest batch is the greatest."""
    return f"{now:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:8]}"


def _commit_batch(
    lake: ObjectStore, batch: _Batch, stats: IngestStats, now: datetime, log: logging.Logger
) -> None:
    batch_id = new_batch_id(now)
    ingested_at = now.astimezone(UTC).replace(tzinfo=None)
    ingested_at = ingested_at.replace(microsecond=ingested_at.microsecond // 1000 * 1000)
    staged = []
    by_date: dict[str, list] = defaultdict(list)
    for source_uri, finding in batch.findings:
        by_date[finding.updated_at.date().isoformat()].append((source_uri, finding))
    for day, rows in sorted(by_date.items()):
        rows.sort(key=lambda row: (row[1].finding_id, row[1].updated_at))
        table = _findings_table(rows, batch_id, ingested_at)
        relative = f"{layout.FINDINGS_DIR}/{layout.FINDINGS_PARTITION}={day}/{batch_id}.parquet"
        _write_staged(lake, batch_id, relative, table)
        staged.append(relative)
    if batch.quarantine:
        table = pa.Table.from_pylist(
            [
                {**row, "ingest_batch_id": batch_id, "quarantined_at": ingested_at}
                for row in batch.quarantine
            ],
            schema=layout.QUARANTINE_SCHEMA,
        )
        day = ingested_at.date().isoformat()
        relative = f"{layout.QUARANTINE_DIR}/{layout.QUARANTINE_PARTITION}={day}/{batch_id}.parquet"
        _write_staged(lake, batch_id, relative, table)
        staged.append(relative)
    ledger = pa.Table.from_pylist(
        [{**row, "ingest_batch_id": batch_id, "ingested_at": ingested_at} for row in batch.ledger],
        schema=layout.LEDGER_SCHEMA,
    )
    lake.write(f"{layout.LEDGER_DIR}/{batch_id}.parquet", _parquet_bytes(ledger))
    for relative in staged:
        lake.move(f"{layout.STAGING_DIR}/{batch_id}/{relative}", relative)
    stats.batches_committed.append(batch_id)
    stats.partitions_written.update(day for day in by_date)
    stats.lake_files_written += len(staged)
    log.info(
        "Committed batch %s: %d objects, %d findings in %d partitions, %d quarantine records",
        batch_id,
        len(batch.ledger),
        len(batch.findings),
        len(by_date),
        len(batch.quarantine),
    )


def _findings_table(rows: list, batch_id: str, ingested_at: datetime) -> pa.Table:
    columns: dict[str, list] = {name: [] for name in layout.FINDINGS_SCHEMA.names}
    for source_uri, finding in rows:
        columns["finding_id"].append(finding.finding_id)
        columns["account_id"].append(finding.account_id)
        columns["region"].append(finding.region)
        columns["finding_type"].append(finding.finding_type)
        columns["severity"].append(finding.severity)
        columns["created_at"].append(finding.created_at)
        columns["updated_at"].append(finding.updated_at)
        columns["event_count"].append(finding.event_count)
        columns["finding_json"].append(finding.finding_json)
        columns["source_uri"].append(source_uri)
        columns["line_number"].append(finding.line_number)
    columns["ingest_batch_id"] = [batch_id] * len(rows)
    columns["ingested_at"] = [ingested_at] * len(rows)
    return pa.Table.from_pydict(columns, schema=layout.FINDINGS_SCHEMA)


def _write_staged(lake: ObjectStore, batch_id: str, relative: str, table: pa.Table) -> None:
    lake.write(f"{layout.STAGING_DIR}/{batch_id}/{relative}", _parquet_bytes(table))


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    return sink.getvalue()


def committed_batches(lake: ObjectStore) -> set[str]:
    return {
        stored.key.rsplit("/", 1)[-1].removesuffix(".parquet")
        for stored in lake.list(layout.LEDGER_DIR + "/")
        if stored.key.endswith(".parquet")
    }


def recover_lake(lake: ObjectStore, stats: IngestStats, log: logging.Logger) -> set[str]:
    """Finish what a crashed run left: publish committed batches, delete uncommitted ones."""
    committed = committed_batches(lake)
    leftovers: dict[str, list[str]] = defaultdict(list)
    for stored in lake.list(layout.STAGING_DIR + "/"):
        batch_id, _, relative = stored.key[len(layout.STAGING_DIR) + 1 :].partition("/")
        leftovers[batch_id].append(relative)
    for batch_id, files in sorted(leftovers.items()):
        if batch_id in committed:
            for relative in files:
                lake.move(f"{layout.STAGING_DIR}/{batch_id}/{relative}", relative)
            stats.recovered_batches += 1
            log.warning("Published %d files of committed batch %s", len(files), batch_id)
        else:
            lake.delete(f"{layout.STAGING_DIR}/{batch_id}/{relative}" for relative in files)
            stats.discarded_batches += 1
            log.warning(
                "Discarded %d files of uncommitted batch %s (its objects will be read again)",
                len(files),
                batch_id,
            )
    return committed


def read_ledger_keys(lake: ObjectStore, batches: set[str]) -> set[tuple[str, int, str]]:
    """(uri, size, version) of every object a committed batch read."""
    keys: set[tuple[str, int, str]] = set()
    for batch_id in batches:
        table = pq.read_table(
            io.BytesIO(lake.read(f"{layout.LEDGER_DIR}/{batch_id}.parquet")),
            columns=["source_uri", "object_size", "object_version"],
        )
        keys.update(
            zip(
                table["source_uri"].to_pylist(),
                table["object_size"].to_pylist(),
                table["object_version"].to_pylist(),
                strict=True,
            )
        )
    return keys
