"""The dbt project on DuckDB, run through its Dagster assets, against a hand-made lake.

Expectations are computed here in plain Python from the same findings, not read back from dbt.
"""

import json
import os
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.lib.environment import get_settings
from tests.helpers.dbt import dbt_resource, parse_project, run_dbt
from tests.helpers.dbt_lake_builder import (
    connection_from,
    finding,
    first_version,
    network_connection,
    port_probe,
    remote_ip,
    severity_label,
    write_batch,
    write_quarantine,
)
from tests.helpers.settings import settings_resources

# Codes of the names used below, written out by hand (the seed is what is under test).
COUNTRY_CODES = {
    "South Korea": "KR",
    "Russia": "RU",
    "Türkiye": "TR",
    "Côte d\u2019Ivoire": "CI",
    "Vietnam": "VN",
    "United States": "US",
}
SAMPLE_API_FORM = {"type": "default", "value": json.dumps({"sample": True})}

BATCH_1 = [
    finding("f1", action=connection_from("1.2.3.4", "South Korea"), count=1),
    finding(
        "f1",
        updated_at="2024-03-01T12:00:00.000Z",
        count=3,
        action=connection_from("5.6.7.9", "Russia"),
    ),
    finding(
        "f2",
        severity=8.9,
        action=port_probe(
            remote_ip("5.6.7.8", "Russia"),
            remote_ip("5.6.7.10", "RUSSIA"),
            remote_ip("9.9.9.9", "Turkiye"),
            remote_ip("2001:db8::1", ""),
        ),
    ),
    finding(
        "f3",
        additional_info=SAMPLE_API_FORM,
        action=connection_from("6.6.6.6", "Russia"),
    ),
    finding(
        "f4",
        finding_type="AttackSequence:IAM/CompromisedCredentials",
        severity=9.0,
        resource_type="AttackSequence",
        detection={
            "sequence": {
                "uid": "s1",
                "endpoints": [{"ip": "7.7.7.7", "location": {"country": "Côte d\u2019Ivoire"}}],
            }
        },
    ),
    finding(
        "f5",
        severity=3.9,
        count=2,
        action={"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": "x.example"}},
    ),
]
BATCH_1.append(dict(BATCH_1[2]))  # an exact re-delivery inside the batch

BATCH_2 = [
    # an older version of f1, delivered late
    finding(
        "f1",
        updated_at="2024-03-01T09:00:00Z",
        count=1,
        action=connection_from("8.8.8.8", "Vietnam"),
    ),
    first_version(
        "f6",
        "2024-03-04T08:00:00.000Z",
        severity=7.0,
        action=network_connection(remote_ip("3.3.3.3", "United States"), direction="OUTBOUND"),
    ),
    dict(BATCH_1[2]),  # f2 delivered again by a later batch
    finding(
        "f5",
        severity=3.9,
        count=5,
        updated_at="2024-03-04T10:00:00.000Z",
        action={"actionType": "DNS_REQUEST", "dnsRequestAction": {"domain": "x.example"}},
    ),
]


def _is_sample(row: dict) -> bool:
    info = json.loads(row["finding_json"])["service"].get("additionalInfo", {})
    value = info.get("value")
    return str(info.get("sample")).lower() == "true" or (
        isinstance(value, str) and json.loads(value).get("sample") is True
    )


def _countries(row: dict) -> set[str]:
    service = json.loads(row["finding_json"])["service"]
    action = service.get("action", {})
    names = []
    if "networkConnectionAction" in action:
        names.append(action["networkConnectionAction"]["remoteIpDetails"]["country"]["countryName"])
    for probe in action.get("portProbeAction", {}).get("portProbeDetails", []):
        names.append(probe["remoteIpDetails"]["country"]["countryName"])
    for endpoint in service.get("detection", {}).get("sequence", {}).get("endpoints", []):
        names.append(endpoint["location"]["country"])
    by_lower = {name.lower(): code for name, code in COUNTRY_CODES.items()}
    by_lower["turkiye"] = "TR"
    return {by_lower[name.lower()] for name in names if name}


def expected_current(rows: list[dict]) -> dict[str, dict]:
    current: dict[str, dict] = {}
    for row in rows:
        best = current.get(row["finding_id"])
        if best is None or (row["updated_at"], row["event_count"] or 0) > (
            best["updated_at"],
            best["event_count"] or 0,
        ):
            current[row["finding_id"]] = row
    return {key: row for key, row in current.items() if not _is_sample(row)}


@pytest.fixture(scope="session")
def dbt_env(tmp_path_factory):
    """A lake and a warehouse in tmp folders, the manifest parsed, the dbt assets imported."""
    root = tmp_path_factory.mktemp("dbt")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GUARDDUTY_LAKE_URI", str(root / "lake"))
        patch.setenv("GUARDDUTY_DUCKDB_PATH", str(root / "warehouse.duckdb"))
        patch.setenv("DBT_TARGET", "duckdb")
        get_settings.cache_clear()
        parse_project()
        from orchestration.defs.transform import assets

        yield {
            "root": root,
            "lake": root / "lake",
            "db": root / "warehouse.duckdb",
            "assets": assets,
        }
    get_settings.cache_clear()


