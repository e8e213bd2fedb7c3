"""Run the benchmark suite and write bench/results/latest.json and a table.

    python -m bench.run            # full size (`make bench`), under 20 minutes on 2 cores
    python -m bench.run --quick    # 10x smaller (`make bench-quick`), results in latest-quick.json

Other work on the machine (test suites of other checkouts, for example) competes for the CPUs and
disturbs the timings: the load average before and after each section is kept in the results.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import e2e, history, s3_ingest
from bench.common import PROJECT_ROOT, Section, load_average, machine

RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
FULL = {"s3_objects": 20_000, "e2e_versions": 1_000_000, "history_batches": 1_000}
QUICK = {"s3_objects": 2_000, "e2e_versions": 100_000, "history_batches": 100}
SECTIONS = ("s3", "e2e", "startup", "history")


def _run_section(name: str, function, *args) -> Section:
    print(f"[bench] {name} ...", flush=True)
    start = time.perf_counter()
    try:
        section = function(*args)
    except Exception as error:  # a failed section is reported, the others still run
        section = Section(name, error=f"{type(error).__name__}: {error}")
        traceback.print_exc()
    section.seconds = round(time.perf_counter() - start, 1)
    print(f"[bench] {name} done in {section.seconds} s", flush=True)
    return section


def _table(figures: list[dict]) -> str:
    rows = [("figure", "value", "unit", "goal", "met")]
    for figure in figures:
        met = figure.get("goal_met")
        rows.append(
            (
                figure["name"],
                "n/a" if figure.get("value") is None else f"{figure['value']:,}",
                figure["unit"],
                figure.get("goal", ""),
                "" if met is None else ("yes" if met else "NO"),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller inputs")
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only these sections (repeatable)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--work-dir", type=Path, help="where inputs and outputs go (default: tmp)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    only = set(args.only or SECTIONS)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="guardduty-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    today = started.date()
    print(f"[bench] {'quick' if args.quick else 'full'} run in {work}", flush=True)
    results = {
        "mode": "quick" if args.quick else "full",
        "sizes": sizes,
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "sections": {},
    }
    sections: list[Section] = []
    try:
        # Start-up first: its untimed warm-up also fills the bytecode cache the pipeline runs use.
        if "startup" in only:
            repeats = 1 if args.quick else 3
            sections.append(
                _run_section("startup", e2e.definitions_load, work / "startup", repeats)
            )
        if "s3" in only:
            sections.append(
                _run_section("s3_ingest", s3_ingest.run, work / "s3", sizes["s3_objects"], today)
            )
        if "history" in only:
            sections.append(
                _run_section(
                    "history", history.run, work / "history", sizes["history_batches"], today
                )
            )
        if "e2e" in only:
            sections.append(
                _run_section("end_to_end", e2e.run, work / "e2e", sizes["e2e_versions"], today)
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    figures = [figure.as_dict() for section in sections for figure in section.figures]
    results["figures"] = figures
    results["sections"] = {
        section.name: {"seconds": section.seconds, "error": section.error, **section.details}
        for section in sections
    }
    results["duration_seconds"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    results["load_average_at_end"] = load_average()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = "latest-quick.json" if args.quick else "latest.json"
    temporary = RESULTS_DIR / f"{name}.tmp"
    temporary.write_text(json.dumps(results, indent=2, default=str) + "\n")
    temporary.replace(RESULTS_DIR / name)
    print()
    print(_table(figures))
    print()
    for figure in figures:
        print(f"- {figure['name']}: {figure['how']}")
    print(f"\n[bench] {results['duration_seconds']} s in all; results in {RESULTS_DIR / name}")
    failed = [section.name for section in sections if section.error]
    if failed:
        print(f"[bench] sections that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
