"""The expected marts, computed from what the simulated GuardDuty delivered (never from the lake),
and their comparison with the marts dbt built.

The rules are the data contract's: a version is (id, updatedAt, count) and the current one has the
greatest updatedAt, then count; copies of a version are ordered by when they were observed and the
latest gives its archive state; samples are excluded; severity bands; action type NONE; one
country row per distinct located country, else 'Unknown'; one quarantine record per bad object,
line or array element; a remote endpoint per action's remoteIpDetails, port probe and attack
sequence endpoint that has an address or a country (IPv6 in canonical form, ASN as integer text),
the top lists ranked by findings, then occurrences, then the value. Compliance follows the
project's choices: "within target" only for findings archived now, judged by the observation of
the archive transition that holds now (a reopened finding is never within target), open past
target measured at the mart's own ``evaluated_at``.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from orchestration.lib.aws.guardduty import severity_label
from tools.demo_corpus import COUNTRIES
from tools.soak.world import Observation, parse_time

TARGET_HOURS = {"Critical": 24.0, "High": 24.0, "Medium": 168.0, "Low": 720.0}
SEVERITY_LABELS = ("Critical", "High", "Medium", "Low")
COUNTRY_CODES = {country.name: country.code for country in COUNTRIES}


@dataclass(frozen=True)
class Difference:
    mart: str
    key: str
    column: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return (
            f"{self.mart} [{self.key}] {self.column}: expected {self.expected!r}, "
            f"got {self.actual!r}"
        )


@dataclass(frozen=True)
class ExpectedFinding:
    row: dict[str, Any]
    # The country codes of the located endpoints (None for a country the seed does not name).
    country_codes: frozenset[str | None]
    # Archive transitions: (first observed at, archived), in time order.
    transitions: tuple[tuple[datetime, bool], ...]
    # A High or Critical copy that is not archived was seen: the finding alerts, once.
    alertable: bool
    # fct_finding_remote_endpoints' rows of the current version, by (source, ordinal).
    endpoints: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    # fct_attack_sequences' row, for an attack sequence finding.
    sequence: dict[str, Any] | None = None

    @property
    def first_archived_at(self) -> datetime | None:
        return next((moment for moment, archived in self.transitions if archived), None)

    @property
    def last_archived_at(self) -> datetime | None:
        archives = [moment for moment, archived in self.transitions if archived]
        return archives[-1] if archives else None


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def is_sample(finding: dict[str, Any]) -> bool:
    info = finding.get("service", {}).get("additionalInfo") or {}
    if str(info.get("sample")).lower() == "true":
        return True
    value = info.get("value")
    if isinstance(value, str):
        try:
            return json.loads(value).get("sample") in (True, "true", "True")
        except (ValueError, AttributeError):
            return False
    return False


def _version_key(finding: dict[str, Any]) -> tuple[datetime, int]:
    return parse_time(finding["updatedAt"]), int(finding["service"]["count"])


def expected_findings(observations: Iterable[Observation]) -> dict[str, ExpectedFinding]:
    """fct_findings as the contract defines it, from every observation made so far."""
    by_id: dict[str, list[Observation]] = defaultdict(list)
    for observation in observations:
        by_id[observation.finding["id"]].append(observation)
    expected = {}
    for finding_id, seen in by_id.items():
        current_key = max(_version_key(item.finding) for item in seen)
        copies = [item for item in seen if _version_key(item.finding) == current_key]
        latest_copy = max(copies, key=lambda item: item.observed_at)
        current = latest_copy.finding
        if is_sample(current):
            continue
        versions = {_version_key(item.finding) for item in seen}
        row = {**_fact_row(current, latest_copy.archived), "version_count": len(versions)}
        endpoints, country_codes = _endpoints(current, row)
        expected[finding_id] = ExpectedFinding(
            row=row,
            endpoints=endpoints,
            sequence=_sequence(current, row),
            country_codes=frozenset(country_codes),
            transitions=_transitions(seen),
            alertable=any(
                not item.archived and float(item.finding["severity"]) >= 7.0 for item in seen
            ),
        )
    return expected


def _transitions(seen: list[Observation]) -> tuple[tuple[datetime, bool], ...]:
    """Changes of archive state over the observations in time order (a finding starts open; of
    copies observed at one moment the archived one holds)."""
    states: dict[datetime, bool] = {}
    for item in seen:
        states[item.observed_at] = states.get(item.observed_at, False) or item.archived
    transitions, previous = [], False
    for moment in sorted(states):
        if states[moment] != previous:
            transitions.append((naive_utc(moment), states[moment]))
            previous = states[moment]
    return tuple(transitions)


def _fact_row(finding: dict[str, Any], archived: bool) -> dict[str, Any]:
    service = finding["service"]
    action = service.get("action") or {}
    severity = float(finding["severity"])
    direction = (action.get("networkConnectionAction") or {}).get("connectionDirection")
    return {
        "account_id": finding["accountId"],
        "region": finding["region"],
        "finding_type": finding["type"],
        **_type_parts(finding["type"]),
        "resource_type": (finding.get("resource") or {}).get("resourceType"),
        "title": finding["title"],
        "severity": severity,
        "severity_label": severity_label(severity),
        "action_type": action.get("actionType") or "NONE",
        "connection_direction": direction.upper() if direction else None,
        "is_archived": archived,
        "occurrence_count": int(service["count"]),
        "created_at": naive_utc(parse_time(finding["createdAt"])),
        "updated_at": naive_utc(parse_time(finding["updatedAt"])),
        "first_seen_at": naive_utc(parse_time(service["eventFirstSeen"])),
        "last_seen_at": naive_utc(parse_time(service["eventLastSeen"])),
    }


def _type_parts(finding_type: str) -> dict[str, str | None]:
    """ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.DetectionMechanism!Artifact, the last
    two optional (GuardDuty's finding type format)."""
    purpose, _, rest = finding_type.partition(":")
    resource, _, rest = rest.partition("/")
    rest, _, artifact = rest.partition("!")
    family, _, mechanism = rest.partition(".")
    return {
        "threat_purpose": purpose,
        "resource_type_affected": resource,
        "threat_family": family,
        "detection_mechanism": mechanism or None,
        "artifact": artifact or None,
    }


_SEQUENCE_PARTS = ("signal", "actor", "endpoint", "resource")


def _sequence(finding: dict[str, Any], row: dict[str, Any]) -> dict[str, Any] | None:
    if row["threat_purpose"].lower() != "attacksequence" and row["resource_type"] != (
        "AttackSequence"
    ):
        return None
    sequence = (finding["service"].get("detection") or {}).get("sequence") or {}
    return {
        "sequence_uid": sequence.get("uid"),
        **{f"{part}_count": len(sequence.get(f"{part}s") or []) for part in _SEQUENCE_PARTS},
        "severity_label": row["severity_label"],
        "updated_at": row["updated_at"],
    }


# The actions with one remote endpoint, in the order the model unions them.
_SINGLE_ENDPOINT_SOURCES = {
    "networkConnectionAction": "network_connection",
    "awsApiCallAction": "aws_api_call",
    "kubernetesApiCallAction": "kubernetes_api_call",
    "rdsLoginAttemptAction": "rds_login_attempt",
}


def _endpoints(
    finding: dict[str, Any], row: dict[str, Any]
) -> tuple[dict[tuple[str, int], dict[str, Any]], set[str | None]]:
    """Every remote endpoint of a version that has an address or a country (each action's
    remoteIpDetails, each port probe, each endpoint of an attack sequence), and the country codes
    of those that have a country."""
    action = finding["service"].get("action") or {}
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for name, source in _SINGLE_ENDPOINT_SOURCES.items():
        details = (action.get(name) or {}).get("remoteIpDetails")
        if details is not None:
            direction = row["connection_direction"] if source == "network_connection" else None
            found[(source, 1)] = _ip_details_endpoint(details, direction, None)
    probes = (action.get("portProbeAction") or {}).get("portProbeDetails") or []
    for ordinal, probe in enumerate(probes, start=1):
        port = (probe.get("localPortDetails") or {}).get("port")
        found[("port_probe", ordinal)] = _ip_details_endpoint(
            probe.get("remoteIpDetails") or {}, None, int(port) if port is not None else None
        )
    sequence = (finding["service"].get("detection") or {}).get("sequence") or {}
    for ordinal, endpoint in enumerate(sequence.get("endpoints") or [], start=1):
        ip = _text(endpoint.get("ip"))
        name = _text((endpoint.get("location") or {}).get("country"))
        port = endpoint.get("port")
        found[("attack_sequence", ordinal)] = _endpoint(
            ip,
            COUNTRY_CODES.get(name) if name else None,
            _text((endpoint.get("autonomousSystem") or {}).get("number")),
            None,
            int(port) if port is not None else None,
            located=name is not None,
        )
    endpoints, country_codes = {}, set()
    for key, endpoint in found.items():
        if endpoint.pop("located"):
            country_codes.add(endpoint["country_code"])
        elif endpoint["ip_address"] is None:
            continue
        endpoints[key] = {**endpoint, "occurrence_count": row["occurrence_count"]}
    return endpoints, country_codes


def _ip_details_endpoint(
    details: dict[str, Any], direction: str | None, local_port: int | None
) -> dict[str, Any]:
    country = details.get("country") or {}
    name, code = _text(country.get("countryName")), _text(country.get("countryCode"))
    code = code.upper() if code else None
    return _endpoint(
        _text(details.get("ipAddressV4")) or _text(details.get("ipAddressV6")),
        code if code and len(code) == 2 else COUNTRY_CODES.get(name or ""),
        _text((details.get("organization") or {}).get("asn")),
        direction,
        local_port,
        located=bool(name or code),
    )


def _endpoint(
    ip: str | None,
    country_code: str | None,
    asn: str | None,
    direction: str | None,
    local_port: int | None,
    located: bool,
) -> dict[str, Any]:
    version = None if ip is None else 6 if ":" in ip else 4
    if version == 6:
        ip = ipaddress.ip_address(ip).compressed
    return {
        "ip_address": ip,
        "ip_version": version,
        "country_code": country_code,
        "asn": _integer_text(asn),
        "connection_direction": direction,
        "local_port": local_port,
        "located": located,
    }


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _integer_text(text: str | None) -> str | None:
    try:
        number = float(text) if text is not None else None
    except ValueError:
        return text
    return str(int(number)) if number is not None and number.is_integer() else text


# -- comparison --------------------------------------------------------------------------------


def compare_rows(
    mart: str,
    expected: dict[Any, dict[str, Any]],
    actual: dict[Any, dict[str, Any]],
) -> list[Difference]:
    """Differences between two keyed row sets, column by column."""
    differences = []
    for key in sorted(expected.keys() | actual.keys(), key=str):
        if key not in actual:
            differences.append(Difference(mart, str(key), "(row)", "present", "missing"))
            continue
        if key not in expected:
            differences.append(Difference(mart, str(key), "(row)", "absent", "present"))
            continue
        for column, value in expected[key].items():
            if column not in actual[key]:
                differences.append(Difference(mart, str(key), column, value, "(no such column)"))
            elif not _same(value, actual[key][column]):
                differences.append(Difference(mart, str(key), column, value, actual[key][column]))
    return differences


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float) and actual is not None:
        return abs(expected - float(actual)) < 1e-6
    if isinstance(expected, datetime) and isinstance(actual, datetime):
        return (
            naive_utc(expected) == (naive_utc(actual) if actual.tzinfo else actual)
            or abs((expected - actual.replace(tzinfo=None)).total_seconds()) < 0.001
        )
    return expected == actual


