"""`make dev` runs `dg dev`: the project configuration dg reads loads the definitions cleanly."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@pytest.mark.integration
def test_dg_loads_the_code_location_without_a_warning(tmp_path):
    # As `make dev` runs it: the project's virtual environment in use and the local instance.
    # Every dg command parses the dbt project first (prepare_if_dev), as `dg dev` does.
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.local.yaml", dagster_home / "dagster.yaml")
    result = subprocess.run(
        [str(VENV_BIN / "dg"), "check", "defs"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "VIRTUAL_ENV": str(VENV_BIN.parent),
            "DAGSTER_HOME": str(dagster_home),
            "GUARDDUTY_DATA_DIR": str(tmp_path / "data"),
            "NO_COLOR": "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr

    assert result.returncode == 0, output[-3000:]
    assert "All definitions loaded successfully." in output
    assert [line for line in output.splitlines() if "warning" in line.lower()] == []
