"""The bounded source listing: a cursor over dated key prefixes, a lookback for late objects."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from orchestration.lib.ingest.listing import (
    API_BACKFILL_LOOKBACK,
    list_new_candidates,
    object_date,
)
from orchestration.lib.lake.store import FolderListing, LocalStore, S3Store

TODAY = date(2026, 11, 30)
ACCOUNT = "123456789012"


class CountingStore:
    """A store that counts LIST requests (one per folder or prefix listed) and objects listed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.root_uri = inner.root_uri
        self.list_requests = 0
        self.objects_listed = 0

    def list(self, prefix: str = ""):
        self.list_requests += 1
        for stored in self.inner.list(prefix):
            self.objects_listed += 1
            yield stored

    def list_folder(self, prefix: str = "") -> FolderListing:
        self.list_requests += 1
        level = self.inner.list_folder(prefix)
        self.objects_listed += len(level.objects)
        return level

    def read(self, key: str) -> bytes:
        return self.inner.read(key)


def export_key(day: date, name: str, region: str = "eu-west-1") -> str:
    return f"AWSLogs/{ACCOUNT}/GuardDuty/{region}/{day:%Y/%m/%d}/{name}.jsonl.gz"


def capture_key(day: date, name: str) -> str:
    return f"eventbridge/{day:%Y/%m/%d}/{name}.json"


def write(root: Path, *keys: str) -> None:
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def keys(objects) -> set[str]:
    return {stored.key for stored in objects}


def days_before(end: date, count: int) -> list[date]:
    return [end - timedelta(days=offset) for offset in range(count)]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (export_key(date(2026, 3, 9), "a"), date(2026, 3, 9)),
        ("eventbridge/2026/11/30/07/abc.json", date(2026, 11, 30)),
        (f"guardduty-api/{ACCOUNT}/us-east-1/2026/09/01/f00.json", date(2026, 9, 1)),
        ("2026/02/28/x.json", date(2026, 2, 28)),
        (f"findings-api/{ACCOUNT}/us-east-1/abc.json", None),
        ("2026/02/30/x.json", None),
        ("2026/11/x.json", None),
        ("archive/2026/11/30", None),
    ],
)
def test_object_date_is_the_first_date_folder_of_the_key(key, expected):
    assert object_date(key) == expected


def test_first_listing_lists_everything_and_sets_the_cursor_to_the_newest_day(tmp_path):
    write(
        tmp_path,
        export_key(date(2026, 1, 5), "a"),
        capture_key(date(2026, 11, 29), "b"),
        f"findings-api/{ACCOUNT}/us-east-1/c.json",
    )
    objects, cursor = list_new_candidates(LocalStore(tmp_path), None, today=TODAY)
    assert len(objects) == 3
    assert cursor == date(2026, 11, 29)


def test_later_listings_cover_the_lookback_window_and_every_undated_folder(tmp_path):
    write(tmp_path, *(export_key(day, f"e{day:%j}") for day in days_before(TODAY, 40)))
    write(tmp_path, *(capture_key(day, f"c{day:%j}") for day in days_before(TODAY, 40)))
    write(tmp_path, f"findings-api/{ACCOUNT}/us-east-1/bare.json", "top-level.json")

    objects, cursor = list_new_candidates(
        LocalStore(tmp_path), TODAY - timedelta(days=1), timedelta(days=2), today=TODAY
    )

    window = days_before(TODAY, 4)  # cursor - 2 days .. today
    assert keys(objects) == {
        *(export_key(day, f"e{day:%j}") for day in window),
        *(capture_key(day, f"c{day:%j}") for day in window),
        f"findings-api/{ACCOUNT}/us-east-1/bare.json",
        "top-level.json",
    }
    assert cursor == TODAY


def test_a_late_object_within_the_lookback_is_found_one_before_it_is_not(tmp_path):
    store = LocalStore(tmp_path)
    write(tmp_path, capture_key(TODAY, "today"))
    _, cursor = list_new_candidates(store, None, today=TODAY)
    write(
        tmp_path,
        capture_key(TODAY - timedelta(days=2), "late-but-in-window"),
        capture_key(TODAY - timedelta(days=3), "older-than-the-lookback"),
    )
    objects, _ = list_new_candidates(store, cursor, timedelta(days=2), today=TODAY)
    assert keys(objects) == {
        capture_key(TODAY, "today"),
        capture_key(TODAY - timedelta(days=2), "late-but-in-window"),
    }


