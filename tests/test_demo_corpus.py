"""Specifications of the demo corpus generator, checked by reading the written files back.

The builders it shares with other tests are specified in test_demo_corpus_builders.py.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from orchestration.lib.environment import PROJECT_ROOT
from tools.demo_corpus import (
    ACTION_TYPES,
    ALL_LAYOUTS,
    COUNTRY_CODES_BY_NAME,
    LAYOUT_EVENTBRIDGE,
    LAYOUT_FINDINGS_API,
    LAYOUT_GET_FINDINGS,
    LAYOUT_NATIVE_EXPORT,
    CorpusSummary,
    generate_demo_corpus,
)

END_DATE = date(2025, 6, 30)
FINDINGS = 1500
SEED = 11

KEY_PATTERNS = {
    LAYOUT_EVENTBRIDGE: re.compile(
        r"^eventbridge/\d{4}/\d{2}/\d{2}/\d{2}/[0-9a-f-]{36}\.json(\.gz)?$"
    ),
    LAYOUT_NATIVE_EXPORT: re.compile(
        r"^AWSLogs/\d{12}/GuardDuty/[a-z]{2}-[a-z]+-\d/\d{4}/\d{2}/\d{2}/[0-9a-f-]{36}\.jsonl\.gz$"
    ),
    LAYOUT_FINDINGS_API: re.compile(
        r"^findings-api/\d{12}/[a-z]{2}-[a-z]+-\d/[0-9a-f-]{36}\.json(\.gz)?$"
    ),
    LAYOUT_GET_FINDINGS: re.compile(
        r"^get-findings/\d{12}/[a-z]{2}-[a-z]+-\d/[0-9a-f-]{36}\.json$"
    ),
}


@dataclass
class Record:
    """One finding as read back from the corpus, in camelCase whatever its written casing."""

    layout: str
    key: str
    line: int | None
    finding: dict
    pascal: bool = False
    event_time: str | None = None

    @property
    def version(self) -> tuple[str, str, int]:
        return (self.finding["id"], self.finding["updatedAt"], self.finding["service"]["count"])


@dataclass
class Corpus:
    root: Path
    summary: CorpusSummary
    records: list[Record]
    objects: dict[str, bytes]  # key -> decompressed bytes
    non_findings: list[str]  # keys of valid objects that are not findings


def _layout_of(key: str) -> str:
    for layout, pattern in KEY_PATTERNS.items():
        if pattern.match(key):
            return layout
    raise AssertionError(f"object key {key} matches no layout")


def _camel_view(pascal: dict) -> dict:
    """Just enough of a PascalCase finding, in camelCase, to compare versions."""
    service = pascal["Service"]
    action = service.get("Action")
    return {
        "id": pascal["Id"],
        "accountId": pascal["AccountId"],
        "region": pascal["Region"],
        "type": pascal["Type"],
        "createdAt": pascal["CreatedAt"],
        "updatedAt": pascal["UpdatedAt"],
        "severity": pascal["Severity"],
        "service": {
            "count": service["Count"],
            "archived": service["Archived"],
            "eventLastSeen": service["EventLastSeen"],
            "additionalInfo": json.loads(service["AdditionalInfo"]["Value"]),
            **({"action": {"actionType": action.get("ActionType")}} if action is not None else {}),
        },
    }


def read_corpus(root: Path, summary: CorpusSummary) -> Corpus:
    """Parse every object under ``root`` without using the generator's code."""
    records: list[Record] = []
    objects: dict[str, bytes] = {}
    non_findings: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = path.relative_to(root).as_posix()
        layout = _layout_of(key)
        raw = path.read_bytes()
        if key.endswith(".gz"):
            raw = gzip.decompress(raw)
        objects[key] = raw
        if layout == LAYOUT_NATIVE_EXPORT:
            for number, line in enumerate(raw.splitlines(), start=1):
                records.append(Record(layout, key, number, json.loads(line)))
            continue
        document = json.loads(raw)
        if layout == LAYOUT_EVENTBRIDGE:
            if document["detail-type"] != "GuardDuty Finding":
                non_findings.append(key)
                continue
            records.append(
                Record(layout, key, None, document["detail"], event_time=document["time"])
            )
        elif layout == LAYOUT_FINDINGS_API:
            for finding in document if isinstance(document, list) else [document]:
                records.append(Record(layout, key, None, finding))
        else:
            pascal = "Findings" in document
            findings = document["Findings"] if pascal else document["findings"]
            if not findings:
                non_findings.append(key)
            for finding in findings:
                view = _camel_view(finding) if pascal else finding
                records.append(Record(layout, key, None, view, pascal=pascal))
    return Corpus(root, summary, records, objects, non_findings)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("demo_corpus")
    summary = generate_demo_corpus(root, findings=FINDINGS, seed=SEED, end_date=END_DATE, days=30)
    return read_corpus(root, summary)


