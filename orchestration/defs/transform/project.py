"""The dbt project, on its own so `dagster-dbt project prepare-and-package` can import it before
a manifest exists (the assets module reads the manifest at import)."""

from dagster_dbt import DbtProject

from orchestration.lib.environment import DBT_PROJECT_DIR, get_settings

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR,
    profiles_dir=DBT_PROJECT_DIR,
    target=get_settings().dbt_target,
)
# Parses only under `dagster dev`; elsewhere `make manifest` (or the image build) writes it.
dbt_project.prepare_if_dev()
