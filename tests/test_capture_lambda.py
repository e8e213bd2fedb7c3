"""The EventBridge capture Lambda, against moto's in-process S3."""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from moto import mock_aws

from capture_lambda import lambda_function as capture_lambda

BUCKET = "raw-findings-test"

FINDING_EVENT = {
    "version": "0",
    "id": "cd2d702e-ab31-411b-9344-793ce56b1bc7",
    "detail-type": "GuardDuty Finding",
    "source": "aws.guardduty",
    "account": "111122223333",
    "time": "2024-05-30T07:20:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "schemaVersion": "2.0",
        "accountId": "111122223333",
        "region": "us-east-1",
        "id": "a6b1c2d3e4f5a6b1c2d3e4f5a6b1c2d3",
        "type": "Recon:EC2/PortProbeUnprotectedPort",
        "severity": 2,
        "createdAt": "2024-05-29T23:58:01.000Z",
        "updatedAt": "2024-05-30T07:12:44.454Z",
        "service": {"count": 7, "archived": False},
    },
}


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("RAW_BUCKET", BUCKET)
    monkeypatch.delenv("RAW_PREFIX", raising=False)
    capture_lambda._s3_client.cache_clear()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
    capture_lambda._s3_client.cache_clear()


def _keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_finding_event_is_written_whole_under_a_dated_deterministic_key(s3):
    result = capture_lambda.handler(FINDING_EVENT, None)

    key = "eventbridge/2024/05/30/a6b1c2d3e4f5a6b1c2d3e4f5a6b1c2d3-20240530T071244454Z-7.json"
    assert result == {"status": "written", "bucket": BUCKET, "key": key, "bytes": result["bytes"]}
    assert _keys(s3) == [key]
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert json.loads(body) == FINDING_EVENT
    assert b"\n" not in body and b", " not in body


def test_date_partition_comes_from_updated_at_in_utc(s3, monkeypatch):
    monkeypatch.setenv("RAW_PREFIX", "custom")
    event = copy.deepcopy(FINDING_EVENT)
    event["detail"]["updatedAt"] = "2024-05-30T23:30:00+02:00"
    del event["detail"]["service"]

    result = capture_lambda.handler(event, None)

    assert result["key"] == (
        "custom/2024/05/30/a6b1c2d3e4f5a6b1c2d3e4f5a6b1c2d3-20240530T213000000Z-0.json"
    )


def test_non_finding_event_is_skipped_without_writing(s3):
    event = copy.deepcopy(FINDING_EVENT)
    event["detail-type"] = "GuardDuty Runtime Protection Unhealthy"

    result = capture_lambda.handler(event, None)

    assert result["status"] == "skipped"
    assert "Runtime Protection" in result["reason"]
    assert _keys(s3) == []
    assert capture_lambda.handler({"not": "an event"}, None)["status"] == "skipped"


def test_retried_event_overwrites_the_same_object(s3):
    first = capture_lambda.handler(FINDING_EVENT, None)
    second = capture_lambda.handler(copy.deepcopy(FINDING_EVENT), None)

    assert first["key"] == second["key"]
    assert _keys(s3) == [first["key"]]


def test_new_version_of_a_finding_gets_its_own_object(s3):
    newer = copy.deepcopy(FINDING_EVENT)
    newer["detail"]["updatedAt"] = "2024-05-30T13:12:44.454Z"
    newer["detail"]["service"]["count"] = 9

    capture_lambda.handler(FINDING_EVENT, None)
    capture_lambda.handler(newer, None)

    assert len(_keys(s3)) == 2


def test_missing_bucket_raises_a_clear_error_so_lambda_retries(s3, monkeypatch):
    monkeypatch.setenv("RAW_BUCKET", "no-such-bucket-here")

    with pytest.raises(
        capture_lambda.CaptureError, match=r"s3://no-such-bucket-here/.*NoSuchBucket"
    ):
        capture_lambda.handler(FINDING_EVENT, None)


def test_unset_bucket_is_a_configuration_error(s3, monkeypatch):
    monkeypatch.delenv("RAW_BUCKET")

    with pytest.raises(capture_lambda.CaptureError, match="RAW_BUCKET"):
        capture_lambda.handler(FINDING_EVENT, None)


@pytest.mark.parametrize(
    "finding_id",
    ["../../etc/passwd", "a/b", "abc\x00def", "line\nbreak", "..", "ü" * 200],
)
def test_unsafe_finding_id_is_sanitised_into_one_stable_key(s3, finding_id):
    event = copy.deepcopy(FINDING_EVENT)
    event["detail"]["id"] = finding_id

    key = capture_lambda.handler(event, None)["key"]
    again = capture_lambda.handler(copy.deepcopy(event), None)["key"]

    assert key == again
    assert key.startswith("eventbridge/2024/05/30/")
    name = key.removeprefix("eventbridge/2024/05/30/")
    assert "/" not in name and ".." not in name.removesuffix(".json")
    assert all(32 < ord(char) < 127 for char in key)
    assert _keys(s3) == [key]
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert stored["detail"]["id"] == finding_id


def test_distinct_unsafe_ids_do_not_collide():
    assert capture_lambda.safe_key_component("a/b") != capture_lambda.safe_key_component("a_b")
    assert capture_lambda.safe_key_component("a_b") == "a_b"


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", None), ("id", ""), ("updatedAt", None), ("updatedAt", "yesterday"), ("updatedAt", 5)],
)
def test_finding_without_usable_id_or_updated_at_is_rejected(s3, field, value):
    event = copy.deepcopy(FINDING_EVENT)
    event["detail"][field] = value

    with pytest.raises(capture_lambda.InvalidFindingEvent):
        capture_lambda.handler(event, None)
    assert _keys(s3) == []


def test_prefix_is_normalised():
    assert capture_lambda.normalise_prefix(None) == "eventbridge/"
    assert capture_lambda.normalise_prefix("/raw/events") == "raw/events/"
    assert capture_lambda.normalise_prefix("") == ""
