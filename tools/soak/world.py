"""A simulated GuardDuty: findings living over days, and the raw objects that deliver them.

Everything is drawn from one seed up front, so a run is reproducible. A finding is created, gets
new versions (``service.count`` and ``updatedAt`` grow), may be archived, unarchived and archived
again (archiving changes no version, as in GuardDuty; an archived finding gets no new versions).
Each version reaches the raw source as GuardDuty's channels deliver it:

- an EventBridge event stored by the capture Lambda (``eventbridge/YYYY/MM/DD/<id>-<updatedAt>-
  <count>.json``), seconds after ``updatedAt``; a few arrive days late, and a few are delivered
  again (the Lambda overwrites the same key with the same bytes);
- lines of GuardDuty's native export (``AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.
  jsonl.gz``), one object per account, Region and six hours;
- the API, which the pipeline's backfill reads through ``FakeGuardDutyClient``: the current
  version of every finding with its archive state at the moment of the call.

A few findings are suppressed (archived as they are created): only the API shows them. Besides
findings, the source receives sample findings, a non-finding EventBridge event and bad
objects (invalid JSON, a bad export line, an array with bad elements, timestamps in the future and
before GuardDuty existed), each with the quarantine records the contract prescribes.
"""

from __future__ import annotations

import bisect
import copy
import gzip
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestration.lib.aws.guardduty import severity_label
from tools.demo_corpus import (
    ACTION_TYPES,
    SAMPLE_FORMS,
    build_finding,
    build_next_version,
    eventbridge_event,
    to_pascal_case,
)

ACCOUNT_REGIONS = (
    ("004215587723", "us-east-1"),
    ("004215587723", "eu-west-1"),
    ("741258963014", "eu-west-1"),
)
REGIONS = tuple(sorted({region for _, region in ACCOUNT_REGIONS}))
EXPORT_WINDOW = timedelta(hours=6)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass
class SimFinding:
    """One finding's whole life: its versions and its archive events, in time order."""

    finding_id: str
    versions: list[dict[str, Any]]
    is_sample: bool
    archive_events: list[tuple[datetime, bool]] = field(default_factory=list)
    # Archived by a suppression rule as it is created: GuardDuty sends it to neither EventBridge
    # nor the export, so only the API shows it (archived).
    suppressed: bool = False

    def version_at(self, moment: datetime) -> dict[str, Any] | None:
        times = [parse_time(version["updatedAt"]) for version in self.versions]
        index = bisect.bisect_right(times, moment)
        return self.versions[index - 1] if index else None

    def archived_at(self, moment: datetime) -> bool:
        archived = False
        for when, state in self.archive_events:
            if when <= moment:
                archived = state
        return archived


@dataclass(frozen=True)
class Observation:
    """A copy of a finding version that reaches the lake, and when the contract says it was seen."""

    finding: dict[str, Any]
    archived: bool
    observed_at: datetime


@dataclass(frozen=True)
class ExpectedQuarantine:
    line_number: int | None
    record_index: int | None
    reason_hint: str


@dataclass
class Delivery:
    """A raw object the harness writes into the source at ``arrives_at``."""

    arrives_at: datetime
    key: str
    data: bytes
    observations: list[Observation] = field(default_factory=list)
    status: str = "ingested"  # the ledger status: ingested, skipped or quarantined
    quarantine: list[ExpectedQuarantine] = field(default_factory=list)
    label: str = "finding"
    # The object's version once written (a local file's modification time in nanoseconds).
    version_ns: int | None = None