def check_findings(
    expected: dict[str, ExpectedFinding], fct_findings: list[dict[str, Any]]
) -> list[Difference]:
    actual = {row["finding_id"]: row for row in fct_findings}
    return compare_rows("fct_findings", {key: item.row for key, item in expected.items()}, actual)


# The daily marts grouped by columns of fct_findings: (finding_date, account_id, region) and these.
DAILY_MARTS = {
    "agg_findings_daily": (),
    "agg_findings_by_severity": ("severity_label",),
    "agg_findings_by_action_type": ("action_type",),
    "agg_findings_by_resource_type": ("resource_type",),
    "agg_findings_by_finding_type": (
        "finding_type",
        "threat_purpose",
        "resource_type_affected",
        "threat_family",
    ),
}
# Measures beyond the counts, per mart.
_SEVERITY_COUNTS = {f"{label.lower()}_finding_count": label for label in SEVERITY_LABELS}


def check_endpoints(
    expected: dict[str, ExpectedFinding], rows: list[dict[str, Any]]
) -> list[Difference]:
    wanted = {
        (finding_id, *key): endpoint
        for finding_id, item in expected.items()
        for key, endpoint in item.endpoints.items()
    }
    actual = {
        (row["finding_id"], row["endpoint_source"], row["endpoint_ordinal"]): row for row in rows
    }
    return compare_rows("fct_finding_remote_endpoints", wanted, actual)


