import os
import time
from datetime import timedelta

from orchestration.lib.transform.dbt_artifacts import (
    PARTIAL_PARSE,
    keep_parse_state,
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
