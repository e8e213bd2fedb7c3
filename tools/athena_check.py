"""Check that every dbt model compiles for Athena and parses as Athena (Trino) SQL, offline.

dbt-athena needs AWS APIs even to compile (Glue for relations, Athena for the work group), so a
moto server on 127.0.0.1 stands in for AWS. Models are compiled twice: with no tables in the
catalogue (first build) and with the incremental models present and a backfill window in vars, so
both branches of `is_incremental()` are checked.
"""

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import sqlglot
from moto.server import ThreadedMotoServer

from orchestration.lib.environment import DBT_PROJECT_DIR
from orchestration.lib.transform.backfill_window import backfill_window_environment

SQL_DIALECT = "athena"
REGION = "us-east-1"
MARTS_SCHEMA = "guardduty_marts"
LAKE_DATABASE = "guardduty_lake"
BUCKET = "guardduty-athena-check"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else "dbt"


def _fake_aws_environment(endpoint: str, work_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ATHENA_", "GUARDDUTY_GLUE"))
    }
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "ATHENA_SCHEMA": MARTS_SCHEMA,
            "ATHENA_WORKGROUP": "primary",
            "ATHENA_S3_STAGING_DIR": f"s3://{BUCKET}/staging/",
            "ATHENA_S3_DATA_DIR": f"s3://{BUCKET}/tables/",
            "GUARDDUTY_GLUE_DATABASE": LAKE_DATABASE,
            "DBT_TARGET": "athena",
            "DBT_TARGET_PATH": str(work_dir / "target"),
            "DBT_LOG_PATH": str(work_dir / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
    )
    return env


def _moto_client(service_name: str, endpoint: str) -> Any:
    return boto3.client(
        service_name,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's fake credentials
    )


def _create_catalogue(endpoint: str, incremental_models: list[str]) -> None:
    """Glue databases, plus Iceberg tables for the incremental models so they compile as such."""
    glue = _moto_client("glue", endpoint)
    s3 = _moto_client("s3", endpoint)
    s3.create_bucket(Bucket=BUCKET)
    existing = {db["Name"] for db in glue.get_databases()["DatabaseList"]}
    for database in (LAKE_DATABASE, MARTS_SCHEMA):
        if database not in existing:
            glue.create_database(DatabaseInput={"Name": database})
    for name in incremental_models:
        glue.create_table(
            DatabaseName=MARTS_SCHEMA,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"table_type": "ICEBERG"},
                "StorageDescriptor": {
                    "Columns": [{"Name": "finding_id", "Type": "string"}],
                    "Location": f"s3://{BUCKET}/tables/{name}",
                },
            },
        )


def _compile(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [
        _dbt_executable(),
        "compile",
        "--target",
        "athena",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--select",
        "resource_type:model",
        "--no-partial-parse",
    ]
    return subprocess.run(  # noqa: S603 - fixed arguments, no shell
        command, cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )


def parse_errors(compiled_dir: Path) -> dict[str, str]:
    """Every compiled model under `compiled_dir` that sqlglot cannot parse, with the error."""
    errors: dict[str, str] = {}
    for path in sorted(compiled_dir.rglob("*.sql")):
        try:
            sqlglot.parse(path.read_text(encoding="utf-8"), read=SQL_DIALECT)
        except sqlglot.errors.ParseError as error:
            errors[str(path.relative_to(compiled_dir))] = str(error).splitlines()[0]
    return errors


def _incremental_models() -> list[str]:
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text())
    return sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["materialized"] == "incremental"
    )


def main() -> int:
    """Compile for Athena against moto and parse the SQL; non-zero when anything fails."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    checked = 0
    try:
        with tempfile.TemporaryDirectory(prefix="athena-check-") as tmp:
            work_dir = Path(tmp)
            env = _fake_aws_environment(endpoint, work_dir)
            _create_catalogue(endpoint, [])
            window = backfill_window_environment(datetime(2024, 3, 1), datetime(2024, 3, 3))
            passes = [("first build", env), ("incremental with a backfill window", env | window)]
            for index, (label, pass_env) in enumerate(passes):
                if index == 1:
                    _create_catalogue(endpoint, _incremental_models())
                shutil.rmtree(work_dir / "target", ignore_errors=True)
                result = _compile(pass_env)
                if result.returncode != 0:
                    failures.append(f"dbt compile ({label}) failed:\n{result.stdout[-4000:]}")
                    continue
                compiled = work_dir / "target" / "compiled" / "guardduty" / "models"
                models = list(compiled.rglob("*.sql"))
                checked += len(models)
                if index == 1 and not any("changed_findings" in m.read_text() for m in models):
                    failures.append("the incremental models did not compile incrementally")
                for name, error in parse_errors(compiled).items():
                    failures.append(f"{label}: {name}: {error}")
    finally:
        server.stop()
    print(
        f"Athena check: {checked} compiled SQL files (models and data tests) parsed as "
        f"{SQL_DIALECT} SQL."
    )
    for failure in failures:
        print(f"FAILED {failure}")
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
