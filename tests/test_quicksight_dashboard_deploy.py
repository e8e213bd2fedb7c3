"""Deploying the QuickSight dashboard carefully: create or update, wait for the version, publish
it only once it has built, grant, and leave the published version live on any failure.

Requests go through a real boto3 client with botocore's Stubber, which validates every request
against the QuickSight model and fails on any call that was not expected.
"""

import json

import dagster as dg
import pytest
from botocore.stub import Stubber

from orchestration import cli
from orchestration.defs.publish.quicksight_assets import quicksight_dashboard
from orchestration.lib.aws.clients import RetryPolicy
from orchestration.lib.environment import load_settings
from orchestration.lib.publish.quicksight.dashboard import (
    PLACEHOLDER_ACCOUNT_ID,
    create_dashboard_request,
)
from orchestration.lib.publish.quicksight.dashboard_deploy import (
    DashboardDeployOptions,
    deploy_dashboard,
)
from orchestration.lib.publish.quicksight.errors import (
    DashboardVersionFailed,
    QuickSightApiError,
    QuickSightError,
)
from orchestration.lib.publish.quicksight.marts import build_dataset_specs
from tests.helpers.quicksight_stubs import (
    ACCOUNT,
    FIXTURE_MARTS,
    REGION,
    FakeTime,
    quicksight_client,
    stubbed_resource,
)

DASHBOARD_ID = "guardduty-findings"
DASHBOARD_ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dashboard/{DASHBOARD_ID}"
IDS = {"AwsAccountId": ACCOUNT, "DashboardId": DASHBOARD_ID}


@pytest.fixture
def request_(settings):
    return create_dashboard_request(settings, build_dataset_specs(settings, FIXTURE_MARTS))


def options(fake_time: FakeTime, **overrides) -> DashboardDeployOptions:
    values = {
        "poll_seconds": 5.0,
        "timeout_seconds": 60.0,
        "retry": RetryPolicy(max_attempts=3, base_delay_seconds=1, max_delay_seconds=4),
        **fake_time.wait_controls(),
    }
    return DashboardDeployOptions(**{**values, **overrides})


def version_arn(number: int) -> str:
    return f"{DASHBOARD_ARN}/version/{number}"


def described(number: int, status: str, description: str = "older", errors=None) -> dict:
    version = {"VersionNumber": number, "Status": status, "Description": description}
    if errors is not None:
        version["Errors"] = errors
    return {
        "Dashboard": {"DashboardId": DASHBOARD_ID, "Arn": DASHBOARD_ARN, "Version": version},
        "Status": 200,
    }


def expect_missing(stub):
    stub.add_client_error(
        "describe_dashboard",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
        expected_params=IDS,
    )


def expect_published(stub, number: int, description: str):
    stub.add_response(
        "describe_dashboard", described(number, "UPDATE_SUCCESSFUL", description), IDS
    )


def expect_version(stub, number: int, status: str, errors=None):
    stub.add_response(
        "describe_dashboard",
        described(number, status, errors=errors),
        {**IDS, "VersionNumber": number},
    )


def expect_publish(stub, number: int):
    stub.add_response(
        "update_dashboard_published_version",
        {"DashboardId": DASHBOARD_ID, "DashboardArn": DASHBOARD_ARN, "Status": 200},
        {**IDS, "VersionNumber": number},
    )


def expect_update(stub, request: dict, number: int):
    update = {key: value for key, value in request.items() if key != "Permissions"}
    stub.add_response(
        "update_dashboard",
        {"Arn": DASHBOARD_ARN, "VersionArn": version_arn(number), "Status": 202},
        update,
    )


def expect_grant(stub, request: dict):
    stub.add_response(
        "update_dashboard_permissions",
        {"DashboardId": DASHBOARD_ID, "Status": 200},
        {**IDS, "GrantPermissions": request["Permissions"]},
    )


def expect_successful_update(stub, request: dict, number: int):
    """An update whose new version builds, is published and is granted to its principals."""
    expect_update(stub, request, number)
    expect_version(stub, number, "UPDATE_SUCCESSFUL")
    expect_publish(stub, number)
    expect_grant(stub, request)


def deploy(client, request, fake_time, **overrides):
    return deploy_dashboard(client, request, options=options(fake_time, **overrides))


def test_a_missing_dashboard_is_created_with_permissions_then_published_once_built(
    client, stub, request_, fake_time
):
    expect_missing(stub)
    stub.add_response(
        "create_dashboard",
        {"Arn": DASHBOARD_ARN, "VersionArn": version_arn(1), "Status": 202},
        request_,
    )
    expect_version(stub, 1, "CREATION_IN_PROGRESS")
    expect_version(stub, 1, "CREATION_SUCCESSFUL")
    expect_publish(stub, 1)

    result = deploy(client, request_, fake_time)

    assert (result.action, result.version_number) == ("created", 1)
    assert fake_time.sleeps == [5.0]


