"""Lake maintenance: compaction of small files, snapshot expiry and an orphan-file sweep.

Every ingest batch adds a small file to each partition it touches, so without compaction a
partition read by dbt, alerts or reports costs one file per batch that ever wrote to it.

- **Compaction** rewrites a partition holding more than ``min_small_files`` files smaller than
  ``small_file_bytes`` into one file (pyiceberg has no rewrite_data_files: the partition's rows are
  read at one snapshot and an overwrite replaces exactly that partition's files; a concurrent
  commit makes the overwrite fail its validation and the partition waits for the next run).
  Rows keep every column, so the visibility rule ((ingest_batch_id, source_uri) in the ledger) is
  unchanged, except that findings and quarantine rows no ledger row will ever make visible (their
  batch is older than ``invisible_row_min_age`` and not in the ledger: an ingest that died before
  its commit point) are dropped. The default compacts a partition of more than two small files:
  every reader (the lake health checks over 90 days of partitions, the alerts sensor, the ingest's
  ledger look-ups) opens each file of the partitions it reads, several times a day, and rewriting
  a day's few small files costs less than one day of reading them. In the 60-day soak, with more
  than eight as the rule, the day-58 pipeline run opened 266 lake and 306 ledger files and the
  archive backfill 538 ledger files; with more than two, 133, 156 and 252, while maintenance
  itself took 73 s over the 60 days instead of 36.
- **Snapshot expiry** removes snapshots superseded more than ``snapshot_retention`` ago (a day: far
  longer than any reader keeps a snapshot pinned). Every snapshot kept is in the table metadata
  that each commit copies and rewrites: measured on a busy 2-core machine, a 20-object ingest took
  0.2-0.3 s with 10 snapshots per table and 1.4-3 s with 200, so the retention is kept short.
  Snapshots a monthly review report read are tagged by ``keep_snapshots`` and kept for
  ``REPORT_SNAPSHOT_RETENTION`` (400 days: a year of monthly reports plus the month being reviewed,
  as long as the raw bucket keeps the objects behind them), so a report re-runs as of its snapshot.
- **Orphan sweep** deletes files under a table's location that no live snapshot or metadata file
  references and that are older than ``orphan_min_age`` (a commit in flight writes young files).

On AWS the same code runs through the Glue catalog. Athena's ``OPTIMIZE ... REWRITE DATA USING
BIN_PACK`` compacts too but keeps rows no ledger row makes visible, and ``VACUUM`` expires by its
own table property, with no word in its documentation on tags (see docs/deploy-aws.md).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pyarrow as pa
import pyarrow.compute as pc
from pyarrow.fs import FileSelector, FileType
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.expressions import BooleanExpression, EqualTo, In, IsNull
from pyiceberg.io.pyarrow import _dataframe_to_data_files
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType

from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import Lake

logger = logging.getLogger(__name__)

REPORT_SNAPSHOT_RETENTION = timedelta(days=400)
COMPACTION_PROPERTY = "guardduty.maintenance"
# Row order within a compacted file: what readers filter and join on.
SORT_KEYS = {
    tables.FINDINGS: ["finding_id", "updated_at"],
    tables.QUARANTINE: ["source_uri", "line_number"],
    tables.LEDGER: ["source_uri", "ingest_batch_id"],
}


@dataclass(frozen=True)
class MaintenancePolicy:
    small_file_bytes: int = 32 * 1024 * 1024
    min_small_files: int = 2
    invisible_row_min_age: timedelta = timedelta(days=1)
    snapshot_retention: timedelta = timedelta(days=1)
    orphan_min_age: timedelta = timedelta(days=3)


@dataclass
class TableMaintenance:
    """What maintenance did to one table."""

    partitions_compacted: int = 0
    partitions_skipped_for_conflicts: int = 0
    files_rewritten: int = 0
    files_written: int = 0
    invisible_rows_dropped: int = 0
    snapshots_expired: int = 0
    tags_removed: int = 0
    orphan_files_deleted: int = 0
    orphan_bytes_deleted: int = 0


@dataclass
class MaintenanceResult:
    tables: dict[str, TableMaintenance] = field(default_factory=dict)


def maintain_lake(
    lake: Lake,
    policy: MaintenancePolicy | None = None,
    now: datetime | None = None,
    log: logging.Logger | None = None,
) -> MaintenanceResult:
    """Compact, expire and sweep every lake table (the ledger last: the others read it)."""
    policy = policy or MaintenancePolicy()
    now = now or datetime.now(UTC)
    log = log or logger
    result = MaintenanceResult()
    for name in (tables.FINDINGS, tables.QUARANTINE, tables.LEDGER):
        stats = TableMaintenance()
        compact(lake, name, policy, now, stats)
        expire_snapshots(lake.table(name), policy, now, stats)
        sweep_orphans(lake.table(name), policy, now, stats)
        result.tables[name] = stats
        log.info("Lake table %s: %s", name, stats)
    return result


def compact(
    lake: Lake, name: str, policy: MaintenancePolicy, now: datetime, stats: TableMaintenance
) -> None:
    """Rewrite each partition holding too many small files into one file."""
    table = lake.table(name)
    snapshot = table.current_snapshot()
    if snapshot is None:
        return
    column = tables.PARTITION_COLUMNS[name]
    files_by_partition: dict[object, list] = defaultdict(list)
    for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files():
        files_by_partition[task.file.partition[0]].append(task.file)
    for value, files in sorted(files_by_partition.items(), key=lambda item: str(item[0])):
        small = [file for file in files if file.file_size_in_bytes < policy.small_file_bytes]
        if len(small) <= policy.min_small_files:
            continue
        partition = _partition_filter(column, value)
        rows = table.scan(row_filter=partition, snapshot_id=snapshot.snapshot_id).to_arrow()
        if name != tables.LEDGER:
            kept = _without_dead_rows(lake, rows, now - policy.invisible_row_min_age)
            stats.invisible_rows_dropped += rows.num_rows - kept.num_rows
            rows = kept
        rows = rows.sort_by([(key, "ascending") for key in SORT_KEYS[name]])
        try:
            _replace_files(table, files, rows)
        except (CommitFailedException, ValidationException) as error:
            logger.info("Partition %s=%s of %s changed meanwhile: %s", column, value, name, error)
            stats.partitions_skipped_for_conflicts += 1
            table = lake.table(name)
            continue
        stats.partitions_compacted += 1
        stats.files_rewritten += len(files)
        stats.files_written += 1 if rows.num_rows else 0
        table = lake.table(name)


def _partition_filter(column: str, value: object) -> BooleanExpression:
    return IsNull(column) if value is None else EqualTo(column, value)


def _replace_files(table: Table, files: list[DataFile], rows: pa.Table) -> None:
    """One snapshot replacing exactly ``files`` (those ``rows`` were read from) with ``rows``.

    Not an overwrite by partition filter: when a concurrent commit makes pyiceberg retry, a filter
    is planned again on the newer snapshot and deletes files this run never read (a test showed
    a batch committed meanwhile lost). Named files keep concurrent appends, and pyiceberg's
    validation fails the commit if a named file was removed meanwhile.
    """
    properties = {COMPACTION_PROPERTY: "compaction"}
    with table.transaction() as transaction:
        written = _dataframe_to_data_files(
            transaction.table_metadata, rows.cast(tables.arrow_schema(table.name()[-1])), table.io
        )
        with transaction.update_snapshot(properties).overwrite() as overwrite:
            for file in files:
                overwrite.delete_data_file(file)
            for file in written:
                overwrite.append_data_file(file)


def _without_dead_rows(lake: Lake, rows: pa.Table, dead_before: datetime) -> pa.Table:
    """``rows`` less those of batches older than ``dead_before`` that the ledger lacks."""
    if not rows.num_rows:
        return rows
    batch_ids = set(rows.column("ingest_batch_id").to_pylist())
    committed = (
        lake.table(tables.LEDGER)
        .scan(
            row_filter=In("ingest_batch_id", batch_ids),
            selected_fields=("ingest_batch_id", "source_uri"),
        )
        .to_arrow()
    )
    visible = pc.is_in(_pairs(rows), value_set=_pairs(committed))
    young = pc.greater_equal(rows.column("ingest_batch_id"), batch_id_prefix(dead_before))
    return rows.filter(pc.or_(visible, young))


def batch_id_prefix(moment: datetime) -> str:
    """The start of the ids of batches created at ``moment`` (ids sort by creation time)."""
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def _pairs(rows: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(
        rows.column("ingest_batch_id").cast(pa.string()),
        rows.column("source_uri").cast(pa.string()),
        "\x00",
    )


def keep_snapshots(
    lake: Lake,
    snapshot_ids: Mapping[str, int | None],
    name: str,
    retention: timedelta = REPORT_SNAPSHOT_RETENTION,
) -> None:
    """Tag the given snapshots (table name -> snapshot id) so expiry keeps them for ``retention``.

    The review report calls this with the snapshots it read: ``name`` is its tag (e.g.
    ``review-2026-11``); tagging again with the same name moves the tag.
    """
    for table_name, snapshot_id in snapshot_ids.items():
        if snapshot_id is None:
            continue
        table = lake.table(table_name)
        with table.manage_snapshots() as manage:
            if name in table.metadata.refs:
                manage.remove_tag(name)
            manage.create_tag(snapshot_id, name, max_ref_age_ms=_ms(retention))


def expire_snapshots(
    table: Table, policy: MaintenancePolicy, now: datetime, stats: TableMaintenance
) -> None:
    """Drop tags past their own retention, then the snapshots (not tagged) superseded longer
    than the retention ago: a reader that pinned a snapshot while it was current keeps it."""
    now_ms = _ms(now - datetime.fromtimestamp(0, UTC))
    expired_tags = [
        name
        for name, ref in table.metadata.refs.items()
        if ref.snapshot_ref_type == SnapshotRefType.TAG
        and ref.max_ref_age_ms is not None
        and now_ms - table.snapshot_by_id(ref.snapshot_id).timestamp_ms > ref.max_ref_age_ms
    ]
    if expired_tags:
        with table.manage_snapshots() as manage:
            for name in expired_tags:
                manage.remove_tag(name)
        stats.tags_removed += len(expired_tags)
    protected = {ref.snapshot_id for ref in table.refresh().metadata.refs.values()}
    cutoff_ms = now_ms - _ms(policy.snapshot_retention)
    expired = [
        snapshot_id
        for snapshot_id, superseded_ms in _superseded_at(table).items()
        if snapshot_id not in protected and superseded_ms < cutoff_ms
    ]
    if expired:
        table.maintenance.expire_snapshots().by_ids(expired).commit()
        stats.snapshots_expired += len(expired)


def _superseded_at(table: Table) -> dict[int, int]:
    """When each snapshot stopped being the newest: what a reader may have pinned until then."""
    snapshots = sorted(table.metadata.snapshots, key=lambda snapshot: snapshot.timestamp_ms)
    return {older.snapshot_id: newer.timestamp_ms for older, newer in pairwise(snapshots)}


def sweep_orphans(
    table: Table, policy: MaintenancePolicy, now: datetime, stats: TableMaintenance
) -> None:
    """Delete files under the table's location that nothing live references, once old enough."""
    referenced = {_path(table, location) for location in _live_files(table)}
    scheme, netloc, root = table.io.parse_location(table.location())
    filesystem = table.io.fs_by_scheme(scheme, netloc)
    cutoff = now - policy.orphan_min_age
    for info in filesystem.get_file_info(FileSelector(root, recursive=True, allow_not_found=True)):
        if info.type != FileType.File or info.path in referenced:
            continue
        if info.mtime is None or info.mtime.astimezone(UTC) >= cutoff:
            continue
        filesystem.delete_file(info.path)
        stats.orphan_files_deleted += 1
        stats.orphan_bytes_deleted += info.size or 0


def _live_files(table: Table) -> Iterator[str]:
    """Every file a live snapshot or the table's metadata history references."""
    metadata = table.metadata
    yield table.metadata_location
    yield from (entry.metadata_file for entry in metadata.metadata_log)
    yield from (statistics.statistics_path for statistics in metadata.statistics)
    manifests_seen: set[str] = set()
    for snapshot in metadata.snapshots:
        yield snapshot.manifest_list
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in manifests_seen:
                continue
            manifests_seen.add(manifest.manifest_path)
            yield manifest.manifest_path
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                yield entry.data_file.file_path


def _path(table: Table, location: str) -> str:
    return table.io.parse_location(location)[2]


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
