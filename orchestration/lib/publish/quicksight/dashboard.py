"""The QuickSight dashboard as code: one ``Definition`` built from the published datasets' columns.

Every column a visual, filter or calculated field names is looked up in the dataset specs (which
come from the marts' dbt contracts) while the Definition is built, so a renamed or retyped contract
column fails here, with its name, instead of in QuickSight. Distinct counts read the fact marts: a
daily aggregate's counts cannot be summed into distinct findings across days, accounts or filters.

Filters apply across the datasets of a sheet (``CrossDataset: ALL_DATASETS``): QuickSight applies
such a filter to every dataset of the sheet that has a column of the same name and type, which the
fact marts share (finding_date, account_id, region, severity_label).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from orchestration.lib.environment import Settings
from orchestration.lib.publish.quicksight.errors import MartSchemaError
from orchestration.lib.publish.quicksight.marts import DatasetSpec
from orchestration.lib.publish.quicksight.visuals import (
    Columns,
    bar,
    category,
    date_range_filter,
    day,
    distinct,
    distinct_count_kpi,
    filled_map,
    line,
    list_filter,
    numeric,
    sheet,
    sort_by_column,
    sort_by_field,
    table,
    visual_filter,
)

DASHBOARD_NAME = "GuardDuty findings"
FINDINGS = "fct_findings"
ENDPOINTS = "fct_finding_remote_endpoints"
COMPLIANCE = "agg_archive_compliance_by_severity"
OPEN_PAST_TARGET = "fct_findings_open_past_target"
DASHBOARD_MARTS = (FINDINGS, ENDPOINTS, COMPLIANCE, OPEN_PAST_TARGET)

FINDINGS_SHEET = "findings"
COMPLIANCE_SHEET = "compliance"
SEVERITY_LABELS = ("Critical", "High", "Medium", "Low")
FILTERED_COLUMNS = (
    ("finding_date", "DATETIME"),
    ("account_id", "STRING"),
    ("region", "STRING"),
    ("severity_label", "STRING"),
)
CRITICAL_OR_HIGH = ("Critical", "High")
TOP_FINDING_TYPES = 10

# What the owner and viewer principals may do with the dashboard (the console's "co-owner" and
# "viewer" action sets).
VIEWER_ACTIONS = (
    "quicksight:DescribeDashboard",
    "quicksight:ListDashboardVersions",
    "quicksight:QueryDashboard",
)
OWNER_ACTIONS = (
    *VIEWER_ACTIONS,
    "quicksight:UpdateDashboard",
    "quicksight:DeleteDashboard",
    "quicksight:DescribeDashboardPermissions",
    "quicksight:UpdateDashboardPermissions",
    "quicksight:UpdateDashboardPublishedVersion",
)

# Stand-ins for the account-specific values of a request printed without AWS configuration.
PLACEHOLDER_ACCOUNT_ID = "000000000000"
PLACEHOLDER_OWNER = "group/default/guardduty-dashboard-owners"

PUBLISH_OPTIONS = {
    "AdHocFilteringOption": {"AvailabilityStatus": "DISABLED"},
    "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"},
    "SheetControlsOption": {"VisibilityState": "EXPANDED"},
}


def _findings_by_severity(
    col: Columns, mart: str, visual_id: str, title: str, count_field_id: str
) -> dict[str, Any]:
    """Columns of the distinct findings of ``mart`` per severity label."""
    return bar(
        visual_id,
        title,
        category(f"{visual_id}-label", col(mart, "severity_label", "STRING")),
        distinct(count_field_id, col(mart, "finding_id", "STRING")),
        # Critical first: the labels sorted by their highest numeric severity.
        sort_by_column(col(mart, "severity", "DECIMAL"), "MAX", "DESC"),
        orientation="VERTICAL",
    )


def _findings_sheet(col: Columns) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    finding = col(FINDINGS, "finding_id", "STRING")
    # Four KPIs side by side on the 36-column grid.
    kpis = [
        (visual, 9)
        for visual in (
            distinct_count_kpi("kpi-findings", "Findings", finding),
            distinct_count_kpi("kpi-critical-high", "Critical + High", finding),
            distinct_count_kpi("kpi-accounts", "Accounts", col(FINDINGS, "account_id", "STRING")),
            distinct_count_kpi(
                "kpi-countries", "Remote countries", col(ENDPOINTS, "country_code", "STRING")
            ),
        )
    ]
    by_severity = _findings_by_severity(
        col, FINDINGS, "bar-severity", "Findings by severity", "bar-severity-findings"
    )
    by_action = bar(
        "bar-action-type",
        "Findings by action type",
        category("bar-action-type-name", col(FINDINGS, "action_type", "STRING")),
        distinct("bar-action-type-findings", finding),
        sort_by_field("bar-action-type-findings"),
    )
    world_map = filled_map(
        "map-countries",
        "Findings by remote country",
        category("map-countries-code", col(ENDPOINTS, "country_code", "STRING")),
        distinct("map-countries-findings", col(ENDPOINTS, "finding_id", "STRING")),
    )
    trend = line(
        "line-daily-severity",
        "New findings per day by severity",
        day("line-daily-date", col(FINDINGS, "finding_date", "DATETIME")),
        distinct("line-daily-findings", finding),
        category("line-daily-severity", col(FINDINGS, "severity_label", "STRING")),
    )
    top_types = bar(
        "bar-top-finding-types",
        f"Top {TOP_FINDING_TYPES} finding types",
        category("bar-top-finding-types-name", col(FINDINGS, "finding_type", "STRING")),
        distinct("bar-top-finding-types-findings", finding),
        sort_by_field("bar-top-finding-types-findings"),
        limit=TOP_FINDING_TYPES,
    )
    groups_and_controls = [
        date_range_filter(
            FINDINGS_SHEET, col(FINDINGS, "finding_date", "DATETIME"), "Finding date"
        ),
        list_filter(FINDINGS_SHEET, "account", col(FINDINGS, "account_id", "STRING"), "Account"),
        list_filter(FINDINGS_SHEET, "region", col(FINDINGS, "region", "STRING"), "Region"),
        list_filter(
            FINDINGS_SHEET,
            "severity",
            col(FINDINGS, "severity_label", "STRING"),
            "Severity",
            SEVERITY_LABELS,
        ),
    ]
    # The cross-dataset filters reach the endpoint dataset through these same-named columns.
    for name, kind in FILTERED_COLUMNS:
        col(ENDPOINTS, name, kind)
    findings = sheet(
        FINDINGS_SHEET,
        "Findings",
        [
            kpis,
            [(by_severity, 12), (by_action, 24)],
            [(world_map, 36)],
            [(trend, 36)],
            [(top_types, 36)],
        ],
        [control for _, control in groups_and_controls],
    )
    critical_or_high = visual_filter(
        f"{FINDINGS_SHEET}-critical-high",
        FINDINGS_SHEET,
        ["kpi-critical-high"],
        col(FINDINGS, "severity_label", "STRING"),
        CRITICAL_OR_HIGH,
    )
    return findings, [*(group for group, _ in groups_and_controls), critical_or_high]


def _compliance_sheet(col: Columns) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    severity = col(COMPLIANCE, "severity_label", "STRING")
    order = col(COMPLIANCE, "severity_order", "INTEGER")
    compliance = table(
        "table-archive-compliance",
        "Archive compliance by severity",
        [category("compliance-severity", severity)],
        [
            numeric("compliance-target-hours", col(COMPLIANCE, "target_hours", "DECIMAL"), "MAX"),
            numeric("compliance-findings", col(COMPLIANCE, "finding_count", "INTEGER"), "SUM"),
            numeric(
                "compliance-within-target",
                col(COMPLIANCE, "archived_within_target_count", "INTEGER"),
                "SUM",
            ),
            numeric(
                "compliance-share-within-target",
                col(COMPLIANCE, "share_archived_within_target", "DECIMAL"),
                "MAX",
                percent=True,
            ),
            numeric(
                "compliance-open-past-target",
                col(COMPLIANCE, "open_past_target_count", "INTEGER"),
                "SUM",
            ),
        ],
        sort_by_column(order, "MIN", "ASC"),
    )
    open_finding = col(OPEN_PAST_TARGET, "finding_id", "STRING")
    open_count = distinct_count_kpi(
        "kpi-open-past-target", "Open past archive target", open_finding
    )
    open_by_severity = _findings_by_severity(
        col,
        OPEN_PAST_TARGET,
        "bar-open-past-target-severity",
        "Open past target by severity",
        "bar-open-past-target-findings",
    )
    open_findings = table(
        "table-open-past-target",
        "Findings open past their archive target",
        [
            category("open-severity", col(OPEN_PAST_TARGET, "severity_label", "STRING")),
            category("open-account", col(OPEN_PAST_TARGET, "account_id", "STRING")),
            category("open-region", col(OPEN_PAST_TARGET, "region", "STRING")),
            category("open-type", col(OPEN_PAST_TARGET, "finding_type", "STRING")),
            category("open-finding", open_finding),
        ],
        [
            numeric(
                "open-hours-past-target",
                col(OPEN_PAST_TARGET, "hours_past_target", "DECIMAL"),
                "MAX",
            )
        ],
        sort_by_field("open-hours-past-target"),
    )
    # Compliance is as of the evaluation time, not a date window: no date filter on this sheet.
    # Severity reaches both datasets; account and Region only the open-past-target one.
    groups_and_controls = [
        list_filter(
            COMPLIANCE_SHEET, "account", col(OPEN_PAST_TARGET, "account_id", "STRING"), "Account"
        ),
        list_filter(
            COMPLIANCE_SHEET, "region", col(OPEN_PAST_TARGET, "region", "STRING"), "Region"
        ),
        list_filter(COMPLIANCE_SHEET, "severity", severity, "Severity", SEVERITY_LABELS),
    ]
    compliance_sheet = sheet(
        COMPLIANCE_SHEET,
        "Archive compliance",
        [[(open_count, 12)], [(compliance, 36)], [(open_by_severity, 12), (open_findings, 24)]],
        [control for _, control in groups_and_controls],
    )
    return compliance_sheet, [group for group, _ in groups_and_controls]


# ---------------------------------------------------------------------------------------------
# The Definition and the request


def dashboard_definition(
    specs: Sequence[DatasetSpec], dataset_arns: Mapping[str, str]
) -> dict[str, Any]:
    """The dashboard's ``Definition``; ``dataset_arns`` maps each mart to its dataset ARN.

    Raises:
        MartSchemaError: a column the dashboard reads is missing from a mart's contract or has
            another type, or a mart it reads is not published.
    """
    col = Columns(specs)
    findings_sheet, findings_filters = _findings_sheet(col)
    compliance_sheet, compliance_filters = _compliance_sheet(col)
    return {
        "DataSetIdentifierDeclarations": [
            {"Identifier": mart, "DataSetArn": dataset_arns[mart]} for mart in DASHBOARD_MARTS
        ],
        "Sheets": [findings_sheet, compliance_sheet],
        "FilterGroups": [*findings_filters, *compliance_filters],
    }


def definition_digest(name: str, definition: Mapping[str, Any]) -> str:
    """A stable hash of what a dashboard version shows, stored in its VersionDescription."""
    content = {"Name": name, "Definition": definition, "PublishOptions": PUBLISH_OPTIONS}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_description(digest: str) -> str:
    return f"Deployed as code by the GuardDuty pipeline; definition sha256:{digest}"


def dashboard_permissions(
    owner_arns: Sequence[str], viewer_arns: Sequence[str]
) -> list[dict[str, Any]]:
    """Owners get the co-owner actions; viewers, not also owners, the viewer actions."""
    owners = [{"Principal": arn, "Actions": list(OWNER_ACTIONS)} for arn in owner_arns]
    viewers = [
        {"Principal": arn, "Actions": list(VIEWER_ACTIONS)}
        for arn in viewer_arns
        if arn not in owner_arns
    ]
    return owners + viewers


def dataset_arn(region: str, account_id: str, dataset_id: str) -> str:
    return f"arn:aws:quicksight:{region}:{account_id}:dataset/{dataset_id}"


def create_dashboard_request(settings: Settings, specs: Sequence[DatasetSpec]) -> dict[str, Any]:
    """The ``CreateDashboard`` request; ``UpdateDashboard`` takes it without Permissions."""
    by_mart = {spec.mart: spec for spec in specs}
    missing = [mart for mart in DASHBOARD_MARTS if mart not in by_mart]
    if missing:
        raise MartSchemaError(
            f"The dashboard reads {', '.join(missing)}: not published as QuickSight datasets."
        )
    arns = {
        mart: dataset_arn(
            settings.aws_region, settings.quicksight_account_id, by_mart[mart].dataset_id
        )
        for mart in DASHBOARD_MARTS
    }
    definition = dashboard_definition(specs, arns)
    request: dict[str, Any] = {
        "AwsAccountId": settings.quicksight_account_id,
        "DashboardId": settings.quicksight_dashboard_id,
        "Name": DASHBOARD_NAME,
        "Definition": definition,
        "VersionDescription": version_description(definition_digest(DASHBOARD_NAME, definition)),
        "DashboardPublishOptions": PUBLISH_OPTIONS,
    }
    permissions = dashboard_permissions(
        settings.quicksight_dashboard_owner_arns, settings.quicksight_dashboard_viewer_arns
    )
    if permissions:
        request["Permissions"] = permissions
    return request


def with_placeholders(settings: Settings) -> Settings:
    """``settings`` with a placeholder account and owner where they are not configured."""
    account_id = settings.quicksight_account_id or PLACEHOLDER_ACCOUNT_ID
    owners = settings.quicksight_dashboard_owner_arns or (
        f"arn:aws:quicksight:{settings.aws_region}:{account_id}:{PLACEHOLDER_OWNER}",
    )
    return replace(
        settings, quicksight_account_id=account_id, quicksight_dashboard_owner_arns=owners
    )
