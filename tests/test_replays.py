"""Replays: the marts are the same however often and in whatever order versions arrive, and
re-running the pipeline on an unchanged source changes no mart."""

import copy
import random
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.lib.ingest.runner import run_ingest
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.dbt import dbt_resource, parse_project
from tests.helpers.finding_fixtures import a_finding, eventbridge_event, jsonl_gz, to_bytes
from tests.helpers.settings import settings_resources

# Ingest and dbt end to end, over and over: left out of `make test-fast`.
pytestmark = pytest.mark.integration

MARTS = [
    "fct_findings",
    "fct_finding_remote_endpoints",
    "agg_findings_by_severity",
    "agg_findings_by_action_type",
    "agg_findings_by_country",
    "agg_findings_daily",
    "agg_top_remote_ips",
]
# Columns that record when something was ingested, not what was found.
INGEST_COLUMNS = {"ingested_at"}
COUNTRIES = ["Russia", "South Korea", "Vietnam", "Brazil", ""]


def versions_of(number: int) -> list[dict]:
    """Three versions of one finding: growing count and updatedAt, a new remote actor each time."""
    base = a_finding(id=f"finding-{number}", createdAt=f"2026-10-{1 + number:02d}T08:00:00.000Z")
    versions = []
    for version in range(3):
        finding = copy.deepcopy(base)
        finding["updatedAt"] = f"2026-10-{1 + number + version:02d}T09:{version:02d}:00.000Z"
        finding["severity"] = [3.9, 7.0, 9.0][version] if number % 2 else 5.0
        service = finding["service"]
        service["count"] = 1 + version * 4
        service["archived"] = number == 3 and version == 2
        remote = service["action"]["networkConnectionAction"]["remoteIpDetails"]
        remote["ipAddressV4"] = f"198.51.100.{number * 3 + version}"
        remote["country"] = {"countryName": COUNTRIES[(number + version) % len(COUNTRIES)]}
        versions.append(finding)
    return versions


ALL_VERSIONS = [version for number in range(8) for version in versions_of(number)]
SAMPLE = a_finding(id="sample-1")
SAMPLE["service"]["additionalInfo"] = {"sample": True}


def write_objects(root: Path, deliveries: list[dict], tag: str) -> None:
    """Half the deliveries as EventBridge events, half in one native export object."""
    root.mkdir(parents=True, exist_ok=True)
    events, lines = deliveries[::2], deliveries[1::2]
    for index, finding in enumerate(events):
        (root / f"{tag}-event-{index:03d}.json").write_bytes(to_bytes(eventbridge_event(finding)))
    export = root / "AWSLogs/012345678901/GuardDuty/eu-west-1/2026/10/31"
    export.mkdir(parents=True, exist_ok=True)
    (export / f"{tag}.jsonl.gz").write_bytes(jsonl_gz(lines))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Run ingest and the dbt assets on a scenario's own lake and warehouse."""
    parse_project()
    from orchestration.defs.transform import assets

    resources = {"dbt": dbt_resource()}

    def run(root: Path) -> None:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("GUARDDUTY_LAKE_URI", str(root / "lake"))
            patch.setenv("GUARDDUTY_DUCKDB_PATH", str(root / "warehouse.duckdb"))
            patch.setenv("DBT_TARGET", "duckdb")
            run_ingest(LocalStore(root / "raw"), connect_lake(str(root / "lake")))
            scenario_resources = {**resources, **settings_resources()}
            partitioned = dg.materialize(
                [assets.dbt_incremental_models],
                partition_key="2026-10-31",
                resources=scenario_resources,
            )
            rest = dg.materialize([assets.dbt_models], resources=scenario_resources)
            assert partitioned.success and rest.success

    return run


def marts(root: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as connection:
        tables = {}
        for mart in MARTS:
            columns = [
                name
                for (name,) in connection.execute(
                    "select column_name from information_schema.columns "
                    "where table_name = ? order by ordinal_position",
                    [mart],
                ).fetchall()
                if name not in INGEST_COLUMNS
            ]
            quoted = ", ".join(f'"{name}"' for name in columns)
            tables[mart] = connection.execute(
                f"select {quoted} from {mart} order by all"
            ).fetchall()
        return tables


def test_replays_and_reruns_leave_the_marts_of_one_ordered_delivery(pipeline, tmp_path):
    ordered = tmp_path / "ordered"
    write_objects(ordered / "raw", [*ALL_VERSIONS, SAMPLE], "once")
    pipeline(ordered)
    expected = marts(ordered)
    assert len(expected["fct_findings"]) == 8

    pipeline(ordered)
    assert marts(ordered) == expected, "re-running on an unchanged source changed a mart"

    replayed = tmp_path / "replayed"
    deliveries = [*ALL_VERSIONS * 3, SAMPLE, SAMPLE]
    random.Random(20261128).shuffle(deliveries)  # noqa: S311 (a reproducible order, not a secret)
    half = len(deliveries) // 2
    for run, part in enumerate((deliveries[:half], deliveries[half:])):
        write_objects(replayed / "raw", part, f"run{run}")
        pipeline(replayed)
    assert marts(replayed) == expected, "three deliveries in random order changed a mart"
