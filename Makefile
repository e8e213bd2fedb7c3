# Every target creates the virtual environment itself when it is missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
# dbt, dagster and weed are found in the virtual environment without activating it.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install lock run dev image test test-fast lint format docs manifest check-athena bench bench-quick soak lambda-zip clean

$(STAMP): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# requirements.lock (runtime + production extra) is what the image installs; requirements-dev.lock
# adds the dev extra on the same pins. Existing pins are kept unless pyproject.toml needs others.
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet pyproject.toml --extra production --python-version 3.11 \
		-o requirements.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --extra production --extra dev --python-version 3.11 \
		-c requirements.lock -o requirements-dev.lock

# dbt's manifest.json, which the code location loads: `make manifest` always writes it, the tests
# only when a file of the dbt project is newer.
MANIFEST := dbt_project/target/manifest.json
DBT_SOURCES := $(shell find dbt_project \( -path dbt_project/target -o -path dbt_project/logs \) \
	-prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

manifest $(MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/python -m orchestration.cli prepare

run: $(STAMP)
	$(BIN)/python -m orchestration.cli run

# `dg dev` (dagster-dg-cli, the dev extra) loads the project [tool.dg.project] in pyproject.toml
# names; the code location parses the dbt project itself there (prepare_if_dev). VIRTUAL_ENV tells
# dg that the project's .venv is the one in use, as activating it would.
dev: export VIRTUAL_ENV = $(CURDIR)/$(VENV)
dev: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp deploy/dagster.local.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev $(DEV_ARGS)

# Tests that load the code location need dbt's manifest: a fresh checkout has none.
test: lint $(MANIFEST)
	$(BIN)/python -m pytest

# Unit tests and dbt's unit tests: no server, no browser, no end-to-end build.
test-fast: $(MANIFEST)
	$(BIN)/python -m pytest -n 2 -m "not integration and not seaweedfs and not browser and not postgres"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(STAMP)
	$(BIN)/python -m orchestration.cli docs

check-athena: $(STAMP)
	$(BIN)/python -m orchestration.cli check-athena

bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# 60 simulated days through the real Dagster definitions, every mart checked against an oracle
# after each day (tools/soak; SOAK_ARGS="--days 10 --seed 7" for another run).
soak: $(STAMP)
	$(BIN)/python -m tools.soak $(SOAK_ARGS)

# The capture Lambda is one self-contained file (boto3 only), uploaded for the CloudFormation stack.
lambda-zip: $(STAMP)
	mkdir -p build
	rm -f build/capture_lambda.zip
	$(BIN)/python -m zipfile -c build/capture_lambda.zip capture_lambda/lambda_function.py

# The production image, built with podman on a Debian bookworm base made by debootstrap (built once,
# then reused: `podman rmi $(BASE_IMAGE)` to refresh it). Runs as root: debootstrap and podman's
# chroot isolation need it. The build fails unless the code location loads for the athena target.
BASE_IMAGE ?= localhost/guardduty-lake-base:bookworm
IMAGE ?= localhost/guardduty-lake-dagster:latest
# The host's CA store, seen by the build steps only (a proxy's CA is never baked into the image).
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt

image: export CONTAINERS_CONF = $(CURDIR)/deploy/podman/containers.conf
image:
	deploy/podman/base-image.sh $(BASE_IMAGE)
	podman build --isolation chroot --cgroup-manager cgroupfs \
		--volume $(CA_BUNDLE):/etc/ssl/certs/ca-certificates.crt:ro \
		--build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE) .
	podman image inspect --format '{{.Size}}' $(IMAGE) \
		| awk '{ printf "$(IMAGE): %.0f MB\n", $$1 / 1e6 }'

clean:
	rm -rf data build dbt_project/target dbt_project/logs
