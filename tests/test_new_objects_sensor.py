"""The new-objects sensor: a tick lists only its cursor's window and reads no lake table."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from orchestration.defs.pipeline import sensors
from orchestration.lib.lake.store import LocalStore
from tests.helpers.settings import settings_resources
from tests.test_listing import CountingStore, _history, capture_key, write


@pytest.fixture
def source(fresh_settings, monkeypatch):
    raw = fresh_settings / "raw"
    raw.mkdir()
    monkeypatch.setenv("GUARDDUTY_SOURCE_URI", str(raw))
    return raw


def counting_source(monkeypatch) -> list[CountingStore]:
    """Make the sensor list through a CountingStore; returns the stores it opened."""
    opened = []

    def open_counting(uri, _client_factory):
        opened.append(CountingStore(LocalStore(uri)))
        return opened[-1]

    monkeypatch.setattr(sensors, "open_store", open_counting)
    return opened


def tick(cursor: str | None):
    resources = {"s3": S3Resource(), **settings_resources()}
    with dg.build_sensor_context(resources=resources, cursor=cursor) as context:
        result = sensors.new_raw_objects_sensor(context)
        return result, context.cursor


def set_mtime(path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def test_a_tick_requests_a_run_for_objects_newer_than_its_cursor_only(source):
    today = datetime.now(UTC)
    write(source, capture_key(today.date(), "first"))
    first, cursor = tick(None)
    assert isinstance(first, dg.RunRequest)
    assert isinstance(tick(cursor)[0], dg.SkipReason)

    late = capture_key((today - timedelta(days=1)).date(), "late")
    write(source, late)
    set_mtime(source / late, today + timedelta(minutes=1))
    again, newer_cursor = tick(cursor)
    assert isinstance(again, dg.RunRequest)
    assert again.tags["guardduty/new_objects"] == "1"
    assert newer_cursor > cursor


def test_tick_cost_stays_flat_as_the_history_grows(tmp_path, monkeypatch, fresh_settings):
    today = datetime.now(UTC)
    costs = {}
    for days in (10, 1000):
        root = tmp_path / f"history-{days}"
        _history(root, today.date(), days, ("eu-west-1", "us-east-1"))
        monkeypatch.setenv("GUARDDUTY_SOURCE_URI", str(root))
        opened = counting_source(monkeypatch)
        result, _ = tick((today - timedelta(hours=1)).isoformat())
        assert isinstance(result, dg.RunRequest)
        costs[days] = (opened[0].list_requests, opened[0].objects_listed)
    assert costs[1000] == costs[10]