def _camel_records(corpus: Corpus) -> list[Record]:
    return [record for record in corpus.records if not record.pascal]


def _actions(corpus: Corpus) -> list[tuple[dict, dict]]:
    return [
        (record.finding, record.finding["service"]["action"])
        for record in _camel_records(corpus)
        if record.finding["service"].get("action")
    ]


def _remote_details(finding: dict) -> list[dict]:
    action = finding["service"].get("action") or {}
    details = []
    for key, value in action.items():
        if key == "actionType":
            continue
        if "remoteIpDetails" in value:
            details.append(value["remoteIpDetails"])
        for probe in value.get("portProbeDetails", []):
            details.append(probe["remoteIpDetails"])
    return details


# ---------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_and_end_date_write_byte_identical_files_even_across_processes(tmp_path):
    first, second, other_seed = tmp_path / "first", tmp_path / "second", tmp_path / "other"
    generate_demo_corpus(first, findings=400, seed=3, end_date=END_DATE)
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    command = [
        sys.executable, "-m", "tools.demo_corpus", "--out", str(second),
        "--findings", "400", "--seed", "3", "--end-date", END_DATE.isoformat(),
    ]  # fmt: skip
    completed = subprocess.run(
        command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=True
    )
    generate_demo_corpus(other_seed, findings=400, seed=4, end_date=END_DATE)

    assert _tree_digest(first) == _tree_digest(second)
    assert _tree_digest(first) != _tree_digest(other_seed)
    assert completed.stdout.count("\n") == 1
    assert "400 versions" in completed.stdout


def test_the_end_date_bounds_every_timestamp(corpus):
    end = datetime(2025, 7, 1, tzinfo=UTC)
    start = datetime(2025, 6, 1, tzinfo=UTC)
    for record in _camel_records(corpus):
        created = datetime.fromisoformat(record.finding["createdAt"].replace("Z", "+00:00"))
        updated = datetime.fromisoformat(record.finding["updatedAt"].replace("Z", "+00:00"))
        assert start <= created <= updated < end


# ---------------------------------------------------------------------------------------------
# Layouts


def test_every_layout_is_written_with_its_documented_key_shape(corpus):
    layouts = Counter(_layout_of(key) for key in corpus.objects)
    assert set(layouts) == set(ALL_LAYOUTS)

    eventbridge = [key for key in corpus.objects if _layout_of(key) == LAYOUT_EVENTBRIDGE]
    assert any(key.endswith(".json.gz") for key in eventbridge)
    pretty = [key for key in eventbridge if corpus.objects[key].startswith(b"{\n  ")]
    assert pretty
    assert len(pretty) < len(eventbridge)

    native = Counter(r.key for r in corpus.records if r.layout == LAYOUT_NATIVE_EXPORT)
    assert max(native.values()) >= 30, "native export objects hold many findings each"

    api_documents = [
        json.loads(corpus.objects[key])
        for key in corpus.objects
        if _layout_of(key) == LAYOUT_FINDINGS_API
    ]
    assert any(isinstance(document, list) and len(document) > 1 for document in api_documents)
    assert any(isinstance(document, dict) and "id" in document for document in api_documents)

    pages = [
        json.loads(corpus.objects[key])
        for key in corpus.objects
        if _layout_of(key) == LAYOUT_GET_FINDINGS
    ]
    assert any(page.get("Findings") for page in pages)
    assert any(page.get("findings") for page in pages)
    assert {"findings": []} in pages


def test_native_export_objects_hold_one_account_and_region_each(corpus):
    for record in corpus.records:
        if record.layout == LAYOUT_NATIVE_EXPORT:
            _, account, _, region, *_ = record.key.split("/")
            assert (record.finding["accountId"], record.finding["region"]) == (account, region)