def api_page_key(day: date, name: str) -> str:
    return f"guardduty-api/{ACCOUNT}/us-east-1/{day:%Y/%m/%d}/{name}.json"


def test_the_backfill_sweeps_its_pages_over_guardduty_retention_other_runs_list_the_lookback(
    tmp_path,
):
    recent = api_page_key(TODAY - timedelta(days=1), "recent")
    archived_later = api_page_key(TODAY - timedelta(days=90), "archived-later")
    too_old = api_page_key(TODAY - timedelta(days=120), "too-old")
    not_a_page = capture_key(TODAY - timedelta(days=90), "not-backfill")
    write(tmp_path, recent, archived_later, too_old, not_a_page)

    swept, _ = list_new_candidates(
        LocalStore(tmp_path), TODAY, timedelta(days=2), TODAY, API_BACKFILL_LOOKBACK
    )
    usual, _ = list_new_candidates(LocalStore(tmp_path), TODAY, timedelta(days=2), TODAY)

    assert keys(swept) == {recent, archived_later}
    assert keys(usual) == {recent}


def test_the_cursor_never_passes_today_nor_moves_back(tmp_path):
    write(tmp_path, capture_key(date(2099, 1, 1), "bogus-future"))
    objects, cursor = list_new_candidates(LocalStore(tmp_path), None, today=TODAY)
    assert keys(objects) == {capture_key(date(2099, 1, 1), "bogus-future")}
    assert cursor == TODAY

    empty = tmp_path / "empty"
    empty.mkdir()
    assert list_new_candidates(LocalStore(empty), TODAY, today=TODAY) == ([], TODAY)
    assert list_new_candidates(LocalStore(empty), None, today=TODAY) == ([], None)


def _history(root: Path, end: date, days: int, regions: tuple[str, ...]) -> None:
    """A source with objects of every day: one export object per Region, one capture object."""
    for day in days_before(end, days):
        write(root, capture_key(day, f"c{day:%Y%m%d}"))
        write(root, *(export_key(day, f"e{day:%Y%m%d}", region) for region in regions))


def test_listing_cost_stays_flat_as_the_history_grows(tmp_path):
    regions = ("eu-west-1", "us-east-1")
    costs = {}
    for days in (10, 1000):
        root = tmp_path / str(days)
        _history(root, TODAY, days, regions)
        store = CountingStore(LocalStore(root))
        objects, _ = list_new_candidates(store, TODAY, timedelta(days=2), today=TODAY)
        costs[days] = (store.list_requests, store.objects_listed, len(objects))
    # 1,000 days of history (2026 back to 2024) cost what 10 days cost: the window's days only.
    assert costs[1000] == costs[10]
    assert costs[10][2] == 3 * (1 + len(regions))


@mock_aws
def test_s3_folder_listing_matches_the_local_store_and_lists_by_delimiter(tmp_path):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="raw")
    _history(tmp_path, TODAY, 40, ("eu-west-1",))
    for path in tmp_path.rglob("*.json*"):
        key = path.relative_to(tmp_path).as_posix()
        client.put_object(Bucket="raw", Key=f"source/{key}", Body=b"{}")
    client.put_object(Bucket="raw", Key="elsewhere/2026/11/30/x.json", Body=b"{}")
    requests = []
    client.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: requests.append(params)
    )

    s3 = S3Store("s3://raw/source", client)
    local = LocalStore(tmp_path)
    assert s3.list_folder("") == FolderListing([], ["AWSLogs/", "eventbridge/"])
    s3_objects, s3_cursor = list_new_candidates(s3, TODAY, timedelta(days=2), today=TODAY)
    local_objects, local_cursor = list_new_candidates(local, TODAY, timedelta(days=2), today=TODAY)

    assert keys(s3_objects) == keys(local_objects)
    assert len(s3_objects) == 6
    assert s3_cursor == local_cursor == TODAY
    assert all(request["Prefix"].startswith("source/") for request in requests)
    assert sum(1 for request in requests if request.get("Delimiter") == "/") >= 4