def _materialize(assets_module, partition_key: str) -> None:
    resources = {"dbt": dbt_resource(), **settings_resources()}
    result = dg.materialize(
        [assets_module.dbt_incremental_models], partition_key=partition_key, resources=resources
    )
    assert result.success
    result = dg.materialize([assets_module.dbt_models], resources=resources)
    assert result.success


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def _check_marts(db: Path, rows: list[dict]) -> None:
    current = expected_current(rows)
    facts = {
        row[0]: row[1:]
        for row in _query(
            db, "select finding_id, severity_label, occurrence_count, updated_at from fct_findings"
        )
    }
    assert facts == {
        key: (severity_label(row["severity"]), row["event_count"], row["updated_at"])
        for key, row in current.items()
    }
    versions = {(r["finding_id"], r["updated_at"], r["event_count"]) for r in rows}
    assert _query(db, "select count(*) from stg_guardduty__findings") == [(len(versions),)]

    by_severity: dict[str, list[int]] = {}
    for row in current.values():
        counts = by_severity.setdefault(severity_label(row["severity"]), [0, 0])
        counts[0] += 1
        counts[1] += row["event_count"] or 0
    assert {
        label: [count, occurrences]
        for label, count, occurrences in _query(
            db,
            "select severity_label, sum(finding_count), sum(occurrence_count)"
            " from agg_findings_by_severity group by 1",
        )
    } == by_severity

    by_country: dict[str | None, int] = {}
    for row in current.values():
        for code in _countries(row) or {None}:
            by_country[code] = by_country.get(code, 0) + 1
    assert (
        dict(
            _query(
                db,
                "select country_code, sum(finding_count) from agg_findings_by_country group by 1",
            )
        )
        == by_country
    )
    assert _query(
        db,
        "select count(*) from agg_findings_by_country where country_code is null"
        " and country_name <> 'Unknown'",
    ) == [(0,)]


@pytest.mark.integration
def test_dbt_assets_build_then_pick_up_a_new_batch_incrementally(dbt_env):
    lake, db, assets = dbt_env["lake"], dbt_env["db"], dbt_env["assets"]
    write_batch(lake, "b1", "2024-03-02T00:00:00Z", BATCH_1)
    _materialize(assets, "2024-03-01")
    _check_marts(db, BATCH_1)
    assert _query(db, "select count(*) from ingest_quarantine") == [(0,)]

    write_batch(lake, "b2", "2024-03-05T00:00:00Z", BATCH_2)
    write_quarantine(
        lake, "b2", "2024-03-05T00:00:00Z", [{"source_uri": "file:///bad.json", "reason": "bad"}]
    )
    _materialize(assets, "2024-03-04")
    _check_marts(db, BATCH_1 + BATCH_2)
    assert _query(db, "select source_uri, line_number from ingest_quarantine") == [
        ("file:///bad.json", None)
    ]
    # f1's late older version is staged but did not displace the current one
    assert _query(
        db,
        "select ip_address, country_code from fct_finding_remote_endpoints where finding_id = 'f1'",
    ) == [("5.6.7.9", "RU")]
    assert _query(
        db, "select connection_direction from fct_finding_remote_endpoints where finding_id = 'f6'"
    ) == [("OUTBOUND",)]
    assert _query(db, "select max(last_ingested_at) from int_findings_current") == [
        (datetime(2024, 3, 5),)
    ]


@pytest.mark.integration
def test_each_dbt_invocation_leaves_its_parse_state_where_the_next_one_starts(
    dbt_env, tmp_path, monkeypatch
):
    monkeypatch.setenv("GUARDDUTY_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    # Where dagster-dbt puts its invocation folders and looks for the parse state to start from.
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    write_batch(tmp_path / "lake", "b1", "2024-03-02T00:00:00Z", BATCH_1)
    resources = {"dbt": dbt_resource(), **settings_resources()}

    for partition_key in ("2024-03-01", "2024-03-02"):
        assert dg.materialize(
            [dbt_env["assets"].dbt_incremental_models],
            partition_key=partition_key,
            resources=resources,
        ).success

    invocations = sorted(
        (folder for folder in (tmp_path / "target").iterdir() if folder.is_dir()),
        key=lambda folder: folder.stat().st_mtime,
    )
    assert len(invocations) == 2
    assert "PartialParsingSkipParsing" in (invocations[1] / "dbt.log").read_text()


def test_dbt_unit_tests_pass(tmp_path):
    # Unit tests introspect their inputs' column types: the seeds and an empty build of every model
    # are enough, and much quicker than a build on data. One `dbt build` runs each unit test just
    # before its model; the data tests, which need data, are left out.
    env = {
        **os.environ,
        "DBT_TARGET": "duckdb",
        "GUARDDUTY_DATA_DIR": str(tmp_path),
        "GUARDDUTY_LAKE_URI": str(tmp_path / "lake"),
        "GUARDDUTY_DUCKDB_PATH": str(tmp_path / "warehouse.duckdb"),
        # A session time zone other than UTC: GuardDuty's times without an offset must still be UTC.
        "TZ": "America/New_York",
    }

    result = run_dbt(tmp_path, "build", "--empty", "--exclude-resource-type", "test", env=env)

    assert result.returncode == 0, result.stdout[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    run_results = json.loads((tmp_path / "target" / "run_results.json").read_text())
    unit_tests = {
        entry["unique_id"]: entry["status"]
        for entry in run_results["results"]
        if entry["unique_id"].startswith("unit_test.")
    }
    assert manifest["unit_tests"]
    assert unit_tests == dict.fromkeys(manifest["unit_tests"], "pass")
