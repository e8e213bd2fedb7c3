"""The ingest lists the source from its stored cursor and reads the ledger for those dates only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from orchestration.lib.environment import ConfigurationError, load_settings
from orchestration.lib.ingest import runner
from orchestration.lib.ingest.runner import IngestError, IngestOptions, listing_cursor, run_ingest
from orchestration.lib.lake import commit, reader, tables
from orchestration.lib.lake.catalog import connect_lake
from orchestration.lib.lake.store import LocalStore
from tests.helpers.finding_fixtures import a_finding, eventbridge_event, to_bytes
from tests.test_listing import CountingStore

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def capture(root, day: date, finding_id: str) -> None:
    path = root / f"eventbridge/{day:%Y/%m/%d}/{finding_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    updated = f"{day.isoformat()}T10:00:00Z"
    path.write_bytes(to_bytes(eventbridge_event(a_finding(id=finding_id, updatedAt=updated))))


def ingest(source, lake):
    return run_ingest(source, lake, clock=lambda: NOW)


@pytest.fixture
def lake(tmp_path):
    return connect_lake(str(tmp_path / "lake"))


def test_a_complete_run_stores_the_cursor_and_the_next_lists_only_its_window(tmp_path, lake):
    raw = tmp_path / "raw"
    for offset in range(30):
        capture(raw, TODAY - timedelta(days=offset), f"f{offset}")

    first = ingest(LocalStore(raw), lake)
    assert (first.objects_listed, first.objects_ingested) == (30, 30)
    assert listing_cursor(lake) == TODAY

    capture(raw, TODAY - timedelta(days=1), "late")
    counting = CountingStore(LocalStore(raw))
    second = ingest(counting, lake)

    # Today and the two days of lookback: three old objects and the late one.
    assert (second.objects_listed, second.objects_already_ingested) == (4, 3)
    assert second.objects_ingested == 1
    assert counting.objects_listed == 4


def test_the_ledger_is_read_only_for_the_dates_listed(tmp_path, lake, monkeypatch):
    raw = tmp_path / "raw"
    for offset in range(30):
        capture(raw, TODAY - timedelta(days=offset), f"f{offset}")
    ingest(LocalStore(raw), lake)
    lookups = []
    real = runner.ledger_keys
    monkeypatch.setattr(
        runner,
        "ledger_keys",
        lambda *args, **kwargs: lookups.append(kwargs) or real(*args, **kwargs),
    )

    ingest(LocalStore(raw), lake)

    assert lookups == [{"since": TODAY - timedelta(days=2)}]


def test_a_run_that_stops_half_way_leaves_the_cursor_where_it_was(tmp_path, lake, monkeypatch):
    raw = tmp_path / "raw"
    capture(raw, TODAY - timedelta(days=20), "old")
    capture(raw, TODAY, "new")

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    with monkeypatch.context() as patch:
        patch.setattr(commit, "commit_ledger", crash)
        with pytest.raises(IngestError):
            ingest(LocalStore(raw), lake)
    assert listing_cursor(lake) is None

    again = ingest(LocalStore(raw), lake)
    assert again.objects_ingested == 2
    visible = reader.pin(lake).visible(tables.FINDINGS, ["finding_id"])["finding_id"].to_pylist()
    assert sorted(visible) == ["new", "old"]


def test_the_lookback_comes_from_the_options(tmp_path, lake):
    raw = tmp_path / "raw"
    for offset in range(10):
        capture(raw, TODAY - timedelta(days=offset), f"f{offset}")
    ingest(LocalStore(raw), lake)

    wider = run_ingest(
        LocalStore(raw), lake, IngestOptions(listing_lookback=timedelta(days=5)), clock=lambda: NOW
    )

    assert wider.objects_listed == 6


def test_the_lookback_setting(fresh_settings, monkeypatch):
    monkeypatch.setenv("GUARDDUTY_LISTING_LOOKBACK_DAYS", "5")
    assert load_settings().listing_lookback_days == 5
    monkeypatch.setenv("GUARDDUTY_LISTING_LOOKBACK_DAYS", "0")
    with pytest.raises(ConfigurationError, match="GUARDDUTY_LISTING_LOOKBACK_DAYS"):
        load_settings()


class RecordingStore(CountingStore):
    """Records, in order, each object the listing hands out and each object read; a listing can
    be made to fail after some objects."""

    def __init__(self, inner, fail_after: int | None = None) -> None:
        super().__init__(inner)
        self.events: list[tuple[str, str]] = []
        self.fail_after = fail_after

    def list(self, prefix: str = ""):
        for stored in super().list(prefix):
            if self.fail_after is not None and self.objects_listed > self.fail_after:
                raise OSError("simulated listing failure")
            self.events.append(("listed", stored.key))
            yield stored

    def read(self, key: str) -> bytes:
        self.events.append(("read", key))
        return super().read(key)


def test_objects_are_read_while_the_listing_goes_on(tmp_path, lake):
    raw = tmp_path / "raw"
    for number in range(12):
        capture(raw, TODAY, f"f{number:02d}")
    recording = RecordingStore(LocalStore(raw))

    stats = run_ingest(recording, lake, IngestOptions(concurrency=1), clock=lambda: NOW)

    assert stats.objects_ingested == 12
    kinds = [kind for kind, _ in recording.events]
    assert kinds.index("read") < len(kinds) - 1 - kinds[::-1].index("listed")


def test_a_listing_that_fails_half_way_keeps_the_committed_batches_and_the_cursor(tmp_path, lake):
    raw = tmp_path / "raw"
    for number in range(12):
        capture(raw, TODAY, f"f{number:02d}")
    one_per_batch = IngestOptions(concurrency=1, batch_max_findings=1)

    with pytest.raises(IngestError, match="simulated listing failure"):
        run_ingest(
            RecordingStore(LocalStore(raw), fail_after=6), lake, one_per_batch, clock=lambda: NOW
        )

    assert listing_cursor(lake) is None
    committed = len(reader.pin(lake).visible(tables.FINDINGS, ["finding_id"]))
    assert 0 < committed <= 6
    again = ingest(LocalStore(raw), lake)
    assert (again.objects_already_ingested, again.objects_ingested) == (committed, 12 - committed)
    assert listing_cursor(lake) == TODAY
