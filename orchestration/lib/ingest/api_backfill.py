"""Backfill finding history, archived findings included, from the GuardDuty API into the raw source.

GuardDuty's S3 export never carries archived findings (nor findings a suppression rule archives),
and EventBridge capture starts only when it is deployed. The API holds every finding of the last 90
days, archived or not, so this module copies them into the raw source as GetFindings pages, which
the ingest reads like any other raw object.

For each Region, detector and UTC day of the window: ``ListFindings`` on ``updatedAt`` within the
day (paginated, no filter on ``service.archived``), the ids sorted, ``GetFindings`` per 50 ids, and
one object per batch and account::

    guardduty-api/<account>/<region>/<YYYY>/<MM>/<DD>/<sha256>.json
        {"Findings": [...], "capturedAt": "<when the run captured them, ISO-8601 UTC>"}

``capturedAt`` is when this copy of each finding was observed: copies of one version that differ
(archived in one, not in the other) are ordered by it downstream. Pages written before it existed
are still read; their object's last modification stands in for it.

The hash covers the sorted (id, updatedAt, archived) triples of the object, so a re-run over
unchanged findings produces the same keys and writes nothing, while a finding that was updated or
archived since produces a new object (raw objects are never overwritten with other findings). One
state can come back: a finding archived, unarchived, then archived again has the same triple as
its first page. When a page already exists but a later page of its day observed one of its
findings in the other state, the page is written again as a new observation
(``<sha256>-<capture time>.json``), so the latest observation is always the current state.
Querying per day keeps batches stable: a new update moves one finding to today and disturbs only
the day it left. The findings are stored exactly as boto3 returns them (PascalCase, string
timestamps as GuardDuty sends them); the few members botocore parses into datetimes are written
back as the epoch seconds the wire format carries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError

from orchestration.lib.aws.guardduty import (
    MAX_PAGE_SIZE,
    ApiCaller,
    GuardDutyApiError,
    list_detector_ids,
    list_finding_ids,
    updated_between,
)
from orchestration.lib.lake.store import ObjectStore, StoredObject

logger = logging.getLogger(__name__)

KEY_PREFIX = "guardduty-api"
GUARDDUTY_RETENTION_DAYS = 90
CAPTURED_AT_KEY = "capturedAt"
_UNSAFE_KEY_SEGMENT = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class BackfillWindow:
    """Whole UTC days ``[start, end)``; the last day ends at the moment of the run."""

    start: datetime
    end: datetime

    @classmethod
    def last_days(cls, days: int, now: datetime) -> BackfillWindow:
        """The ``days`` UTC days before today, and today up to ``now``.

        Whole days make the per-day queries, and so the objects written, the same on every run
        of the same day.
        """
        now = now.astimezone(UTC)
        first_day = now.date() - timedelta(days=days)
        return cls(datetime.combine(first_day, time(), UTC), now)

    def days(self) -> Iterator[tuple[date, datetime, datetime]]:
        """(day, start, end) of every UTC day of the window, the last one cut at ``end``."""
        day = self.start.date()
        while True:
            day_start = max(self.start, datetime.combine(day, time(), UTC))
            if day_start >= self.end:
                return
            day_end = min(self.end, datetime.combine(day + timedelta(days=1), time(), UTC))
            yield day, day_start, day_end
            day += timedelta(days=1)


@dataclass
class BackfillStats:
    """What a backfill did, for the asset's metadata."""

    window_start: datetime
    window_end: datetime
    detectors: list[str] = field(default_factory=list)
    findings_listed: int = 0
    findings_written: int = 0
    archived_findings_written: int = 0
    objects_written: int = 0
    objects_skipped: int = 0
    objects_rewritten: int = 0
    # Unchanged pages written again because their findings' state changed back since.
    objects_reobserved: int = 0
    api_retries: int = 0