def check_attack_sequences(
    expected: dict[str, ExpectedFinding], rows: list[dict[str, Any]]
) -> list[Difference]:
    wanted = {key: item.sequence for key, item in expected.items() if item.sequence}
    actual = {row["finding_id"]: row for row in rows}
    return compare_rows("fct_attack_sequences", wanted, actual)


# First sightings per account of each value of the current findings' endpoints: ASNs other than
# the placeholders -1 and 0, and countries (every simulated country is in the seed).
FIRST_SEEN_MARTS = {
    "agg_first_seen_remote_asns": "asn",
    "agg_first_seen_remote_countries": "country_code",
}


def check_first_seen(
    expected: dict[str, ExpectedFinding], marts: dict[str, list[dict[str, Any]]]
) -> list[Difference]:
    differences = []
    for mart, column in FIRST_SEEN_MARTS.items():
        sightings: dict[tuple, list[tuple[datetime, str]]] = defaultdict(list)
        for finding_id, item in expected.items():
            seen_at = item.row["first_seen_at"] or item.row["created_at"]
            values = {endpoint[column] for endpoint in item.endpoints.values()}
            for value in values - {None, "-1", "0"}:
                sightings[(item.row["account_id"], value)].append((seen_at, finding_id))
        wanted = {
            key: {
                "first_finding_id": min(seen)[1],
                "first_seen_at": min(seen)[0],
                "latest_seen_at": max(seen)[0],
                "finding_count": len(seen),
            }
            for key, seen in sightings.items()
        }
        actual = {(row["account_id"], row[column]): row for row in marts[mart]}
        differences += compare_rows(mart, wanted, actual)
    return differences


