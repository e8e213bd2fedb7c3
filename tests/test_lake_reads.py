"""What reading the lake through the DuckDB views costs: an incremental dbt run filters the views
by a constant range of ingest batch ids (macros/lake_batches.sql), which must read the data of
those batches only, and each other file's footer once per connection, not once per query."""

import os
from pathlib import Path

import duckdb

from orchestration.lib.lake import reader, tables
from orchestration.lib.lake.catalog import connect_lake
from tests.helpers.dbt_lake_builder import finding, write_batch

NEW_BATCH_SQL = (
    "select count(*), max(finding_json) from lake.findings "
    "where ingest_batch_id between 'b2' and 'b2'"
)


def _bytes_read_per_file(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    rows = connection.execute(
        """
        select json_extract_string(message, '$.path'),
            sum(cast(json_extract_string(message, '$.bytes') as bigint))
        from duckdb_logs
        where type = 'FileSystem' and json_extract_string(message, '$.op') = 'READ'
        group by all
        """
    ).fetchall()
    connection.execute("call truncate_duckdb_logs()")
    return dict(rows)


def test_a_batch_range_reads_that_batchs_data_and_other_files_footers_once(tmp_path):
    lake_path = tmp_path / "lake"
    # Incompressible JSON, so that the old batch's data is far larger than its footer.
    old = [finding(f"old-{n}", additional_info={"blob": os.urandom(600).hex()}) for n in range(300)]
    write_batch(lake_path, "b1", "2024-03-02T00:00:00Z", old)
    old_files = set(reader.pin(connect_lake(str(lake_path))).tables[tables.FINDINGS].data_files())
    old_paths = {location.removeprefix("file://") for location in old_files}
    write_batch(lake_path, "b2", "2024-03-03T00:00:00Z", [finding("new")])
    views = duckdb.connect()
    reader.pin(connect_lake(str(lake_path))).create_duckdb_views(views, "lake")
    # dbt-duckdb runs each query on a cursor of the connection the views were created on.
    connection = views.cursor()
    connection.execute("call enable_logging('FileSystem', level = 'trace')")

    ((count, _),) = connection.execute(NEW_BATCH_SQL).fetchall()
    first = _bytes_read_per_file(connection)
    connection.execute(NEW_BATCH_SQL).fetchall()
    second = _bytes_read_per_file(connection)

    assert count == 1
    old_bytes_read = sum(first.get(path, 0) for path in old_paths)
    old_bytes = sum(Path(path).stat().st_size for path in old_paths)
    assert 0 < old_bytes_read < old_bytes / 4, "of the old batch's files, only footers are read"
    assert not old_paths & set(second), "each footer is read once per connection"


def _ledger_ingest_times(lake_path: Path) -> tuple[object, object]:
    ledger = reader.pin(connect_lake(str(lake_path))).tables[tables.LEDGER]
    return ledger.latest("ingested_at"), max(ledger.scan(["ingested_at"]).column(0).to_pylist())


def test_the_latest_ingest_time_comes_from_file_statistics_or_else_from_the_rows(tmp_path):
    with_statistics, without = tmp_path / "with-statistics", tmp_path / "without"
    ledger = connect_lake(str(without)).table(tables.LEDGER)
    with ledger.transaction() as transaction:
        transaction.set_properties({"write.metadata.metrics.default": "none"})
    for lake_path in (with_statistics, without):
        for batch, ingested_at in (("b1", "2024-03-05T00:00:00Z"), ("b2", "2024-03-02T00:00:00Z")):
            write_batch(lake_path, batch, ingested_at, [finding(f"f-{batch}")])

    latest, greatest_row = _ledger_ingest_times(with_statistics)
    assert latest == greatest_row and latest.isoformat() == "2024-03-05T00:00:00"
    assert _ledger_ingest_times(without)[0] == latest
    no_bounds = reader.pin(connect_lake(str(without))).tables[tables.LEDGER]._tasks()
    assert all(not task.file.upper_bounds for task in no_bounds)


def test_an_incremental_read_chooses_its_files_from_the_manifests_bounds_before_opening_any(
    tmp_path,
):
    lake_path = tmp_path / "lake"
    write_batch(lake_path, "20240302T000000000000Z-old", "2024-03-02T00:00:00Z", [finding("old")])
    write_batch(lake_path, "20240303T000000000000Z-new", "2024-03-03T00:00:00Z", [finding("new")])
    views = duckdb.connect()
    reader.pin(connect_lake(str(lake_path))).create_duckdb_views(views, "lake")
    connection = views.cursor()

    # The batch ids are longer than the 16 characters Iceberg keeps of a string bound.
    chosen = [
        path
        for (path,) in connection.execute(
            "select file_path from lake.data_files where table_name = 'findings' "
            "and last_batch_id >= '20240303T000000000000Z-new'"
        ).fetchall()
    ]
    connection.execute("call enable_logging('FileSystem', level = 'trace')")
    rows = connection.execute(
        "select finding_id, ingest_batch_id from lake.findings_files(?)", [chosen]
    ).fetchall()

    assert rows == [("new", "20240303T000000000000Z-new")]
    assert set(_bytes_read_per_file(connection)) == set(chosen)
    listed = connection.execute(
        "select table_name, count(*) from lake.data_files group by all order by all"
    ).fetchall()
    assert listed == [(tables.FINDINGS, 2), (tables.LEDGER, 2)]