def test_a_changed_definition_updates_publishes_the_new_version_and_grants(
    client, stub, request_, fake_time
):
    expect_published(stub, 2, "Deployed as code; definition sha256:previous")
    expect_successful_update(stub, request_, 3)

    result = deploy(client, request_, fake_time)

    assert (result.action, result.version_number) == ("updated", 3)


def test_an_unchanged_definition_deploys_nothing_and_only_grants(client, stub, request_, fake_time):
    expect_published(stub, 4, request_["VersionDescription"])
    expect_grant(stub, request_)

    result = deploy(client, request_, fake_time)

    assert (result.action, result.version_number) == ("unchanged", 4)


def test_a_failed_version_is_not_published_and_its_errors_are_surfaced(
    client, stub, request_, fake_time
):
    expect_published(stub, 2, "Deployed as code; definition sha256:previous")
    expect_update(stub, request_, 3)
    errors = [
        {
            "Type": "COLUMN_TYPE_MISMATCH",
            "Message": "finding_date is not a date",
            "ViolatedEntities": [{"Path": "sheet/findings/visual/line-daily-severity"}],
        }
    ]
    expect_version(stub, 3, "UPDATE_FAILED", errors)
    # No UpdateDashboardPublishedVersion is stubbed: publishing would fail the test.

    with pytest.raises(DashboardVersionFailed) as raised:
        deploy(client, request_, fake_time)

    message = str(raised.value)
    assert "COLUMN_TYPE_MISMATCH: finding_date is not a date" in message
    assert "sheet/findings/visual/line-daily-severity" in message
    assert "previously published version stays live" in message
    assert raised.value.version_number == 3
    assert raised.value.errors == errors


def test_a_conflict_with_an_update_in_progress_is_retried(client, stub, request_, fake_time):
    expect_published(stub, 2, "Deployed as code; definition sha256:previous")
    stub.add_client_error(
        "update_dashboard", service_error_code="ConflictException", http_status_code=409
    )
    expect_successful_update(stub, request_, 3)

    result = deploy(client, request_, fake_time)

    assert result.action == "updated"
    assert fake_time.sleeps == [0.5]


def test_conflict_retries_are_bounded(client, stub, request_, fake_time):
    expect_published(stub, 2, "Deployed as code; definition sha256:previous")
    for _ in range(3):
        stub.add_client_error(
            "update_dashboard", service_error_code="ConflictException", http_status_code=409
        )

    with pytest.raises(QuickSightApiError, match="still ConflictException after 3 attempts"):
        deploy(client, request_, fake_time)


def test_a_dashboard_created_meanwhile_is_updated_instead(client, stub, request_, fake_time):
    expect_missing(stub)
    stub.add_client_error(
        "create_dashboard", service_error_code="ResourceExistsException", http_status_code=409
    )
    expect_successful_update(stub, request_, 2)

    assert deploy(client, request_, fake_time).action == "updated"


def test_a_version_still_building_at_the_timeout_is_not_published(
    client, stub, request_, fake_time
):
    expect_published(stub, 2, "Deployed as code; definition sha256:previous")
    expect_update(stub, request_, 3)
    for _ in range(3):
        expect_version(stub, 3, "UPDATE_IN_PROGRESS")

    with pytest.raises(QuickSightError, match="still UPDATE_IN_PROGRESS after 10s; not published"):
        deploy(client, request_, fake_time, timeout_seconds=10)


# ---------------------------------------------------------------------------------------------
# The asset and the command line


def test_the_dashboard_asset_deploys_after_the_datasets(client, stub, request_, asset_settings):
    expect_published(stub, 7, request_["VersionDescription"])
    expect_grant(stub, request_)
    context = dg.build_asset_context(
        resources={"quicksight": stubbed_resource(client), "settings": asset_settings}
    )

    result = quicksight_dashboard(context)

    assert result.metadata["action"] == "unchanged"
    assert result.metadata["published_version"].value == 7
    [spec] = quicksight_dashboard.specs
    assert {dep.asset_key for dep in spec.deps} == {dg.AssetKey(["quicksight", "datasets"])}
    assert spec.group_name == "publish"


def test_the_command_line_prints_a_valid_create_dashboard_request(monkeypatch, capsys):
    for variable in (
        "QUICKSIGHT_ACCOUNT_ID",
        "QUICKSIGHT_PRINCIPAL_ARN",
        "QUICKSIGHT_DASHBOARD_OWNER_ARNS",
        "QUICKSIGHT_DASHBOARD_VIEWER_ARNS",
    ):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(cli, "get_settings", load_settings)

    assert cli.main(["quicksight-dashboard"]) == 0

    request = json.loads(capsys.readouterr().out)
    assert request["AwsAccountId"] == PLACEHOLDER_ACCOUNT_ID
    assert request["Permissions"][0]["Principal"].endswith(
        ":group/default/guardduty-dashboard-owners"
    )
    client = quicksight_client()
    with Stubber(client) as stubber:
        stubber.add_response("create_dashboard", {"Status": 202}, request)
        client.create_dashboard(**request)
