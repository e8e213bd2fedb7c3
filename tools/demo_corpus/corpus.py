"""The whole corpus: findings planned, versioned and delivered to the writers of each layout."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path

from tools.demo_corpus.findings import ACCOUNT_REGION_PAIRS
from tools.demo_corpus.layouts import (
    ALL_LAYOUTS,
    DEFAULT_LINES_PER_OBJECT,
    LAYOUT_EVENTBRIDGE,
    LAYOUT_FINDINGS_API,
    LAYOUT_GET_FINDINGS,
    LAYOUT_NATIVE_EXPORT,
    CorpusOutput,
    open_writers,
)
from tools.demo_corpus.plans import SHOWCASE, Plan, random_plan, versions_of
from tools.demo_corpus.random_values import random_hex, random_uuid, randrange, stable_hex, weighted
from tools.demo_corpus.summary import CorpusSummary
from tools.demo_corpus.timestamps import iso, to_ms

NON_FINDING_DETAIL_TYPES = (
    "GuardDuty Runtime Protection Unhealthy",
    "GuardDuty Malware Protection Object Scan Result",
)
# Share of finding ids delivered mainly to each layout.
_LAYOUT_WEIGHTS = {
    LAYOUT_EVENTBRIDGE: 35,
    LAYOUT_NATIVE_EXPORT: 35,
    LAYOUT_FINDINGS_API: 15,
    LAYOUT_GET_FINDINGS: 15,
}


def generate_demo_corpus(
    target_dir: Path,
    *,
    findings: int = 5000,
    seed: int = 7,
    end_date: date | None = None,
    days: int = 45,
    layouts: tuple[str, ...] | list[str] = ALL_LAYOUTS,
    lines_per_object: int = DEFAULT_LINES_PER_OBJECT,
) -> CorpusSummary:
    """Write a deterministic corpus of GuardDuty findings under ``target_dir``.

    Args:
        target_dir: Where to write (created if missing). Existing files are left alone, so use
            an empty directory for a reproducible corpus.
        findings: Number of distinct finding versions to generate (exact).
        seed: Seed of the random source; the same seed and end date give identical files.
        end_date: Last UTC day of the corpus; today's UTC date when None.
        days: Number of days covered, ending with ``end_date``.
        layouts: Which input layouts to write (see `ALL_LAYOUTS`); each finding id goes mainly to
            one of them.
        lines_per_object: Findings per native export object at most.

    Returns:
        What was written.
    """
    if end_date is None:
        end_date = datetime.now(UTC).date()
    unknown = set(layouts) - set(ALL_LAYOUTS)
    if unknown or not layouts:
        raise ValueError(f"layouts must be a non-empty subset of {ALL_LAYOUTS}, not {layouts!r}")
    if findings < 0 or days < 1 or lines_per_object < 1:
        raise ValueError("findings must be >= 0, days and lines_per_object >= 1")
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    summary = CorpusSummary(target_dir=str(target_dir), seed=seed, end_date=end_date.isoformat())
    end_ms = to_ms(datetime.combine(end_date + timedelta(days=1), datetime.min.time(), UTC))
    # Nothing dated after now: the ingest quarantines timestamps from the future.
    end_ms = min(end_ms, to_ms(datetime.now(UTC)))
    start_ms = end_ms - days * 86_400_000
    content_rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    delivery_rng = random.Random(f"delivery-{seed}")  # noqa: S311 - as above
    _write_corpus(
        summary, target_dir, tuple(layouts), findings, start_ms, end_ms,
        content_rng, delivery_rng, lines_per_object,
    )  # fmt: skip
    return summary


def _write_corpus(
    summary: CorpusSummary,
    target_dir: Path,
    layouts: tuple[str, ...],
    findings: int,
    start_ms: int,
    end_ms: int,
    content_rng: random.Random,
    delivery_rng: random.Random,
    lines_per_object: int,
) -> None:
    output = CorpusOutput(target_dir, summary)
    writers = open_writers(layouts, output, delivery_rng, lines_per_object)
    any_layout = (layouts, tuple(accumulate(_LAYOUT_WEIGHTS[name] for name in layouts)))
    # GuardDuty does not export archived findings to S3.
    not_exported = tuple(name for name in layouts if name != LAYOUT_NATIVE_EXPORT) or layouts
    archived_layout = (not_exported, tuple(accumulate(_LAYOUT_WEIGHTS[n] for n in not_exported)))
    deliveries_by_layout: Counter[str] = Counter()
    action_types: Counter[str] = Counter()

    def deliver(layout: str, finding: dict, delivered_ms: int, redelivery: bool) -> None:
        writers[layout].add(finding, delivered_ms, redelivery=redelivery)
        deliveries_by_layout[layout] += 1

    remaining = findings
    plan_number = 0
    while remaining > 0:
        plan = SHOWCASE[plan_number] if plan_number < len(SHOWCASE) else random_plan(content_rng)
        plan_number += 1
        if plan.versions > remaining:
            plan = Plan(plan.kind, remaining, sample_form=plan.sample_form, ipv6=plan.ipv6)
        remaining -= plan.versions
        versions, times = versions_of(
            content_rng, plan, start_ms, end_ms, random_hex(content_rng, 32)
        )
        current = versions[-1]
        summary.finding_ids += 1
        summary.versions += len(versions)
        action_types[current["service"].get("action", {}).get("actionType", "NONE")] += 1
        summary.sample_findings += plan.sample_form is not None
        summary.archived_findings += bool(current["service"]["archived"])

        rng = delivery_rng
        primary = plan.layout if plan.layout in writers else None
        if primary is None:
            primary = weighted(rng, *(archived_layout if plan.archived else any_layout))
        delivery_times = [moment + randrange(rng, 5_000, 300_000) for moment in times]
        order = list(range(len(versions)))
        if plan.out_of_order and len(versions) > 1:
            swapped = randrange(rng, len(versions) - 1)
            order[swapped], order[swapped + 1] = order[swapped + 1], order[swapped]
            # The older version arrives after the newer one.
            delivery_times[swapped] = delivery_times[swapped + 1] + randrange(
                rng, 60_000, 3_600_000
            )
            summary.out_of_order_deliveries += 1
        duplicated = randrange(rng, len(versions)) if plan.duplicate else -1
        for index in order:
            layout = primary
            if plan.layout is None and rng.random() < 0.1:
                layout = weighted(rng, *any_layout)
            deliver(layout, versions[index], delivery_times[index], False)
            if index == duplicated:
                again = layout if plan.layout else weighted(rng, *any_layout)
                deliver(again, versions[index], delivery_times[index] + 60_000, True)
                summary.duplicate_deliveries += 1

    last_ms = end_ms - 1
    if LAYOUT_EVENTBRIDGE in writers:
        for event in _non_finding_events(delivery_rng, end_ms - 7_200_000):
            writers[LAYOUT_EVENTBRIDGE].write_event(event, end_ms - 7_200_000, findings=0)
    if LAYOUT_GET_FINDINGS in writers:
        writers[LAYOUT_GET_FINDINGS].write_empty_page(*ACCOUNT_REGION_PAIRS[1])
    for writer in writers.values():
        writer.close(last_ms)
    summary.deliveries = sum(deliveries_by_layout.values())
    summary.deliveries_by_layout = dict(sorted(deliveries_by_layout.items()))
    summary.findings_by_action_type = dict(sorted(action_types.items()))
    summary.objects_by_layout = dict(sorted(summary.objects_by_layout.items()))


def _non_finding_events(rng: random.Random, moment_ms: int) -> list[dict]:
    """Valid GuardDuty events that are not findings, which the reader must skip."""
    account, region = ACCOUNT_REGION_PAIRS[0]
    time = iso(moment_ms, with_ms=False)
    envelope = {
        "version": "0",
        "source": "aws.guardduty",
        "account": account,
        "time": time,
        "region": region,
    }
    unhealthy = {
        **envelope,
        "id": random_uuid(rng),
        "detail-type": NON_FINDING_DETAIL_TYPES[0],
        "resources": [],
        "detail": {
            "schemaVersion": "1.0",
            "resourceAccountId": account,
            "currentStatus": "UNHEALTHY",
            "previousStatus": "HEALTHY",
            "resourceDetails": {
                "resourceType": "EC2",
                "ec2InstanceDetails": {
                    "instanceId": "i-0" + stable_hex("instance", account, region, 3, length=16),
                    "instanceType": "m5.large",
                    "agentDetails": {"version": "1.7.0"},
                    "managementType": "AUTO_MANAGED",
                },
            },
            "issue": "The runtime agent stopped sending events.",
            "lastUpdatedAt": time,
        },
    }
    bucket = f"uploads-{stable_hex('bucket', account, length=8)}"
    scan_result = {
        **envelope,
        "id": random_uuid(rng),
        "detail-type": NON_FINDING_DETAIL_TYPES[1],
        "resources": [
            f"arn:aws:guardduty:{region}:{account}:malware-protection-plan/{random_hex(rng, 20)}"
        ],
        "detail": {
            "schemaVersion": "1.0",
            "scanStatus": "COMPLETED",
            "resourceType": "S3_OBJECT",
            "s3ObjectDetails": {
                "bucketName": bucket,
                "objectKey": "incoming/invoice-2291.pdf",
                "eTag": random_hex(rng, 32),
                "versionId": random_hex(rng, 16),
                "s3Throttled": False,
            },
            "scanResultDetails": {"scanResultStatus": "NO_THREATS_FOUND", "threats": None},
        },
    }
    return [unhealthy, scan_result]
