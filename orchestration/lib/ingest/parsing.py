"""Turn the bytes of one raw object into finding versions, skipped records and quarantine records.

Every accepted input form of the data contract is recognised per object, and per line for JSON
Lines: EventBridge events, GuardDuty's native export (``.jsonl.gz``), bare findings and arrays, and
GetFindings pages in camelCase or boto3/CLI PascalCase. Nothing is dropped silently: each record is
a finding, a skip (valid JSON that is not a finding) or a quarantine entry with a reason.

Each finding carries when this copy of it was observed: the EventBridge envelope's ``time``, the
``capturedAt`` of an API backfill page, or else the object's last modification. Copies of one
version that differ (archived or not) are ordered by it downstream.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from orchestration.lib.ingest.pascal_case import pascal_to_camel

FINDING_DETAIL_TYPE = "GuardDuty Finding"
MAX_EVENT_COUNT = 2**63 - 1
EXCERPT_CHARS = 200
_GZIP_MAGIC = b"\x1f\x8b"
_LINES_SUFFIXES = (".jsonl", ".ndjson")
_FINDING_KEYS = frozenset({"schemaVersion", "accountId", "arn", "type", "severity", "updatedAt"})
_PASCAL_FINDING_KEYS = frozenset({"SchemaVersion", "AccountId", "Arn", "Type", "Severity", "Id"})
_EXPORT_PATH = re.compile(r"AWSLogs/(\d{12})/GuardDuty/([a-z0-9-]+)/")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
# Nothing GuardDuty wrote can predate its launch; a time later than the ingest, beyond clock skew,
# is invented, and would otherwise pass for the newest data in every freshness measure.
GUARDDUTY_LAUNCH = datetime(2017, 11, 1)
MAX_CLOCK_SKEW = timedelta(minutes=15)
CAPTURED_AT_KEY = "capturedAt"


class Rejection(ValueError):
    """A record that cannot be read as a finding; the message is the quarantine reason."""


@dataclass(frozen=True)
class Finding:
    """One finding version with the lake's key columns (see lib/lake/tables.py)."""

    finding_id: str
    account_id: str
    region: str
    finding_type: str
    severity: float
    created_at: datetime
    updated_at: datetime
    event_count: int | None
    finding_json: str
    line_number: int | None
    # When this copy was observed (naive UTC); None only when nothing records it.
    observed_at: datetime | None = None


@dataclass(frozen=True)
class Quarantined:
    """A record that is not a usable finding: a line (``line_number``, 1-based, JSON Lines) and/or
    an element of an array or findings page (``record_index``, 0-based); both None for a whole
    object."""

    line_number: int | None
    reason: str
    excerpt: str | None
    record_index: int | None = None


@dataclass
class ObjectResult:
    """What one object yielded. ``status`` is what the object counts as in the run totals."""

    findings: list[Finding] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    skipped_records: int = 0
    skip_reasons: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.findings:
            return "ingested"
        return "quarantined" if self.quarantined else "skipped"

    def quarantine_whole_object(self, reason: str, excerpt: str | None = None) -> None:
        """Discard anything read so far: a corrupt object is quarantined whole."""
        self.findings.clear()
        self.skipped_records = 0
        self.skip_reasons.clear()
        self.quarantined[:] = [Quarantined(None, reason, excerpt)]

    def quarantine(
        self,
        line_number: int | None,
        reason: str,
        excerpt: str | None = None,
        record_index: int | None = None,
    ) -> None:
        self.quarantined.append(Quarantined(line_number, reason, excerpt, record_index))


@dataclass(frozen=True)
class ReadLimits:
    max_object_bytes: int = 256 * 1024 * 1024
    max_record_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Context:
    """Where a record came from (to fill account and region a finding lacks, and to date its
    observation), when it is ingested (naive UTC), and the limits."""

    account_id: str | None = None
    region: str | None = None
    max_record_bytes: int = ReadLimits.max_record_bytes
    ingested_at: datetime | None = None
    observed_at: datetime | None = None

    @property
    def latest_plausible(self) -> datetime:
        ingested_at = self.ingested_at or _naive_utc(datetime.now(UTC))
        return ingested_at + MAX_CLOCK_SKEW


