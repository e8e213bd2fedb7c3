# Production image for Dagster on ECS: webserver, daemon and every run task use this image
# (infra/dagster-ecs.yaml, deploy/dagster.yaml). It holds the runtime dependencies and the production
# extra (requirements.lock), never the dev tools. Build from the repository root:
#   make image                               (podman, on a Debian bookworm base built here)
#   docker build -t guardduty-lake-dagster . (the default base below)
# Any base works that has Python 3.11 as `python3.11` with its venv module, and `useradd`.
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build

# pip and uv trust the system's CA store rather than their own bundles, so a build behind a
# TLS-inspecting proxy works when the builder mounts the host's store over it (make image does).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    UV_NO_CACHE=1 \
    PATH=/opt/dagster/venv/bin:$PATH

# uv installs the locked dependencies; it lives outside the application's environment and stays in
# this stage.
ARG UV_VERSION=0.13.9
RUN python3.11 -m venv /opt/uv \
    && /opt/uv/bin/pip install --quiet "uv==${UV_VERSION}" \
    && python3.11 -m venv --without-pip /opt/dagster/venv

WORKDIR /opt/dagster/app

# Dependencies first, so code changes do not reinstall them.
COPY requirements.lock ./
RUN /opt/uv/bin/uv pip install --quiet --python /opt/dagster/venv/bin/python -r requirements.lock

COPY . .
# Editable, as in `make install`: the code finds dbt_project/ relative to its source tree.
RUN /opt/uv/bin/uv pip install --quiet --python /opt/dagster/venv/bin/python --no-deps -e .

# The manifest must exist before any Dagster process imports the dbt assets: prepare_if_dev()
# is a no-op outside `dagster dev`. It is parsed for the athena target because Athena-only configs
# (table_type, partitioned_by) depend on it; parsing connects to nothing. project.py holds only
# the DbtProject, so it imports before the manifest exists.
RUN DBT_TARGET=athena dagster-dbt project prepare-and-package \
        --file orchestration/defs/transform/project.py \
    && test -s dbt_project/target/manifest.json

# The image is only accepted if the code location loads for the athena target, as the webserver,
# the daemon and every run task will load it.
RUN DBT_TARGET=athena python -c "\
import dagster as dg; \
from orchestration.definitions import defs; \
definitions = defs(); \
dg.Definitions.validate_loadable(definitions); \
print(len(definitions.resolve_all_asset_keys()), 'assets load for the athena target')"

# PYTHONDONTWRITEBYTECODE keeps containers from writing .pyc at run time, so compile everything
# now: otherwise every process compiles ~1,800 modules (about 4 s more per code-location load).
RUN python -m compileall -q -j 0 \
        "$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" orchestration


FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/dagster/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    DBT_TARGET=athena

COPY --from=build /opt/dagster/venv /opt/dagster/venv
COPY --from=build /opt/dagster/app /opt/dagster/app
COPY deploy/dagster.yaml ${DAGSTER_HOME}/dagster.yaml
WORKDIR /opt/dagster/app

# dbt writes per-invocation target/ and logs/ directories at run time.
RUN useradd --system --uid 10001 --home-dir /opt/dagster dagster \
    && chown -R dagster:dagster /opt/dagster/app/dbt_project ${DAGSTER_HOME}
USER dagster

EXPOSE 3000
CMD ["dagster-webserver", "-h", "0.0.0.0", "-p", "3000", "-w", "workspace.yaml"]
