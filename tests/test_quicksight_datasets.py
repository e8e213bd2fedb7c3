"""QuickSight datasets as code: the published marts and their columns from the dbt YAML, and the
data source and datasets created or updated through a real boto3 client with Stubber.
"""

from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest

from orchestration.defs.publish.quicksight_assets import quicksight_datasets, spice_refresh
from orchestration.lib.environment import DBT_PROJECT_DIR, load_settings
from orchestration.lib.publish.quicksight.datasets import (
    DATA_SOURCE_ACTIONS,
    DATASET_ACTIONS,
    ensure_data_source_and_datasets,
)
from orchestration.lib.publish.quicksight.errors import (
    MartSchemaError,
    QuickSightError,
)
from orchestration.lib.publish.quicksight.marts import (
    build_dataset_specs,
    load_mart_columns,
    load_published_marts,
    quicksight_type,
)
from tests.helpers.quicksight_stubs import (
    ACCOUNT,
    FIXTURE_MARTS,
    PRINCIPAL,
    PUBLISHED,
    REGION,
    expect_error,
    published_dataset_ids,
    stubbed_resource,
)

DATA_SOURCE_ARN = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:datasource/guardduty-athena"
STACK_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/guardduty-lake-quicksight-athena"


# ---------------------------------------------------------------------------------------------
# Dataset declarations


@pytest.mark.parametrize(
    ("dbt_type", "expected"),
    [
        ("varchar", ("STRING", None)),
        ("VARCHAR(64)", ("STRING", None)),
        ("bigint", ("INTEGER", None)),
        ("integer", ("INTEGER", None)),
        ("double", ("DECIMAL", "FLOAT")),
        ("decimal(10, 2)", ("DECIMAL", "FIXED")),
        ("timestamp(6)", ("DATETIME", None)),
        ("timestamp with time zone", ("DATETIME", None)),
        ("date", ("DATETIME", None)),
        ("boolean", ("BOOLEAN", None)),
        ("{{ dbt.type_string() }}", ("STRING", None)),
        ("{{ dbt.type_timestamp() }}", ("DATETIME", None)),
    ],
)
def test_dbt_data_types_map_to_quicksight_input_types(dbt_type, expected):
    assert quicksight_type(dbt_type) == expected


@pytest.mark.parametrize("dbt_type", ["array(varchar)", "map(varchar, varchar)", "row(a int)"])
def test_nested_types_are_refused_with_advice(dbt_type):
    with pytest.raises(MartSchemaError, match="flatten"):
        quicksight_type(dbt_type)


def test_columns_come_from_the_mart_yaml_with_map_roles():
    columns = load_mart_columns(FIXTURE_MARTS)

    assert set(columns) == set(PUBLISHED)
    endpoints = {column.name: column for column in columns["fct_finding_remote_endpoints"]}
    assert endpoints["latitude"].type == "DECIMAL"
    assert endpoints["latitude"].geographic_role == "LATITUDE"
    assert endpoints["longitude"].geographic_role == "LONGITUDE"
    assert endpoints["country_code"].geographic_role == "COUNTRY"
    assert endpoints["ip_version"].type == "INTEGER"
    findings = {column.name: column for column in columns["fct_findings"]}
    assert findings["created_at"].type == "DATETIME"
    assert findings["is_archived"].type == "BOOLEAN"
    # A column's dbt meta sets a role the naming convention does not know.
    assert findings["remote_country_code"].geographic_role == "COUNTRY"


def publish(marts_dir: Path, mart: str, *required_columns: str) -> None:
    """Declare ``mart`` in a quicksight_datasets exposure under ``marts_dir``."""
    (marts_dir / "_exposures.yml").write_text(
        f"""
exposures:
  - name: quicksight_datasets
    type: analysis
    owner: {{name: tests}}
    depends_on: ["ref('{mart}')"]
    config:
      meta:
        quicksight:
          datasets:
            {mart}: {{title: A mart, required_columns: {list(required_columns)}}}
"""
    )


def test_the_published_marts_are_the_exposure_s_dependencies_with_titles():
    published = load_published_marts(FIXTURE_MARTS)

    assert list(published) == PUBLISHED
    assert published["fct_findings"].title == "GuardDuty findings (detail)"
    assert "finding_date" in published["fct_finding_remote_endpoints"].required_columns


def test_marts_without_the_exposure_are_an_error(tmp_path):
    with pytest.raises(MartSchemaError, match="No dbt exposure quicksight_datasets"):
        load_published_marts(tmp_path)


