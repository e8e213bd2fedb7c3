"""The compliance marts on DuckDB against a hand-made lake, with expectations computed in Python.

One `dbt build` of the compliance marts and everything upstream (their dbt unit tests included)
runs once for the module, in a temporary warehouse with its own dbt target folder.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.helpers.dbt import run_dbt
from tests.helpers.dbt_lake_builder import (
    connection_from,
    finding,
    first_version,
    severity_label,
    write_batch,
)

# Every test reads one full dbt build: left out of `make test-fast`.
pytestmark = pytest.mark.integration

AS_OF = datetime(2024, 3, 20)
TARGET_DAYS = {"Critical": 1, "High": 1, "Medium": 7, "Low": 30}
SAMPLE = {"sample": True}
OTHER_ACCOUNT = "444455556666"


def archived(row: dict, is_archived: bool = True) -> dict:
    """The row with service.archived set, as GuardDuty reports an archived finding."""
    body = json.loads(row["finding_json"])
    body["service"]["archived"] = is_archived
    return {**row, "finding_json": json.dumps(body)}


def captured(row: dict, at: str, source_uri: str) -> dict:
    """The copy of a version an API backfill page captured at `at`."""
    return {**row, "observed_at": datetime.fromisoformat(at), "source_uri": source_uri}


def delivered(rows: list[dict]) -> list[dict]:
    """Copies without a capture time observed when updated, as an EventBridge event is."""
    return [{"observed_at": row["updated_at"], **row} for row in rows]


BATCH_1 = [
    # archived in its second version, 12 h after creation
    finding("a", severity=7.5, action=connection_from("5.6.7.8", "Russia", asn="64501")),
    archived(
        finding(
            "a",
            severity=7.5,
            updated_at="2024-03-01T12:00:00Z",
            count=2,
            action=connection_from("5.6.7.8", "Russia", asn="64501"),
        )
    ),
    # archived in its first (only) version
    archived(finding("b", severity=5.0, updated_at="2024-03-01T10:00:00Z")),
    # archived after 2 days, then unarchived
    archived(finding("c", severity=2.0, updated_at="2024-03-03T10:00:00Z")),
    finding("c", severity=2.0, updated_at="2024-03-04T10:00:00Z", count=2),
    # never archived, Critical, well past its target
    first_version(
        "d",
        "2024-03-10T00:00:00Z",
        severity=9.5,
        action=connection_from("5.6.7.9", "Russia", asn="64501"),
    ),
    # the newest version of e arrives first; its older versions come in the next batch
    archived(
        finding(
            "e",
            severity=7.0,
            updated_at="2024-03-06T10:00:00Z",
            count=3,
            action=connection_from("8.8.8.8", "Vietnam", asn="64502"),
        )
    ),
    # a sample in an account and Region seen nowhere else
    archived(
        finding(
            "s",
            account_id="999988887777",
            region="eu-west-1",
            additional_info=SAMPLE,
            action=connection_from("6.6.6.6", "Türkiye", asn="64503"),
        )
    ),
    # another account, an older finding
    first_version(
        "f",
        "2024-02-01T00:00:00Z",
        account_id=OTHER_ACCOUNT,
        region="ap-south-1",
        action=connection_from("5.6.7.10", "Russia", asn="64501"),
    ),
]
EXPORT_KEY = "file:///src/us-east-1/2024/03/05/export.jsonl.gz"
BATCH_2 = [
    archived(finding("e", severity=7.0, updated_at="2024-03-03T10:00:00Z", count=2)),
    finding("e", severity=7.0, updated_at="2024-03-02T10:00:00Z", count=1),
    # one version, two copies: the export's (never archived, its key sorting after the API's) and
    # the API backfill's archived one, captured 20 h after creation
    {
        **finding(
            "g", severity=8.0, created_at="2024-03-05T00:00:00Z", updated_at="2024-03-05T00:00:00Z"
        ),
        "source_uri": EXPORT_KEY,
    },
    captured(
        archived(
            first_version(
                "g",
                "2024-03-05T00:00:00Z",
                severity=8.0,
            )
        ),
        "2024-03-05 20:00:00",
        "file:///src/guardduty-api/page-1.json",
    ),
    # archived 11 days after its only update: the archive time is the capture, not updatedAt
    finding(
        "h", severity=5.0, created_at="2024-03-01T00:00:00Z", updated_at="2024-03-01T00:00:00Z"
    ),
    captured(
        archived(
            first_version(
                "h",
                "2024-03-01T00:00:00Z",
                severity=5.0,
            )
        ),
        "2024-03-12 00:00:00",
        "file:///src/guardduty-api/page-2.json",
    ),
    # archived within its target, then reopened and left open: never within target
    captured(
        archived(
            first_version(
                "r",
                "2024-03-01T00:00:00Z",
                severity=7.5,
            )
        ),
        "2024-03-01 05:00:00",
        "file:///src/guardduty-api/page-3.json",
    ),
    captured(
        finding(
            "r", severity=7.5, created_at="2024-03-01T00:00:00Z", updated_at="2024-03-01T00:00:00Z"
        ),
        "2024-03-02 00:00:00",
        "file:///src/guardduty-api/page-4.json",
    ),
]
BATCH_1, BATCH_2 = delivered(BATCH_1), delivered(BATCH_2)
ALL_ROWS = BATCH_1 + BATCH_2


def _service(row: dict) -> dict:
    return json.loads(row["finding_json"])["service"]


def _is_sample(row: dict) -> bool:
    return _service(row).get("additionalInfo", {}).get("sample") is True


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _archive_transitions(copies: list[dict]) -> list[tuple[datetime, bool]]:
    """(first observation, new state) of each change; copies observed together count as archived."""
    states: dict[datetime, bool] = {}
    for copy in copies:
        states[copy["observed_at"]] = states.get(copy["observed_at"], False) or bool(
            _service(copy)["archived"]
        )
    transitions, state = [], False
    for observed_at in sorted(states):
        if states[observed_at] != state:
            state = states[observed_at]
            transitions.append((observed_at, state))
    return transitions


def expected_archive_times(rows: list[dict], as_of: datetime) -> dict[str, dict]:
    """fct_finding_archive_times from first principles: the copies observed by as_of, the current
    version and its latest copy, archive transitions by observation time, targets."""
    copies: dict[str, list[dict]] = {}
    for row in rows:
        if row["observed_at"] <= as_of and row["updated_at"] <= as_of:
            copies.setdefault(row["finding_id"], []).append(row)
    expected = {}
    for finding_id, finding_copies in copies.items():
        current = max(
            finding_copies,
            key=lambda c: (
                c["updated_at"],
                c["event_count"] or 0,
                c["observed_at"],
                bool(_service(c)["archived"]),
            ),
        )
        if _is_sample(current) or current["created_at"] > as_of:
            continue
        transitions = _archive_transitions(finding_copies)
        archives = [observed_at for observed_at, state in transitions if state]
        is_archived = bool(_service(current)["archived"])
        archived_at = archives[-1] if is_archived else None
        label = severity_label(current["severity"])
        target = TARGET_DAYS[label] * 24.0
        age = _hours(as_of - current["created_at"])
        to_archive = _hours(archived_at - current["created_at"]) if archived_at else None
        expected[finding_id] = {
            "severity_label": label,
            "first_archived_at": archives[0] if archives else None,
            "hours_to_archive": to_archive,
            "is_currently_archived": is_archived,
            "was_unarchived": bool(archives) and not is_archived,
            "target_hours": target,
            "is_within_target": (
                to_archive <= target if is_archived else False if age > target else None
            ),
            "is_open_past_target": not is_archived and age > target,
        }
    return expected


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """The compliance marts built once from BATCH_1 + BATCH_2 with as_of pinned."""
    work = tmp_path_factory.mktemp("compliance")
    lake = work / "lake"
    write_batch(lake, "b1", "2024-03-07T00:00:00Z", BATCH_1)
    write_batch(lake, "b2", "2024-03-08T00:00:00Z", BATCH_2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GUARDDUTY_LAKE_URI", str(lake))
        patch.setenv("GUARDDUTY_DUCKDB_PATH", str(work / "warehouse.duckdb"))
        patch.setenv("DBT_TARGET", "duckdb")
        result = run_dbt(
            work,
            "build",
            "--select",
            "+path:models/marts/compliance",
            # the other marts the review report reads
            "agg_findings_by_severity",
            "agg_findings_by_finding_type",
            "agg_findings_by_country",
            "--vars",
            json.dumps({"as_of": AS_OF.isoformat(sep=" ")}),
        )
        assert result.returncode == 0, result.stdout[-4000:]
        yield {"db": work / "warehouse.duckdb", "work": work, "stdout": result.stdout}


def _query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def test_build_passes_data_and_unit_tests(warehouse):
    run_results = json.loads((warehouse["work"] / "target" / "run_results.json").read_text())
    unit_tests = [r for r in run_results["results"] if r["unique_id"].startswith("unit_test.")]
    compliance_unit_tests = {
        r["unique_id"].rsplit(".", 1)[-1] for r in unit_tests if "archive" in r["unique_id"]
    }
    assert {
        "archive_transitions_in_observation_order",
        "archive_times_from_observed_transitions_as_of",
        "archive_times_target_boundaries",
        "archive_times_targets_follow_the_vars",
        "archive_compliance_counts_every_label",
    } <= compliance_unit_tests
    assert all(r["status"] in ("pass", "success") for r in run_results["results"])


def test_archive_times_match_python(warehouse):
    columns = (
        "severity_label, first_archived_at, hours_to_archive, is_currently_archived, "
        "was_unarchived, target_hours, is_within_target, is_open_past_target"
    )
    rows = _query(warehouse["db"], f"select finding_id, {columns} from fct_finding_archive_times")
    names = [name.strip() for name in columns.split(",")]
    actual = {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}
    assert actual == expected_archive_times(ALL_ROWS, AS_OF)


def test_archive_time_edge_cases(warehouse):
    actual = {
        row[0]: row[1:]
        for row in _query(
            warehouse["db"],
            "select finding_id, hours_to_archive, is_currently_archived, was_unarchived,"
            " is_within_target, is_open_past_target from fct_finding_archive_times",
        )
    }
    assert actual["b"] == (0.0, True, False, True, False)  # archived in the first version
    assert actual["c"] == (None, False, True, None, False)  # reopened, Low not yet due
    assert actual["d"] == (None, False, False, False, True)  # never archived, past target
    assert actual["e"][:2] == (48.0, True)  # first archived version arrived last
    assert "s" not in actual  # samples excluded
    assert actual["g"] == (20.0, True, False, True, False)  # the API's archived copy holds
    assert actual["h"] == (264.0, True, False, False, False)  # archived when captured
    assert actual["r"] == (None, False, True, False, True)  # reopened: open past target
    assert _query(
        warehouse["db"], "select distinct evaluated_at from fct_finding_archive_times"
    ) == [(AS_OF,)]


def test_compliance_by_severity_and_open_past_target(warehouse):
    expected = expected_archive_times(ALL_ROWS, AS_OF)
    by_label = {
        row[0]: row[1:]
        for row in _query(
            warehouse["db"],
            "select severity_label, finding_count, archived_within_target_count,"
            " open_past_target_count from agg_archive_compliance_by_severity",
        )
    }
    assert set(by_label) == set(TARGET_DAYS)
    for label in TARGET_DAYS:
        of_label = [e for e in expected.values() if e["severity_label"] == label]
        assert by_label[label] == (
            len(of_label),
            sum(1 for e in of_label if e["is_within_target"]),
            sum(1 for e in of_label if e["is_open_past_target"]),
        )
    open_past = _query(
        warehouse["db"],
        "select finding_id, severity_label, age_hours, target_hours"
        " from fct_findings_open_past_target",
    )
    assert {row[0] for row in open_past} == {
        key for key, e in expected.items() if e["is_open_past_target"]
    }
    assert ("d", "Critical", 240.0, 24.0) in open_past


def test_coverage_lists_every_account_and_region_including_sample_only_ones(warehouse):
    rows = {
        (row[0], row[1]): row[2:]
        for row in _query(
            warehouse["db"],
            "select account_id, region, finding_count, sample_finding_count,"
            " latest_finding_updated_at, days_since_latest_finding"
            " from agg_account_region_coverage",
        )
    }
    assert rows[("111122223333", "us-east-1")] == (8, 0, datetime(2024, 3, 10), 10.0)
    assert rows[(OTHER_ACCOUNT, "ap-south-1")] == (1, 0, datetime(2024, 2, 1), 48.0)
    assert rows[("999988887777", "eu-west-1")] == (0, 1, None, None)


def test_first_seen_countries_and_asns_name_the_first_finding(warehouse):
    countries = _query(
        warehouse["db"],
        "select account_id, country_code, first_finding_id, first_seen_at, finding_count"
        " from agg_first_seen_remote_countries order by 1, 2",
    )
    assert countries == [
        ("111122223333", "RU", "a", datetime(2024, 3, 1, 10), 2),
        ("111122223333", "VN", "e", datetime(2024, 3, 1, 10), 1),
        (OTHER_ACCOUNT, "RU", "f", datetime(2024, 2, 1), 1),
    ]
    asns = _query(
        warehouse["db"],
        "select account_id, asn, first_finding_id, finding_count"
        " from agg_first_seen_remote_asns order by 1, 2",
    )
    assert asns == [
        ("111122223333", "64501", "a", 2),
        ("111122223333", "64502", "e", 1),
        (OTHER_ACCOUNT, "64501", "f", 1),
    ]


def test_review_report_renders_from_the_built_marts(warehouse):
    from orchestration.lib.audit.review_report import build_report, open_duckdb_marts
    from orchestration.lib.lake.catalog import connect_lake
    from orchestration.lib.lake.store import LocalStore

    work = warehouse["work"]
    data, keys = build_report(
        lambda: open_duckdb_marts(warehouse["db"]),
        lake=connect_lake(str(work / "lake")),
        report_store=LocalStore(work / "reports"),
        month=None,
        run_id="no-such-run",
        dbt_target_dir=work / "target",
    )
    expected = expected_archive_times(ALL_ROWS, AS_OF)
    assert data.month.label == "2024-03"
    assert {row[0] for row in data.new_critical_high.rows} == {
        key for key, e in expected.items() if e["severity_label"] in ("Critical", "High")
    }
    assert {row[0] for row in data.open_past_target.rows} == {
        key for key, e in expected.items() if e["is_open_past_target"]
    }
    assert data.dbt_tests.results and not data.dbt_tests.problems
    assert (work / "reports" / keys[-1]).read_text().count('id="evidence"') == 1


def test_as_of_must_be_a_timestamp(warehouse, monkeypatch):
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(warehouse["work"] / "compile.duckdb"))
    result = run_dbt(
        warehouse["work"],
        "compile",
        "--select",
        "fct_finding_archive_times",
        "--vars",
        json.dumps({"as_of": "2024-03-01'); drop table x; --"}),
    )
    assert result.returncode != 0
    assert "is not a UTC timestamp" in result.stdout
