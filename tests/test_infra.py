"""CloudFormation templates in infra/: cfn-lint clean, least-privilege IAM, hardened buckets, and
the lake's Iceberg tables left to the pipeline, which alone may create and commit to them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import lint_file

from orchestration.lib.lake import tables as lake_tables

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "infra").glob("*.yaml"))
LAKE_TEMPLATE = ROOT / "infra" / "guardduty-lake.yaml"

# Every Allow statement on `Resource: "*"` may only hold these actions, each with the reason AWS
# leaves no narrower choice. KMS key policies are exempt: there "*" means the key itself.
STAR_RESOURCE_ACTIONS = {
    "athena:ListWorkGroups": "ListWorkGroups has no resource types",
    "athena:ListDataCatalogs": "ListDataCatalogs has no resource types",
    "ecr:GetAuthorizationToken": "GetAuthorizationToken has no resource types",
    "ecs:RegisterTaskDefinition": "RegisterTaskDefinition has no resource types",
    "ecs:DescribeTaskDefinition": "DescribeTaskDefinition has no resource types",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe* calls have no resource types",
}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into long form."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement below ``node``, including those inside Fn::If branches."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
            return
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from _statements(item)


def _resource_statements() -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for path in TEMPLATES:
        for name, resource in load_template(path)["Resources"].items():
            for statement in _statements(resource.get("Properties", {})):
                yield path.name, name, resource["Type"], statement


@pytest.fixture(scope="module")
def lake() -> dict[str, Any]:
    return load_template(LAKE_TEMPLATE)


def test_there_are_templates():
    assert LAKE_TEMPLATE in TEMPLATES
    assert len(TEMPLATES) >= 2


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_cfn_lint_reports_no_errors_or_warnings(template):
    assert [str(match) for match in lint_file(template)] == []


def test_no_allow_statement_uses_wildcard_actions():
    offenders = []
    for template, name, _type, statement in _resource_statements():
        if "NotAction" in statement or "NotResource" in statement:
            offenders.append((template, name, "NotAction/NotResource"))
        if statement["Effect"] != "Allow":
            # Deny guardrails (TLS-only) deliberately cover every action.
            continue
        for action in _as_list(statement.get("Action", [])):
            if not isinstance(action, str) or "*" in action:
                offenders.append((template, name, action))
    assert offenders == []


def test_every_star_resource_is_justified():
    unjustified = []
    for template, name, resource_type, statement in _resource_statements():
        if statement["Effect"] != "Allow" or "*" not in _as_list(statement.get("Resource", [])):
            continue
        if resource_type == "AWS::KMS::Key":
            continue
        for action in _as_list(statement["Action"]):
            if action not in STAR_RESOURCE_ACTIONS:
                unjustified.append((template, name, action))
    assert unjustified == []


def test_every_star_resource_line_carries_a_comment_naming_the_api():
    for path in TEMPLATES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"Resource:\s*['\"]\*['\"]", line):
                assert "#" in line, f"{path.name}:{number}: say which API needs Resource '*'"


def test_principal_star_only_in_deny_statements():
    for template, name, _type, statement in _resource_statements():
        if statement.get("Principal") in ("*", {"AWS": "*"}):
            assert statement["Effect"] == "Deny", (template, name)


# QuickSight's documented trust policy carries no source condition; only principals of this
# account can pass the role to QuickSight anyway.
SERVICES_WITHOUT_SOURCE_CONDITION = {"quicksight.amazonaws.com"}


def test_roles_trust_only_their_service_from_this_account():
    for path in TEMPLATES:
        for name, resource in load_template(path)["Resources"].items():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            properties = resource["Properties"]
            assert "ManagedPolicyArns" not in properties, name
            for statement in properties["AssumeRolePolicyDocument"]["Statement"]:
                assert set(statement["Principal"]) == {"Service"}, name
                if statement["Principal"]["Service"] in SERVICES_WITHOUT_SOURCE_CONDITION:
                    continue
                condition = statement["Condition"]["StringEquals"]
                assert condition["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}, name


def _bucket_policies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    policies = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            policies[resource["Properties"]["Bucket"]["Ref"]] = resource["Properties"]
    return policies


def test_buckets_are_encrypted_versioned_private_and_tls_only():
    for path in TEMPLATES:
        template = load_template(path)
        policies = _bucket_policies(template)
        for name, resource in template["Resources"].items():
            if resource["Type"] != "AWS::S3::Bucket":
                continue
            properties = resource["Properties"]
            rules = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            default = rules[0]["ServerSideEncryptionByDefault"]
            assert default["SSEAlgorithm"] == "aws:kms", name
            assert default["KMSMasterKeyID"] == {"Fn::GetAtt": ["DataKey", "Arn"]}, name
            assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, name
            block = properties["PublicAccessBlockConfiguration"]
            assert block == dict.fromkeys(
                (
                    "BlockPublicAcls",
                    "BlockPublicPolicy",
                    "IgnorePublicAcls",
                    "RestrictPublicBuckets",
                ),
                True,
            ), name
            assert resource["DeletionPolicy"] == "Retain", name
            tls = [
                statement
                for statement in _statements(policies[name]["PolicyDocument"])
                if statement["Effect"] == "Deny"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            ]
            assert tls, f"{name} has no TLS-only bucket policy"
            assert tls[0]["Action"] == "s3:*"
            assert tls[0]["Principal"] == "*"
            assert {"Fn::GetAtt": [name, "Arn"]} in tls[0]["Resource"]
            assert {"Fn::Sub": f"${{{name}.Arn}}/*"} in tls[0]["Resource"]


def test_raw_bucket_keeps_findings_beyond_guardduty_retention_with_optional_object_lock(lake):
    raw = lake["Resources"]["RawBucket"]["Properties"]
    assert lake["Parameters"]["RawRetentionDays"]["Default"] >= 365
    assert lake["Parameters"]["RawRetentionDays"]["MinValue"] > 90
    rule = raw["LifecycleConfiguration"]["Rules"][0]
    assert rule["ExpirationInDays"] == {"Ref": "RawRetentionDays"}
    assert raw["ObjectLockEnabled"]["Fn::If"][0] == "UseObjectLock"
    assert lake["Parameters"]["EnableObjectLock"]["Default"] == "false"


def _run_role_statements_on(lake: dict[str, Any], resource_fragment: str) -> list[dict[str, Any]]:
    """The Dagster run role's statements naming a resource whose ARN contains the fragment."""
    role = lake["Resources"]["DagsterRunRole"]["Properties"]
    return [
        statement
        for policy in role["Policies"]
        for statement in _statements(policy["PolicyDocument"])
        if any(
            resource_fragment in resource.get("Fn::Sub", "")
            for resource in _as_list(statement["Resource"])
        )
    ]