def test_an_exposure_whose_dependencies_and_datasets_differ_is_an_error(tmp_path):
    publish(tmp_path, "fct_findings")
    text = (tmp_path / "_exposures.yml").read_text()
    (tmp_path / "_exposures.yml").write_text(text.replace("ref('fct_findings')", "ref('other')"))

    with pytest.raises(MartSchemaError, match="must name the same marts"):
        load_published_marts(tmp_path)


def test_a_mart_without_yaml_is_an_error(tmp_path):
    publish(tmp_path, "fct_findings")

    with pytest.raises(MartSchemaError, match="No dbt model YAML for fct_findings"):
        load_mart_columns(tmp_path)


def test_a_column_without_data_type_is_an_error(tmp_path):
    publish(tmp_path, "fct_findings")
    (tmp_path / "m.yml").write_text(
        "models:\n  - name: fct_findings\n    columns:\n      - name: finding_id\n"
    )

    with pytest.raises(MartSchemaError, match=r"finding_id.*no data_type"):
        load_mart_columns(tmp_path)


def test_a_mart_missing_a_column_the_exposure_requires_is_an_error(tmp_path):
    publish(tmp_path, "agg_findings_by_severity", "finding_date", "account_id")
    (tmp_path / "m.yml").write_text(
        "models:\n  - name: agg_findings_by_severity\n    columns:\n"
        "      - {name: finding_date, data_type: date}\n"
    )

    with pytest.raises(MartSchemaError, match="lacks contract columns account_id"):
        load_mart_columns(tmp_path)


def test_the_project_marts_yaml_maps_to_quicksight_types():
    marts_dir = DBT_PROJECT_DIR / "models" / "marts"

    columns = load_mart_columns(marts_dir)

    assert set(columns) == set(load_published_marts(marts_dir))
    assert {"fct_findings", "fct_finding_remote_endpoints"} <= set(columns)


def test_dataset_ids_are_the_prefix_and_the_mart_with_dashes(settings):
    specs = build_dataset_specs(settings, FIXTURE_MARTS)

    assert [spec.dataset_id for spec in specs] == [
        "guardduty-agg-findings-by-severity",
        "guardduty-agg-findings-by-action-type",
        "guardduty-agg-findings-by-country",
        "guardduty-fct-findings",
        "guardduty-fct-finding-remote-endpoints",
        "guardduty-agg-archive-compliance-by-severity",
        "guardduty-fct-findings-open-past-target",
    ]
    assert {spec.schema for spec in specs} == {"guardduty_marts"}
    assert [spec.table for spec in specs] == list(PUBLISHED)


# ---------------------------------------------------------------------------------------------
# Data source and datasets


def expect_data_source_missing(stub):
    expect_error(
        stub,
        "describe_data_source",
        "ResourceNotFoundException",
        404,
        {"AwsAccountId": ACCOUNT, "DataSourceId": "guardduty-athena"},
    )


def expect_data_source_creation_started(stub):
    expect_data_source_missing(stub)
    stub.add_response(
        "create_data_source",
        {"Arn": DATA_SOURCE_ARN, "CreationStatus": "CREATION_IN_PROGRESS", "Status": 202},
    )


def expect_update_to_the_guardduty_workgroup(stub, role_arn: str | None = None):
    athena = {"WorkGroup": "guardduty", **({"RoleArn": role_arn} if role_arn else {})}
    stub.add_response(
        "update_data_source",
        {"Arn": DATA_SOURCE_ARN, "UpdateStatus": "UPDATE_SUCCESSFUL", "Status": 202},
        {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "DataSourceParameters": {"AthenaParameters": athena},
        },
    )


def existing_data_source(workgroup: str = "guardduty", status: str = "CREATION_SUCCESSFUL"):
    return {
        "DataSource": {
            "Arn": DATA_SOURCE_ARN,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "Type": "ATHENA",
            "Status": status,
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": workgroup}},
        },
        "Status": 200,
    }


def dataset_request(spec) -> dict:
    request = {
        "AwsAccountId": ACCOUNT,
        "DataSetId": spec.dataset_id,
        "Name": spec.name,
        "PhysicalTableMap": spec.physical_table_map(DATA_SOURCE_ARN),
        "ImportMode": "SPICE",
    }
    if spec.logical_table_map():
        request["LogicalTableMap"] = spec.logical_table_map()
    return request


def dataset_response(spec) -> dict:
    return {
        "Arn": f"arn:aws:quicksight:{REGION}:{ACCOUNT}:dataset/{spec.dataset_id}",
        "DataSetId": spec.dataset_id,
        "IngestionId": f"initial-{spec.dataset_id}",
        "Status": 201,
    }


