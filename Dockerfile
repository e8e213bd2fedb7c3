# Production image for Dagster on ECS: webserver, daemon and every run task use this image
# (infra/dagster-ecs.yaml, deploy/dagster.yaml). Build from the repository root:
#   docker build -t guardduty-lake-dagster .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DBT_TARGET=athena

WORKDIR /opt/dagster/app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY . .
# Editable, as in `make install`: the code finds dbt_project/ relative to its source tree.
RUN pip install --no-deps -e .
# PYTHONDONTWRITEBYTECODE keeps containers from writing .pyc at run time, so compile everything
# now: otherwise every process compiles ~1,800 modules (about 4 s more per code-location load).
RUN python -m compileall -q "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" orchestration

# The manifest must exist before any Dagster process imports the dbt assets: prepare_if_dev()
# is a no-op outside `dagster dev`. It is parsed for the athena target (DBT_TARGET above) because
# Athena-only configs (table_type, partitioned_by) depend on it. project.py holds only the
# DbtProject, so it imports before the manifest exists.
RUN dagster-dbt project prepare-and-package \
        --file orchestration/defs/transform/project.py \
    && test -s dbt_project/target/manifest.json

COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml

# dbt writes per-invocation target/ and logs/ directories at run time.
RUN useradd --system --uid 10001 --home-dir /opt/dagster dagster \
    && chown -R dagster:dagster /opt/dagster/app/dbt_project ${DAGSTER_HOME}
USER dagster

EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
