"""The QuickSight dashboard as code: its Definition and the offline checks on it.

The deeper checks (enums, maximums, patterns, one-member structures, references) and cfn-lint's
AWS::QuickSight::Dashboard schema run on the Definition; deploying it is in
test_quicksight_dashboard_deploy.py.
"""

import copy
import json
from dataclasses import replace

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from orchestration.lib.environment import DBT_PROJECT_DIR, ConfigurationError
from orchestration.lib.publish.quicksight.dashboard import (
    DASHBOARD_MARTS,
    OWNER_ACTIONS,
    VIEWER_ACTIONS,
    create_dashboard_request,
    definition_digest,
)
from orchestration.lib.publish.quicksight.errors import MartSchemaError
from orchestration.lib.publish.quicksight.marts import ColumnSpec, build_dataset_specs
from orchestration.lib.publish.quicksight.model_check import (
    check_against_model,
    check_references,
)
from tests.helpers.quicksight_stubs import (
    ACCOUNT,
    FIXTURE_MARTS,
    PRINCIPAL,
    REGION,
    quicksight_settings,
)

OWNER = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/guardduty-admins"
VIEWER = f"arn:aws:quicksight:{REGION}:{ACCOUNT}:group/default/security-readers"


@pytest.fixture
def settings(monkeypatch):
    return quicksight_settings(
        monkeypatch,
        QUICKSIGHT_DASHBOARD_OWNER_ARNS=OWNER,
        QUICKSIGHT_DASHBOARD_VIEWER_ARNS=f"{VIEWER},{OWNER}",
    )


@pytest.fixture
def specs(settings):
    return build_dataset_specs(settings, FIXTURE_MARTS)


@pytest.fixture
def request_(settings, specs):
    return create_dashboard_request(settings, specs)


def visuals(request: dict) -> dict[str, dict]:
    """Every visual of the Definition by id, as (kind, body)."""
    found = {}
    for sheet in request["Definition"]["Sheets"]:
        for visual in sheet["Visuals"]:
            [(kind, body)] = visual.items()
            found[body["VisualId"]] = {"kind": kind, **body}
    return found


def field_wells(visual: dict) -> dict:
    [wells] = visual["ChartConfiguration"]["FieldWells"].values()
    return wells


# ---------------------------------------------------------------------------------------------
# The Definition


def test_the_request_passes_the_deeper_model_check_and_its_references_resolve(request_, specs):
    assert check_against_model("CreateDashboard", request_) == []
    assert check_references(request_["Definition"], specs) == []


def test_kpis_count_distinct_findings_accounts_and_countries_on_the_fact_marts(request_):
    kpis = {
        visual_id: visual["ChartConfiguration"]["FieldWells"]["Values"][0]
        for visual_id, visual in visuals(request_).items()
        if visual["kind"] == "KPIVisual"
    }
    counted = {
        visual_id: (
            value["CategoricalMeasureField"]["Column"]["DataSetIdentifier"],
            value["CategoricalMeasureField"]["Column"]["ColumnName"],
            value["CategoricalMeasureField"]["AggregationFunction"],
        )
        for visual_id, value in kpis.items()
    }

    assert counted == {
        "kpi-findings": ("fct_findings", "finding_id", "DISTINCT_COUNT"),
        "kpi-critical-high": ("fct_findings", "finding_id", "DISTINCT_COUNT"),
        "kpi-accounts": ("fct_findings", "account_id", "DISTINCT_COUNT"),
        "kpi-countries": ("fct_finding_remote_endpoints", "country_code", "DISTINCT_COUNT"),
        "kpi-open-past-target": ("fct_findings_open_past_target", "finding_id", "DISTINCT_COUNT"),
    }
    # Critical + High is the distinct count under a filter of that visual alone.
    [only_critical_and_high] = [
        group
        for group in request_["Definition"]["FilterGroups"]
        if group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"][0].get(
            "VisualIds"
        )
        == ["kpi-critical-high"]
    ]
    [category_filter] = only_critical_and_high["Filters"]
    configuration = category_filter["CategoryFilter"]["Configuration"]["FilterListConfiguration"]
    assert configuration["CategoryValues"] == ["Critical", "High"]
    assert category_filter["CategoryFilter"]["Column"]["ColumnName"] == "severity_label"


def test_every_distinct_count_reads_a_fact_mart(request_):
    counted_marts = {
        field["Column"]["DataSetIdentifier"]
        for field in _find(request_["Definition"]["Sheets"], "CategoricalMeasureField")
        if field["AggregationFunction"] == "DISTINCT_COUNT"
    }

    assert counted_marts == {
        "fct_findings",
        "fct_finding_remote_endpoints",
        "fct_findings_open_past_target",
    }


