"""Shared pieces of the benchmarks: timing, process-tree RSS sampling, machine description."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


@dataclass
class Figure:
    """One reported number, with what was measured and how."""

    name: str
    value: float | None
    unit: str
    how: str
    goal: str | None = None
    goal_met: bool | None = None
    note: str | None = None

    def as_dict(self) -> dict:
        return {key: value for key, value in self.__dict__.items() if value is not None}


def at_most(value: float, bound: float) -> dict:
    """A figure's goal that ``value`` stays at or below ``bound``, and whether it does."""
    return {"goal": f"<= {bound:g}", "goal_met": value <= bound}


def at_least(value: float, bound: float) -> dict:
    """A figure's goal that ``value`` reaches ``bound``, and whether it does."""
    return {"goal": f">= {bound:g}", "goal_met": value >= bound}


@dataclass
class RssPeak:
    largest_process_bytes: int = 0
    largest_process_name: str = ""
    tree_total_bytes: int = 0
    samples: int = 0


class TreeRssSampler:
    """Samples the RSS of a process and all its descendants (dbt subprocesses included).

    A sampling thread cannot see a spike shorter than its interval, so the interval is short.
    """

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = RssPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.is_set():
            self.sample(root)
            self._stop.wait(self.interval)

    def sample(self, root: psutil.Process) -> None:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        total = 0
        for process in processes:
            try:
                rss = process.memory_info().rss
                name = process.name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += rss
            if rss > self.peak.largest_process_bytes:
                self.peak.largest_process_bytes = rss
                self.peak.largest_process_name = name
        self.peak.tree_total_bytes = max(self.peak.tree_total_bytes, total)
        self.peak.samples += 1


@dataclass
class TimedRun:
    seconds: float
    returncode: int
    rss: RssPeak
    output_tail: str = ""
    log_path: str = ""


def run_measured(
    argv: list[str], env: dict[str, str], log_path: Path, cwd: Path = PROJECT_ROOT
) -> TimedRun:
    """Run a command, timing it and sampling the RSS of its process tree; output to a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        with TreeRssSampler(process.pid) as sampler:
            returncode = process.wait()
        seconds = time.perf_counter() - start
    tail = log_path.read_text(errors="replace")[-3000:]
    return TimedRun(seconds, returncode, sampler.peak, tail, str(log_path))


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """Yields a one-element list that holds the elapsed seconds once the block ends."""
    elapsed = [0.0]
    start = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - start


def mib(value: int) -> float:
    return round(value / 2**20, 1)


def directory_bytes(root: Path, suffix: str = "") -> int:
    return sum(path.stat().st_size for path in root.rglob(f"*{suffix}") if path.is_file())


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """What the figures ran on, and how busy the machine was (other work disturbs timings)."""
    import duckdb
    import pyarrow

    memory = psutil.virtual_memory()
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "memory_gib": round(memory.total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pyarrow.__version__,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: above the CPU count, other work competed for the CPUs."""
    return [round(value, 2) for value in os.getloadavg()]


@dataclass
class Section:
    """The figures and details of one part of the benchmark."""

    name: str
    figures: list[Figure] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
