"""The soak harness: its oracle applies the contract's rules, and a short seeded soak through the
real definitions ends with every mart equal to the oracle (tools/soak; `make soak` runs 60 days)."""

import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers.finding_fixtures import a_finding, with_service
from tools.soak import oracle
from tools.soak.world import Observation

MOMENT = datetime(2026, 10, 2, 12, tzinfo=UTC)


def observed(finding: dict, archived: bool, hours: float) -> Observation:
    return Observation(finding, archived, MOMENT + timedelta(hours=hours))


def test_the_oracle_takes_the_newest_version_and_the_latest_copy_of_it():
    first = a_finding(id="f-1", updatedAt="2026-10-02T11:00:00Z", severity=8.0)
    newer = with_service(
        a_finding(id="f-1", updatedAt="2026-10-02T11:30:00Z", severity=8.0), count=7
    )
    expected = oracle.expected_findings(
        [
            observed(newer, archived=True, hours=5),  # an API page: archived, seen later
            observed(first, archived=False, hours=6),  # an older version arriving late
            observed(newer, archived=False, hours=1),  # the export copy, seen first
        ]
    )
    row = expected["f-1"].row
    assert (row["occurrence_count"], row["is_archived"], row["severity_label"]) == (7, True, "High")
    assert expected["f-1"].first_archived_at == datetime(2026, 10, 2, 17)


def test_the_oracle_leaves_out_samples_and_names_action_type_none():
    sample = with_service(a_finding(id="sample"), additionalInfo={"sample": "True"})
    runtime = with_service(a_finding(id="runtime"), action={})
    expected = oracle.expected_findings([observed(sample, False, 0), observed(runtime, False, 0)])
    assert list(expected) == ["runtime"]
    assert expected["runtime"].row["action_type"] == "NONE"
    assert expected["runtime"].country_codes == frozenset()


def test_a_difference_names_the_finding_and_the_column():
    expected = oracle.expected_findings([observed(a_finding(id="f-2"), False, 0)])
    actual = [{"finding_id": "f-2", **expected["f-2"].row, "is_archived": True}]
    differences = oracle.check_findings(expected, actual)
    assert [(item.key, item.column) for item in differences] == [("f-2", "is_archived")]
    assert oracle.check_findings(expected, []) == [
        oracle.Difference("fct_findings", "f-2", "(row)", "present", "missing")
    ]


def test_the_oracle_reads_the_finding_type_and_checks_each_daily_mart_by_its_grain():
    crypto = a_finding(id="c", type="CryptoCurrency:EC2/BitcoinTool.B!DNS", severity=8.0)
    probe = a_finding(id="p", type="Recon:EC2/PortProbeUnprotectedPort", severity=2.0)
    expected = oracle.expected_findings([observed(crypto, False, 0), observed(probe, False, 0)])
    assert {
        column: expected["c"].row[column]
        for column in ("threat_purpose", "threat_family", "detection_mechanism", "artifact")
    } == {
        "threat_purpose": "CryptoCurrency",
        "threat_family": "BitcoinTool",
        "detection_mechanism": "B",
        "artifact": "DNS",
    }
    assert expected["p"].row["detection_mechanism"] is None

    day = expected["c"].row["created_at"].date()
    account, region = expected["c"].row["account_id"], expected["c"].row["region"]
    daily = {
        "finding_date": day,
        "account_id": account,
        "region": region,
        "finding_count": 2,
        "occurrence_count": 2 * expected["c"].row["occurrence_count"],
        "critical_finding_count": 0,
        "high_finding_count": 1,
        "medium_finding_count": 0,
        "low_finding_count": 1,
        "max_severity": 8.0,
    }
    marts = {mart: [] for mart in oracle.DAILY_MARTS} | {"agg_findings_by_country": []}
    marts["agg_findings_daily"] = [{**daily, "high_finding_count": 0}]
    differences = [
        (item.mart, item.column)
        for item in oracle.check_daily_aggregates(expected, marts)
        if item.mart == "agg_findings_daily"
    ]
    assert differences == [("agg_findings_daily", "high_finding_count")]