def grant(kind: str, resource_id: str, actions) -> tuple[str, dict, dict]:
    key = "DataSetId" if kind == "data_set" else "DataSourceId"
    return (
        f"update_{kind}_permissions",
        {"Status": 200},
        {
            "AwsAccountId": ACCOUNT,
            key: resource_id,
            "GrantPermissions": [{"Principal": PRINCIPAL, "Actions": list(actions)}],
        },
    )


def test_missing_data_source_and_datasets_are_created(client, stub, settings, fake_time):
    specs = build_dataset_specs(settings, FIXTURE_MARTS)
    expect_data_source_missing(stub)
    stub.add_response(
        "create_data_source",
        {"Arn": DATA_SOURCE_ARN, "CreationStatus": "CREATION_SUCCESSFUL", "Status": 202},
        {
            "AwsAccountId": ACCOUNT,
            "DataSourceId": "guardduty-athena",
            "Name": "GuardDuty marts (Athena)",
            "Type": "ATHENA",
            "DataSourceParameters": {"AthenaParameters": {"WorkGroup": "guardduty"}},
            "Permissions": [{"Principal": PRINCIPAL, "Actions": list(DATA_SOURCE_ACTIONS)}],
        },
    )
    for spec in specs:
        expect_error(
            stub,
            "describe_data_set",
            "ResourceNotFoundException",
            404,
            {"AwsAccountId": ACCOUNT, "DataSetId": spec.dataset_id},
        )
        permissions = [{"Principal": PRINCIPAL, "Actions": list(DATASET_ACTIONS)}]
        stub.add_response(
            "create_data_set",
            dataset_response(spec),
            {**dataset_request(spec), "Permissions": permissions},
        )

    deployed = ensure_data_source_and_datasets(client, settings, specs, sleep=fake_time.sleep)

    assert deployed.data_source_action == "created"
    assert set(deployed.dataset_actions.values()) == {"created"}
    assert deployed.dataset_ingestion_ids["guardduty-fct-findings"] == (
        "initial-guardduty-fct-findings"
    )


def test_the_map_dataset_reads_the_athena_table_with_typed_columns_and_geographic_roles(
    settings,
):
    spec = next(
        spec
        for spec in build_dataset_specs(settings, FIXTURE_MARTS)
        if spec.mart == "fct_finding_remote_endpoints"
    )

    table = spec.physical_table_map(DATA_SOURCE_ARN)["athena-table"]["RelationalTable"]
    assert (table["Catalog"], table["Schema"], table["Name"]) == (
        "AwsDataCatalog",
        "guardduty_marts",
        "fct_finding_remote_endpoints",
    )
    assert {"Name": "latitude", "Type": "DECIMAL", "SubType": "FLOAT"} in table["InputColumns"]
    tags = spec.logical_table_map()["mart"]["DataTransforms"]
    roles = {
        tag["TagColumnOperation"]["ColumnName"]: tag["TagColumnOperation"]["Tags"][0][
            "ColumnGeographicRole"
        ]
        for tag in tags
    }
    assert roles == {
        "country_code": "COUNTRY",
        "city": "CITY",
        "latitude": "LATITUDE",
        "longitude": "LONGITUDE",
    }


