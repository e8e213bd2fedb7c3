"""Loading the code location imports only what loading needs.

Every Dagster process (webserver, daemon, each run's worker, `dg` commands) loads the definitions
first, so the libraries that only some assets use are imported inside those assets.
"""

import json
import os
import subprocess
import sys

import pytest

# Each of these is imported by the code that uses it: charts, the lake's reads and commits, the
# DuckDB warehouse, dbt's adapters, the ingest and the lake maintenance.
DEFERRED_MODULES = [
    "pyarrow",
    "numpy",
    "pandas",
    "duckdb",
    "altair",
    "vl_convert",
    "pyiceberg.table",
    "pyiceberg.catalog",
    "pyiceberg.io.pyarrow",
    "dbt.adapters.duckdb",
    "dbt.adapters.athena",
    "orchestration.lib.publish.offline_dashboard",
    "orchestration.lib.publish.charts",
    "orchestration.lib.lake.commit",
    "orchestration.lib.lake.maintenance",
    "orchestration.lib.lake.migration",
    "orchestration.lib.lake.dbt_duckdb_plugin",
    "orchestration.lib.ingest.runner",
]

LOAD_AND_LIST_MODULES = """
import json, sys
from orchestration.definitions import defs
defs().get_repository_def()
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_loading_the_definitions(target: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_LIST_MODULES],
        env={**os.environ, "DBT_TARGET": target},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("target", ["duckdb", "athena"])
def test_loading_the_definitions_leaves_the_heavy_libraries_to_the_assets_that_use_them(target):
    loaded = modules_after_loading_the_definitions(target)

    assert "orchestration.defs.transform.assets" in loaded
    assert [module for module in DEFERRED_MODULES if module in loaded] == []