def test_valid_non_findings_are_written_for_the_reader_to_skip(corpus):
    detail_types = {
        json.loads(corpus.objects[key]).get("detail-type")
        for key in corpus.non_findings
        if key.startswith("eventbridge/")
    }
    assert detail_types == {
        "GuardDuty Runtime Protection Unhealthy",
        "GuardDuty Malware Protection Object Scan Result",
    }
    assert len(corpus.non_findings) == 3  # the two events and the empty page


def test_layouts_parameter_restricts_output_and_lines_per_object_caps_objects(tmp_path):
    summary = generate_demo_corpus(
        tmp_path, findings=600, seed=5, end_date=END_DATE, layouts=(LAYOUT_NATIVE_EXPORT,),
        lines_per_object=40,
    )  # fmt: skip
    corpus = read_corpus(tmp_path, summary)

    assert {_layout_of(key) for key in corpus.objects} == {LAYOUT_NATIVE_EXPORT}
    assert max(Counter(record.key for record in corpus.records).values()) <= 40
    assert len({record.version for record in corpus.records}) == 600
    assert summary.objects_by_layout == {LAYOUT_NATIVE_EXPORT: len(corpus.objects)}


def test_eventbridge_only_corpus_is_one_event_per_object(tmp_path):
    summary = generate_demo_corpus(
        tmp_path, findings=200, seed=5, end_date=END_DATE, layouts=[LAYOUT_EVENTBRIDGE]
    )
    corpus = read_corpus(tmp_path, summary)

    assert {_layout_of(key) for key in corpus.objects} == {LAYOUT_EVENTBRIDGE}
    assert len(corpus.records) + 2 == len(corpus.objects) == summary.objects_written


def test_unknown_layout_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="layouts"):
        generate_demo_corpus(tmp_path, findings=10, end_date=END_DATE, layouts=("parquet",))


# ---------------------------------------------------------------------------------------------
# Finding content


def test_every_action_type_is_present_with_its_remote_endpoint_shape(corpus):
    actions = _actions(corpus)
    by_type = defaultdict(list)
    for finding, action in actions:
        by_type[action["actionType"]].append((finding, action))
    assert set(by_type) == set(ACTION_TYPES) - {"NONE"}

    directions = {
        (a["networkConnectionAction"]["connectionDirection"], f["service"]["resourceRole"])
        for f, a in by_type["NETWORK_CONNECTION"]
    }
    assert {("INBOUND", "TARGET"), ("OUTBOUND", "ACTOR")} <= directions

    probe_countries = [
        {
            d["remoteIpDetails"]["country"]["countryName"]
            for d in a["portProbeAction"]["portProbeDetails"]
        }
        for _, a in by_type["PORT_PROBE"]
    ]
    assert max(len(countries) for countries in probe_countries) >= 2

    api_calls = [a["awsApiCallAction"] for _, a in by_type["AWS_API_CALL"]]
    remote_callers = [call for call in api_calls if call["callerType"] == "Remote IP"]
    domain_callers = [call for call in api_calls if call["callerType"] == "Domain"]
    assert remote_callers
    assert all("remoteIpDetails" in call for call in remote_callers)
    assert domain_callers
    assert all("remoteIpDetails" not in call and call["domainDetails"] for call in domain_callers)

    assert all(
        "remoteIpDetails" not in a["dnsRequestAction"] and a["dnsRequestAction"]["domain"]
        for _, a in by_type["DNS_REQUEST"]
    )

    for _, action in by_type["KUBERNETES_API_CALL"]:
        call = action["kubernetesApiCallAction"]
        assert isinstance(call["sourceIPs"], list)
        assert call["remoteIpDetails"]["ipAddressV4"] not in call["sourceIPs"]

    assert all(
        a["rdsLoginAttemptAction"]["remoteIpDetails"]
        and a["rdsLoginAttemptAction"]["LoginAttributes"]
        for _, a in by_type["RDS_LOGIN_ATTEMPT"]
    )


