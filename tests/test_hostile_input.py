"""Hostile and broken raw objects: each is quarantined with a useful reason, skipped when it is
valid JSON that is not a finding, or ingested when it is a finding in an unusual shape, and the
good findings around it are always ingested."""

import gzip
import json
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.lib.ingest.parsing import ReadLimits, parse_object
from orchestration.lib.ingest.runner import run_ingest
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.finding_fixtures import (
    a_finding,
    eventbridge_event,
    jsonl_gz,
    to_bytes,
    with_service,
)

GOOD_IDS = {"good-before", "good-after"}


@dataclass(frozen=True)
class Case:
    key: str
    data: bytes
    outcome: str  # quarantined | skipped | ingested
    reason: str = ""
    findings: int = 0


def pascal_finding() -> dict:
    return {
        "AccountId": "012345678901",
        "Region": "eu-west-1",
        "Id": "pascal",
        "Type": "Recon:EC2/PortProbeUnprotectedPort",
        "Severity": 2,
        "CreatedAt": "2026-10-01T10:05:00Z",
        "UpdatedAt": "2026-10-01T10:05:00Z",
        "Service": {"Action": {"ActionType": "PORT_PROBE"}},
    }


def finding_bytes(**overrides) -> bytes:
    return to_bytes(a_finding(id="hostile", **overrides))


CASES = {
    "empty object": Case("empty.json", b"", "quarantined", "empty object"),
    "zero-byte gzip": Case("zero.json.gz", b"", "quarantined", "empty object"),
    "gzip of nothing": Case("nothing.json.gz", gzip.compress(b""), "quarantined", "white space"),
    "truncated gzip": Case(
        "cut.json.gz", gzip.compress(finding_bytes())[:-12], "quarantined", "corrupt gzip"
    ),
    "gzip of non-JSON": Case(
        "text.json.gz", gzip.compress(b"hello, world"), "quarantined", "not valid JSON"
    ),
    "invalid UTF-8": Case(
        "latin1.json",
        finding_bytes().replace(b'"title": "', b'"title": "caf\xe9 '),
        "quarantined",
        "not valid JSON",
    ),
    "NUL bytes": Case("nul.json", b"\x00\x00" + finding_bytes(), "quarantined", "not valid JSON"),
    "UTF-8 byte order mark": Case(
        "bom.json", b"\xef\xbb\xbf" + finding_bytes(), "ingested", findings=1
    ),
    "truncated JSON": Case("cut.json", finding_bytes()[:-40], "quarantined", "not valid JSON"),
    "JSON Lines with one bad line": Case(
        "lines.jsonl.gz",
        jsonl_gz([a_finding(id="line-1"), b'{"id": "line-2", ', a_finding(id="line-3")]),
        "ingested",
        findings=2,
    ),
    "nesting past the recursion limit": Case(
        "deep.json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "quarantined", "not valid JSON"
    ),
    "NaN severity": Case(
        "nan.json",
        finding_bytes().replace(b'"severity": 5', b'"severity": NaN'),
        "quarantined",
        "not valid JSON",
    ),
    "Infinity severity": Case(
        "inf.json",
        finding_bytes().replace(b'"severity": 5', b'"severity": Infinity'),
        "quarantined",
        "not valid JSON",
    ),
    "out-of-range severity": Case(
        "big.json", finding_bytes(severity=1e308), "quarantined", "not a number in 0-10"
    ),
    "non-numeric severity": Case(
        "word.json", finding_bytes(severity="critical"), "quarantined", "not a number in 0-10"
    ),
    "missing id": Case("noid.json", to_bytes(a_finding(id=None)), "quarantined", "missing 'id'"),
    "non-string id": Case(
        "numid.json", to_bytes(a_finding(id=12345)), "quarantined", "'id' is a number"
    ),
    "updatedAt not a timestamp": Case(
        "when.json", finding_bytes(updatedAt="last tuesday"), "quarantined", "'updatedAt'"
    ),
    "negative service.count": Case(
        "neg.json",
        to_bytes(with_service(a_finding(id="neg"), count=-1)),
        "quarantined",
        "negative",
    ),
    "huge service.count": Case(
        "huge.json",
        to_bytes(with_service(a_finding(id="huge"), count=10**30)),
        "quarantined",
        "64-bit",
    ),
    "detail null": Case(
        "null-detail.json", to_bytes(eventbridge_event(None)), "quarantined", "'detail' is null"
    ),
    "detail a list": Case(
        "list-detail.json",
        to_bytes(eventbridge_event([a_finding()])),
        "quarantined",
        "'detail' is a list",
    ),
    "unknown future actionType": Case(
        "future.json",
        to_bytes(with_service(a_finding(id="future"), action={"actionType": "QUANTUM_CALL"})),
        "ingested",
        findings=1,
    ),
    "unknown top-level fields": Case(
        "extra.json", to_bytes(a_finding(id="extra", brandNewField=[1, 2])), "ingested", findings=1
    ),
    "PascalCase finding mixed with camelCase": Case(
        "mixed.json",
        to_bytes({"findings": [a_finding(id="camel"), pascal_finding()]}),
        "ingested",
        findings=2,
    ),
    "duplicate keys (the last wins)": Case(
        "dupes.json",
        finding_bytes().replace(b'"severity": 5', b'"severity": 2, "severity": 8'),
        "ingested",
        findings=1,
    ),
    "key with spaces, unicode and ..": Case(
        "odd dir/ünï côdé ../..finding.json", to_bytes(a_finding(id="odd")), "ingested", findings=1
    ),
    "valid JSON that is not a finding": Case(
        "health.json",
        to_bytes(eventbridge_event({"status": "ok"}, "GuardDuty Runtime Protection Healthy")),
        "skipped",
    ),
    "a JSON string": Case("string.json", b'"just a string"', "quarantined", "not a finding"),
}