def parse_object(
    name: str,
    data: bytes,
    limits: ReadLimits | None = None,
    *,
    ingested_at: datetime | None = None,
    last_modified: datetime | None = None,
) -> ObjectResult:
    """Read every record of one raw object.

    Args:
        name: the object's key or path; its suffix (``.jsonl``, ``.gz``) and an ``AWSLogs/``
            export path are hints, the content decides.
        data: the object's bytes, possibly gzip-compressed.
        limits: size limits; a record or object beyond them is quarantined, never held whole.
        ingested_at: the ingest's time (default now): a finding updated or created more than
            15 minutes after it, or before GuardDuty's launch, is quarantined.
        last_modified: the object's last modification (S3 LastModified, file mtime): the
            observation time of findings whose record holds none (an export object, a bare
            finding).
    """
    limits = limits or ReadLimits()
    result = ObjectResult()
    if not data:
        result.quarantine_whole_object("empty object (0 bytes)")
        return result
    export_path = _EXPORT_PATH.search(name)
    account_id, region = export_path.groups() if export_path else (None, None)
    context = _Context(
        account_id,
        region,
        limits.max_record_bytes,
        ingested_at=_naive_utc(ingested_at or datetime.now(UTC)),
        observed_at=_naive_utc(last_modified) if last_modified else None,
    )
    lower_name = name.lower().removesuffix(".gz")
    stream: io.BufferedIOBase = io.BytesIO(data)
    if data.startswith(_GZIP_MAGIC):
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        if lower_name.endswith(_LINES_SUFFIXES):
            _read_lines(stream, result, context, limits)
        else:
            _read_document_or_lines(stream, result, context, limits)
    except (OSError, EOFError, zlib.error) as error:
        result.quarantine_whole_object(f"corrupt gzip stream: {error}")
    return result


def _read_lines(
    stream: io.BufferedIOBase, result: ObjectResult, context: _Context, limits: ReadLimits
) -> None:
    total = 0
    for line_number, raw_line in _bounded_lines(stream, limits.max_record_bytes):
        if raw_line is None:
            result.quarantine(
                line_number, f"line longer than the {limits.max_record_bytes} byte record limit"
            )
            total += limits.max_record_bytes
            continue
        total += len(raw_line)
        if total > limits.max_object_bytes:
            result.quarantine_whole_object(
                f"object larger than the {limits.max_object_bytes} byte limit when decompressed"
            )
            return
        if not raw_line.strip():
            continue
        _read_record(raw_line, line_number, result, context)


def _read_document_or_lines(
    stream: io.BufferedIOBase, result: ObjectResult, context: _Context, limits: ReadLimits
) -> None:
    data = stream.read(limits.max_object_bytes + 1)
    if len(data) > limits.max_object_bytes:
        result.quarantine_whole_object(
            f"object larger than the {limits.max_object_bytes} byte limit when decompressed"
        )
        return
    if not data.strip():
        result.quarantine_whole_object("object holds only white space")
        return
    try:
        document = _loads(data)
    except Rejection as error:
        lines = data.splitlines()
        if len(lines) > 1 and _is_json(lines[0]):
            _read_lines(io.BytesIO(data), result, context, limits)
            return
        result.quarantine_whole_object(str(error), _excerpt(data))
        return
    _read_value(document, None, result, context)