def check_top_remote(
    expected: dict[str, ExpectedFinding], marts: dict[str, list[dict[str, Any]]]
) -> list[Difference]:
    """agg_top_asns and agg_top_remote_ips: per value, the findings and occurrences behind it and
    its rank (most findings, then occurrences, then the value); an address takes its country and
    ASN from its newest finding that has one."""
    asns: dict[str, dict[str, Any]] = {}
    addresses: dict[str, dict[str, Any]] = {}
    sightings: list[tuple[str, str, date, tuple[str, int], dict[str, Any]]] = []
    for finding_id, item in expected.items():
        occurrences, day = item.row["occurrence_count"], item.row["created_at"].date()
        for asn in {endpoint["asn"] for endpoint in item.endpoints.values()} - {None}:
            ips = {ep["ip_address"] for ep in item.endpoints.values() if ep["asn"] == asn}
            row = asns.setdefault(
                asn, {"finding_count": 0, "occurrence_count": 0, "endpoint_ip_count": 0}
            )
            row["finding_count"] += 1
            row["occurrence_count"] += occurrences
            row["endpoint_ip_count"] += len(ips - {None})
        for ip in {endpoint["ip_address"] for endpoint in item.endpoints.values()} - {None}:
            row = addresses.setdefault(ip, {"finding_count": 0, "occurrence_count": 0, "days": []})
            row["finding_count"] += 1
            row["occurrence_count"] += occurrences
            row["days"].append(day)
        for key, endpoint in item.endpoints.items():
            if endpoint["ip_address"]:
                sightings.append((endpoint["ip_address"], finding_id, day, key, endpoint))
    for rank, asn in enumerate(_ranked(asns), start=1):
        asns[asn]["asn_rank"] = rank
    # Newest first (day, then finding id, descending), then by source and ordinal.
    sightings.sort(key=lambda sighting: sighting[3])
    sightings.sort(key=lambda sighting: (sighting[2], sighting[1]), reverse=True)
    newest_first: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ip, *_, endpoint in sightings:
        newest_first[ip].append(endpoint)
    for rank, ip in enumerate(_ranked(addresses), start=1):
        row = addresses[ip]
        days = row.pop("days")
        mine = newest_first[ip]
        located = [ep for ep in mine if ep["country_code"]] or mine
        numbered = [ep for ep in mine if ep["asn"]] or mine
        row.update(
            ip_rank=rank,
            first_finding_date=min(days),
            last_finding_date=max(days),
            country_code=located[0]["country_code"],
            asn=numbered[0]["asn"],
        )
    return compare_rows(
        "agg_top_asns", asns, {row["asn"]: row for row in marts["agg_top_asns"]}
    ) + compare_rows(
        "agg_top_remote_ips",
        addresses,
        {row["ip_address"]: row for row in marts["agg_top_remote_ips"]},
    )