def source_with(tmp_path: Path, case: Case) -> Path:
    root = tmp_path / "raw"
    for key, data in [
        ("a/good-before.json", to_bytes(eventbridge_event(a_finding(id="good-before")))),
        (case.key, case.data),
        ("z/good-after.jsonl", to_bytes(a_finding(id="good-after"))),
    ]:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_object_is_handled_and_the_good_findings_around_it_ingested(tmp_path, name):
    case = CASES[name]
    lake = connect_lake(str(tmp_path / "lake"))
    stats = run_ingest(LocalStore(source_with(tmp_path, case)), lake)
    assert stats.objects_read == 3
    assert stats.balanced
    assert getattr(stats, f"objects_{case.outcome}") == (1 if case.outcome != "ingested" else 3)
    assert stats.findings_ingested == len(GOOD_IDS) + case.findings
    if case.reason:
        result = parse_object(case.key, case.data)
        assert any(case.reason in entry.reason for entry in result.quarantined), result.quarantined


def test_duplicate_keys_are_stored_with_the_value_that_was_validated():
    (finding,) = parse_object("d.json", CASES["duplicate keys (the last wins)"].data).findings
    assert finding.severity == 8.0
    assert json.loads(finding.finding_json)["severity"] == 8


def test_a_50_mb_line_is_quarantined_while_memory_stays_bounded():
    line = b'{"id": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    data = jsonl_gz([a_finding(id="small"), line, a_finding(id="after")])
    tracemalloc.start()
    result = parse_object("big.jsonl.gz", data, ReadLimits(max_record_bytes=4 * 1024 * 1024))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [f.finding_id for f in result.findings] == ["small", "after"]
    assert result.quarantined[0].line_number == 2
    assert "record limit" in result.quarantined[0].reason
    assert peak < 20 * 1024 * 1024


def test_an_object_beyond_the_object_limit_is_quarantined_unread(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    (root / "big.json").write_bytes(b" " * 2048 + finding_bytes())
    from orchestration.lib.ingest.runner import IngestOptions

    stats = run_ingest(
        LocalStore(root),
        connect_lake(str(tmp_path / "lake")),
        IngestOptions(limits=ReadLimits(max_object_bytes=1024)),
    )
    assert stats.objects_quarantined == 1 and stats.balanced


def test_a_directory_named_like_an_object_is_not_an_object(tmp_path):
    root = tmp_path / "raw"
    (root / "findings.json").mkdir(parents=True)
    (root / "findings.json" / "inner.json").write_bytes(to_bytes(a_finding(id="inner")))
    stats = run_ingest(LocalStore(root), connect_lake(str(tmp_path / "lake")))
    assert (stats.objects_read, stats.findings_ingested) == (1, 1)


def test_a_symlink_out_of_the_source_root_is_quarantined_and_not_followed(tmp_path):
    secret = tmp_path / "etc-passwd.json"
    secret.write_bytes(to_bytes(a_finding(id="outside")))
    root = source_with(tmp_path, CASES["unknown top-level fields"])
    (root / "escape.json").symlink_to(secret)
    stats = run_ingest(LocalStore(root), connect_lake(str(tmp_path / "lake")))
    assert stats.objects_quarantined == 1 and stats.balanced
    assert stats.findings_ingested == 3