def _bounded_lines(stream: io.BufferedIOBase, max_line: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes); None in place of a line longer than ``max_line``.

    A long line is consumed in chunks and never held whole, so memory stays bounded.
    """
    line_number = 0
    while True:
        line = stream.readline(max_line + 1)
        if not line:
            return
        line_number += 1
        if len(line) > max_line and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(max_line)
                if not rest or rest.endswith(b"\n"):
                    break
            yield line_number, None
            continue
        yield line_number, line


def _read_record(
    raw: bytes, line_number: int | None, result: ObjectResult, context: _Context
) -> None:
    try:
        value = _loads(raw)
    except Rejection as error:
        result.quarantine(line_number, str(error), _excerpt(raw))
        return
    _read_value(value, line_number, result, context)


def _read_value(
    value: Any, line_number: int | None, result: ObjectResult, context: _Context
) -> None:
    """Dispatch one JSON value to the input form it is."""
    if isinstance(value, list):
        _read_finding_list(value, "array", line_number, result, context)
        return
    if not isinstance(value, dict):
        result.quarantine(line_number, f"{_json_type(value)} is not a finding object")
        return
    if "detail-type" in value or ("detail" in value and "source" in value):
        _read_event(value, line_number, result, context)
        return
    if "detail" in value and len(value) == 1:
        # A partial envelope, as in hand-written test events: {"detail": {...}}.
        _read_event({"detail-type": FINDING_DETAIL_TYPE, **value}, line_number, result, context)
        return
    for key in ("findings", "Findings"):
        if key in value and not _looks_like_finding(value):
            findings = value[key]
            if not isinstance(findings, list):
                result.quarantine(line_number, f"'{key}' is {_json_type(findings)}, not a list")
                return
            if not findings:
                result.skipped_records += 1
                result.skip_reasons.append(f"empty '{key}' page")
                return
            try:
                page_context = _observed(context, value.get(CAPTURED_AT_KEY), CAPTURED_AT_KEY)
            except Rejection as error:
                captured_at = {CAPTURED_AT_KEY: value.get(CAPTURED_AT_KEY)}
                result.quarantine(line_number, f"page: {error}", _excerpt_value(captured_at))
                return
            _read_finding_list(findings, f"'{key}'", line_number, result, page_context)
            return
    if _looks_like_finding(value):
        _accept_finding(value, line_number, None, result, context)
        return
    result.skipped_records += 1
    result.skip_reasons.append("JSON object that is not a GuardDuty finding")


def _read_event(
    event: dict[str, Any], line_number: int | None, result: ObjectResult, context: _Context
) -> None:
    detail_type = event.get("detail-type")
    if detail_type != FINDING_DETAIL_TYPE:
        result.skipped_records += 1
        result.skip_reasons.append(f"EventBridge event of detail-type {detail_type!r}")
        return
    detail = event.get("detail")
    if not isinstance(detail, dict):
        result.quarantine(
            line_number, f"EventBridge 'detail' is {_json_type(detail)}, not a finding object"
        )
        return
    try:
        envelope_context = replace(
            _observed(context, event.get("time"), "EventBridge 'time'"),
            account_id=_string_or_none(event.get("account")) or context.account_id,
            region=_string_or_none(event.get("region")) or context.region,
        )
    except Rejection as error:
        result.quarantine(line_number, str(error), _excerpt_value(event))
        return
    _accept_finding(detail, line_number, None, result, envelope_context)


def _observed(context: _Context, value: Any, name: str) -> _Context:
    """``context`` with the observation time a record states (absent: the object's)."""
    if value is None:
        return context
    return replace(context, observed_at=_plausible_timestamp(value, name, context))


def _read_finding_list(
    findings: list[Any],
    container: str,
    line_number: int | None,
    result: ObjectResult,
    context: _Context,
) -> None:
    for index, finding in enumerate(findings):
        where = f"element {index} of {container}"
        if not isinstance(finding, dict):
            result.quarantine(
                line_number, f"{where}: {_json_type(finding)} is not a finding", None, index
            )
            continue
        _accept_finding(finding, line_number, (index, where), result, context)


def _accept_finding(
    finding: dict[str, Any],
    line_number: int | None,
    element: tuple[int, str] | None,
    result: ObjectResult,
    context: _Context,
) -> None:
    """Add the finding, or quarantine it; ``element`` is its (index, description) in a list."""
    try:
        result.findings.append(to_finding(finding, line_number, context))
    except Rejection as error:
        index, where = element if element else (None, None)
        reason = f"{where}: {error}" if where else str(error)
        result.quarantine(line_number, reason, _excerpt_value(finding), index)


def to_finding(
    finding: dict[str, Any], line_number: int | None = None, context: _Context | None = None
) -> Finding:
    """Validate one finding object and extract the lake's key columns.

    Raises:
        Rejection: with the quarantine reason, when the object is not a usable finding.
    """
    context = context or _Context()
    if _is_pascal_case(finding):
        finding = pascal_to_camel(finding)
    finding_id = _required_string(finding, "id")
    finding_type = _required_string(finding, "type")
    updated_at = _required_timestamp(finding, "updatedAt", context)
    created_at = _required_timestamp(finding, "createdAt", context)
    severity = parse_severity(finding.get("severity"))
    service = finding.get("service")
    if service is not None and not isinstance(service, dict):
        raise Rejection(f"'service' is {_json_type(service)}, not an object")
    event_count = parse_event_count((service or {}).get("count"))
    action = (service or {}).get("action")
    if action is not None and not isinstance(action, dict):
        raise Rejection(f"'service.action' is {_json_type(action)}, not an object")
    account_id = _optional_string(finding, "accountId") or context.account_id
    region = _optional_string(finding, "region") or context.region
    arn_parts = str(finding.get("arn") or "").split(":")
    if len(arn_parts) > 4:
        region = region or arn_parts[3] or None
        account_id = account_id or arn_parts[4] or None
    if not account_id:
        raise Rejection("missing 'accountId' (and no account in the envelope, path or arn)")
    if not region:
        raise Rejection("missing 'region' (and no region in the envelope, path or arn)")
    # Stored re-serialised: every engine downstream reads exactly the values validated here, even
    # for input with duplicate keys (the last one wins, as in most JSON parsers).
    finding_json = orjson.dumps(finding).decode()
    if len(finding_json) > context.max_record_bytes:
        raise Rejection(f"finding larger than the {context.max_record_bytes} byte record limit")
    return Finding(
        finding_id=finding_id,
        account_id=account_id,
        region=region,
        finding_type=finding_type,
        severity=severity,
        created_at=created_at,
        updated_at=updated_at,
        event_count=event_count,
        finding_json=finding_json,
        line_number=line_number,
        observed_at=context.observed_at,
    )


def parse_severity(value: Any) -> float:
    """Severity as a double in 0-10; a numeric string counts as a number."""
    if isinstance(value, bool) or value is None:
        raise Rejection(f"severity {_short(value)} is not a number in 0-10")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError as error:
            raise Rejection(f"severity {_short(value)} is not a number in 0-10") from error
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise Rejection(f"severity is {_json_type(value)}, not a number in 0-10")
    if not math.isfinite(number) or not 0.0 <= number <= 10.0:
        raise Rejection(f"severity {_short(value)} is not a number in 0-10")
    return number


def parse_event_count(value: Any) -> int | None:
    """``service.count``: a whole number of occurrences, or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Rejection(f"service.count {_short(value)} is not a whole number")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as error:
            raise Rejection(f"service.count {_short(value)} is not a whole number") from error
    if isinstance(value, float):
        if not value.is_integer():
            raise Rejection(f"service.count {_short(value)} is not a whole number")
        value = int(value)
    if not isinstance(value, int):
        raise Rejection(f"service.count is {_json_type(value)}, not a whole number")
    if value < 0:
        raise Rejection(f"service.count {value} is negative")
    if value > MAX_EVENT_COUNT:
        raise Rejection(f"service.count {_short(value)} is larger than a 64-bit integer")
    return value


def parse_timestamp(value: str) -> datetime:
    """An ISO-8601 timestamp, with or without fractional seconds, as naive UTC."""
    text = value.strip()
    if len(text) < 16 or text[10] not in "T ":
        raise ValueError("not a date and time")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


def _required_timestamp(finding: dict[str, Any], key: str, context: _Context) -> datetime:
    value = finding.get(key)
    if value is None:
        raise Rejection(f"missing '{key}'")
    return _plausible_timestamp(value, f"'{key}'", context)


def _plausible_timestamp(value: Any, name: str, context: _Context) -> datetime:
    """``value`` read as an ISO-8601 time between GuardDuty's launch and just after the ingest."""
    if not isinstance(value, str):
        raise Rejection(f"{name} is {_json_type(value)}, not an ISO-8601 timestamp")
    try:
        moment = parse_timestamp(value)
    except ValueError as error:
        raise Rejection(f"{name} {_short(value)} is not an ISO-8601 timestamp") from error
    if moment < GUARDDUTY_LAUNCH:
        raise Rejection(
            f"{name} {moment.isoformat()}Z is before GuardDuty existed "
            f"({GUARDDUTY_LAUNCH.date().isoformat()})"
        )
    if moment > context.latest_plausible:
        raise Rejection(
            f"{name} {moment.isoformat()}Z is more than "
            f"{MAX_CLOCK_SKEW.total_seconds() / 60:g} minutes after the ingest time "
            f"{(context.latest_plausible - MAX_CLOCK_SKEW).isoformat()}Z"
        )
    return moment


def _naive_utc(moment: datetime) -> datetime:
    """Aware times converted to UTC; naive ones are taken as UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _required_string(finding: dict[str, Any], key: str) -> str:
    if key not in finding or finding[key] is None:
        raise Rejection(f"missing '{key}'")
    value = finding[key]
    if not isinstance(value, str):
        raise Rejection(f"'{key}' is {_json_type(value)}, not a string")
    value = value.strip()
    if not value:
        raise Rejection(f"'{key}' is empty")
    if len(value) > 512 or _CONTROL_CHARS.search(value):
        raise Rejection(f"'{key}' {_short(value)} is too long or holds control characters")
    return value


def _optional_string(finding: dict[str, Any], key: str) -> str | None:
    value = finding.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Rejection(f"'{key}' is {_json_type(value)}, not a string")
    return _required_string(finding, key) if value.strip() else None


def _string_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _looks_like_finding(value: dict[str, Any]) -> bool:
    keys = value.keys()
    return (
        ("id" in keys and bool(_FINDING_KEYS & keys))
        or len(_FINDING_KEYS & keys) >= 2
        or (_is_pascal_case(value))
    )


def _is_pascal_case(value: dict[str, Any]) -> bool:
    return "id" not in value and len(_PASCAL_FINDING_KEYS & value.keys()) >= 2


def _loads(data: bytes) -> Any:
    if data.startswith(b"\xef\xbb\xbf"):
        # A UTF-8 byte order mark is not JSON, but harmless: RFC 8259 lets a reader ignore it.
        data = data[3:]
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise Rejection(f"not valid JSON: {error}") from error
    except RecursionError as error:
        raise Rejection("JSON nested too deeply") from error


def _is_json(line: bytes) -> bool:
    try:
        _loads(line)
    except Rejection:
        return False
    return True


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _excerpt(data: bytes) -> str:
    return data[:EXCERPT_CHARS].decode("utf-8", errors="replace")


def _excerpt_value(value: Any) -> str:
    try:
        return orjson.dumps(value)[:EXCERPT_CHARS].decode("utf-8", errors="replace")
    except TypeError:
        return _short(value)