def _ranked(groups: dict[str, dict[str, Any]]) -> list[str]:
    return sorted(
        groups,
        key=lambda value: (
            -groups[value]["finding_count"],
            -groups[value]["occurrence_count"],
            value,
        ),
    )


def check_daily_aggregates(
    expected: dict[str, ExpectedFinding], marts: dict[str, list[dict[str, Any]]]
) -> list[Difference]:
    differences = []
    for mart, dimensions in DAILY_MARTS.items():
        groups: dict[tuple, dict[str, Any]] = {}
        for item in expected.values():
            row = item.row
            key = (
                row["created_at"].date(),
                row["account_id"],
                row["region"],
                *(row[dimension] for dimension in dimensions),
            )
            group = groups.setdefault(key, _empty_group(mart))
            group["finding_count"] += 1
            group["occurrence_count"] += row["occurrence_count"]
            if "max_severity" in group:
                group["max_severity"] = max(group["max_severity"], row["severity"])
            if mart == "agg_findings_daily":
                for column, label in _SEVERITY_COUNTS.items():
                    group[column] += row["severity_label"] == label
        actual = {
            (
                row["finding_date"],
                row["account_id"],
                row["region"],
                *(row[dimension] for dimension in dimensions),
            ): row
            for row in marts[mart]
        }
        differences += compare_rows(mart, groups, actual)
    country_groups: dict[tuple, dict[str, int]] = defaultdict(
        lambda: {"finding_count": 0, "occurrence_count": 0}
    )
    for item in expected.values():
        row = item.row
        codes = item.country_codes or {None}
        for code in codes:
            key = (row["created_at"].date(), row["account_id"], row["region"], code)
            country_groups[key]["finding_count"] += 1
            country_groups[key]["occurrence_count"] += row["occurrence_count"]
    actual = {}
    for row in marts["agg_findings_by_country"]:
        key = (row["finding_date"], row["account_id"], row["region"], row["country_code"])
        if row["country_code"] is None and row["country_name"] != "Unknown":
            differences.append(
                Difference(
                    "agg_findings_by_country",
                    str(key),
                    "country_name",
                    "Unknown",
                    row["country_name"],
                )
            )
        actual[key] = row
    differences += compare_rows("agg_findings_by_country", dict(country_groups), actual)
    return differences


def _empty_group(mart: str) -> dict[str, Any]:
    group: dict[str, Any] = {"finding_count": 0, "occurrence_count": 0}
    if mart in ("agg_findings_daily", "agg_findings_by_finding_type"):
        group["max_severity"] = 0.0
    if mart == "agg_findings_daily":
        group.update(dict.fromkeys(_SEVERITY_COUNTS, 0))
    return group