def test_findings_without_an_action_have_their_feature_details(corpus):
    findings = [record.finding for record in _camel_records(corpus)]
    runtime = [f for f in findings if f["service"].get("featureName") == "RuntimeMonitoring"]
    malware = [f for f in findings if f["service"].get("featureName") == "EbsVolumeScan"]
    sequences = [f for f in findings if f["service"].get("featureName") == "Correlation"]
    assert runtime
    assert malware
    assert sequences

    for finding in runtime:
        assert finding["service"]["action"] == {}
        assert finding["resource"]["resourceType"] == "Container"
        assert finding["service"]["runtimeDetails"]["process"]["executablePath"]
    for finding in malware:
        assert "action" not in finding["service"]
        assert finding["service"]["ebsVolumeScanDetails"]["scanDetections"]
    for finding in sequences:
        assert "action" not in finding["service"]
        assert finding["type"].startswith("AttackSequence:")
        assert finding["resource"]["resourceType"] == "AttackSequence"
        assert 9.0 <= float(finding["severity"]) <= 10.0
        endpoints = finding["service"]["detection"]["sequence"]["endpoints"]
        assert endpoints
        for endpoint in endpoints:
            assert endpoint["ip"]
            location = set(endpoint["location"])
            assert location >= {"country", "city", "lat", "lon"} or location >= {
                "country",
                "city",
                "latitude",
                "longitude",
            }
            assert isinstance(endpoint["autonomousSystem"]["number"], int)
            assert endpoint["autonomousSystem"]["name"]


def test_finding_types_follow_the_guardduty_naming_scheme(corpus):
    pattern = re.compile(r"^[A-Za-z]+:[A-Za-z0-9]+/[A-Za-z0-9&]+(\.[A-Za-z0-9]+)*(![A-Za-z]+)?$")
    types = {record.finding["type"] for record in corpus.records}
    assert all(pattern.match(finding_type) for finding_type in types), types
    assert {"Backdoor:EC2/C&CActivity.B!DNS", "Recon:EC2/PortProbeUnprotectedPort"} <= types
    assert len(types) >= 30


def test_severities_cover_every_label_boundaries_and_numeric_strings(corpus):
    severities = [record.finding["severity"] for record in _camel_records(corpus)]
    values = {float(severity) for severity in severities}
    assert {3.9, 4.0, 6.9, 7.0, 8.9, 9.0} <= values
    assert min(values) < 4.0
    assert max(values) >= 9.0
    strings = [severity for severity in severities if isinstance(severity, str)]
    assert strings
    assert all(re.fullmatch(r"\d+\.\d", severity) for severity in strings)
    assert all("severityLabel" not in record.finding for record in corpus.records)


def test_samples_appear_in_all_three_forms(corpus):
    infos = [record.finding["service"]["additionalInfo"] for record in _camel_records(corpus)]
    assert any(info.get("sample") is True for info in infos)
    assert any(info.get("sample") == "True" for info in infos)
    assert any(
        "sample" not in info and json.loads(info.get("value", "{}")).get("sample") is True
        for info in infos
    )


def test_archived_ipv6_and_unknown_locations_are_present(corpus):
    findings = [record.finding for record in _camel_records(corpus)]
    assert any(finding["service"]["archived"] is True for finding in findings)
    remotes = [details for finding in findings for details in _remote_details(finding)]
    assert any("ipAddressV6" in details and ":" in details["ipAddressV6"] for details in remotes)
    assert any(details["country"]["countryName"] == "" for details in remotes)
    assert any(details["city"]["cityName"] == "" for details in remotes)
    assert any("countryCode" in details["country"] for details in remotes)
    assert all(isinstance(details["organization"]["asn"], str) for details in remotes)


def test_countries_use_guardduty_names_with_consistent_codes(corpus):
    remotes = [
        details
        for record in _camel_records(corpus)
        for details in _remote_details(record.finding)
        if details["country"]["countryName"] not in ("", "GeneratedFindingCountryName")
    ]
    names = {details["country"]["countryName"] for details in remotes}
    assert {"South Korea", "Russia", "Vietnam", "Türkiye", "China", "United States"} <= names
    assert names <= set(COUNTRY_CODES_BY_NAME)
    for details in remotes:
        country = details["country"]
        if "countryCode" in country:
            assert COUNTRY_CODES_BY_NAME[country["countryName"]] == country["countryCode"]
        assert -90 <= details["geoLocation"]["lat"] <= 90
        assert -180 <= details["geoLocation"]["lon"] <= 180


def test_accounts_are_twelve_digit_strings_including_leading_zeros(corpus):
    accounts = {record.finding["accountId"] for record in corpus.records}
    regions = {record.finding["region"] for record in corpus.records}
    assert all(re.fullmatch(r"\d{12}", account) for account in accounts)
    assert any(account.startswith("0") for account in accounts)
    assert len(accounts) >= 3
    assert len(regions) >= 3


