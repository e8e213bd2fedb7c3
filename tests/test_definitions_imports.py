"""Loading the code location imports only what loading needs.

Every Dagster process (webserver, daemon, each run's worker, `dg` commands) loads the definitions
first, so the libraries that only some assets use are imported inside those assets.
"""

import pytest

from tests.helpers.fresh_definitions import definitions_loaded_afresh

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


@pytest.mark.parametrize("target", ["duckdb", "athena"])
def test_loading_the_definitions_leaves_the_heavy_libraries_to_the_assets_that_use_them(target):
    loaded = definitions_loaded_afresh(target).modules

    assert "orchestration.defs.transform.assets" in loaded
    assert [module for module in DEFERRED_MODULES if module in loaded] == []
