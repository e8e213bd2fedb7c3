"""AWS Lambda handler that lands GuardDuty findings from EventBridge in the raw S3 bucket.

The EventBridge rule matches ``detail-type = "GuardDuty Finding"``; each invocation carries one
event, stored verbatim (the whole envelope, compact JSON) at

    <RAW_PREFIX>YYYY/MM/DD/<finding id>-<updatedAt compact>-<service.count>.json

with the date taken from ``updatedAt`` in UTC. The key is a function of the finding version only,
so a retried invocation overwrites the same object instead of adding a duplicate.

This file must stay self-contained (standard library and boto3 only, both in the Lambda Python
runtime) so that zipping this single file is the whole deployment package.

Environment: ``RAW_BUCKET`` (required), ``RAW_PREFIX`` (default ``eventbridge/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

FINDING_DETAIL_TYPE = "GuardDuty Finding"
GUARDDUTY_SOURCE = "aws.guardduty"
DEFAULT_PREFIX = "eventbridge/"

# GuardDuty ids are 32 hex characters; anything outside this alphabet is sanitised rather than
# trusted inside an S3 key. Dots are excluded so that ".." can never appear.
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]")


class CaptureError(RuntimeError):
    """Writing the event failed; raised so that Lambda retries and finally dead-letters it."""


class InvalidFindingEvent(ValueError):
    """A "GuardDuty Finding" event without a usable finding id or updatedAt."""


def safe_key_component(value: str) -> str:
    """Return ``value`` unchanged if it is safe inside an S3 key, else a sanitised stable form.

    The sanitised form keeps the safe characters (for readability) and appends a digest of the
    original value, so distinct unsafe ids never collide and retries map to the same key.
    """
    if _SAFE_ID.match(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    readable = _UNSAFE_CHARS.sub("_", value)[:64].strip("_") or "id"
    return f"{readable}~{digest}"


def parse_updated_at(value: Any) -> datetime:
    """Parse the finding's ISO-8601 ``updatedAt`` into an aware UTC datetime."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise InvalidFindingEvent(f"updatedAt is missing or not a string: {value!r:.80}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise InvalidFindingEvent(f"updatedAt is not ISO-8601: {value!r:.80}") from error
    if parsed.tzinfo is None:
        # GuardDuty always writes UTC ("...Z"); a naive value is read the same way.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _count(detail: dict[str, Any]) -> int:
    service = detail.get("service")
    raw = service.get("count") if isinstance(service, dict) else None
    try:
        count = int(raw)
    except (TypeError, ValueError):
        # Attack sequences and some Runtime Monitoring findings carry no count.
        return 0
    return max(count, 0)


def is_finding_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("detail-type") == FINDING_DETAIL_TYPE
        and event.get("source") == GUARDDUTY_SOURCE
        and isinstance(event.get("detail"), dict)
    )


def normalise_prefix(prefix: str | None) -> str:
    prefix = (DEFAULT_PREFIX if prefix is None else prefix).strip().lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix


def object_key(event: dict[str, Any], prefix: str) -> str:
    """The deterministic key of a finding event (see the module docstring)."""
    detail = event["detail"]
    finding_id = detail.get("id")
    if not isinstance(finding_id, str) or not finding_id.strip():
        raise InvalidFindingEvent(f"the finding has no id: {finding_id!r:.80}")
    updated_at = parse_updated_at(detail.get("updatedAt"))
    compact = updated_at.strftime("%Y%m%dT%H%M%S") + f"{updated_at.microsecond // 1000:03d}Z"
    name = f"{safe_key_component(finding_id)}-{compact}-{_count(detail)}.json"
    return f"{prefix}{updated_at:%Y/%m/%d}/{name}"


def capture(event: Any, *, s3_client: Any, bucket: str, prefix: str) -> dict[str, Any]:
    """Write one EventBridge event to ``s3://bucket/<key>``; skip events that are not findings."""
    if not is_finding_event(event):
        detail_type = event.get("detail-type") if isinstance(event, dict) else None
        return {"status": "skipped", "reason": f"not a GuardDuty finding event: {detail_type!r}"}
    key = object_key(event, prefix)
    body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    try:
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except (ClientError, BotoCoreError) as error:
        code = error.response["Error"].get("Code") if isinstance(error, ClientError) else ""
        raise CaptureError(
            f"could not write finding {event['detail'].get('id')!r:.80} to s3://{bucket}/{key}"
            f" ({code or type(error).__name__}): {error}"
        ) from error
    return {"status": "written", "bucket": bucket, "key": key, "bytes": len(body)}


@cache
def _s3_client() -> Any:
    # Standard retry mode backs off on SlowDown/503 before Lambda's own retry takes over.
    config = Config(
        retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=20
    )
    return boto3.client("s3", config=config)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point for the EventBridge rule on GuardDuty findings."""
    bucket = os.environ.get("RAW_BUCKET", "").strip()
    if not bucket:
        raise CaptureError("RAW_BUCKET is not set: the capture Lambda has nowhere to write.")
    prefix = normalise_prefix(os.environ.get("RAW_PREFIX"))
    result = capture(event, s3_client=_s3_client(), bucket=bucket, prefix=prefix)
    # One structured line per invocation, searchable in CloudWatch Logs Insights.
    print(json.dumps(result))
    return result