def run_backfill(
    client_for_region: Callable[[str], Any],
    store: ObjectStore,
    regions: tuple[str, ...] | list[str],
    window: BackfillWindow,
    caller: ApiCaller | None = None,
    log: logging.Logger | None = None,
    captured_at: datetime | None = None,
) -> BackfillStats:
    """Copy every finding updated in ``window`` from each Region's detectors into ``store``.

    Args:
        client_for_region: returns a boto3 GuardDuty client for a Region.
        store: the raw source (``settings.source_uri``).
        regions: the Regions to read.
        window: which ``updatedAt`` times to read.
        caller: retry policy, sleep and jitter (injectable for tests).
        log: where progress goes.
        captured_at: the capture time written into the pages (default now); the findings'
            state is read after it.

    Raises:
        GuardDutyAccessDenied: a permission is missing (no retry).
        GuardDutyApiError: any other API failure, or throttling that outlasted the retries.
            Objects written before the failure stay; the next run skips them.
    """
    caller = caller or ApiCaller()
    log = log or logger
    stats = BackfillStats(window_start=window.start, window_end=window.end)
    pages = _PageWriter(store, captured_at or datetime.now(UTC), stats)
    for region in regions:
        client = client_for_region(region)
        try:
            for detector_id in list_detector_ids(client, caller, region):
                stats.detectors.append(f"{region}/{detector_id}")
                _backfill_detector(client, pages, region, detector_id, window, caller, log)
        except BotoCoreError as error:
            # No credentials, no route to the endpoint: nothing a retry here would fix.
            raise GuardDutyApiError(f"GuardDuty in {region}: {error}") from error
    stats.api_retries = caller.retries
    log.info(
        "Backfill %s to %s: %d findings listed, %d written in %d objects, %d objects unchanged",
        window.start.isoformat(),
        window.end.isoformat(),
        stats.findings_listed,
        stats.findings_written,
        stats.objects_written + stats.objects_rewritten + stats.objects_reobserved,
        stats.objects_skipped,
    )
    return stats


def _backfill_detector(
    client: Any,
    pages: _PageWriter,
    region: str,
    detector_id: str,
    window: BackfillWindow,
    caller: ApiCaller,
    log: logging.Logger,
) -> None:
    stats = pages.stats
    for day, day_start, day_end in window.days():
        description = f"{region}/{detector_id} {day.isoformat()}"
        # Sorted so the same findings fall into the same batches, whatever order the API lists.
        finding_ids = sorted(
            set(
                list_finding_ids(
                    client, caller, detector_id, updated_between(day_start, day_end), description
                )
            )
        )
        stats.findings_listed += len(finding_ids)
        for offset in range(0, len(finding_ids), MAX_PAGE_SIZE):
            batch = finding_ids[offset : offset + MAX_PAGE_SIZE]
            response = caller.call(
                f"GetFindings {description}",
                lambda batch=batch: client.get_findings(DetectorId=detector_id, FindingIds=batch),
            )
            for account_id, findings in _by_account(response.get("Findings", [])).items():
                pages.write_page(account_id, region, day, findings)
        if finding_ids:
            log.info("%s: %d findings", description, len(finding_ids))


