"""Growth with history: a 20-object ingest and a sensor tick after many earlier batches vs a few.

The source is the capture-Lambda layout (``eventbridge/YYYY/MM/DD/HH/<uuid>.json``, one finding
per object) on local disk, each batch's 20 objects dated by the batch's simulated hour. A history
of N batches is N x 20 objects over N / 24 days (one batch an hour), ingested by the real runner
one simulated day at a time (the day's 24 batches in one run: 1,000 one-batch runs take too long
for `make bench`, see ``seconds_per_one_batch_run`` in the details), each day followed by lake
maintenance as the daily schedule runs it, with a near-zero snapshot retention standing in for the
expiry of snapshots older than a day. Then 20 new objects dated today are ingested by the real
runner and timed, and one tick of the real new-objects sensor is evaluated and timed.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import Figure, Section, at_most, load_average, stopwatch

OBJECTS_PER_BATCH = 20
BATCHES_PER_DAY = 24
MEASURED_REPEATS = 5
# Near-zero: every snapshot superseded before the maintenance run is expired.
SNAPSHOT_RETENTION = timedelta(seconds=1)


def _templates(work: Path) -> list[dict]:
    from tools.demo_corpus import generate_demo_corpus

    corpus = work / "templates"
    generate_demo_corpus(corpus, findings=OBJECTS_PER_BATCH, seed=11, layouts=("eventbridge",))
    events = [json.loads(path.read_text()) for path in sorted(corpus.rglob("*.json"))]
    # camelCase findings (the corpus also writes other casings and non-finding events).
    return [event for event in events if "arn" in (event.get("detail") or {})]


def _write_batch(source: Path, templates: list[dict], moment: datetime) -> None:
    """20 objects, each a new finding id, under the folders of ``moment``'s hour."""
    folder = source / "eventbridge" / moment.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(OBJECTS_PER_BATCH):
        event = json.loads(json.dumps(templates[number % len(templates)]))
        finding_id = uuid.uuid4().hex
        event["id"] = str(uuid.uuid4())
        event["detail"]["id"] = finding_id
        event["detail"]["arn"] = event["detail"]["arn"].rsplit("/", 1)[0] + f"/{finding_id}"
        (folder / f"{event['id']}.json").write_text(json.dumps(event))


def _quiet() -> logging.Logger:
    log = logging.getLogger("bench.history")
    log.setLevel(logging.WARNING)
    return log


def _ingest(source: Path, lake) -> tuple[float, object]:
    from orchestration.lib.ingest.runner import run_ingest
    from orchestration.lib.lake.store import LocalStore

    with stopwatch() as elapsed:
        stats = run_ingest(LocalStore(str(source)), lake, log=_quiet())
    return elapsed[0], stats


def _maintain(lake) -> None:
    from orchestration.lib.lake.maintenance import MaintenancePolicy, maintain_lake

    maintain_lake(lake, MaintenancePolicy(snapshot_retention=SNAPSHOT_RETENTION), log=_quiet())


