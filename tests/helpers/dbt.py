"""The project's dbt as the tests run it: the virtual environment's executable, on DuckDB."""

import subprocess
import sys
from pathlib import Path

from orchestration.lib.environment import DBT_PROJECT_DIR
from orchestration.lib.transform.dbt_resource import DbtCli

DBT = str(Path(sys.executable).parent / "dbt")


def run_dbt(
    work: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`dbt <args>` with its target and log folders under `work`; the caller judges the outcome."""
    return subprocess.run(
        [DBT, *args, "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def parse_project() -> None:
    """Write the project's manifest where the Dagster dbt assets read it."""
    subprocess.run([DBT, "parse", "--quiet"], cwd=DBT_PROJECT_DIR, check=True)


def dbt_resource() -> DbtCli:
    return DbtCli(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        target="duckdb",
        dbt_executable=DBT,
    )