def _by_account(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in findings:
        groups[str(finding.get("AccountId") or "unknown-account")].append(finding)
    return groups


def page_key(account_id: str, region: str, day: date, findings: list[dict[str, Any]]) -> str:
    """The deterministic raw-source key of a page of findings (see the module docstring)."""
    identity = sorted(
        (
            str(finding.get("Id", "")),
            str(finding.get("UpdatedAt", "")),
            bool(finding.get("Service", {}).get("Archived", False)),
        )
        for finding in findings
    )
    digest = hashlib.sha256(json.dumps(identity, separators=(",", ":")).encode()).hexdigest()
    account = _UNSAFE_KEY_SEGMENT.sub("_", account_id)
    return f"{KEY_PREFIX}/{account}/{region}/{day:%Y/%m/%d}/{digest}.json"


def page_bytes(findings: list[dict[str, Any]], captured_at: datetime) -> bytes:
    """``{"Findings": [...], "capturedAt": ...}``, the findings in a stable order, as the
    GetFindings response holds them."""
    ordered = sorted(findings, key=lambda finding: str(finding.get("Id", "")))
    page = {"Findings": ordered, CAPTURED_AT_KEY: _iso(captured_at)}
    return json.dumps(page, default=_wire_value, separators=(",", ":")).encode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wire_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # GuardDuty's REST protocol sends these members as epoch seconds; keep the wire form.
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _page_findings(data: bytes) -> list[Any] | None:
    try:
        page = json.loads(data)
    except ValueError:
        return None
    return page.get("Findings") if isinstance(page, dict) else None


def _version_states(findings: list[dict[str, Any]]) -> dict[tuple[str, str], bool]:
    """(id, updatedAt) -> archived, of the findings of a page."""
    return {
        (str(finding.get("Id", "")), str(finding.get("UpdatedAt", ""))): bool(
            finding.get("Service", {}).get("Archived", False)
        )
        for finding in findings
        if isinstance(finding, dict)
    }


class _PageWriter:
    """Writes pages into the raw source, each once per state of its findings."""

    def __init__(self, raw: ObjectStore, captured_at: datetime, stats: BackfillStats) -> None:
        self.raw = raw
        self.captured_at = captured_at.astimezone(UTC)
        self.stats = stats
        # Per day folder: (id, updatedAt) -> (observed at, archived) of its latest observation.
        self._latest: dict[str, dict[tuple[str, str], tuple[datetime, bool]]] = {}

    def write_page(
        self, account_id: str, region: str, day: date, findings: list[dict[str, Any]]
    ) -> None:
        key = page_key(account_id, region, day, findings)
        data = page_bytes(findings, self.captured_at)
        if self.raw.write_if_absent(key, data):
            self.stats.objects_written += 1
        else:
            stored = _page_findings(self.raw.read(key))
            if stored == _page_findings(data):
                if not self._changed_back(key, findings):
                    self.stats.objects_skipped += 1
                    return
                key = f"{key.removesuffix('.json')}-{self.captured_at:%Y%m%dT%H%M%S}Z.json"
                self.raw.write(key, data)
                self.stats.objects_reobserved += 1
            else:
                # Same versions, other details (GuardDuty changed a field without a new
                # updatedAt), or a copy cut short by a crash: the new copy replaces it, and the
                # ingest reads it again.
                self.raw.write(key, data)
                self.stats.objects_rewritten += 1
        self.stats.findings_written += len(findings)
        self.stats.archived_findings_written += sum(
            1 for finding in findings if finding.get("Service", {}).get("Archived")
        )

    def _changed_back(self, key: str, findings: list[dict[str, Any]]) -> bool:
        """True when the latest observation of one of ``findings`` holds another archive state."""
        latest = self._observations(key.rsplit("/", 1)[0] + "/")
        return any(
            version in latest and latest[version][1] != archived
            for version, archived in _version_states(findings).items()
        )

    def _observations(self, folder: str) -> dict[tuple[str, str], tuple[datetime, bool]]:
        if folder not in self._latest:
            latest: dict[tuple[str, str], tuple[datetime, bool]] = {}
            for stored in self.raw.list_folder(folder).objects:
                if not stored.key.endswith(".json"):
                    continue
                observed_at, states = _observation(self.raw.read(stored.key), stored)
                for version, archived in states.items():
                    if version not in latest or observed_at > latest[version][0]:
                        latest[version] = (observed_at, archived)
            self._latest[folder] = latest
        return self._latest[folder]


def _observation(data: bytes, stored: StoredObject) -> tuple[datetime, dict[tuple[str, str], bool]]:
    """When a stored page was captured (its ``capturedAt``, else its last modification), and the
    archive state of each of its versions."""
    observed_at = stored.last_modified or datetime.min.replace(tzinfo=UTC)
    try:
        page = json.loads(data)
        findings = page["Findings"]
        if isinstance(page.get(CAPTURED_AT_KEY), str):
            observed_at = datetime.fromisoformat(page[CAPTURED_AT_KEY].replace("Z", "+00:00"))
    except (ValueError, TypeError, KeyError):
        # Not a page this module wrote: it observes nothing.
        return observed_at, {}
    return observed_at, _version_states(findings) if isinstance(findings, list) else {}