def _find(value, key):
    if isinstance(value, dict):
        for name, item in value.items():
            if name == key:
                yield item
            yield from _find(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _find(item, key)


def test_the_world_map_fills_countries_by_their_iso_code_with_the_country_role(request_, specs):
    world_map = visuals(request_)["map-countries"]
    [geography] = field_wells(world_map)["Geospatial"]
    column = geography["CategoricalDimensionField"]["Column"]

    assert world_map["kind"] == "FilledMapVisual"
    assert column == {
        "DataSetIdentifier": "fct_finding_remote_endpoints",
        "ColumnName": "country_code",
    }
    endpoints = next(spec for spec in specs if spec.mart == "fct_finding_remote_endpoints")
    roles = {c.name: c.geographic_role for c in endpoints.columns}
    assert roles["country_code"] == "COUNTRY"


def test_bars_trend_and_top_types_cover_what_the_issue_asks_for(request_):
    found = visuals(request_)

    assert found["bar-severity"]["kind"] == "BarChartVisual"
    assert field_wells(found["bar-action-type"])["Category"][0]["CategoricalDimensionField"][
        "Column"
    ]["ColumnName"] == ("action_type")
    trend = field_wells(found["line-daily-severity"])
    assert trend["Category"][0]["DateDimensionField"]["DateGranularity"] == "DAY"
    assert trend["Colors"][0]["CategoricalDimensionField"]["Column"]["ColumnName"] == (
        "severity_label"
    )
    top = found["bar-top-finding-types"]["ChartConfiguration"]["SortConfiguration"]
    assert top["CategoryItemsLimit"]["ItemsLimit"] == 10
    assert {"table-archive-compliance", "table-open-past-target"} <= set(found)


def test_controlled_filters_apply_across_the_datasets_of_their_sheet(request_, specs):
    definition = request_["Definition"]
    columns = {spec.mart: {c.name: c.type for c in spec.columns} for spec in specs}
    controls = {
        sheet["SheetId"]: {
            next(iter(control.values()))["SourceFilterId"] for control in sheet["FilterControls"]
        }
        for sheet in definition["Sheets"]
    }
    filtered = {}
    for group in definition["FilterGroups"]:
        [scoping] = group["ScopeConfiguration"]["SelectedSheets"][
            "SheetVisualScopingConfigurations"
        ]
        [filter_] = group["Filters"]
        [body] = filter_.values()
        if body["FilterId"] not in controls[scoping["SheetId"]]:
            continue
        assert group["CrossDataset"] == "ALL_DATASETS"
        assert scoping["Scope"] == "ALL_VISUALS"
        filtered.setdefault(scoping["SheetId"], []).append(body["Column"]["ColumnName"])

    assert filtered == {
        "findings": ["finding_date", "account_id", "region", "severity_label"],
        "compliance": ["account_id", "region", "severity_label"],
    }
    # A cross-dataset filter reaches the datasets with a same-named, same-typed column.
    for mart in ("fct_findings", "fct_finding_remote_endpoints"):
        assert columns[mart]["finding_date"] == "DATETIME"
        assert {"account_id", "region", "severity_label"} <= set(columns[mart])


def test_the_dashboard_is_shared_with_owners_and_viewers(request_):
    assert request_["Permissions"] == [
        {"Principal": OWNER, "Actions": list(OWNER_ACTIONS)},
        {"Principal": VIEWER, "Actions": list(VIEWER_ACTIONS)},
    ]


def test_the_dashboard_owners_default_to_the_principal_the_datasets_are_shared_with(monkeypatch):
    settings = quicksight_settings(monkeypatch)

    assert settings.quicksight_dashboard_owner_arns == (PRINCIPAL,)
    assert settings.quicksight_dashboard_viewer_arns == ()


def test_a_principal_list_with_something_that_is_not_an_arn_is_refused(monkeypatch):
    with pytest.raises(ConfigurationError, match="QUICKSIGHT_DASHBOARD_VIEWER_ARNS"):
        quicksight_settings(monkeypatch, QUICKSIGHT_DASHBOARD_VIEWER_ARNS=f"{VIEWER},readers")


def test_the_version_description_carries_a_digest_that_follows_the_definition(request_):
    definition = request_["Definition"]
    changed = copy.deepcopy(definition)
    changed["Sheets"][0]["Name"] = "Renamed"

    assert definition_digest(request_["Name"], definition) in request_["VersionDescription"]
    assert definition_digest("GuardDuty findings", changed) != definition_digest(
        "GuardDuty findings", definition
    )
    assert len(request_["VersionDescription"]) <= 512


def test_a_contract_without_a_column_the_dashboard_reads_fails_with_its_name(settings, specs):
    broken = [
        replace(spec, columns=tuple(c for c in spec.columns if c.name != "action_type"))
        if spec.mart == "fct_findings"
        else spec
        for spec in specs
    ]

    with pytest.raises(MartSchemaError, match=r"fct_findings\.action_type"):
        create_dashboard_request(settings, broken)


def test_a_contract_that_retypes_a_filtered_column_fails(settings, specs):
    retyped = [
        replace(
            spec,
            columns=tuple(
                ColumnSpec("finding_date", "STRING") if c.name == "finding_date" else c
                for c in spec.columns
            ),
        )
        for spec in specs
    ]

    with pytest.raises(MartSchemaError, match="finding_date as DATETIME"):
        create_dashboard_request(settings, retyped)


def test_the_dashboard_exposure_declares_exactly_the_marts_the_definition_reads():
    document = yaml.safe_load((DBT_PROJECT_DIR / "models/marts/_exposures.yml").read_text())
    [exposure] = [e for e in document["exposures"] if e["name"] == "quicksight_dashboard"]

    declared = [dependency.split("'")[1] for dependency in exposure["depends_on"]]

    assert sorted(declared) == sorted(DASHBOARD_MARTS)


def test_the_project_contracts_build_a_valid_dashboard(settings):
    project_specs = build_dataset_specs(settings)

    request = create_dashboard_request(settings, project_specs)

    assert check_against_model("CreateDashboard", request) == []
    assert check_references(request["Definition"], project_specs) == []


# ---------------------------------------------------------------------------------------------
# The deeper checks find what botocore's validation does not


def first_visual(request: dict, kind: str) -> dict:
    for sheet in request["Definition"]["Sheets"]:
        for visual in sheet["Visuals"]:
            if kind in visual:
                return visual[kind]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (
            lambda r: first_visual(r, "BarChartVisual")["ChartConfiguration"].update(
                Orientation="SIDEWAYS"
            ),
            "'SIDEWAYS' is not one of",
        ),
        (
            lambda r: field_wells(first_visual(r, "FilledMapVisual"))["Values"].append(
                field_wells(first_visual(r, "FilledMapVisual"))["Values"][0]
            ),
            "2 items, more than 1",
        ),
        (lambda r: r.update(DashboardId=" "), "does not match"),
        (
            lambda r: first_visual(r, "KPIVisual")["ChartConfiguration"]["FieldWells"]["Values"][
                0
            ].update(NumericalMeasureField={"FieldId": "x", "Column": {"ColumnName": "y"}}),
            "takes exactly one member",
        ),
        (lambda r: r["Definition"].update(Colour="red"), "unknown members ['Colour']"),
        (
            lambda r: r["Definition"]["Sheets"][0]["Layouts"][0]["Configuration"]["GridLayout"][
                "Elements"
            ][0].update(ColumnSpan=99),
            "99 is outside",
        ),
    ],
)
def test_the_model_check_finds_what_quicksight_would_reject(request_, break_it, problem):
    broken = copy.deepcopy(request_)
    break_it(broken)

    problems = check_against_model("CreateDashboard", broken)

    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (
            lambda d: first_visual({"Definition": d}, "KPIVisual")["ChartConfiguration"][
                "FieldWells"
            ]["Values"][0]["CategoricalMeasureField"]["Column"].update(ColumnName="nope"),
            "column fct_findings.nope is not in the dataset",
        ),
        (
            lambda d: d["DataSetIdentifierDeclarations"].pop(0),
            "names undeclared dataset fct_findings",
        ),
        (
            lambda d: d["FilterGroups"].pop(0),
            "control findings-date-range-control has no filter",
        ),
        (
            lambda d: first_visual({"Definition": d}, "BarChartVisual")["ChartConfiguration"][
                "SortConfiguration"
            ].update(CategorySort=[{"FieldSort": {"FieldId": "ghost", "Direction": "ASC"}}]),
            "sorts by unknown field ghost",
        ),
        (lambda d: d["Sheets"][0]["Visuals"].pop(), "layout"),
    ],
)
def test_the_reference_check_finds_dangling_names(request_, specs, break_it, problem):
    definition = copy.deepcopy(request_["Definition"])
    break_it(definition)

    problems = check_references(definition, specs)

    assert any(problem in found for found in problems), problems


def cloudformation_problems(request: dict) -> list[str]:
    properties = {
        key: request[key]
        for key in (
            "AwsAccountId",
            "DashboardId",
            "Name",
            "Definition",
            "VersionDescription",
            "DashboardPublishOptions",
            "Permissions",
        )
    }
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Dashboard": {"Type": "AWS::QuickSight::Dashboard", "Properties": properties}
        },
    }
    matches = lint(json.dumps(template), config=ManualArgs(regions=[REGION]))
    return [str(match) for match in matches]


def test_cfn_lint_accepts_the_definition_under_the_cloudformation_schema(request_):
    assert cloudformation_problems(request_) == []


def test_cfn_lint_rejects_a_broken_definition(request_):
    broken = copy.deepcopy(request_)
    first_visual(broken, "LineChartVisual")["ChartConfiguration"]["Type"] = "SPLINE"

    assert any("SPLINE" in problem for problem in cloudformation_problems(broken))
