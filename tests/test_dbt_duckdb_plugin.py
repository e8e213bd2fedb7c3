"""dbt's DuckDB connections read one pinned lake per dbt invocation."""

import json
from pathlib import Path

import duckdb

from orchestration.lib.environment import get_settings
from orchestration.lib.lake import reader
from orchestration.lib.lake.catalog import open_lake
from orchestration.lib.lake.dbt_duckdb_plugin import SNAPSHOTS_VARIABLE, Plugin
from tests.helpers.dbt_lake_builder import finding, write_batch


def _findings_seen(plugin: Plugin) -> list[str]:
    """What a new dbt connection configured by ``plugin`` reads from the lake's findings."""
    schema = get_settings().glue_database
    with duckdb.connect() as connection:
        plugin.configure_connection(connection)
        rows = connection.sql(f'select finding_id from "{schema}".findings order by 1').fetchall()
    return [finding_id for (finding_id,) in rows]


def test_a_connection_reopened_by_dbt_reads_the_lake_its_first_connection_pinned(
    fresh_settings, monkeypatch
):
    monkeypatch.delenv(SNAPSHOTS_VARIABLE, raising=False)
    lake_dir = Path(get_settings().lake_uri)
    write_batch(lake_dir, "first", "2024-03-01T00:00:00Z", [finding("a")])
    plugin = Plugin("lake", {})
    assert _findings_seen(plugin) == ["a"]
    pinned = plugin.pinned_ids

    write_batch(lake_dir, "second", "2024-03-02T00:00:00Z", [finding("b")])

    assert _findings_seen(plugin) == ["a"]
    assert plugin.pinned_ids == pinned
    # A new dbt invocation reads the new batch.
    assert _findings_seen(Plugin("lake", {})) == ["a", "b"]
    assert reader.pin(open_lake(get_settings())).snapshot_ids != pinned


def test_the_snapshots_given_by_the_transform_assets_are_the_ones_read(fresh_settings, monkeypatch):
    lake_dir = Path(get_settings().lake_uri)
    write_batch(lake_dir, "first", "2024-03-01T00:00:00Z", [finding("a")])
    given = reader.pin(open_lake(get_settings())).snapshot_ids
    write_batch(lake_dir, "second", "2024-03-02T00:00:00Z", [finding("b")])
    monkeypatch.setenv(SNAPSHOTS_VARIABLE, json.dumps(given))

    plugin = Plugin("lake", {})

    assert _findings_seen(plugin) == ["a"]
    assert plugin.pinned_ids == given