def _build_history(work: Path, templates: list[dict], batches: int, today) -> dict:
    """Source objects and a lake holding ``batches`` batches, ending yesterday."""
    from orchestration.lib.lake.catalog import connect_lake

    source, lake_dir = work / "source", work / "lake"
    lake = connect_lake(str(lake_dir))
    days = -(-batches // BATCHES_PER_DAY)
    first_day = datetime.combine(today - timedelta(days=days), datetime.min.time(), UTC)
    written = 0
    runs = maintenance = 0.0
    for day in range(days):
        for hour in range(min(BATCHES_PER_DAY, batches - written)):
            _write_batch(source, templates, first_day + timedelta(days=day, hours=hour))
            written += 1
        seconds, stats = _ingest(source, lake)
        if stats.objects_quarantined or not stats.balanced:
            raise RuntimeError(f"history ingest quarantined objects: {stats}")
        runs += seconds
        with stopwatch() as elapsed:
            _maintain(lake)
        maintenance += elapsed[0]
    return {
        "batches": written,
        "days": days,
        "source_objects": written * OBJECTS_PER_BATCH,
        "ingest_runs_seconds": round(runs, 1),
        "maintenance_seconds": round(maintenance, 1),
        "lake": lake,
        "source": source,
    }


def _measure_once(history: dict, templates: list[dict], instance) -> tuple[float, float, int]:
    """A sensor tick and a timed ingest of 20 new objects dated today."""
    source = history["source"]
    newest = _newest_modification(source)
    _write_batch(source, templates, datetime.now(UTC))
    tick = _sensor_tick(source, newest, instance)
    seconds, stats = _ingest(source, history["lake"])
    if stats.objects_read != OBJECTS_PER_BATCH:
        raise RuntimeError(f"the measured ingest read {stats.objects_read} objects: {stats}")
    return seconds, tick, stats.objects_listed


def _newest_modification(source: Path) -> datetime:
    newest = max(path.stat().st_mtime for path in source.rglob("*.json"))
    return datetime.fromtimestamp(newest, UTC)


def _sensor_tick(source: Path, cursor: datetime, instance) -> float:
    """One evaluation of the real sensor with the cursor the previous tick would have left.

    Timed with its resources' set-up (the S3 client), as the daemon pays it on every tick.
    """
    import dagster as dg
    from dagster_aws.s3 import S3Resource

    from orchestration.defs.pipeline.sensors import new_raw_objects_sensor
    from orchestration.lib.environment import load_settings

    os.environ["GUARDDUTY_SOURCE_URI"] = str(source)
    context = dg.build_sensor_context(
        cursor=cursor.isoformat(),
        resources={"s3": S3Resource(), "settings": load_settings()},
        instance=instance,
    )
    with stopwatch() as elapsed:
        result = new_raw_objects_sensor(context)
    if not isinstance(result, dg.RunRequest):
        raise RuntimeError(f"the sensor saw no new objects: {result}")
    return elapsed[0]


def run(work: Path, long_history: int, today) -> Section:
    import dagster as dg

    section = Section("history_growth")
    templates = _templates(work)
    saved_source = os.environ.get("GUARDDUTY_SOURCE_URI")
    histories = {
        label: _build_history(work / label, templates, batches, today)
        for label, batches in (("short", 10), ("long", long_history))
    }
    measured = {label: {"ingest": [], "tick": [], "listed": []} for label in histories}
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            # Alternated, so that other load on the machine hits both alike.
            for _ in range(MEASURED_REPEATS):
                for label, history in histories.items():
                    ingest, tick, listed = _measure_once(history, templates, instance)
                    measured[label]["ingest"].append(ingest)
                    measured[label]["tick"].append(tick)
                    measured[label]["listed"].append(listed)
    finally:
        if saved_source is None:
            os.environ.pop("GUARDDUTY_SOURCE_URI", None)
        else:
            os.environ["GUARDDUTY_SOURCE_URI"] = saved_source
    for label, history in histories.items():
        history.pop("lake")
        history["source"] = str(history["source"])
        history["ingest_seconds"] = [round(value, 3) for value in measured[label]["ingest"]]
        history["sensor_tick_seconds"] = [round(value, 3) for value in measured[label]["tick"]]
        history["objects_listed_by_each_ingest"] = measured[label]["listed"]
    one_batch_run = statistics.median(measured["short"]["ingest"])
    section.details = {
        **histories,
        "seconds_per_one_batch_run": round(one_batch_run, 3),
        "estimated_seconds_for_one_run_per_batch": round(one_batch_run * long_history, 1),
        "load_average_after": load_average(),
    }
    ingest_ratio = statistics.median(measured["long"]["ingest"]) / one_batch_run
    tick_ratio = statistics.median(measured["long"]["tick"]) / statistics.median(
        measured["short"]["tick"]
    )
    setup = (
        f"capture-Lambda layout on local disk, {OBJECTS_PER_BATCH} objects a batch, one batch "
        f"an hour; the history ingested by run_ingest one simulated day ({BATCHES_PER_DAY} "
        "batches) at a time, lake maintenance (compaction, snapshot expiry with a 1-second "
        "retention standing in for the daily expiry, orphan sweep) after each day; the two "
        "lakes measured alternately"
    )
    section.figures += [
        Figure(
            "history_growth",
            round(ingest_ratio, 2),
            "ratio",
            f"run_ingest of {OBJECTS_PER_BATCH} new objects dated today after {long_history} "
            f"earlier batches / the same after 10 (median of {MEASURED_REPEATS} each); {setup}",
            **at_most(ingest_ratio, 1.5),
        ),
        Figure(
            "sensor_tick_growth",
            round(tick_ratio, 2),
            "ratio",
            "one evaluation of the real new_raw_objects_sensor (dagster build_sensor_context, "
            "resources built as on every daemon tick, cursor = the newest modification time "
            f"before the new objects) with {OBJECTS_PER_BATCH} new objects after {long_history} "
            f"earlier batches / the same after 10 (median of {MEASURED_REPEATS}); same sources "
            "as history_growth",
            **at_most(tick_ratio, 1.5),
        ),
    ]
    return section