def test_existing_resources_that_differ_are_fully_updated_and_shared(
    client, stub, settings, fake_time
):
    specs = build_dataset_specs(settings, FIXTURE_MARTS)[:1]
    spec = specs[0]
    stub.add_response("describe_data_source", existing_data_source(workgroup="primary"))
    expect_update_to_the_guardduty_workgroup(stub)
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))
    outdated = dataset_request(spec)
    outdated["PhysicalTableMap"]["athena-table"]["RelationalTable"]["InputColumns"] = [
        {"Name": "finding_date", "Type": "STRING"}
    ]
    stub.add_response(
        "describe_data_set",
        {"DataSet": {key: outdated[key] for key in ("Name", "PhysicalTableMap", "ImportMode")}},
    )
    stub.add_response("update_data_set", dataset_response(spec), dataset_request(spec))
    stub.add_response(*grant("data_set", spec.dataset_id, DATASET_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, specs, sleep=fake_time.sleep)

    assert deployed.data_source_action == "updated"
    assert deployed.dataset_actions == {spec.dataset_id: "updated"}


def test_unchanged_resources_are_not_updated_so_no_refresh_is_spent(
    client, stub, settings, fake_time
):
    specs = [
        spec
        for spec in build_dataset_specs(settings, FIXTURE_MARTS)
        if spec.mart == "fct_finding_remote_endpoints"
    ]
    spec = specs[0]
    stub.add_response("describe_data_source", existing_data_source())
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))
    current = dataset_request(spec)
    stub.add_response(
        "describe_data_set",
        {
            "DataSet": {
                key: current[key]
                for key in ("Name", "PhysicalTableMap", "LogicalTableMap", "ImportMode")
            }
        },
    )
    stub.add_response(*grant("data_set", spec.dataset_id, DATASET_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, specs, sleep=fake_time.sleep)

    assert deployed.data_source_action == "unchanged"
    assert deployed.dataset_actions == {spec.dataset_id: "unchanged"}


def test_a_data_source_created_by_the_stack_keeps_its_role(client, stub, settings, fake_time):
    # The stack creates the data source with AthenaParameters.RoleArn; the pipeline, which is not
    # told the role, must not see that as a difference and update the role away.
    with_role = existing_data_source()
    with_role["DataSource"]["DataSourceParameters"]["AthenaParameters"]["RoleArn"] = STACK_ROLE_ARN
    stub.add_response("describe_data_source", with_role)
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "unchanged"


def test_a_changed_workgroup_is_updated_with_the_existing_role_kept(
    client, stub, settings, fake_time
):
    with_role = existing_data_source(workgroup="primary")
    with_role["DataSource"]["DataSourceParameters"]["AthenaParameters"]["RoleArn"] = STACK_ROLE_ARN
    stub.add_response("describe_data_source", with_role)
    expect_update_to_the_guardduty_workgroup(stub, STACK_ROLE_ARN)
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "updated"


def test_a_configured_role_is_set_on_the_data_source(client, stub, settings, fake_time):
    configured = replace(settings, quicksight_data_source_role_arn=STACK_ROLE_ARN)
    stub.add_response("describe_data_source", existing_data_source())
    expect_update_to_the_guardduty_workgroup(stub, STACK_ROLE_ARN)
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))

    deployed = ensure_data_source_and_datasets(client, configured, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "updated"


def test_datasets_wait_for_a_data_source_that_is_still_being_created(
    client, stub, settings, fake_time
):
    expect_data_source_creation_started(stub)
    stub.add_response("describe_data_source", existing_data_source(status="CREATION_IN_PROGRESS"))
    stub.add_response("describe_data_source", existing_data_source(status="CREATION_SUCCESSFUL"))

    deployed = ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)

    assert deployed.data_source_action == "created"
    assert fake_time.sleeps == [2.0]


def test_a_data_source_that_failed_to_create_is_an_error(client, stub, settings, fake_time):
    expect_data_source_creation_started(stub)
    failed = existing_data_source(status="CREATION_FAILED")
    failed["DataSource"]["ErrorInfo"] = {"Type": "ACCESS_DENIED", "Message": "no workgroup"}
    stub.add_response("describe_data_source", failed)

    with pytest.raises(QuickSightError, match="CREATION_FAILED: ACCESS_DENIED"):
        ensure_data_source_and_datasets(client, settings, [], sleep=fake_time.sleep)


# ---------------------------------------------------------------------------------------------
# The asset


def test_quicksight_datasets_deploys_from_the_dbt_contracts(client, stub, asset_settings):
    stub.add_response("describe_data_source", existing_data_source())
    stub.add_response(*grant("data_source", "guardduty-athena", DATA_SOURCE_ACTIONS))
    for dataset_id in published_dataset_ids():
        expect_error(stub, "describe_data_set", "ResourceNotFoundException", 404)
        stub.add_response("create_data_set", {"DataSetId": dataset_id, "Status": 201})
    context = dg.build_asset_context(
        resources={"quicksight": stubbed_resource(client), "settings": asset_settings}
    )

    result = quicksight_datasets(context)

    assert result.metadata["data_source_action"] == "unchanged"
    assert result.metadata["fct_findings.action"] == "created"
    assert result.metadata["fct_finding_remote_endpoints.columns"] == 15


@pytest.mark.parametrize("asset", [quicksight_datasets, spice_refresh])
def test_assets_fail_clearly_when_quicksight_is_not_configured(
    client, asset, settings, monkeypatch
):
    monkeypatch.delenv("QUICKSIGHT_ACCOUNT_ID")
    context = dg.build_asset_context(
        resources={"quicksight": stubbed_resource(client), "settings": load_settings()}
    )

    with pytest.raises(dg.Failure, match="QUICKSIGHT_ACCOUNT_ID"):
        asset(context)