class World:
    """The simulated account: findings and deliveries over ``days`` from ``start``."""

    def __init__(self, seed: int, start: datetime, days: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (a reproducible simulation, not a secret)
        self.start = start
        self.end = start + timedelta(days=days)
        self.days = days
        self.findings: dict[str, SimFinding] = {}
        self.deliveries: list[Delivery] = []
        for day in range(days):
            self._create_findings(start + timedelta(days=day))
        self._deliver_versions()
        self._deliver_oddities()
        self.deliveries.sort(key=lambda delivery: delivery.arrives_at)

    # -- GuardDuty activity --------------------------------------------------------------------

    def _create_findings(self, day_start: datetime) -> None:
        rng = self.rng
        for _ in range(rng.randint(5, 9)):
            created = day_start + timedelta(seconds=rng.randrange(60, 86_000))
            account_id, region = rng.choice(ACCOUNT_REGIONS)
            is_sample = rng.random() < 0.05
            first = build_finding(
                rng,
                action_type=rng.choice(ACTION_TYPES),
                connection_direction=rng.choice(("INBOUND", "INBOUND", "OUTBOUND")),
                account_id=account_id,
                region=region,
                created_at=created,
                updated_at=created,
                count=1,
                sample_form=rng.choice(SAMPLE_FORMS) if is_sample else None,
            )
            finding = SimFinding(first["id"], [first], is_sample)
            self._evolve(finding, created)
            if not is_sample and rng.random() < 0.05:
                finding.suppressed = True
                finding.archive_events = [(created + timedelta(seconds=1), True)]
            self.findings[finding.finding_id] = finding

    def _evolve(self, finding: SimFinding, created: datetime) -> None:
        """New versions, then perhaps an archive, a reopening with a new version, a re-archive."""
        rng = self.rng
        moment = created
        for _ in range(rng.choice((0, 0, 1, 2, 3, 5))):
            moment += timedelta(minutes=rng.randrange(15, 2 * 24 * 60))
            self._add_version(finding, moment)
        if finding.is_sample or rng.random() < 0.45:
            return
        label_days = {"Low": 20, "Medium": 6, "High": 1.5, "Critical": 1.5}
        severity = float(finding.versions[0]["severity"])
        typical = label_days[severity_label(severity)]
        moment += timedelta(hours=12 + rng.random() * typical * 24 * 1.5)
        finding.archive_events.append((moment, True))
        if rng.random() < 0.3:
            moment += timedelta(hours=rng.randrange(12, 5 * 24))
            finding.archive_events.append((moment, False))
            if rng.random() < 0.6:
                moment += timedelta(minutes=rng.randrange(30, 20 * 60))
                self._add_version(finding, moment)
            if rng.random() < 0.4:
                moment += timedelta(hours=rng.randrange(12, 3 * 24))
                finding.archive_events.append((moment, True))

    def _add_version(self, finding: SimFinding, moment: datetime) -> None:
        finding.versions.append(
            build_next_version(finding.versions[-1], self.rng, updated_at=moment)
        )

    # -- what GuardDuty delivers ---------------------------------------------------------------

    def _deliver_versions(self) -> None:
        rng = self.rng
        exports: dict[tuple[str, str, datetime], list[dict[str, Any]]] = {}
        for finding in self.findings.values():
            for version in [] if finding.suppressed else finding.versions:
                updated = parse_time(version["updatedAt"])
                if updated >= self.end:
                    continue
                by_event = rng.random() < 0.85
                if by_event:
                    self._deliver_event(version, updated)
                if not by_event or rng.random() < 0.6:
                    window = self.start + EXPORT_WINDOW * ((updated - self.start) // EXPORT_WINDOW)
                    key = (version["accountId"], version["region"], window)
                    exports.setdefault(key, []).append(version)
        for (account_id, region, window), versions in sorted(exports.items()):
            arrives = window + EXPORT_WINDOW + timedelta(seconds=rng.randrange(60, 900))
            key = (
                f"AWSLogs/{account_id}/GuardDuty/{region}/{arrives:%Y/%m/%d}/"
                f"{uuid.UUID(int=rng.getrandbits(128))}.jsonl.gz"
            )
            self.deliveries.append(
                Delivery(
                    arrives,
                    key,
                    _jsonl_gz(versions),
                    [Observation(version, False, arrives) for version in versions],
                    label="export",
                )
            )

    def _deliver_event(self, version: dict[str, Any], updated: datetime) -> None:
        rng = self.rng
        event = eventbridge_event(version, rng)
        event_time = parse_time(event["time"])
        arrives = updated + timedelta(seconds=rng.randrange(1, 300))
        # EventBridge retries a delivery for up to 24 hours.
        late = rng.random() < 0.05
        if late:
            arrives += timedelta(minutes=rng.randrange(60, 23 * 60))
        key = _event_key(version)
        data = json.dumps(event, separators=(",", ":")).encode()
        observations = [Observation(version, False, event_time)]
        self.deliveries.append(
            Delivery(arrives, key, data, observations, label="late event" if late else "event")
        )
        if rng.random() < 0.05:
            # Again within EventBridge's 24 hours, after a run read the first copy (sensor ticks
            # are six hours apart): the Lambda overwrites the same key with the same bytes.
            again = arrives + timedelta(minutes=rng.randrange(7 * 60, 23 * 60))
            self.deliveries.append(Delivery(again, key, data, observations, label="re-delivery"))

    def _deliver_oddities(self) -> None:
        """Objects that are not clean findings, on the first days so every run has them."""
        rng = self.rng

        def at(day: int) -> datetime:
            day = min(day, self.days - 1)
            return self.start + timedelta(days=day, hours=rng.randrange(1, 20))

        health = {
            "version": "0",
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "detail-type": "GuardDuty Runtime Protection Unhealthy",
            "source": "aws.guardduty",
            "time": at(0).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "detail": {"resourceId": "i-0health", "status": "UNHEALTHY"},
        }
        self._odd(at(0), "eventbridge/odd/health-event.json", _json(health), "skipped", [])
        self._odd(
            at(1),
            "eventbridge/odd/not-json.json",
            b"{this is not json",
            "quarantined",
            [ExpectedQuarantine(None, None, "JSON")],
        )
        moment = at(2)
        good = self._throwaway_finding(moment)
        lines = b"\n".join([_json(good), b'{"id": "broken', _json(good)]) + b"\n"
        self._odd(
            moment,
            f"AWSLogs/{good['accountId']}/GuardDuty/{good['region']}/odd/bad-line.jsonl.gz",
            gzip.compress(lines),
            "ingested",
            [ExpectedQuarantine(2, None, "JSON")],
            observations=[good],
        )
        moment = at(3)
        element = self._throwaway_finding(moment)
        missing_id = {key: value for key, value in element.items() if key != "id"}
        bad_severity = {**element, "severity": "very"}
        self._odd(
            moment,
            "eventbridge/odd/array-with-bad-elements.json",
            _json([missing_id, element, bad_severity]),
            "ingested",
            [ExpectedQuarantine(None, 0, "id"), ExpectedQuarantine(None, 2, "severity")],
            observations=[element],
        )
        future = self._throwaway_finding(moment, register=False)
        future["updatedAt"] = "2099-01-01T00:00:00.000Z"
        before = self._throwaway_finding(moment, register=False)
        before["createdAt"] = before["updatedAt"] = "2016-06-01T00:00:00.000Z"
        for name, finding in (("future", future), ("before-launch", before)):
            self._odd(
                moment,
                f"eventbridge/odd/updated-{name}.json",
                _json(eventbridge_event(finding, rng, time=moment.strftime("%Y-%m-%dT%H:%M:%SZ"))),
                "quarantined",
                [ExpectedQuarantine(None, None, "updatedAt")],
            )

    def _odd(
        self,
        arrives: datetime,
        key: str,
        data: bytes,
        status: str,
        quarantine: list[ExpectedQuarantine],
        observations: list[dict[str, Any]] = (),
    ) -> None:
        self.deliveries.append(
            Delivery(
                arrives,
                key,
                data,
                [Observation(finding, False, arrives) for finding in observations],
                status=status,
                quarantine=quarantine,
                label="odd object",
            )
        )

    def _throwaway_finding(self, moment: datetime, register: bool = True) -> dict[str, Any]:
        """A finding seen once, outside the simulated lives (it never updates or archives)."""
        account_id, region = self.rng.choice(ACCOUNT_REGIONS)
        finding = build_finding(
            self.rng,
            action_type="PORT_PROBE",
            account_id=account_id,
            region=region,
            created_at=moment - timedelta(hours=1),
            updated_at=moment - timedelta(minutes=30),
        )
        if register:
            self.findings[finding["id"]] = SimFinding(finding["id"], [finding], False)
        return finding

    # -- the API -------------------------------------------------------------------------------

    def api_state(self, moment: datetime) -> dict[str, tuple[dict[str, Any], bool]]:
        """What GetFindings returns at ``moment``: current version and archive state per id."""
        state = {}
        for finding in self.findings.values():
            version = finding.version_at(moment)
            if version is not None:
                state[finding.finding_id] = (version, finding.archived_at(moment))
        return state


class FakeGuardDutyClient:
    """The three GuardDuty calls the backfill makes, answered from the world at the clock's now."""

    def __init__(self, world: World, region: str, now: Any) -> None:
        self.world, self.region, self.now = world, region, now

    def list_detectors(self, **_: Any) -> dict[str, Any]:
        return {"DetectorIds": [f"soak{self.region.replace('-', '')}"]}

    def list_findings(self, DetectorId: str, FindingCriteria: dict, **request: Any) -> dict:
        bounds = FindingCriteria["Criterion"]["updatedAt"]
        start = datetime.fromtimestamp(bounds["GreaterThanOrEqual"] / 1000, UTC)
        end = datetime.fromtimestamp(bounds["LessThan"] / 1000, UTC)
        ids = sorted(
            finding_id
            for finding_id, (version, _) in self.world.api_state(self.now()).items()
            if version["region"] == self.region and start <= parse_time(version["updatedAt"]) < end
        )
        offset = int(request.get("NextToken") or 0)
        page_size = int(request.get("MaxResults", 50))
        response: dict[str, Any] = {"FindingIds": ids[offset : offset + page_size]}
        if offset + page_size < len(ids):
            response["NextToken"] = str(offset + page_size)
        return response

    def get_findings(self, DetectorId: str, FindingIds: list[str], **_: Any) -> dict:
        state = self.world.api_state(self.now())
        findings = []
        for finding_id in FindingIds:
            version, archived = state[finding_id]
            copy_of_version = copy.deepcopy(version)
            copy_of_version["service"]["archived"] = archived
            findings.append(to_pascal_case(copy_of_version))
        return {"Findings": findings}


def _event_key(version: dict[str, Any]) -> str:
    updated = parse_time(version["updatedAt"])
    compact = updated.strftime("%Y%m%dT%H%M%S") + f"{updated.microsecond // 1000:03d}Z"
    count = version["service"]["count"]
    return f"eventbridge/{updated:%Y/%m/%d}/{version['id']}-{compact}-{count}.json"


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _jsonl_gz(versions: list[dict[str, Any]]) -> bytes:
    return gzip.compress(b"".join(_json(version) + b"\n" for version in versions))
