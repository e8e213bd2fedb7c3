"""Bounded listing of the raw source: a cursor over the dated key prefixes, with a lookback.

Every writer of the raw source puts a UTC date in its keys as ``YYYY/MM/DD`` folders:

    AWSLogs/<account>/GuardDuty/<region>/YYYY/MM/DD/<uuid>.jsonl.gz    GuardDuty's S3 export
    <RAW_PREFIX>YYYY/MM/DD/<finding id>-<updatedAt>-<count>.json       the capture Lambda
    guardduty-api/<account>/<region>/YYYY/MM/DD/<sha256>.json          the GuardDuty API backfill

So after a first full listing, a run lists only the days from ``cursor - lookback`` onwards: it
walks the folders with '/' delimiter listings (which is how accounts, Regions and layouts are
discovered, at the cost of one LIST per folder), descends into a year, month or day folder only
when it can hold such a day, and lists each of those days in full (hour folders and all). The cost
of a run therefore follows the days listed, not the history behind them.

Folders without a date in their path (bare findings or GetFindings output dropped by hand under
any other name) are listed in full on every run: that part of the source costs what it holds.

Late objects: a writer may still add objects to a day after a run listed it. The lookback (two
days by default) covers the capture Lambda (its date is the finding's updatedAt, and EventBridge
retries an event for up to 24 hours) and the export (dated by delivery). The API backfill writes
pages under the day of each finding's updatedAt, anywhere in GuardDuty's 90-day retention (an
archive state changes without a new updatedAt). Only the backfill asset writes them, and an
ingest in the same run sweeps the API prefix over that retention (``api_pages_lookback``); every
other run and the sensor list it like the rest, so their cost does not grow with 91 days of
pages. A backfill whose ingest fails leaves its pages to the next backfill run's sweep.

The cursor is the newest key date listed, never later than today (a bogus far-future date in a
key must not make later runs skip everything before it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from orchestration.lib.ingest.api_backfill import GUARDDUTY_RETENTION_DAYS
from orchestration.lib.ingest.api_backfill import KEY_PREFIX as API_BACKFILL_PREFIX
from orchestration.lib.lake.store import ObjectStore, StoredObject

DEFAULT_LOOKBACK = timedelta(days=2)
# The backfill may write a page for any day GuardDuty still holds findings of.
API_BACKFILL_LOOKBACK = timedelta(days=GUARDDUTY_RETENTION_DAYS + 1)

_YEAR = re.compile(r"^\d{4}$")
_MONTH_OR_DAY = re.compile(r"^\d{2}$")


def object_date(key: str) -> date | None:
    """The date of the first ``YYYY/MM/DD`` folders in ``key``; None for an undated key."""
    folders = key.split("/")[:-1]
    for index in range(len(folders) - 2):
        day = _date_of(*folders[index : index + 3])
        if day is not None:
            return day
    return None


class NewCandidates:
    """The objects that can be new since ``cursor``, listed while they are iterated, and the
    cursor of the next listing once they all have been.

    ``cursor`` None lists everything (a first run). Otherwise the listing holds every object of a
    dated folder from ``cursor - lookback`` on (the API backfill's prefix from
    ``cursor - api_pages_lookback`` when given: API_BACKFILL_LOOKBACK sweeps its retention), and
    every object of an undated folder. Objects already ingested are among them: the caller
    filters them out with the ledger.

    How the ingest uses it:

    1. ``cursor`` is the value the last complete run stored (None on the first run);
    2. the ledger lookup reads only the partitions that can hold the listed objects, before the
       listing starts: ``object_date >= earliest_day`` or ``object_date is null``;
    3. each ledger row records ``object_date(stored.key)``;
    4. it reads objects as they are listed, and stores ``next_cursor`` only with the commit of
       the run's last batch (the cursor stays as it was when nothing was read): a run that stops
       half-way must not move the cursor past objects it listed but did not commit.
    """

    def __init__(
        self,
        store: ObjectStore,
        cursor: date | None,
        lookback: timedelta = DEFAULT_LOOKBACK,
        today: date | None = None,
        api_pages_lookback: timedelta | None = None,
    ) -> None:
        self._store = store
        self._window = (
            None if cursor is None else _Window(cursor, lookback, api_pages_lookback or lookback)
        )
        self._today = today or datetime.now(UTC).date()
        self._newest = cursor
        self._listed_to_the_end = False

    @property
    def earliest_day(self) -> date | None:
        """No dated object listed is older; None when everything is listed."""
        return None if self._window is None else self._window.earliest

    def __iter__(self) -> Iterator[StoredObject]:
        store, window = self._store, self._window
        for stored in store.list() if window is None else _walk(store, "", window):
            day = object_date(stored.key)
            if day and (self._newest is None or day > self._newest):
                self._newest = day
            yield stored
        self._listed_to_the_end = True

    @property
    def next_cursor(self) -> date | None:
        """The newest key date listed (or the cursor), never later than today."""
        if not self._listed_to_the_end:
            raise RuntimeError("the next listing cursor is known only once the listing ends")
        return None if self._newest is None else min(self._newest, self._today)


def list_new_candidates(
    store: ObjectStore,
    cursor: date | None,
    lookback: timedelta = DEFAULT_LOOKBACK,
    today: date | None = None,
    api_pages_lookback: timedelta | None = None,
) -> tuple[list[StoredObject], date | None]:
    """``NewCandidates`` listed in full: its objects, and the cursor of the next listing."""
    candidates = NewCandidates(store, cursor, lookback, today, api_pages_lookback)
    objects = list(candidates)
    return objects, candidates.next_cursor


@dataclass(frozen=True)
class _Window:
    """The days a walk lists: from ``cursor - lookback`` on (the API pages' own lookback under
    their prefix)."""

    cursor: date
    lookback: timedelta
    api_pages_lookback: timedelta

    @property
    def start(self) -> date:
        return self.cursor - self.lookback

    @property
    def earliest(self) -> date:
        """The first day listed under any prefix."""
        return self.cursor - max(self.lookback, self.api_pages_lookback)

    def under(self, prefix: str) -> _Window:
        if prefix.rstrip("/") == API_BACKFILL_PREFIX:
            return replace(self, lookback=self.api_pages_lookback)
        return self


def _walk(store: ObjectStore, prefix: str, window: _Window) -> Iterator[StoredObject]:
    window = window.under(prefix)
    level = store.list_folder(prefix)
    yield from level.objects
    for folder in level.folders:
        name = _name(folder)
        if _YEAR.match(name):
            if int(name) >= window.start.year:
                yield from _walk_year(store, folder, window)
        else:
            yield from _walk(store, folder, window)


def _walk_year(store: ObjectStore, prefix: str, window: _Window) -> Iterator[StoredObject]:
    year = int(_name(prefix))
    level = store.list_folder(prefix)
    yield from level.objects
    for folder in level.folders:
        month = _name(folder)
        if not (_MONTH_OR_DAY.match(month) and 1 <= int(month) <= 12):
            yield from _walk(store, folder, window)
        elif (year, int(month)) >= (window.start.year, window.start.month):
            yield from _walk_month(store, folder, window)


def _walk_month(store: ObjectStore, prefix: str, window: _Window) -> Iterator[StoredObject]:
    year, month = (int(part) for part in prefix.rstrip("/").split("/")[-2:])
    level = store.list_folder(prefix)
    yield from level.objects
    for folder in level.folders:
        day = _date_of(str(year), f"{month:02d}", _name(folder))
        if day is None:
            yield from _walk(store, folder, window)
        elif day >= window.start:
            yield from store.list(folder)


def _name(folder: str) -> str:
    return folder.rstrip("/").rsplit("/", 1)[-1]


def _date_of(year: str, month: str, day: str) -> date | None:
    if not (_YEAR.match(year) and _MONTH_OR_DAY.match(month) and _MONTH_OR_DAY.match(day)):
        return None
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None
