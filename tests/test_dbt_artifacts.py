import os
import time
from datetime import timedelta

import pytest

from orchestration import cli
from orchestration.lib.transform.dbt_artifacts import (
    PARTIAL_PARSE,
    keep_parse_state,
    manifest_fingerprint,
    prune_invocations,
)


def _folder(target, name, age_days, now):
    folder = target / name
    folder.mkdir()
    (folder / "run_results.json").write_text("{}")
    stamp = now - age_days * 86400
    os.utime(folder, (stamp, stamp))
    return folder


def test_the_next_invocation_starts_from_the_last_invocations_parse_state(tmp_path):
    target = tmp_path / "target"
    target.mkdir()
    (target / PARTIAL_PARSE).write_bytes(b"made when the image was built")
    invocation = target / "dbt_models-1a2b3c4-5d6e7f8"
    invocation.mkdir()
    (invocation / PARTIAL_PARSE).write_bytes(b"made by the last run")

    assert keep_parse_state(invocation, target)

    assert (target / PARTIAL_PARSE).read_bytes() == b"made by the last run"
    assert {p.name for p in target.iterdir()} == {PARTIAL_PARSE, invocation.name}


def test_an_invocation_that_did_not_parse_leaves_the_state_alone(tmp_path):
    (tmp_path / PARTIAL_PARSE).write_bytes(b"previous")
    invocation = tmp_path / "dbt_models-1a2b3c4-5d6e7f8"
    invocation.mkdir()

    assert not keep_parse_state(invocation, tmp_path)
    assert (tmp_path / PARTIAL_PARSE).read_bytes() == b"previous"


def test_invocation_folders_older_than_the_retention_are_pruned_and_others_kept(tmp_path):
    now = time.time()
    old = _folder(tmp_path, "dbt_models-1a2b3c4-5d6e7f8", 9, now)
    recent = _folder(tmp_path, "dbt_incremental_models-1a2b3c4-0a0b0c0", 1, now)
    not_an_invocation = _folder(tmp_path, "compiled", 30, now)

    pruned = prune_invocations(tmp_path, keep_for=timedelta(days=7), now=now)

    assert pruned == [old]
    assert not old.exists()
    assert recent.exists() and not_an_invocation.exists()


def test_the_newest_invocation_is_kept_however_old(tmp_path):
    now = time.time()
    only = _folder(tmp_path, "dbt_models-1a2b3c4-5d6e7f8", 40, now)

    assert prune_invocations(tmp_path, keep_for=timedelta(days=7), now=now) == []
    assert only.exists()


@pytest.fixture
def dbt_project(tmp_path):
    project = tmp_path / "dbt_project"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: guardduty\n")
    (project / "profiles.yml").write_text("path: \"{{ env_var('GUARDDUTY_DUCKDB_PATH') }}\"\n")
    (project / "models" / "fct.sql").write_text("select 1 as one")
    return project


def test_the_manifest_fingerprint_follows_the_project_files_the_target_and_the_variables_read(
    dbt_project,
):
    environ = {"GUARDDUTY_DUCKDB_PATH": "/data/warehouse.duckdb", "UNRELATED": "a"}
    before = manifest_fingerprint(dbt_project, "duckdb", environ)

    (dbt_project / "target").mkdir()
    (dbt_project / "target" / "manifest.json").write_text("{}")
    assert manifest_fingerprint(dbt_project, "duckdb", {**environ, "UNRELATED": "b"}) == before

    assert manifest_fingerprint(dbt_project, "athena", environ) != before
    moved = {**environ, "GUARDDUTY_DUCKDB_PATH": "/elsewhere.duckdb"}
    assert manifest_fingerprint(dbt_project, "duckdb", moved) != before
    (dbt_project / "models" / "fct.sql").write_text("select 2 as one")
    assert manifest_fingerprint(dbt_project, "duckdb", environ) != before


def test_a_run_parses_the_dbt_project_only_when_the_manifest_is_not_the_one_it_would_write(
    dbt_project, monkeypatch
):
    parses = []

    def dbt_parse(*args, settings):
        parses.append(args)
        manifest.parent.mkdir(exist_ok=True)
        manifest.write_text(f'{{"parse": {len(parses)}}}')

    manifest = dbt_project / "target" / "manifest.json"
    monkeypatch.setattr(cli, "DBT_PROJECT_DIR", dbt_project)
    monkeypatch.setattr(cli, "MANIFEST", manifest)
    monkeypatch.setattr(cli, "MANIFEST_MADE_FROM", dbt_project / "target" / "manifest.made-from")
    monkeypatch.setattr(cli, "_dbt", dbt_parse)
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", "/data/warehouse.duckdb")
    settings = cli.get_settings()

    cli.prepare_if_changed(settings)
    cli.prepare_if_changed(settings)
    assert len(parses) == 1

    (dbt_project / "models" / "fct.sql").write_text("select 2 as one")
    cli.prepare_if_changed(settings)
    assert len(parses) == 2

    # Another dbt command (a compile for Athena) rewrote the manifest.
    manifest.write_text('{"compiled for": "athena"}')
    cli.prepare_if_changed(settings)
    assert len(parses) == 3
    assert manifest.read_text() == '{"parse": 3}'
