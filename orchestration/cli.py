"""The command line behind the Makefile: run, prepare, docs, check-athena and migrate-lake; and
review-report, which re-runs a monthly review report as of the lake snapshots it recorded."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from orchestration.lib.environment import (
    DBT_PROJECT_DIR,
    PROJECT_ROOT,
    Settings,
    export_for_dbt,
    get_settings,
)
from orchestration.lib.transform.dbt_artifacts import manifest_fingerprint

LOCAL_INSTANCE_CONFIG = PROJECT_ROOT / "deploy" / "dagster.local.yaml"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
MANIFEST_MADE_FROM = DBT_PROJECT_DIR / "target" / "manifest.made-from"


def _dbt(*args: str, settings: Settings) -> None:
    dbt = Path(sys.executable).parent / "dbt"
    command = [
        str(dbt if dbt.exists() else "dbt"),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        settings.dbt_target,
    ]
    subprocess.run(command, check=True, cwd=DBT_PROJECT_DIR)  # noqa: S603 (fixed argv, no shell)


def prepare(settings: Settings) -> None:
    """Write dbt's manifest.json, which the Dagster code location loads instead of parsing, and
    record what it was made from."""
    _parse(settings, manifest_fingerprint(DBT_PROJECT_DIR, settings.dbt_target, os.environ))


def prepare_if_changed(settings: Settings) -> None:
    """``prepare``, unless the manifest is the one written from the same project files, target,
    dbt packages and environment (another dbt command that rewrote it changes its stat)."""
    made_from = manifest_fingerprint(DBT_PROJECT_DIR, settings.dbt_target, os.environ)
    recorded = MANIFEST_MADE_FROM.read_text() if MANIFEST_MADE_FROM.is_file() else ""
    if not (MANIFEST.is_file() and recorded == f"{made_from} {_manifest_stat()}"):
        _parse(settings, made_from)


def _parse(settings: Settings, made_from: str) -> None:
    _dbt("parse", "--quiet", settings=settings)
    MANIFEST_MADE_FROM.write_text(f"{made_from} {_manifest_stat()}")


def _manifest_stat() -> str:
    stat = MANIFEST.stat()
    return f"{stat.st_mtime_ns}:{stat.st_size}"


def ensure_demo_corpus(settings: Settings) -> None:
    """Generate the demo corpus once; later runs reuse it, so they ingest nothing new."""
    from tools.demo_corpus import generate_demo_corpus

    marker = Path(settings.data_dir) / "demo_corpus.json"
    if marker.exists():
        return
    print(f"Generating the demo corpus in {settings.source_uri} ...", flush=True)
    summary = generate_demo_corpus(Path(settings.source_uri))
    marker.write_text(
        json.dumps({"generated_at": datetime.now(UTC).isoformat(), **_plain(summary)})
    )


def _plain(summary: object) -> dict:
    fields = getattr(summary, "__dataclass_fields__", {})
    return {name: getattr(summary, name) for name in fields if _jsonable(getattr(summary, name))}


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def _prepare_instance(settings: Settings) -> None:
    home = Path(
        os.environ.setdefault("DAGSTER_HOME", str(Path(settings.data_dir) / "dagster_home"))
    )
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if LOCAL_INSTANCE_CONFIG.exists() and not config.exists():
        config.write_text(LOCAL_INSTANCE_CONFIG.read_text())


def run(settings: Settings) -> int:
    """Materialise the whole pipeline on the configured target and say where the results are."""
    import dagster as dg

    if settings.source_is_default:
        ensure_demo_corpus(settings)
    prepare_if_changed(settings)
    _prepare_instance(settings)
    from orchestration.definitions import defs

    definitions = defs()
    job = definitions.resolve_job_def("guardduty_pipeline")
    partition_key = None
    if job.partitions_def is not None:
        partition_key = datetime.now(UTC).date().isoformat()
    result = job.execute_in_process(
        instance=dg.DagsterInstance.get(),
        partition_key=partition_key,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    _print_results(result, settings)
    return 0 if result.success else 1


def _print_results(result: object, settings: Settings) -> None:
    print()
    for event in result.get_asset_materialization_events():  # type: ignore[attr-defined]
        materialization = event.step_materialization_data.materialization
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        if "objects_read" in metadata:
            print(
                f"Ingest: objects read {metadata['objects_read']} = ingested "
                f"{metadata['objects_ingested']} + skipped {metadata['objects_skipped']} + "
                f"quarantined {metadata['objects_quarantined']}; findings ingested "
                f"{metadata['findings_ingested']}; quarantine records "
                f"{metadata['records_quarantined']}; objects already ingested "
                f"{metadata['objects_already_ingested']}"
            )
    print(f"Raw source:     {settings.source_uri}")
    print(f"Iceberg lake:   {settings.lake_uri}")
    if settings.uses_athena:
        print(f"Athena schema:  {settings.athena_schema} (workgroup {settings.athena_workgroup})")
    else:
        print(f"DuckDB marts:   {settings.duckdb_path}")
        print(f"Dashboard:      {Path(settings.report_dir) / 'index.html'}")
        print(f"Review report:  {Path(settings.report_dir) / 'review'}")
    print(f"Run status:     {'SUCCESS' if result.success else 'FAILURE'}")  # type: ignore[attr-defined]


def docs(settings: Settings) -> None:
    """Build dbt's static documentation site (one self-contained HTML file)."""
    _dbt("docs", "generate", "--static", settings=settings)
    print(f"dbt docs: {DBT_PROJECT_DIR / 'target' / 'static_index.html'}")


