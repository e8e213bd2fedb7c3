"""Secrets stay out of the repository, logs and Dagster run metadata."""

import re
import subprocess
from pathlib import Path

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from tests.helpers.finding_fixtures import a_finding, eventbridge_event, to_bytes
from tests.helpers.s3_servers import running_seaweedfs, s3_client
from tests.helpers.settings import settings_resources

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FAKE_KEY_ID = "AKIAFAKEKEYFORLEAKTEST"
FAKE_SECRET = "fake/Secret+ThatMustNeverBePrinted0123456789"
FAKE_TOKEN = "FakeSessionTokenThatMustNeverBePrinted"


@pytest.mark.seaweedfs
def test_run_logs_and_metadata_never_contain_credentials(
    tmp_path, fresh_settings, monkeypatch, capfd
):
    from orchestration.defs.ingest.assets import guardduty_lake

    # A server that takes any keys and a session token (the shared one knows only the test
    # keys), started before the keys are set: it would take them as its only identity.
    # The source is read from S3 with the credentials under watch; the lake stays local.
    with running_seaweedfs(tmp_path / "seaweedfs", identities=False) as seaweedfs:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
        monkeypatch.setenv("AWS_SESSION_TOKEN", FAKE_TOKEN)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", seaweedfs.endpoint)
        monkeypatch.setenv("GUARDDUTY_SOURCE_URI", "s3://leak-raw")
        client = s3_client(seaweedfs.endpoint)
        client.create_bucket(Bucket="leak-raw")
        client.put_object(
            Bucket="leak-raw", Key="e.json", Body=to_bytes(eventbridge_event(a_finding()))
        )
        client.put_object(Bucket="leak-raw", Key="bad.json", Body=b"{not json")
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize(
            [guardduty_lake],
            resources={"s3": S3Resource(max_attempts=2), **settings_resources()},
            instance=instance,
        )
    assert result.success
    records = instance.all_logs(result.run_id)
    everything = "\n".join(repr(record) for record in records) + "".join(capfd.readouterr())
    assert "objects_read" in everything
    for secret in (FAKE_KEY_ID, FAKE_SECRET, FAKE_TOKEN):
        assert secret not in everything


def test_resources_hold_no_credentials_in_their_configuration(fresh_settings, monkeypatch):
    from orchestration.definitions import defs

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    resources = defs().resources or {}
    assert {"s3", "dbt", "quicksight"} <= set(resources)
    for name, resource in resources.items():
        config = repr(getattr(resource, "__dict__", resource))
        assert FAKE_SECRET not in config, name


def test_no_credentials_are_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    access_key = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
    secret_assignment = re.compile(
        r"aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}\b", re.IGNORECASE
    )
    leaks = []
    for name in tracked:
        path = PROJECT_ROOT / name
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        text = path.read_text(errors="ignore")
        if access_key.search(text) or secret_assignment.search(text):
            leaks.append(name)
    assert leaks == []
