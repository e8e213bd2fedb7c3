"""``python -m tools.soak``: run the soak harness and print its differences and run costs.

The environment is set before the pipeline's modules are imported (settings, the pipeline cron
and the partition start are read at import), so this module imports the driver late.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# The 2nd: the monthly review report of the 1st then runs on marts the pipeline built.
DEFAULT_START = "2026-07-02"
# Once a day, late: the day's comparison follows the run that ingests and builds everything.
DAILY_PIPELINE_CRON = "45 23 * * *"


def _environment(workdir: Path, regions: tuple[str, ...]) -> dict[str, str]:
    return {
        "GUARDDUTY_DATA_DIR": str(workdir / "data"),
        "GUARDDUTY_SOURCE_URI": str(workdir / "source"),
        "GUARDDUTY_LAKE_URI": str(workdir / "lake"),
        "GUARDDUTY_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
        "GUARDDUTY_REPORT_DIR": str(workdir / "reports"),
        "GUARDDUTY_ALERT_FILE": str(workdir / "alerts.jsonl"),
        "GUARDDUTY_PIPELINE_CRON": DAILY_PIPELINE_CRON,
        "GUARDDUTY_BACKFILL_REGIONS": ",".join(regions),
        "GUARDDUTY_INGEST_CONCURRENCY": "4",
        "DBT_TARGET": "duckdb",
        "DAGSTER_HOME": str(workdir / "dagster_home"),
        "AWS_ACCESS_KEY_ID": "soak",
        "AWS_SECRET_ACCESS_KEY": "soak",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _parse_dbt_project(target: Path) -> None:
    """Write the manifest the code location loads (dbt models may have changed since), and leave
    dbt's partial-parse state in ``target``, where dagster-dbt finds it for every invocation."""
    from orchestration.lib.environment import DBT_PROJECT_DIR

    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(  # noqa: S603 (fixed argv)
        [str(dbt), "parse", "--quiet", "--target-path", str(target)],
        cwd=DBT_PROJECT_DIR,
        check=True,
    )
    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    manifest.parent.mkdir(exist_ok=True)
    staged = manifest.with_suffix(".soak.tmp")
    shutil.copyfile(target / "manifest.json", staged)
    staged.replace(manifest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.soak", description=__doc__)
    parser.add_argument("--days", type=int, default=60, help="simulated days (default 60)")
    parser.add_argument("--seed", type=int, default=20261130, help="random seed")
    parser.add_argument("--start", default=DEFAULT_START, help="first simulated day (UTC)")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="guardduty-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    from tools.soak.world import REGIONS, World

    os.environ.update(_environment(workdir, REGIONS))
    (workdir / "dagster_home").mkdir(exist_ok=True)
    _parse_dbt_project(workdir / "dbt_target")
    os.environ["DBT_TARGET_PATH"] = str(workdir / "dbt_target")
    os.environ["DBT_LOG_PATH"] = str(workdir / "dbt_logs")

    from tools.soak.driver import Soak
    from tools.soak.report import print_report

    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    began = time.monotonic()
    world = World(args.seed, start, args.days)
    print(
        f"Soak: {args.days} days from {start:%Y-%m-%d}, seed {args.seed}, "
        f"{len(world.findings)} findings, {len(world.deliveries)} raw objects; files in {workdir}",
        flush=True,
    )
    report = Soak(world, workdir, log=lambda line: print(line, flush=True)).run()
    print_report(report, time.monotonic() - began)
    if args.workdir is None and report.passed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