def test_timestamps_come_with_and_without_milliseconds_and_evidence_may_be_null(corpus):
    findings = [record.finding for record in _camel_records(corpus)]
    updated = [finding["updatedAt"] for finding in findings]
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value) for value in updated)
    assert any(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value) for value in updated)
    assert any("evidence" in f["service"] and f["service"]["evidence"] is None for f in findings)


# ---------------------------------------------------------------------------------------------
# Versions, re-deliveries and ordering


def test_versions_of_a_finding_grow_together_with_a_fixed_creation_time(corpus):
    versions = defaultdict(dict)
    for record in corpus.records:
        versions[record.finding["id"]][record.version] = record.finding
    multi = {fid: found for fid, found in versions.items() if len(found) > 1}
    assert len(multi) > 50
    for found in multi.values():
        ordered = sorted(found.values(), key=lambda finding: finding["updatedAt"])
        assert len({finding["createdAt"] for finding in ordered}) == 1
        counts = [finding["service"]["count"] for finding in ordered]
        assert counts == sorted(counts)
        assert len(set(counts)) == len(counts)
        last_seen = [finding["service"]["eventLastSeen"] for finding in ordered]
        assert last_seen == sorted(last_seen)


def test_some_versions_are_delivered_twice_as_exact_copies_in_different_objects(corpus):
    copies = defaultdict(list)
    for record in _camel_records(corpus):
        copies[record.version].append(record)
    duplicated = [records for records in copies.values() if len(records) > 1]
    assert duplicated
    for records in duplicated:
        assert len({record.key for record in records}) == len(records)
        assert all(record.finding == records[0].finding for record in records)


def test_some_older_versions_arrive_after_newer_ones(corpus):
    events = defaultdict(list)
    for record in corpus.records:
        if record.layout == LAYOUT_EVENTBRIDGE:
            events[record.finding["id"]].append(record)
    late_events = [
        finding_id
        for finding_id, records in events.items()
        if [r.version for r in sorted(records, key=lambda r: r.event_time)]
        != sorted(r.version for r in records)
    ]
    assert late_events

    late_lines = []
    for key in {record.key for record in corpus.records if record.layout == LAYOUT_NATIVE_EXPORT}:
        seen_latest: dict[str, str] = {}
        for record in (r for r in corpus.records if r.key == key):
            finding_id, updated_at, _ = record.version
            if updated_at < seen_latest.get(finding_id, ""):
                late_lines.append(finding_id)
            seen_latest[finding_id] = max(updated_at, seen_latest.get(finding_id, ""))
    assert late_lines


# ---------------------------------------------------------------------------------------------
# Summary


def test_summary_counts_match_the_files(corpus):
    summary = corpus.summary
    records = corpus.records
    current: dict[str, dict] = {}
    for record in records:
        finding = record.finding
        best = current.get(finding["id"])
        if best is None or (finding["updatedAt"], finding["service"]["count"]) > (
            best["updatedAt"],
            best["service"]["count"],
        ):
            current[finding["id"]] = finding

    assert summary.objects_written == len(corpus.objects)
    assert summary.objects_by_layout == dict(Counter(_layout_of(key) for key in corpus.objects))
    assert summary.non_finding_objects == len(corpus.non_findings)
    assert summary.deliveries == len(records)
    assert summary.deliveries_by_layout == dict(Counter(record.layout for record in records))
    assert summary.versions == len({record.version for record in records}) == FINDINGS
    assert summary.duplicate_deliveries == len(records) - summary.versions
    assert summary.finding_ids == len(current)
    assert summary.findings_by_action_type == dict(
        Counter(
            (finding["service"].get("action") or {}).get("actionType", "NONE")
            for finding in current.values()
        )
    )
    assert summary.archived_findings == sum(f["service"]["archived"] for f in current.values())
    info = [f["service"]["additionalInfo"] for f in current.values()]
    samples = sum(
        i.get("sample") in (True, "True") or '"sample":true' in i.get("value", "") for i in info
    )
    assert summary.sample_findings == samples
    assert summary.out_of_order_deliveries > 0
    assert f"{summary.versions} versions" in summary.one_line()


def test_requested_number_of_versions_is_exact_even_for_tiny_corpora(tmp_path):
    for findings in (1, 7, 23):
        summary = generate_demo_corpus(
            tmp_path / str(findings), findings=findings, end_date=END_DATE
        )
        assert summary.versions == findings
