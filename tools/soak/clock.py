"""The simulated clock, and the seams through which the pipeline sees it.

The pipeline reads "now" with ``datetime.now(UTC)`` (ingest time, backfill window, alert ages,
capture times), and a local source stamps objects with the time they are written. Accelerated time
therefore needs two seams, both installed by ``simulated_time``:

- every ``orchestration.*`` module that imported ``datetime`` gets a ``datetime`` whose ``now()``
  and ``utcnow()`` read the simulated clock (``isinstance`` still accepts real datetimes);
- files that ``LocalStore`` writes under the raw source get the simulated time as modification
  time, as S3 stamps LastModified with the time of the write;
- pyiceberg stamps snapshots with the simulated time, which lake maintenance compares with its
  own "now" to expire them (on the wall clock no snapshot would ever be a simulated day old, and
  every commit would rewrite the metadata of all of them).

Files in the lake keep their real modification times, so the orphan sweep (files older than
three days) never deletes one during a soak.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyiceberg.table.snapshots as iceberg_snapshots

_REAL_DATETIME = datetime


class SimulatedClock:
    """A clock the harness moves forward; it never goes back."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance_to(self, moment: datetime) -> None:
        moment = moment.astimezone(UTC)
        if moment < self._now:
            raise ValueError(f"the simulated clock cannot go back from {self._now} to {moment}")
        self._now = moment

    def tick(self, step: timedelta = timedelta(microseconds=1000)) -> datetime:
        """Move a little forward, so two events never share a moment."""
        self._now += step
        return self._now

    def epoch_ns(self) -> int:
        return int(self._now.timestamp() * 1_000_000) * 1000


class _AcceptsRealDatetimes(type):
    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, _REAL_DATETIME)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _REAL_DATETIME)


def _simulated_datetime(clock: SimulatedClock) -> type:
    class SimulatedDatetime(_REAL_DATETIME, metaclass=_AcceptsRealDatetimes):
        @classmethod
        def now(cls, tz=None):
            moment = clock.now()
            return moment.astimezone(tz) if tz else moment.astimezone().replace(tzinfo=None)

        @classmethod
        def utcnow(cls):
            return clock.now().replace(tzinfo=None)

    return SimulatedDatetime


@contextmanager
def simulated_time(clock: SimulatedClock, source_root: Path) -> Iterator[None]:
    """Make the pipeline's code read ``clock`` and stamp raw objects with it (see the module)."""
    from orchestration.lib.lake.store import LocalStore

    fake = _simulated_datetime(clock)
    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("orchestration") and getattr(module, "datetime", None) is _REAL_DATETIME:
            module.datetime = fake
            patched.append(module)
    source_root = source_root.resolve()
    original_write, original_write_if_absent = LocalStore.write, LocalStore.write_if_absent

    def stamp(store: LocalStore, key: str) -> None:
        path = store.root / key
        if path.is_relative_to(source_root) and path.exists():
            os.utime(path, ns=(clock.epoch_ns(), clock.epoch_ns()))

    def write(store: LocalStore, key: str, data: bytes) -> None:
        original_write(store, key, data)
        stamp(store, key)

    def write_if_absent(store: LocalStore, key: str, data: bytes) -> bool:
        written = original_write_if_absent(store, key, data)
        if written:
            stamp(store, key)
        return written

    LocalStore.write, LocalStore.write_if_absent = write, write_if_absent
    snapshot_clock = iceberg_snapshots.time
    iceberg_snapshots.time = _SimulatedTimeModule(clock)
    try:
        yield
    finally:
        iceberg_snapshots.time = snapshot_clock
        LocalStore.write, LocalStore.write_if_absent = original_write, original_write_if_absent
        for module in patched:
            module.datetime = _REAL_DATETIME


class _SimulatedTimeModule:
    """The ``time`` module, but ``time()`` reads the simulated clock."""

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.now().timestamp()

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)
