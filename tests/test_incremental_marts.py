"""Incremental marts: after any sequence of incremental dbt runs they equal a full rebuild of the
same lake, row for row, while each run recomputes only the findings and dates that changed."""

import os
from pathlib import Path

import duckdb
import pytest

from tests.helpers.dbt import run_dbt
from tests.helpers.dbt_lake_builder import (
    connection_from,
    finding,
    first_version,
    port_probe,
    remote_ip,
    write_batch,
)

pytestmark = pytest.mark.integration

INCREMENTAL_MARTS = [
    "int_finding_remote_endpoints",
    "fct_findings",
    "fct_finding_remote_endpoints",
    "agg_findings_daily",
    "agg_findings_by_severity",
    "agg_findings_by_action_type",
    "agg_findings_by_country",
    "agg_findings_by_finding_type",
    "agg_findings_by_resource_type",
]
# The partitioned dbt asset's selection, with the seed the endpoints read.
EVERY_RUN = ["config.materialized:incremental", "country_codes"]
# Recorded in every run, whatever fails after it.
LEDGER = ["int_lake_batches_processed"]
SAMPLE = {"sample": True}


# f5 is created on 2024-03-03; its next versions say 03-06 and then 03-07: its day moves twice.
BATCH_1 = [
    finding("f1", action=connection_from("1.1.1.1", "Russia")),
    finding(
        "f2",
        severity=8.0,
        action=port_probe(remote_ip("2.2.2.1", "Vietnam"), remote_ip("2.2.2.2", "Brazil")),
    ),
    first_version(
        "f3",
        "2024-03-02T10:00:00.000Z",
        action=connection_from("3.3.3.3", "Russia"),
    ),
    finding("f4", severity=2.0, action={"actionType": "DNS_REQUEST"}),
    first_version(
        "f5",
        "2024-03-03T10:00:00.000Z",
        action=connection_from("5.5.5.5", "Vietnam"),
    ),
]
BATCH_2 = [
    # an older version of f1, delivered late: f1's current version stays
    finding(
        "f1", updated_at="2024-03-01T09:00:00.000Z", action=connection_from("9.9.9.9", "Brazil")
    ),
    # f2's endpoints change: one probe gone, the other from elsewhere
    finding(
        "f2",
        severity=8.0,
        updated_at="2024-03-02T10:00:00.000Z",
        count=4,
        action=port_probe(remote_ip("2.2.2.9", "Russia")),
    ),
    first_version(
        "f5",
        "2024-03-06T10:00:00.000Z",
        count=2,
        action=connection_from("5.5.5.5", "Vietnam"),
    ),
    first_version(
        "f6",
        "2024-03-05T08:00:00.000Z",
        action=connection_from("6.6.6.6", "Brazil"),
    ),
]
BATCH_3 = [
    # late data for an old partition: a new finding and a new version, both dated 2024-02-20
    first_version(
        "f7",
        "2024-02-20T10:00:00.000Z",
        action=connection_from("7.7.7.7", "Russia"),
    ),
    finding("f4", severity=2.0, count=6, updated_at="2024-03-07T10:00:00.000Z"),
    # f3 becomes a sample: it leaves the marts and its day (2024-03-02) is left empty
    finding(
        "f3",
        created_at="2024-03-02T10:00:00.000Z",
        updated_at="2024-03-08T10:00:00.000Z",
        additional_info=SAMPLE,
        action=connection_from("3.3.3.3", "Russia"),
    ),
    first_version(
        "f5",
        "2024-03-07T10:00:00.000Z",
        count=3,
        action=connection_from("5.5.5.6", "Brazil"),
    ),
]


def _dbt(root: Path, warehouse: str, *args: str) -> None:
    """dbt build of what the partitioned dbt asset selects, or of the selection in args."""
    env = {
        **os.environ,
        "DBT_TARGET": "duckdb",
        "GUARDDUTY_LAKE_URI": str(root / "lake"),
        "GUARDDUTY_DUCKDB_PATH": str(root / warehouse),
    }
    selection = list(args) or ["--select", *EVERY_RUN]
    result = run_dbt(
        root,
        "build",
        "--exclude-resource-type",
        "unit_test",
        "--indirect-selection",
        "cautious",
        *selection,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-4000:]


def _tables(db: Path, names: list[str]) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return {
            name: connection.sql(f"select * from {name} order by all").fetchall() for name in names
        }


def _dates(db: Path, table: str) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as connection:
        rows = connection.sql(f"select distinct cast(finding_date as varchar) from {table}")
        return {date for (date,) in rows.fetchall()}


def test_incremental_runs_equal_a_full_rebuild(tmp_path):
    write_batch(tmp_path / "lake", "b1", "2024-03-02T00:00:00Z", BATCH_1)
    _dbt(tmp_path, "incremental.duckdb")

    # The marts of this run fail (only their inputs are built): the next run applies its changes.
    write_batch(tmp_path / "lake", "b2", "2024-03-06T00:00:00Z", BATCH_2)
    _dbt(tmp_path, "incremental.duckdb", "--select", "+fct_findings", *LEDGER)

    write_batch(tmp_path / "lake", "b3", "2024-03-09T00:00:00Z", BATCH_3)
    _dbt(tmp_path, "incremental.duckdb")
    # a run with nothing new changes nothing
    _dbt(tmp_path, "incremental.duckdb")

    _dbt(tmp_path, "full.duckdb", "--select", *EVERY_RUN, "--full-refresh")
    incremental = _tables(tmp_path / "incremental.duckdb", INCREMENTAL_MARTS)
    assert incremental == _tables(tmp_path / "full.duckdb", INCREMENTAL_MARTS)

    # the scenarios above are in the marts, so the equality covered them
    current = {row[0]: row for row in incremental["fct_findings"]}
    assert set(current) == {"f1", "f2", "f4", "f5", "f6", "f7"}
    assert _dates(tmp_path / "incremental.duckdb", "agg_findings_daily") == {
        "2024-02-20",
        "2024-03-01",
        "2024-03-05",
        "2024-03-07",
    }
    endpoints = {(row[1], row[11]) for row in incremental["fct_finding_remote_endpoints"]}
    assert endpoints == {
        ("f1", "1.1.1.1"),
        ("f2", "2.2.2.9"),
        ("f5", "5.5.5.6"),
        ("f6", "6.6.6.6"),
        ("f7", "7.7.7.7"),
    }


def test_an_incremental_run_recomputes_only_the_changed_findings(tmp_path):
    write_batch(tmp_path / "lake", "b1", "2024-03-02T00:00:00Z", BATCH_1)
    _dbt(tmp_path, "warehouse.duckdb")
    write_batch(tmp_path / "lake", "b2", "2024-03-06T00:00:00Z", BATCH_2)
    _dbt(tmp_path, "warehouse.duckdb", "--select", "+int_findings_changed", *LEDGER)

    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as connection:
        changed = connection.sql(
            "select finding_id, cast(finding_date as varchar),"
            " cast(previous_finding_date as varchar) from int_findings_changed order by 1"
        ).fetchall()
    assert changed == [
        ("f1", "2024-03-01", "2024-03-01"),
        ("f2", "2024-03-01", "2024-03-01"),
        ("f5", "2024-03-06", "2024-03-03"),
        ("f6", "2024-03-05", None),
    ]