def migrate_lake(settings: Settings, old_lake_uri: str) -> None:
    """Convert a lake of the old Parquet layout into the configured Iceberg lake."""
    import boto3

    from orchestration.lib.lake.catalog import open_lake
    from orchestration.lib.lake.migration import migrate_lake as convert
    from orchestration.lib.lake.store import open_store

    stats = convert(open_store(old_lake_uri, lambda: boto3.client("s3")), open_lake(settings))
    print(f"Lake migration from {old_lake_uri} into {settings.lake_uri}: {stats}")


def reproduce_review_report(
    settings: Settings,
    month: str,
    snapshot_ids: dict[str, int | None],
    as_of: str,
    output: str,
) -> None:
    """Re-run the review report of ``month`` as of the lake snapshots and ``as_of`` it recorded.

    The marts are rebuilt from scratch (--full-refresh) into a temporary DuckDB warehouse whose
    dbt run reads exactly those snapshots; the report goes to ``output`` (a folder or s3:// URI).
    """
    import tempfile

    import boto3

    from orchestration.lib.audit.review_report import build_report, open_duckdb_marts
    from orchestration.lib.lake.catalog import open_lake
    from orchestration.lib.lake.dbt_duckdb_plugin import snapshots_environment
    from orchestration.lib.lake.store import open_store
    from orchestration.lib.transform.exposures import REVIEW_REPORT_EXPOSURE

    with tempfile.TemporaryDirectory(prefix="review-report-") as scratch:
        warehouse = Path(scratch) / "warehouse.duckdb"
        target = Path(scratch) / "target"
        dbt = Path(sys.executable).parent / "dbt"
        command = [
            str(dbt if dbt.exists() else "dbt"),
            "build",
            "--full-refresh",
            "--select",
            f"+exposure:{REVIEW_REPORT_EXPOSURE}",
            "--exclude-resource-type",
            "unit_test",
            "--vars",
            json.dumps({"as_of": as_of}),
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target",
            "duckdb",
            "--target-path",
            str(target),
            "--log-path",
            str(Path(scratch) / "logs"),
        ]
        environment = {
            **os.environ,
            "GUARDDUTY_DUCKDB_PATH": str(warehouse),
            **snapshots_environment(snapshot_ids),
        }
        subprocess.run(command, check=True, cwd=DBT_PROJECT_DIR, env=environment)  # noqa: S603
        data, keys = build_report(
            lambda: open_duckdb_marts(warehouse),
            lake=open_lake(settings),
            report_store=open_store(output, lambda: boto3.client("s3")),
            month=month,
            run_id="",
            dbt_target_dir=target,
        )
    print(
        f"Review report {data.month.label} as of lake snapshots {data.lake_snapshots.argument} "
        f"and {as_of}: {output.rstrip('/')}/{keys[-1]}"
    )


def quicksight_dashboard(settings: Settings) -> int:
    """Print the dashboard's CreateDashboard request as JSON, after the offline model checks."""
    from orchestration.lib.publish.quicksight.dashboard import (
        create_dashboard_request,
        with_placeholders,
    )
    from orchestration.lib.publish.quicksight.marts import build_dataset_specs
    from orchestration.lib.publish.quicksight.model_check import (
        check_against_model,
        check_references,
    )

    specs = build_dataset_specs(settings)
    request = create_dashboard_request(with_placeholders(settings), specs)
    print(json.dumps(request, indent=2))
    problems = check_against_model("CreateDashboard", request)
    problems += check_references(request["Definition"], specs)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestration", description=__doc__)
    parser.add_argument(
        "command",
        choices=[
            "run",
            "prepare",
            "docs",
            "check-athena",
            "migrate-lake",
            "quicksight-dashboard",
            "review-report",
        ],
    )
    parser.add_argument(
        "--from",
        dest="old_lake",
        help="migrate-lake: the old Parquet lake (a folder or s3:// URI) to convert",
    )
    parser.add_argument("--month", help="review-report: the report's month, YYYY-MM")
    parser.add_argument(
        "--lake-snapshots",
        help="review-report: the lake snapshots the report recorded, "
        "ingest_ledger=<id>,findings=<id>,quarantine=<id>",
    )
    parser.add_argument(
        "--as-of", help="review-report: the marts' evaluation time the report recorded (UTC)"
    )
    parser.add_argument(
        "--output", help="review-report: folder or s3:// URI for the report (default: data dir)"
    )
    arguments = parser.parse_args(argv)
    command = arguments.command
    if command == "migrate-lake" and not arguments.old_lake:
        parser.error("migrate-lake needs --from <old lake folder or s3:// URI>")
    if command == "review-report":
        if not (arguments.month and arguments.lake_snapshots and arguments.as_of):
            parser.error("review-report needs --month, --lake-snapshots and --as-of")
        from orchestration.lib.audit.report_data import Month
        from orchestration.lib.audit.report_evidence import parse_snapshot_ids

        try:
            Month.parse(arguments.month)
            snapshot_ids = parse_snapshot_ids(arguments.lake_snapshots)
        except ValueError as error:
            parser.error(str(error))
    settings = get_settings()
    export_for_dbt(settings)
    if command == "run":
        return run(settings)
    if command == "prepare":
        prepare(settings)
    elif command == "docs":
        docs(settings)
    elif command == "quicksight-dashboard":
        return quicksight_dashboard(settings)
    elif command == "check-athena":
        from tools.athena_check import main as check_athena

        return check_athena()
    elif command == "migrate-lake":
        migrate_lake(settings, arguments.old_lake)
    elif command == "review-report":
        output = arguments.output or str(Path(settings.data_dir) / "reproduced")
        reproduce_review_report(settings, arguments.month, snapshot_ids, arguments.as_of, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