def test_the_oracle_lists_each_remote_endpoint_with_its_canonical_address_and_integer_asn():
    probes = {
        "actionType": "PORT_PROBE",
        "portProbeAction": {
            "portProbeDetails": [
                {
                    "localPortDetails": {"port": 22},
                    "remoteIpDetails": {
                        "ipAddressV6": "2001:DB8:0:0:0:0:0:1",
                        "country": {"countryName": "Germany"},
                        "organization": {"asn": 43350.0},
                    },
                },
                {"localPortDetails": {"port": 80}, "remoteIpDetails": {}},
            ]
        },
    }
    finding = with_service(a_finding(id="probed"), action=probes)
    expected = oracle.expected_findings([observed(finding, False, 0)])
    endpoints = expected["probed"].endpoints
    assert list(endpoints) == [("port_probe", 1)]
    assert expected["probed"].country_codes == {"DE"}
    assert {
        column: endpoints[("port_probe", 1)][column]
        for column in ("ip_address", "ip_version", "country_code", "asn", "local_port")
    } == {
        "ip_address": "2001:db8::1",
        "ip_version": 6,
        "country_code": "DE",
        "asn": "43350",
        "local_port": 22,
    }
    built = [
        {"finding_id": "probed", "endpoint_source": "port_probe", "endpoint_ordinal": 1}
        | {**endpoints[("port_probe", 1)], "asn": "43350.0"}
    ]
    assert [(item.key, item.column) for item in oracle.check_endpoints(expected, built)] == [
        ("('probed', 'port_probe', 1)", "asn")
    ]


def test_the_top_asns_rank_by_findings_then_occurrences_then_asn():
    def calling(finding_id: str, asn: str, count: int) -> dict:
        action = {
            "actionType": "AWS_API_CALL",
            "awsApiCallAction": {
                "remoteIpDetails": {"ipAddressV4": "198.51.100.7", "organization": {"asn": asn}}
            },
        }
        return with_service(a_finding(id=finding_id), action=action, count=count)

    expected = oracle.expected_findings(
        [observed(calling(*args), False, 0) for args in [("a", "64500", 1), ("b", "64501", 5)]]
    )
    marts = {"agg_top_asns": [], "agg_top_remote_ips": []}
    wanted = {
        (item.key, item.column, item.expected)
        for item in oracle.check_top_remote(expected, marts)
        if item.mart == "agg_top_asns"
    }
    assert wanted == {("64501", "(row)", "present"), ("64500", "(row)", "present")}
    counts = {"finding_count": 1, "endpoint_ip_count": 1}
    # Ranked by ASN alone: the one with more occurrences must come first.
    marts["agg_top_asns"] = [
        {"asn": "64500", "occurrence_count": 1, "asn_rank": 1, **counts},
        {"asn": "64501", "occurrence_count": 5, "asn_rank": 2, **counts},
    ]
    differences = [
        (item.key, item.column, item.expected)
        for item in oracle.check_top_remote(expected, marts)
        if item.mart == "agg_top_asns"
    ]
    assert differences == [("64500", "asn_rank", 2), ("64501", "asn_rank", 1)]


def test_one_alert_per_high_finding_seen_unarchived_and_none_for_a_suppressed_one():
    high = a_finding(id="high", severity=8.0)
    suppressed = a_finding(id="suppressed", severity=8.0)
    expected = oracle.expected_findings(
        [observed(high, False, 0), observed(high, True, 5), observed(suppressed, True, 5)]
    )
    assert oracle.check_alerts(expected, [{"finding_id": "high"}]) == []
    differences = oracle.check_alerts(expected, [{"finding_id": "suppressed"}])
    assert {(item.key, item.expected, item.actual) for item in differences} == {
        ("high", "present", "missing"),
        ("suppressed", "absent", "present"),
    }


@pytest.mark.integration
def test_two_simulated_days_through_the_real_definitions_match_the_oracle(tmp_path):
    soak = subprocess.run(
        [sys.executable, "-m", "tools.soak", "--days", "2", "--seed", "7", "--workdir", tmp_path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert soak.returncode == 0, soak.stdout[-6000:] + soak.stderr[-3000:]
    assert "Soak PASSED: 2 days checked, 0 differences" in soak.stdout
    for scenario in (
        "crash while reading the source",
        "crash between the rows and the ledger commit",
        "dbt partition backfill during an ingest",
        "two ingest runs racing",
    ):
        assert f"{scenario}: exercised" in soak.stdout, scenario


@pytest.mark.integration
def test_the_warm_dbt_client_runs_dbt_with_its_callers_arguments_folder_environment_and_status(
    tmp_path,
):
    from tools.soak.warm_dbt import WarmDbt

    warm = WarmDbt(tmp_path)
    # Started by a process that ignores SIGTERM (as pytest's may be, after some tests), it must
    # still stop when asked, not wait for a kill.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        warm.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    server = warm.process
    try:
        config = subprocess.run(
            [warm.executable, "debug", "--config-dir"],
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "DBT_PROFILES_DIR": str(tmp_path / "profiles")},
            capture_output=True,
            text=True,
            check=False,
        )
        unknown = subprocess.run(
            [warm.executable, "no-such-command"], capture_output=True, text=True, check=False
        )
    finally:
        warm.stop()
    assert config.returncode == 0 and f"xdg-open {tmp_path / 'profiles'}" in config.stdout
    assert unknown.returncode == 2 and "No such command 'no-such-command'" in unknown.stderr
    assert not warm.socket_path.parent.exists()
    assert server.returncode == -signal.SIGTERM
