"""How each finding id of the corpus is generated: its kind, versions and delivery quirks."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, timedelta
from itertools import accumulate

from tools.demo_corpus.findings import SAMPLE_FORMS, build_finding, next_version
from tools.demo_corpus.kinds import KIND_ACTION_TYPES, KIND_ARGUMENTS, KIND_CUMULATIVE, KINDS
from tools.demo_corpus.layouts import (
    LAYOUT_EVENTBRIDGE,
    LAYOUT_FINDINGS_API,
    LAYOUT_GET_FINDINGS,
    LAYOUT_NATIVE_EXPORT,
)
from tools.demo_corpus.random_values import pick, randint, randrange, weighted
from tools.demo_corpus.timestamps import EPOCH


@dataclass
class Plan:
    """How one finding id is generated and delivered."""

    kind: str
    versions: int
    sample_form: str | None = None
    archived: bool = False
    ipv6: bool = False
    out_of_order: bool = False
    duplicate: bool = False
    layout: str | None = None


# A deterministic opening so that every feature is present even in a tiny corpus.
SHOWCASE = (
    Plan("network_inbound", 4, out_of_order=True, layout=LAYOUT_EVENTBRIDGE),
    Plan("network_outbound", 2, ipv6=True),
    Plan("port_probe", 3, out_of_order=True, layout=LAYOUT_NATIVE_EXPORT),
    Plan("api_remote_ip", 2, duplicate=True, layout=LAYOUT_EVENTBRIDGE),
    Plan("api_domain", 1),
    Plan("dns", 2, duplicate=True, layout=LAYOUT_NATIVE_EXPORT),
    Plan("kubernetes", 2),
    Plan("rds", 2, archived=True),
    Plan("runtime", 1),
    Plan("malware", 1),
    Plan("attack_sequence", 2),
    Plan("network_inbound", 1, sample_form="flag"),
    Plan("dns", 1, sample_form="string"),
    Plan("attack_sequence", 1, sample_form="value"),
    Plan("port_probe", 2, ipv6=True, layout=LAYOUT_GET_FINDINGS),
    Plan("api_remote_ip", 1, ipv6=True, layout=LAYOUT_FINDINGS_API),
)

_VERSION_COUNTS = (1, 2, 3, 4, 5, 6, 8, 10, 14, 20)
_VERSION_CUMULATIVE = tuple(accumulate((50, 18, 10, 7, 5, 4, 3, 1.5, 1, 0.5)))


def random_plan(rng: random.Random) -> Plan:
    kind = weighted(rng, KINDS, KIND_CUMULATIVE)
    roll = rng.random()
    sample_form = pick(rng, SAMPLE_FORMS) if roll < 0.03 else None
    if sample_form is not None:
        versions = 1
    elif kind == "attack_sequence":
        versions = randint(rng, 1, 3)
    else:
        versions = weighted(rng, _VERSION_COUNTS, _VERSION_CUMULATIVE)
    return Plan(
        kind,
        versions,
        sample_form=sample_form,
        archived=rng.random() < 0.05,
        ipv6=rng.random() < 0.07,
        out_of_order=versions > 1 and rng.random() < 0.12,
        duplicate=rng.random() < 0.05,
    )


def _timeline(rng: random.Random, versions: int, start_ms: int, end_ms: int) -> list[int]:
    """Publication times of a finding's versions: increasing, whole minutes apart, before end."""
    gaps = [
        pick(rng, (900, 3600, 21600)) * 1000 * randint(rng, 1, 4) + randrange(rng, 60_000)
        for _ in range(versions - 1)
    ]
    latest_start = end_ms - sum(gaps) - 60_000
    if latest_start <= start_ms:  # too long for the window: squeeze the gaps
        available = (end_ms - start_ms) // 2
        gaps = [max(61_000, available // versions)] * (versions - 1)
        latest_start = max(start_ms, end_ms - sum(gaps) - 60_000)
    created = randrange(rng, start_ms, max(start_ms + 1, latest_start))
    times = [created]
    for gap in gaps:
        times.append(times[-1] + gap)
    return times


def versions_of(
    rng: random.Random, plan: Plan, start_ms: int, end_ms: int, finding_id: str
) -> tuple[list[dict], list[int]]:
    """The versions of one finding, oldest first, and their publication times."""
    times = _timeline(rng, plan.versions, start_ms, end_ms)
    with_ms = rng.random() >= 0.1
    created = EPOCH + timedelta(milliseconds=times[0])
    first = build_finding(
        rng,
        action_type=KIND_ACTION_TYPES[plan.kind],
        finding_id=finding_id,
        created_at=created.replace(tzinfo=UTC),
        count=randint(rng, 1, 5),
        sample_form=plan.sample_form,
        archived=plan.archived and plan.versions == 1,
        ipv6=plan.ipv6,
        with_milliseconds=with_ms,
        **KIND_ARGUMENTS.get(plan.kind, {}),
    )
    versions = [first]
    archive_from = plan.versions // 2 if plan.archived else plan.versions
    if not with_ms:
        times = [moment - moment % 1000 for moment in times]
    for number, updated_ms in enumerate(times[1:], start=1):
        versions.append(
            next_version(
                versions[-1],
                rng,
                updated_ms=updated_ms,
                added_count=randint(rng, 1, 40),
                new_actor=rng.random() < 0.3,
                archived=True if number >= archive_from else None,
                with_ms=with_ms,
            )
        )
    return versions, times