def _lake_table_arn(table: str) -> dict[str, str]:
    return {
        "Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/"
        f"${{LakeDatabase}}/{table}"
    }


def test_the_lake_tables_are_the_pipelines_iceberg_tables_not_hive_tables(lake):
    glue_tables = [
        resource["Properties"]["TableInput"]["Name"]
        for resource in lake["Resources"].values()
        if resource["Type"] == "AWS::Glue::Table"
        and resource["Properties"]["DatabaseName"] == {"Ref": "LakeDatabase"}
    ]
    assert glue_tables == []
    assert "/_staging/" not in LAKE_TEMPLATE.read_text()


def test_the_run_role_writes_exactly_the_lake_tables_in_the_lake_database(lake):
    statements = _run_role_statements_on(lake, "${LakeDatabase}")
    writes = [
        statement
        for statement in statements
        if any(
            not action.startswith(("glue:Get", "glue:BatchGet"))
            for action in _as_list(statement["Action"])
        )
    ]
    assert len(writes) == 1
    assert sorted(writes[0]["Action"]) == [
        "glue:CreateDatabase",
        "glue:CreateTable",
        "glue:UpdateTable",
    ]
    table_resources = [
        resource for resource in writes[0]["Resource"] if ":table/" in resource["Fn::Sub"]
    ]
    assert table_resources == [_lake_table_arn(table) for table in lake_tables.TABLES]


def test_athena_workgroup_is_enforced_encrypted_capped_and_measured(lake):
    workgroup = lake["Resources"]["AthenaWorkGroup"]["Properties"]
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "BytesScannedCutoffPerQuery"}
    assert config["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    encryption = config["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {
        "EncryptionOption": "SSE_KMS",
        "KmsKey": {"Fn::GetAtt": ["DataKey", "Arn"]},
    }


def test_capture_lambda_is_wired_to_findings_with_dead_letters(lake):
    resources = lake["Resources"]
    function = resources["CaptureFunction"]["Properties"]
    module, _, attribute = function["Handler"].partition(".")
    source = (ROOT / "capture_lambda" / f"{module}.py").read_text()
    assert f"def {attribute}(event, context)" in source.replace(": Any", "")
    assert "import dagster" not in source and "from orchestration" not in source
    assert set(function["Code"]) == {"S3Bucket", "S3Key"}
    assert function["DeadLetterConfig"]["TargetArn"] == {
        "Fn::GetAtt": ["CaptureDeadLetterQueue", "Arn"]
    }
    rule = resources["CaptureRule"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
    }
    assert "DeadLetterConfig" in rule["Targets"][0]
    variables = function["Environment"]["Variables"]
    assert set(variables) == {"RAW_BUCKET", "RAW_PREFIX"}


def test_guardduty_export_is_scoped_to_the_detector(lake):
    resources = lake["Resources"]
    destination = resources["GuardDutyPublishingDestination"]
    assert destination["Condition"] == "CreateExport"
    guardduty = [
        statement
        for template, name, _type, statement in _resource_statements()
        if template == LAKE_TEMPLATE.name
        and statement.get("Principal") == {"Service": "guardduty.amazonaws.com"}
        and statement["Effect"] == "Allow"
    ]
    assert {"s3:PutObject", "s3:GetBucketLocation", "kms:GenerateDataKey"} == {
        statement["Action"] for statement in guardduty
    }
    for statement in guardduty:
        condition = statement["Condition"]["StringEquals"]
        assert set(condition) == {"aws:SourceAccount", "aws:SourceArn"}
        assert ":detector/${GuardDutyDetectorId}" in condition["aws:SourceArn"]["Fn::Sub"]


def test_the_run_role_deploys_exactly_the_configured_dashboard(lake):
    [statement] = _run_role_statements_on(lake, ":dashboard/")
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:quicksight:${AWS::Region}:${AWS::AccountId}"
        ":dashboard/${QuickSightDashboardId}"
    }
    assert sorted(statement["Action"]) == [
        "quicksight:CreateDashboard",
        "quicksight:DescribeDashboard",
        "quicksight:DescribeDashboardPermissions",
        "quicksight:UpdateDashboard",
        "quicksight:UpdateDashboardPermissions",
        "quicksight:UpdateDashboardPublishedVersion",
    ]