def check_compliance(
    expected: dict[str, ExpectedFinding], marts: dict[str, list[dict[str, Any]]]
) -> list[Difference]:
    rows = marts["fct_finding_archive_times"]
    evaluated_at = rows[0]["evaluated_at"] if rows else naive_utc(datetime.now(UTC))
    per_finding = {}
    by_label: dict[str, dict[str, int]] = {
        label: {
            "finding_count": 0,
            "currently_archived_count": 0,
            "archived_within_target_count": 0,
            "open_past_target_count": 0,
        }
        for label in SEVERITY_LABELS
    }
    for finding_id, item in expected.items():
        row = item.row
        target = TARGET_HOURS[row["severity_label"]]
        archived_now = row["is_archived"]
        open_past = not archived_now and _hours(row["created_at"], evaluated_at) > target
        within = None
        if archived_now:
            within = _hours(row["created_at"], item.last_archived_at) <= target
        elif open_past:
            within = False
        per_finding[finding_id] = {
            "is_currently_archived": archived_now,
            "first_archived_at": item.first_archived_at,
            "was_unarchived": item.first_archived_at is not None and not archived_now,
            "is_within_target": within,
            "is_open_past_target": open_past,
        }
        counts = by_label[row["severity_label"]]
        counts["finding_count"] += 1
        counts["currently_archived_count"] += archived_now
        counts["archived_within_target_count"] += bool(within)
        counts["open_past_target_count"] += open_past
    open_past_target = {
        finding_id: {
            "severity_label": expected[finding_id].row["severity_label"],
            "target_hours": TARGET_HOURS[expected[finding_id].row["severity_label"]],
            "age_hours": _hours(expected[finding_id].row["created_at"], evaluated_at),
            "was_unarchived": row["was_unarchived"],
        }
        for finding_id, row in per_finding.items()
        if row["is_open_past_target"]
    }
    differences = compare_rows(
        "fct_finding_archive_times", per_finding, {row["finding_id"]: row for row in rows}
    )
    differences += compare_rows(
        "fct_findings_open_past_target",
        open_past_target,
        {row["finding_id"]: row for row in marts["fct_findings_open_past_target"]},
    )
    return differences + compare_rows(
        "agg_archive_compliance_by_severity",
        by_label,
        {row["severity_label"]: row for row in marts["agg_archive_compliance_by_severity"]},
    )


def check_coverage(
    observations: Iterable[Observation], marts: dict[str, list[dict[str, Any]]]
) -> list[Difference]:
    """agg_account_region_coverage: per account and Region, over every version delivered, real
    findings and samples counted apart (a sample is activity, never a finding)."""
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    real: dict[tuple[str, str], set[str]] = defaultdict(set)
    samples: dict[tuple[str, str], set[str]] = defaultdict(set)
    for observation in observations:
        finding = observation.finding
        key = (finding["accountId"], finding["region"])
        updated_at = naive_utc(parse_time(finding["updatedAt"]))
        source = sources.setdefault(
            key,
            {
                "first_finding_updated_at": None,
                "latest_finding_updated_at": None,
                "latest_version_updated_at": updated_at,
            },
        )
        source["latest_version_updated_at"] = max(source["latest_version_updated_at"], updated_at)
        if is_sample(finding):
            samples[key].add(finding["id"])
            continue
        real[key].add(finding["id"])
        first, latest = source["first_finding_updated_at"], source["latest_finding_updated_at"]
        source["first_finding_updated_at"] = min(first, updated_at) if first else updated_at
        source["latest_finding_updated_at"] = max(latest, updated_at) if latest else updated_at
    for key, source in sources.items():
        source["finding_count"] = len(real[key])
        source["sample_finding_count"] = len(samples[key])
    actual = {
        (row["account_id"], row["region"]): row for row in marts["agg_account_region_coverage"]
    }
    return compare_rows("agg_account_region_coverage", sources, actual)


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def check_quarantine(
    expected: Iterable[tuple[str, int | None, int | None]], rows: list[dict[str, Any]]
) -> list[Difference]:
    """One row per bad object, line or element, each with a reason."""
    differences = []
    actual: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = (row["source_uri"], row["line_number"], row.get("record_index"))
        if key in actual:
            differences.append(Difference("ingest_quarantine", str(key), "(row)", 1, "twice"))
        if not row.get("reason"):
            differences.append(
                Difference("ingest_quarantine", str(key), "reason", "a reason", None)
            )
        actual[key] = {"record_index": row.get("record_index", "(no such column)")}
    wanted = {key: {"record_index": key[2]} for key in expected}
    return differences + compare_rows("ingest_quarantine", wanted, actual)


def check_alerts(
    expected: dict[str, ExpectedFinding], alerts: list[dict[str, Any]]
) -> list[Difference]:
    """One alert per High or Critical finding with a copy that is not archived (severities do not
    change in the simulation, so there are no escalations); none for samples or suppressed ones."""
    sent: dict[str, dict[str, int]] = defaultdict(lambda: {"alerts": 0})
    for alert in alerts:
        sent[alert["finding_id"]]["alerts"] += 1
    wanted = {key: {"alerts": 1} for key, item in expected.items() if item.alertable}
    return compare_rows("alerts", wanted, dict(sent))
