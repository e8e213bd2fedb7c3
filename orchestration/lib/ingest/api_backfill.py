"""Backfill finding history, archived findings included, from the GuardDuty API into the raw source.

GuardDuty's S3 export never carries archived findings (nor findings a suppression rule archives),
and EventBridge capture starts only when it is deployed. The API holds every finding of the last 90
days, archived or not, so this module copies them into the raw source as GetFindings pages, which
the ingest reads like any other raw object.

For each Region, detector and UTC day of the window: ``ListFindings`` on ``updatedAt`` within the
day (paginated, no filter on ``service.archived``), the ids sorted, ``GetFindings`` per 50 ids, and
one object per batch and account::

    guardduty-api/<account>/<region>/<YYYY>/<MM>/<DD>/<sha256>.json   {"Findings": [...]}

The hash covers the sorted (id, updatedAt, archived) triples of the object, so a re-run over
unchanged findings produces the same keys and writes nothing, while a finding that was updated or
archived since produces a new object (raw objects are never overwritten with other findings).
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
from orchestration.lib.lake.store import ObjectStore

logger = logging.getLogger(__name__)

KEY_PREFIX = "guardduty-api"
GUARDDUTY_RETENTION_DAYS = 90
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
    api_retries: int = 0


def run_backfill(
    client_for_region: Callable[[str], Any],
    store: ObjectStore,
    regions: tuple[str, ...] | list[str],
    window: BackfillWindow,
    caller: ApiCaller | None = None,
    log: logging.Logger | None = None,
) -> BackfillStats:
    """Copy every finding updated in ``window`` from each Region's detectors into ``store``.

    Args:
        client_for_region: returns a boto3 GuardDuty client for a Region.
        store: the raw source (``settings.source_uri``).
        regions: the Regions to read.
        window: which ``updatedAt`` times to read.
        caller: retry policy, sleep and jitter (injectable for tests).
        log: where progress goes.

    Raises:
        GuardDutyAccessDenied: a permission is missing (no retry).
        GuardDutyApiError: any other API failure, or throttling that outlasted the retries.
            Objects written before the failure stay; the next run skips them.
    """
    caller = caller or ApiCaller()
    log = log or logger
    stats = BackfillStats(window_start=window.start, window_end=window.end)
    for region in regions:
        client = client_for_region(region)
        try:
            for detector_id in list_detector_ids(client, caller, region):
                stats.detectors.append(f"{region}/{detector_id}")
                _backfill_detector(client, store, region, detector_id, window, caller, stats, log)
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
        stats.objects_written + stats.objects_rewritten,
        stats.objects_skipped,
    )
    return stats


def _backfill_detector(
    client: Any,
    store: ObjectStore,
    region: str,
    detector_id: str,
    window: BackfillWindow,
    caller: ApiCaller,
    stats: BackfillStats,
    log: logging.Logger,
) -> None:
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
                _store_page(store, account_id, region, day, findings, stats)
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


def page_bytes(findings: list[dict[str, Any]]) -> bytes:
    """``{"Findings": [...]}`` in a stable order, as the GetFindings response holds them."""
    ordered = sorted(findings, key=lambda finding: str(finding.get("Id", "")))
    return json.dumps({"Findings": ordered}, default=_wire_value, separators=(",", ":")).encode()


def _wire_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # GuardDuty's REST protocol sends these members as epoch seconds; keep the wire form.
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _same_page(stored: bytes, data: bytes) -> bool:
    try:
        return json.loads(stored) == json.loads(data)
    except ValueError:
        return False


def _store_page(
    store: ObjectStore,
    account_id: str,
    region: str,
    day: date,
    findings: list[dict[str, Any]],
    stats: BackfillStats,
) -> None:
    key = page_key(account_id, region, day, findings)
    data = page_bytes(findings)
    if store.write_if_absent(key, data):
        stats.objects_written += 1
    elif _same_page(store.read(key), data):
        stats.objects_skipped += 1
        return
    else:
        # Same versions, other details (GuardDuty changed a field without a new updatedAt), or a
        # copy cut short by a crash: the new copy replaces it, and the ingest reads it again.
        store.write(key, data)
        stats.objects_rewritten += 1
    stats.findings_written += len(findings)
    stats.archived_findings_written += sum(
        1 for finding in findings if finding.get("Service", {}).get("Archived")
    )
