"""The input layouts of the data contract and their writers.

Each writer streams its objects to disk as findings arrive and counts what it wrote.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from tools.demo_corpus.findings import eventbridge_event
from tools.demo_corpus.pascal_case import to_pascal_case
from tools.demo_corpus.random_values import randint, random_uuid
from tools.demo_corpus.summary import CorpusSummary
from tools.demo_corpus.timestamps import date_path, iso

LAYOUT_EVENTBRIDGE = "eventbridge"
LAYOUT_NATIVE_EXPORT = "native_export"
LAYOUT_FINDINGS_API = "findings_api"
LAYOUT_GET_FINDINGS = "get_findings"
ALL_LAYOUTS = (LAYOUT_EVENTBRIDGE, LAYOUT_NATIVE_EXPORT, LAYOUT_FINDINGS_API, LAYOUT_GET_FINDINGS)
DEFAULT_LINES_PER_OBJECT = 1000
_GET_FINDINGS_PAGE_SIZE = 50
# Fast compression keeps a million-version benchmark corpus quick to write; ratio still ~10x.
_GZIP_LEVEL = 1


class CorpusOutput:
    """Shared file writing: directories, object counts, gzip without timestamps."""

    def __init__(self, root: Path, summary: CorpusSummary) -> None:
        self.root = root
        self.summary = summary
        self._made_dirs: set[Path] = set()

    def path(self, key: str) -> Path:
        path = self.root / key
        parent = path.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        return path

    def write_object(self, layout: str, key: str, payload: bytes, *, findings: int) -> None:
        path = self.path(key)
        if key.endswith(".gz"):
            payload = gzip.compress(payload, compresslevel=_GZIP_LEVEL, mtime=0)
        path.write_bytes(payload)
        self.count_object(layout, findings)

    def count_object(self, layout: str, findings: int) -> None:
        summary = self.summary
        summary.objects_written += 1
        if findings == 0:
            summary.non_finding_objects += 1
        by_layout = summary.objects_by_layout
        by_layout[layout] = by_layout.get(layout, 0) + 1


class EventBridgeWriter:
    layout = LAYOUT_EVENTBRIDGE

    def __init__(self, output: CorpusOutput, rng: random.Random) -> None:
        self.output = output
        self.rng = rng

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        del redelivery  # every event is its own object
        rng = self.rng
        event = eventbridge_event(finding, rng, time=iso(delivered_ms, with_ms=False))
        self.write_event(event, delivered_ms, findings=1)

    def write_event(self, event: dict, delivered_ms: int, *, findings: int) -> None:
        rng = self.rng
        roll = rng.random()
        option = orjson.OPT_INDENT_2 if roll < 0.25 else 0
        suffix = ".json.gz" if rng.random() < 0.15 else ".json"
        key = f"eventbridge/{date_path(delivered_ms, True)}/{random_uuid(rng)}{suffix}"
        self.output.write_object(
            self.layout, key, orjson.dumps(event, option=option), findings=findings
        )

    def close(self, last_ms: int) -> None:
        del last_ms  # nothing is held back


class NativeExportWriter:
    """One open gzip stream per account and region, rotated every ``lines_per_object`` lines."""

    layout = LAYOUT_NATIVE_EXPORT

    def __init__(self, output: CorpusOutput, rng: random.Random, lines_per_object: int) -> None:
        self.output = output
        self.rng = rng
        self.lines_per_object = lines_per_object
        self.open: dict[tuple[str, str], tuple[BinaryIO, gzip.GzipFile, list[int]]] = {}
        self.carried: dict[tuple[str, str], list[bytes]] = {}

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        key = (finding["accountId"], finding["region"])
        line = orjson.dumps(finding) + b"\n"
        if redelivery:  # lands in the next object of this account and region
            self.carried.setdefault(key, []).append(line)
            return
        current = self.open.get(key)
        if current is not None and current[2][0] >= self.lines_per_object:
            self._close(key)
            current = None
        if current is None:
            current = self._open(key, delivered_ms)
        _, stream, lines = current
        stream.write(line)
        lines[0] += 1

    def _open(
        self, key: tuple[str, str], delivered_ms: int
    ) -> tuple[BinaryIO, gzip.GzipFile, list[int]]:
        account, region = key
        object_key = (
            f"AWSLogs/{account}/GuardDuty/{region}/{date_path(delivered_ms)}/"
            f"{random_uuid(self.rng)}.jsonl.gz"
        )
        raw = self.output.path(object_key).open("wb")
        stream = gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, compresslevel=_GZIP_LEVEL, mtime=0
        )
        lines = [0]
        self.open[key] = (raw, stream, lines)
        for line in self.carried.pop(key, ()):
            stream.write(line)
            lines[0] += 1
        return self.open[key]

    def _close(self, key: tuple[str, str]) -> None:
        raw, stream, lines = self.open.pop(key)
        stream.close()
        raw.close()
        self.output.count_object(self.layout, lines[0])

    def close(self, last_ms: int) -> None:
        for key in list(self.open):
            self._close(key)
        for key in list(self.carried):
            self._open(key, last_ms)
            self._close(key)


class BatchWriter:
    """Findings grouped per account and region into multi-finding objects (arrays or pages)."""

    layout = ""

    def __init__(self, output: CorpusOutput, rng: random.Random) -> None:
        self.output = output
        self.rng = rng
        self.batches: dict[tuple[str, str], list[dict]] = {}
        self.carried: dict[tuple[str, str], list[dict]] = {}
        self.limits: dict[tuple[str, str], int] = {}

    def batch_size(self) -> int:
        raise NotImplementedError

    def flush(self, key: tuple[str, str], findings: list[dict]) -> None:
        raise NotImplementedError

    def add_to_batch(self, finding: dict, *, redelivery: bool) -> None:
        key = (finding["accountId"], finding["region"])
        if redelivery:  # lands in the next object of this account and region
            self.carried.setdefault(key, []).append(finding)
            return
        batch = self.batches.get(key)
        if batch is None:
            batch = self.batches[key] = self.carried.pop(key, [])
            self.limits[key] = self.batch_size()
        batch.append(finding)
        if len(batch) >= self.limits[key]:
            self.flush(key, self.batches.pop(key))

    def close(self, last_ms: int = 0) -> None:
        del last_ms
        for key in list(self.batches):
            self.flush(key, self.batches.pop(key))
        for key in list(self.carried):
            self.flush(key, self.carried.pop(key))


class FindingsApiWriter(BatchWriter):
    layout = LAYOUT_FINDINGS_API

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        del delivered_ms
        if redelivery or self.rng.random() < 0.5:
            self._write([finding], array=False)
        else:
            self.add_to_batch(finding, redelivery=False)

    def batch_size(self) -> int:
        return randint(self.rng, 5, 40)

    def flush(self, key: tuple[str, str], findings: list[dict]) -> None:
        del key
        self._write(findings, array=True)

    def _write(self, findings: list[dict], *, array: bool) -> None:
        rng = self.rng
        first = findings[0]
        option = orjson.OPT_INDENT_2 if rng.random() < 0.3 else 0
        suffix = ".json.gz" if rng.random() < 0.1 else ".json"
        key = f"findings-api/{first['accountId']}/{first['region']}/{random_uuid(rng)}{suffix}"
        payload = orjson.dumps(findings if array else first, option=option)
        self.output.write_object(self.layout, key, payload, findings=len(findings))


class GetFindingsWriter(BatchWriter):
    layout = LAYOUT_GET_FINDINGS

    def add(self, finding: dict, delivered_ms: int, *, redelivery: bool = False) -> None:
        del delivered_ms
        self.add_to_batch(finding, redelivery=redelivery)

    def batch_size(self) -> int:
        return randint(self.rng, 10, _GET_FINDINGS_PAGE_SIZE)

    def flush(self, key: tuple[str, str], findings: list[dict]) -> None:
        account, region = key
        rng = self.rng
        if rng.random() < 0.4:
            page: dict[str, Any] = {"Findings": [to_pascal_case(finding) for finding in findings]}
        else:
            page = {"findings": findings}
        object_key = f"get-findings/{account}/{region}/{random_uuid(rng)}.json"
        self.output.write_object(
            self.layout,
            object_key,
            orjson.dumps(page, option=orjson.OPT_INDENT_2),
            findings=len(findings),
        )

    def write_empty_page(self, account: str, region: str) -> None:
        object_key = f"get-findings/{account}/{region}/{random_uuid(self.rng)}.json"
        self.output.write_object(self.layout, object_key, b'{"findings":[]}', findings=0)


def open_writers(
    layouts: tuple[str, ...], output: CorpusOutput, rng: random.Random, lines_per_object: int
) -> dict[str, Any]:
    """A writer for each layout, all drawing from ``rng`` in the order findings are delivered."""
    writers: dict[str, Any] = {}
    for layout in layouts:
        if layout == LAYOUT_EVENTBRIDGE:
            writers[layout] = EventBridgeWriter(output, rng)
        elif layout == LAYOUT_NATIVE_EXPORT:
            writers[layout] = NativeExportWriter(output, rng, lines_per_object)
        elif layout == LAYOUT_FINDINGS_API:
            writers[layout] = FindingsApiWriter(output, rng)
        else:
            writers[layout] = GetFindingsWriter(output, rng)
    return writers
