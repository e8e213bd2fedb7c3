"""Drive the real Dagster definitions through simulated days, as the daemon would.

Every sensor and schedule of the code location is ticked on the simulated clock (the pipeline
schedule's cron is set to once a day through GUARDDUTY_PIPELINE_CRON, its supported override), and
each RunRequest is executed in process on one temporary instance with the job, tags and partition
the request names; run keys already launched are skipped, as the daemon skips them. When no
schedule runs the GuardDuty API backfill, the harness runs its job daily at 04:00. The scenarios
the issue names are spread over the days, each at a sensor run from its planned day on until it
is exercised: a crash in the middle of an ingest, a crash before the ledger commit, a dbt-only
partition backfill while a sensor ingest is under way, two ingest runs racing. After the day's
pipeline run, every checked mart is compared with the oracle. dbt runs through a warm server
(tools/soak/warm_dbt.py), which spares each invocation dbt's start-up.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster._utils.schedules import cron_string_iterator

from orchestration.definitions import defs
from orchestration.defs import resources
from orchestration.defs.transform.assets import dbt_incremental_models, dbt_models
from orchestration.lib.aws.guardduty import GuardDutyResource
from orchestration.lib.lake import commit as lake_commit
from orchestration.lib.lake.store import LocalStore
from tools.soak import oracle
from tools.soak.clock import SimulatedClock, simulated_time
from tools.soak.faults import (
    Fault,
    InjectedCrash,
    ReadMeter,
    crash,
    injected,
    install_meter,
    under,
)
from tools.soak.warm_dbt import WarmDbt
from tools.soak.world import REGIONS, Delivery, FakeGuardDutyClient, Observation, World

SENSOR_EVERY = timedelta(hours=6)
LAST_TICK = timedelta(minutes=5)
API_PAGES_PREFIX = "guardduty-api"
BACKFILL_AT = timedelta(hours=4)
API_BACKFILL = dg.AssetKey(["raw", "guardduty_api_backfill"])
LAKE_FINDINGS = dg.AssetKey(["lake", "findings"])
# The dbt steps, whose config says which dbt resource types a build leaves out.
DBT_OPS = tuple(assets.op.name for assets in (dbt_incremental_models, dbt_models))
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# dbt's tests run on the last day only; their asset checks are then missing, which is expected.
logging.getLogger("dagster._core.execution.plan.active").setLevel(logging.ERROR)
SCENARIOS = (
    "crash while reading the source",
    "crash between the rows and the ledger commit",
    "dbt partition backfill during an ingest",
    "two ingest runs racing",
)
CHECKED_MARTS = (
    "fct_findings",
    "fct_finding_remote_endpoints",
    "fct_attack_sequences",
    "agg_top_asns",
    "agg_top_remote_ips",
    *oracle.FIRST_SEEN_MARTS,
    *oracle.DAILY_MARTS,
    "agg_findings_by_country",
    "fct_finding_archive_times",
    "fct_findings_open_past_target",
    "agg_archive_compliance_by_severity",
    "agg_account_region_coverage",
    "ingest_quarantine",
)


@dataclass
class RunCost:
    day: int
    what: str
    job: str
    status: str
    objects_listed: int | None
    lake_files: int
    lake_bytes: int
    ledger_files: int
    ledger_bytes: int
    seconds: float
    cpu_seconds: float


@dataclass
class SoakReport:
    days_checked: int = 0
    differences: list[tuple[int, oracle.Difference]] = field(default_factory=list)
    costs: list[RunCost] = field(default_factory=list)
    scenarios: dict[str, str] = field(
        default_factory=lambda: dict.fromkeys(SCENARIOS, "not exercised")
    )

    @property
    def unexercised(self) -> list[str]:
        return [
            name for name, outcome in self.scenarios.items() if not outcome.startswith("exercised")
        ]

    @property
    def passed(self) -> bool:
        return not self.differences and not self.unexercised


class Soak:
    def __init__(self, world: World, workdir: Path, log: Callable[[str], None] = print) -> None:
        self.world, self.workdir, self.log = world, workdir, log
        self.warm_dbt = WarmDbt(workdir)
        self.started, self.cpu_started = time.monotonic(), self._cpu_seconds()
        self.source = workdir / "source"
        self.source.mkdir(parents=True, exist_ok=True)
        self.clock = SimulatedClock(world.start)
        self.definitions = _definitions(dbt_executable=str(self.warm_dbt.executable))
        self.instance = dg.DagsterInstance.ephemeral()
        self.meter: ReadMeter = install_meter(workdir / "lake")
        self.report = SoakReport()
        self.backfill_pages_written = 0
        self.written: list[Delivery] = []
        self.api_observations: list[Observation] = []
        self.launched_run_keys: set[str] = set()
        self.scenario_attempts: dict[str, int] = {}
        self.cursors: dict[str, str | None] = {}
        self.day = 0
        self.dbt_excludes = ["unit_test"]
        self.visible_until = world.start

    # -- the simulated days --------------------------------------------------------------------

    def run(self) -> SoakReport:
        original_get_client = GuardDutyResource.get_client
        GuardDutyResource.get_client = lambda _, region_name=None: FakeGuardDutyClient(
            self.world, region_name or REGIONS[0], self.clock.now
        )
        self.warm_dbt.start()
        try:
            with simulated_time(self.clock, self.source):
                pending = list(self.world.deliveries)
                for day in range(self.world.days):
                    self.day = day
                    pending = self._simulate_day(pending)
        finally:
            GuardDutyResource.get_client = original_get_client
            self.warm_dbt.stop()
        return self.report

    def _simulate_day(self, pending: list[Delivery]) -> list[Delivery]:
        day_start = self.world.start + timedelta(days=self.day)
        # dbt's data tests check what the oracle checks every day; they run on the last day's
        # build only, which keeps a day's dbt build to the models.
        self.dbt_excludes = (
            ["unit_test"] if self.day == self.world.days - 1 else ["unit_test", "test"]
        )
        ticks = self._ticks(day_start)
        for moment, action in ticks:
            while pending and pending[0].arrives_at <= moment:
                self._write(pending.pop(0))
            self.clock.advance_to(max(moment, self.clock.now()))
            action(moment)
        self._check_day()
        return pending

    def _ticks(self, day_start: datetime) -> list[tuple[datetime, Callable[[datetime], None]]]:
        day_end = day_start + timedelta(days=1)
        ticks: list[tuple[datetime, Callable[[datetime], None]]] = []
        moment = day_start + SENSOR_EVERY
        while moment < day_end:
            for sensor in self.definitions.sensors or []:
                ticks.append((moment, lambda at, sensor=sensor: self._sensor_tick(sensor)))
            moment += SENSOR_EVERY
        # Sensors that start no run (alerts) tick once more after the day's pipeline run.
        for sensor in self.definitions.sensors or []:
            if not _job_name(sensor):
                ticks.append(
                    (day_end - LAST_TICK, lambda at, sensor=sensor: self._sensor_tick(sensor))
                )
        backfill_scheduled = False
        for schedule in self.definitions.schedules or []:
            job = self.definitions.resolve_job_def(schedule.job_name)
            backfill_scheduled |= API_BACKFILL in _asset_keys(job)
            for at in _cron_times(schedule.cron_schedule, day_start, day_end):
                ticks.append((at, lambda at, schedule=schedule: self._schedule_tick(schedule, at)))
        if not backfill_scheduled:
            ticks.append((day_start + BACKFILL_AT, self._unscheduled_backfill))
        return sorted(ticks, key=lambda tick: tick[0])

    def _write(self, delivery: Delivery) -> None:
        self.clock.advance_to(max(self.clock.now(), delivery.arrives_at))
        path = self.source / delivery.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(delivery.data)
        stamp = self.clock.epoch_ns()
        os.utime(path, ns=(stamp, stamp))
        delivery.version_ns = stamp
        self.clock.tick()
        self.written.append(delivery)

    # -- ticks ---------------------------------------------------------------------------------

    def _sensor_tick(self, sensor: dg.SensorDefinition) -> None:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor.name),
            sensor_name=sensor.name,
            resources=self._resources_for(sensor.required_resource_keys),
        )
        data = sensor.evaluate_tick(context)
        self.cursors[sensor.name] = data.cursor
        if not _job_name(sensor):
            return
        for request in data.run_requests or []:
            if request.run_key in self.launched_run_keys:
                continue
            self.launched_run_keys.add(request.run_key)
            job = self.definitions.resolve_job_def(request.job_name or _job_name(sensor))
            scenario = self._scenario_for_sensor_run()
            if scenario:
                scenario(job, request)
            else:
                self._execute(job, request, "sensor run")

    def _schedule_tick(self, schedule: dg.ScheduleDefinition, at: datetime) -> None:
        context = dg.build_schedule_context(
            instance=self.instance,
            scheduled_execution_time=at,
            resources=self._resources_for(schedule.required_resource_keys),
            repository_def=self.definitions.get_repository_def(),
        )
        data = schedule.evaluate_tick(context)
        for request in data.run_requests or []:
            if request.run_key and request.run_key in self.launched_run_keys:
                continue
            if request.run_key:
                self.launched_run_keys.add(request.run_key)
            job = self.definitions.resolve_job_def(request.job_name or schedule.job_name)
            if LAKE_FINDINGS in _asset_keys(job):
                self.visible_until = self.clock.now()
            self._execute(job, request, f"schedule {schedule.name}")

    def _resources_for(self, keys: set[str]) -> dict[str, Any]:
        """The resources a sensor or schedule asks for, as the daemon gives it (no others)."""
        return {key: value for key, value in self.definitions.resources.items() if key in keys}

    def _unscheduled_backfill(self, _: datetime) -> None:
        job = self.definitions.resolve_job_def("guardduty_history_backfill")
        self._execute(job, dg.RunRequest(), "API backfill (harness, no schedule)")

    # -- running jobs --------------------------------------------------------------------------

    def _execute(
        self,
        job: dg.JobDefinition,
        request: dg.RunRequest,
        what: str,
        expect_failure: bool = False,
        **options: Any,
    ) -> dg.ExecuteInProcessResult | None:
        includes_backfill = API_BACKFILL in _asset_keys(job, options.get("asset_selection"))
        backfill_time = self.clock.now()
        started, cpu_started = time.monotonic(), self._cpu_seconds()
        with self.meter.measuring() as meter:
            try:
                result = job.execute_in_process(
                    instance=self.instance,
                    run_config=self._run_config(job, request),
                    tags=request.tags,
                    partition_key=request.partition_key,
                    raise_on_error=False,
                    **options,
                )
            except InjectedCrash:
                result = None
        metadata = _ingest_metadata(result) if result else {}
        status = "success" if result and result.success else "failed"
        self.report.costs.append(
            RunCost(
                self.day,
                what,
                job.name,
                status,
                metadata.get("objects_listed"),
                meter.lake.files,
                meter.lake.bytes,
                meter.ledger.files,
                meter.ledger.bytes,
                time.monotonic() - started,
                self._cpu_seconds() - cpu_started,
            )
        )
        if status == "failed" and not expect_failure:
            self.report.differences.append(
                (self.day, oracle.Difference("runs", what, "status", "success", _failure(result)))
            )
        if result is not None:
            self._account_backfill(result)
            if includes_backfill and _succeeded(result, API_BACKFILL):
                self._observe_api(backfill_time)
        self.clock.tick(timedelta(seconds=max(1, round(time.monotonic() - started))))
        return result

    def _run_config(self, job: dg.JobDefinition, request: dg.RunRequest) -> dict[str, Any]:
        run_config = {**(request.run_config or {}), **QUIET}
        dbt_ops = [name for name in DBT_OPS if job.graph.has_node_named(name)]
        if dbt_ops:
            dbt_config = {"config": {"exclude_resource_types": self.dbt_excludes}}
            run_config["ops"] = {**run_config.get("ops", {}), **dict.fromkeys(dbt_ops, dbt_config)}
        return run_config

    def _account_backfill(self, result: dg.ExecuteInProcessResult) -> None:
        backfill = _materialization_metadata(result, API_BACKFILL)
        self.backfill_pages_written += sum(
            int(backfill.get(name, 0))
            for name in ("objects_written", "objects_rewritten", "objects_reobserved")
        )

    def _observe_api(self, moment: datetime) -> None:
        """What the backfill copied: every finding's current version and state at ``moment``."""
        for version, archived in self.world.api_state(moment).values():
            self.api_observations.append(Observation(version, archived, moment))

    # -- scenarios -----------------------------------------------------------------------------

    def _scenario_for_sensor_run(self) -> Callable[[dg.JobDefinition, dg.RunRequest], None] | None:
        """A scenario due and not yet exercised, one per sensor run.

        Scenarios are spread over the run: each is due from its planned day on, and is tried
        again at later sensor runs until its seam is reached (a sensor run whose objects another
        run ingested first commits nothing), the least tried first.
        """
        handlers = (self._crash_reading, self._crash_committing, self._overlap, self._race)
        due = [
            (self.scenario_attempts.get(name, 0), index, name, handler)
            for index, (name, handler) in enumerate(zip(SCENARIOS, handlers, strict=True))
            if index * self.world.days // len(SCENARIOS) <= self.day
            and name in self.report.unexercised
        ]
        if not due:
            return None
        _, _, name, handler = min(due, key=lambda item: item[:2])
        self.scenario_attempts[name] = self.scenario_attempts.get(name, 0) + 1
        return lambda job, request: handler(name, job, request)

    def _crash_reading(self, name: str, job: dg.JobDefinition, request: dg.RunRequest) -> None:
        fault = Fault(LocalStore, "read", 1, crash, under(self.source))
        with injected(fault):
            result = self._execute(job, request, name, expect_failure=True)
        self._note(name, fault, result)

    def _crash_committing(self, name: str, job: dg.JobDefinition, request: dg.RunRequest) -> None:
        """The run dies after appending its findings and quarantine rows, before the ledger."""
        fault = Fault(lake_commit, "commit_ledger", 1, crash)
        with injected(fault):
            result = self._execute(job, request, name, expect_failure=True)
        self._note(name, fault, result)

    def _overlap(self, name: str, job: dg.JobDefinition, request: dg.RunRequest) -> None:
        """A dbt-only backfill of today's partition runs while the ingest waits at its commit."""
        paused, resume = threading.Event(), threading.Event()

        def pause() -> None:
            paused.set()
            resume.wait(timeout=600)

        fault = Fault(lake_commit, "commit_ledger", 1, pause)
        with injected(fault):
            ingest = threading.Thread(target=self._execute, args=(job, request, name))
            ingest.start()
            while ingest.is_alive() and not paused.wait(timeout=0.05):
                pass
            self._dbt_partition_backfill(name)
            resume.set()
            ingest.join()
        if paused.is_set():
            self.report.scenarios[name] = "exercised (ingest paused before its ledger commit)"

    def _dbt_partition_backfill(self, name: str) -> None:
        pipeline = self.definitions.resolve_job_def("guardduty_pipeline")
        graph = self.definitions.resolve_asset_graph()
        partitioned = [
            key
            for key in _asset_keys(pipeline)
            if graph.get(key).partitions_def is not None and graph.get(key).is_materializable
        ]
        day = (self.world.start + timedelta(days=self.day)).date().isoformat()
        self._execute(
            pipeline,
            dg.RunRequest(partition_key=day),
            f"{name}: dbt only",
            asset_selection=partitioned,
        )

    def _race(self, name: str, job: dg.JobDefinition, request: dg.RunRequest) -> None:
        threads = [
            threading.Thread(target=self._execute, args=(job, request, f"{name} ({side})", True))
            for side in ("a", "b")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        outcomes = [cost.status for cost in self.report.costs[-2:]]
        self.report.scenarios[name] = f"exercised (runs: {', '.join(outcomes)})"

    def _note(self, name: str, fault: Fault, result: dg.ExecuteInProcessResult | None) -> None:
        if not fault.fired:
            self.report.scenarios[name] = "not exercised (the fault's seam was never called)"
        else:
            failed = result is None or not result.success
            self.report.scenarios[name] = "exercised" + ("" if failed else " (run still succeeded)")

    # -- the daily comparison ------------------------------------------------------------------

    def _check_day(self) -> None:
        visible = [item for item in self.written if item.arrives_at <= self.visible_until]
        observations = [obs for item in visible for obs in item.observations]
        observations += [
            obs for obs in self.api_observations if obs.observed_at <= self.visible_until
        ]
        expected = oracle.expected_findings(observations)
        marts = read_marts(Path(self._duckdb_path()))
        differences = []
        missing = [mart for mart in CHECKED_MARTS if mart not in marts]
        differences += [
            oracle.Difference(mart, "-", "(table)", "built", "missing") for mart in missing
        ]
        if not missing:
            differences += oracle.check_findings(expected, marts["fct_findings"])
            differences += oracle.check_endpoints(expected, marts["fct_finding_remote_endpoints"])
            differences += oracle.check_first_seen(expected, marts)
            differences += oracle.check_top_remote(expected, marts)
            differences += oracle.check_attack_sequences(expected, marts["fct_attack_sequences"])
            differences += oracle.check_daily_aggregates(expected, marts)
            differences += oracle.check_compliance(expected, marts)
            differences += oracle.check_coverage(observations, marts)
            quarantine = [
                (str((self.source / item.key).resolve()), record.line_number, record.record_index)
                for item in visible
                for record in item.quarantine
            ]
            differences += oracle.check_quarantine(quarantine, marts["ingest_quarantine"])
            differences += oracle.check_alerts(expected, _read_alerts())
        differences += self._check_ledger(visible)
        self.report.days_checked += 1
        self.report.differences += [(self.day, difference) for difference in differences]
        seconds, cpu_seconds = (
            time.monotonic() - self.started,
            self._cpu_seconds() - self.cpu_started,
        )
        self.log(
            f"day {self.day + 1:>3} ({self.clock.now():%Y-%m-%d}): {len(expected)} findings, "
            f"{len(self.written)} objects written, {len(differences)} differences "
            f"({seconds:.0f} s, {cpu_seconds:.0f} CPU s so far)"
        )
        for difference in differences[:10]:
            self.log(f"    {difference}")

    def _check_ledger(self, visible: list[Delivery]) -> list[oracle.Difference]:
        """Each object written is in the ledger once, with its status and quarantine count; the
        only other objects are the API backfill's pages, as many as the backfill wrote."""
        from orchestration.lib.environment import get_settings
        from orchestration.lib.lake.catalog import open_lake
        from orchestration.lib.lake.reader import pin

        rows = (
            pin(open_lake(get_settings()))
            .ledger(
                ["source_uri", "object_size", "object_version", "status", "records_quarantined"]
            )
            .to_pylist()
        )
        actual: dict[tuple, dict[str, Any]] = {}
        differences = []
        for row in rows:
            key = (row["source_uri"], row["object_size"], row["object_version"])
            if key in actual:
                differences.append(oracle.Difference("ledger", str(key), "(row)", 1, "twice"))
            actual[key] = row
        expected = {
            (str((self.source / item.key).resolve()), len(item.data), str(item.version_ns)): {
                "status": item.status,
                "records_quarantined": len(item.quarantine),
            }
            for item in visible
        }
        pages = {key: row for key, row in actual.items() if key not in expected and _is_page(key)}
        others = {key: row for key, row in actual.items() if key not in pages}
        differences += oracle.compare_rows("ledger", expected, others)
        differences += oracle.compare_rows(
            "ledger",
            {"API backfill pages": {"objects": self.backfill_pages_written}},
            {"API backfill pages": {"objects": len(pages)}},
        )
        return differences

    def _cpu_seconds(self) -> float:
        """CPU time of this process, its finished children and the dbt runs that finished: the
        cost on a quiet machine."""
        own, children = (
            resource.getrusage(resource.RUSAGE_SELF),
            resource.getrusage(resource.RUSAGE_CHILDREN),
        )
        return (
            own.ru_utime
            + own.ru_stime
            + children.ru_utime
            + children.ru_stime
            + self.warm_dbt.children_cpu_seconds()
        )

    def _duckdb_path(self) -> str:
        from orchestration.lib.environment import get_settings

        return get_settings().duckdb_path


def _definitions(dbt_executable: str) -> dg.Definitions:
    """The code location's definitions, with dbt started through ``dbt_executable``."""
    original = resources._dbt_executable
    resources._dbt_executable = lambda: dbt_executable
    try:
        return defs()
    finally:
        resources._dbt_executable = original


def read_marts(path: Path) -> dict[str, list[dict[str, Any]]]:
    if not path.exists():
        return {}
    with _connect_read_only(path) as connection:
        tables = {
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables"
            ).fetchall()
        }
        marts = {}
        for mart in CHECKED_MARTS:
            if mart in tables:
                cursor = connection.execute(f'select * from "{mart}"')  # noqa: S608 (fixed names)
                columns = [column[0] for column in cursor.description]
                marts[mart] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return marts


