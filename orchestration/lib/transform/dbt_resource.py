"""dagster-dbt's dbt resource without two start-up costs this project has no use for.

Before each dbt command, dagster-dbt 0.29's ``DbtCliResource.cli``:

1. runs ``dbt --version`` once per resource instance, which is once per run: a dbt process
   starting (about 3 s) and asking PyPI for the latest dbt version, which behind a firewall
   waits for a timeout;
2. opens a dbt adapter inside the Dagster process (about 2 s: dbt's profile, project and macros),
   used only by ``fetch_row_counts`` and ``fetch_column_metadata``, which this project does not
   call.

Here the version is the installed dbt-core package's (the executable beside it), and no adapter is
opened. Measured in the soak: each dbt step of a run spent about 3 s in these before dbt started.
dagster-dbt is pinned; tests/test_transform_assets.py fails if an upgrade changes these seams.
"""

from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging import version


class DbtCli(DbtCliResource):
    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: object) -> None:
        return None
