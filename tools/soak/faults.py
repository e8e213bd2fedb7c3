"""Faults and pauses injected at the pipeline's seams, and the meter of what runs read.

A fault wraps one function: ``LocalStore.read`` (how the ingest reads the raw source) or the lake's
ledger commit (the commit point of an ingest batch, after its findings and quarantine rows are
appended). On its n-th call it crashes or pauses the run, without touching the pipeline's code. A
fault that never fires is reported: the scenario it stands for was then not exercised (the code no
longer passes through that seam).
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InjectedCrash(RuntimeError):
    """The simulated process death of a run."""


@dataclass
class Fault:
    """Act on the ``nth`` call of ``owner.attribute`` (a class's method or a module's function)
    whose arguments ``applies`` accepts."""

    owner: Any
    attribute: str
    nth: int
    action: Callable[[], None]
    applies: Callable[[tuple], bool] = lambda _: True
    calls: int = 0
    fired: bool = False


def under(root: Path) -> Callable[[tuple], bool]:
    """For ``LocalStore`` methods: the call is about a key under ``root``."""
    root = root.resolve()
    return lambda args: (args[0].root / args[1]).is_relative_to(root)


@contextmanager
def injected(fault: Fault) -> Iterator[Fault]:
    """Install ``fault``; a seam that does not exist leaves it unfired (not exercised)."""
    original = getattr(fault.owner, fault.attribute, None)
    if original is None:
        yield fault
        return
    lock = threading.Lock()

    def wrapper(*args: object, **kwargs: object) -> object:
        if fault.applies(args):
            with lock:
                fault.calls += 1
                fire = fault.calls == fault.nth and not fault.fired
                fault.fired = fault.fired or fire
            if fire:
                fault.action()
        return original(*args, **kwargs)

    setattr(fault.owner, fault.attribute, wrapper)
    try:
        yield fault
    finally:
        setattr(fault.owner, fault.attribute, original)


def crash() -> None:
    raise InjectedCrash("injected crash: the run's process dies here")


@dataclass
class ReadCount:
    files: int = 0
    bytes: int = 0


@dataclass
class ReadMeter:
    """Files and bytes opened for reading under the lake by this process (all threads).

    Python-level opens are seen through an audit hook, pyiceberg's through its file IO; the reads
    of dbt's DuckDB (another process) are not counted.
    """

    # The lake folder, as given and resolved, each ending with a separator.
    prefixes: tuple[str, ...]
    lake: ReadCount = field(default_factory=ReadCount)
    ledger: ReadCount = field(default_factory=ReadCount)
    active: bool = False

    def record(self, path: str) -> None:
        if not self.active:
            return
        # Normalised without resolving links (a resolve per file opened was a tenth of the
        # soak's own time): the lake folder holds none.
        absolute = os.path.abspath(path)
        if not absolute.startswith(self.prefixes):
            return
        try:
            status = os.stat(absolute)
        except OSError:
            return
        if not stat.S_ISREG(status.st_mode):
            return
        count = self.ledger if "ledger" in absolute else self.lake
        count.files += 1
        count.bytes += status.st_size

    @contextmanager
    def measuring(self) -> Iterator[ReadMeter]:
        self.lake, self.ledger, self.active = ReadCount(), ReadCount(), True
        try:
            yield self
        finally:
            self.active = False


def install_meter(lake_root: Path) -> ReadMeter:
    folders = {os.path.abspath(lake_root), str(lake_root.resolve())}
    meter = ReadMeter(prefixes=tuple(os.path.join(folder, "") for folder in folders))

    def hook(event: str, args: tuple) -> None:
        if event == "open" and meter.active and isinstance(args[0], str | os.PathLike):
            mode, flags = args[1], args[2]
            reading = (mode is None and not flags & (os.O_WRONLY | os.O_RDWR)) or (
                isinstance(mode, str) and "r" in mode and "+" not in mode
            )
            if reading:
                meter.record(os.fspath(args[0]))

    sys.addaudithook(hook)
    try:
        from pyiceberg.io.pyarrow import PyArrowFile
    except ImportError:
        return meter
    original_open = PyArrowFile.open

    def metered_open(self: PyArrowFile, *args: object, **kwargs: object) -> object:
        meter.record(self.location.removeprefix("file://"))
        return original_open(self, *args, **kwargs)

    PyArrowFile.open = metered_open
    return meter