def _connect_read_only(path: Path, attempts: int = 30) -> duckdb.DuckDBPyConnection:
    """DuckDB allows one writer: wait for another process's connection (someone inspecting the
    warehouse) to close, for up to ``attempts`` seconds."""
    for attempt in range(attempts):
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(1)
    raise AssertionError("unreachable")


def _asset_keys(job: dg.JobDefinition, selection: list[dg.AssetKey] | None = None) -> set:
    if selection is not None:
        return set(selection)
    layer = getattr(job, "asset_layer", None)
    return set(layer.selected_asset_keys) if layer is not None else set()


def _read_alerts() -> list[dict[str, Any]]:
    """The alerts the alert sensor sent (GUARDDUTY_ALERT_FILE, JSON Lines)."""
    path = Path(os.environ["GUARDDUTY_ALERT_FILE"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _is_page(key: tuple) -> bool:
    return f"/{API_PAGES_PREFIX}/" in key[0]


def _failure(result: dg.ExecuteInProcessResult | None) -> str:
    if result is None:
        return "crashed"
    for event in result.all_events:
        if event.is_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
            message = error.message.strip().splitlines()[0] if error else "failed"
            return f"step {event.step_key} failed: {message[:200]}"
    return "failed"


def _job_name(sensor: dg.SensorDefinition) -> str | None:
    """The job a sensor starts, or None (no job, or several: not a sensor this harness ticks)."""
    try:
        return sensor.job_name
    except dg.DagsterInvalidDefinitionError:
        return None


def _cron_times(cron: str, start: datetime, end: datetime) -> list[datetime]:
    times = []
    for moment in cron_string_iterator(start.timestamp(), cron, "UTC"):
        moment = moment.astimezone(UTC)
        if moment >= end:
            return times
        if moment >= start:
            times.append(moment)
    return times


def _materialization_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key == key:
            return {name: value.value for name, value in materialization.metadata.items()}
    return {}


def _ingest_metadata(result: dg.ExecuteInProcessResult) -> dict:
    return _materialization_metadata(result, LAKE_FINDINGS)


def _succeeded(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> bool:
    return bool(_materialization_metadata(result, key)) or any(
        event.step_materialization_data.materialization.asset_key == key
        for event in result.get_asset_materialization_events()
    )
