"""Building blocks of a QuickSight Definition: checked column references, fields, visuals,
filters with their controls, and a sheet on the grid layout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestration.lib.publish.quicksight.errors import MartSchemaError
from orchestration.lib.publish.quicksight.marts import DatasetSpec

# The date filter's default window; the date-range control widens it.
DEFAULT_DAYS = 90


class Columns:
    """Column references, checked against the dataset specs on use."""

    def __init__(self, specs: Sequence[DatasetSpec]) -> None:
        self.types = {
            spec.mart: {column.name: column.type for column in spec.columns} for spec in specs
        }

    def __call__(self, mart: str, name: str, expected_type: str | None = None) -> dict[str, str]:
        if mart not in self.types:
            raise MartSchemaError(
                f"The dashboard reads {mart}, which is not a published QuickSight dataset."
            )
        actual = self.types[mart].get(name)
        if actual is None:
            raise MartSchemaError(
                f"The dashboard reads {mart}.{name}, which the mart's dbt contract does not have."
            )
        if expected_type and actual != expected_type:
            raise MartSchemaError(
                f"The dashboard needs {mart}.{name} as {expected_type}; the contract makes it "
                f"{actual}."
            )
        return {"DataSetIdentifier": mart, "ColumnName": name}


# ---------------------------------------------------------------------------------------------
# Fields


def title_options(text: str) -> dict[str, Any]:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def category(field_id: str, column: Mapping[str, str]) -> dict[str, Any]:
    return {"CategoricalDimensionField": {"FieldId": field_id, "Column": dict(column)}}


def day(field_id: str, column: Mapping[str, str]) -> dict[str, Any]:
    return {
        "DateDimensionField": {
            "FieldId": field_id,
            "Column": dict(column),
            "DateGranularity": "DAY",
        }
    }


def distinct(field_id: str, column: Mapping[str, str]) -> dict[str, Any]:
    return {
        "CategoricalMeasureField": {
            "FieldId": field_id,
            "Column": dict(column),
            "AggregationFunction": "DISTINCT_COUNT",
        }
    }


def numeric(
    field_id: str, column: Mapping[str, str], aggregation: str, *, percent: bool = False
) -> dict[str, Any]:
    field: dict[str, Any] = {
        "FieldId": field_id,
        "Column": dict(column),
        "AggregationFunction": {"SimpleNumericalAggregation": aggregation},
    }
    if percent:
        field["FormatConfiguration"] = {
            "FormatConfiguration": {
                "PercentageDisplayFormatConfiguration": {
                    "DecimalPlacesConfiguration": {"DecimalPlaces": 1}
                }
            }
        }
    return {"NumericalMeasureField": field}


def sort_by_field(field_id: str, direction: str = "DESC") -> dict[str, Any]:
    return {"FieldSort": {"FieldId": field_id, "Direction": direction}}


def sort_by_column(column: Mapping[str, str], aggregation: str, direction: str) -> dict[str, Any]:
    return {
        "ColumnSort": {
            "SortBy": dict(column),
            "Direction": direction,
            "AggregationFunction": {
                "NumericalAggregationFunction": {"SimpleNumericalAggregation": aggregation}
            },
        }
    }


# ---------------------------------------------------------------------------------------------
# Visuals


def _visual(
    kind: str, visual_id: str, title: str, chart_configuration: dict[str, Any]
) -> dict[str, Any]:
    return {
        kind: {
            "VisualId": visual_id,
            "Title": title_options(title),
            "ChartConfiguration": chart_configuration,
        }
    }


def distinct_count_kpi(visual_id: str, title: str, column: Mapping[str, str]) -> dict[str, Any]:
    """A KPI of how many distinct values ``column`` holds."""
    value = distinct(f"{visual_id}-value", column)
    return _visual("KPIVisual", visual_id, title, {"FieldWells": {"Values": [value]}})


def bar(
    visual_id: str,
    title: str,
    category: dict[str, Any],
    value: dict[str, Any],
    sort: dict[str, Any],
    *,
    orientation: str = "HORIZONTAL",
    limit: int | None = None,
) -> dict[str, Any]:
    sort_configuration: dict[str, Any] = {"CategorySort": [sort]}
    if limit:
        sort_configuration["CategoryItemsLimit"] = {
            "ItemsLimit": limit,
            "OtherCategories": "EXCLUDE",
        }
    return _visual(
        "BarChartVisual",
        visual_id,
        title,
        {
            "FieldWells": {
                "BarChartAggregatedFieldWells": {"Category": [category], "Values": [value]}
            },
            "SortConfiguration": sort_configuration,
            "Orientation": orientation,
            "BarsArrangement": "CLUSTERED",
        },
    )


def filled_map(
    visual_id: str, title: str, geography: dict[str, Any], value: dict[str, Any]
) -> dict[str, Any]:
    return _visual(
        "FilledMapVisual",
        visual_id,
        title,
        {
            "FieldWells": {
                "FilledMapAggregatedFieldWells": {"Geospatial": [geography], "Values": [value]}
            }
        },
    )


def line(
    visual_id: str,
    title: str,
    day: dict[str, Any],
    value: dict[str, Any],
    color: dict[str, Any],
) -> dict[str, Any]:
    return _visual(
        "LineChartVisual",
        visual_id,
        title,
        {
            "FieldWells": {
                "LineChartAggregatedFieldWells": {
                    "Category": [day],
                    "Values": [value],
                    "Colors": [color],
                }
            },
            "Type": "LINE",
        },
    )


def table(
    visual_id: str,
    title: str,
    group_by: Sequence[dict[str, Any]],
    values: Sequence[dict[str, Any]],
    sort: dict[str, Any],
) -> dict[str, Any]:
    return _visual(
        "TableVisual",
        visual_id,
        title,
        {
            "FieldWells": {
                "TableAggregatedFieldWells": {"GroupBy": list(group_by), "Values": list(values)}
            },
            "SortConfiguration": {"RowSort": [sort]},
        },
    )


# ---------------------------------------------------------------------------------------------
# Filters and controls


def scope(sheet_id: str, visual_ids: Sequence[str] = ()) -> dict[str, Any]:
    """Every visual of a sheet, or only ``visual_ids``."""
    scoping: dict[str, Any] = {"SheetId": sheet_id, "Scope": "ALL_VISUALS"}
    if visual_ids:
        scoping.update(Scope="SELECTED_VISUALS", VisualIds=list(visual_ids))
    return {"SelectedSheets": {"SheetVisualScopingConfigurations": [scoping]}}


def _filter_group(
    filter_id: str, filter_: dict[str, Any], scope_configuration: dict[str, Any], cross_dataset: str
) -> dict[str, Any]:
    return {
        "FilterGroupId": f"{filter_id}-group",
        "Filters": [filter_],
        "ScopeConfiguration": scope_configuration,
        "Status": "ENABLED",
        "CrossDataset": cross_dataset,
    }


def _category_filter(
    filter_id: str, column: Mapping[str, str], list_configuration: dict[str, Any]
) -> dict[str, Any]:
    return {
        "CategoryFilter": {
            "FilterId": filter_id,
            "Column": dict(column),
            "Configuration": {
                "FilterListConfiguration": {"MatchOperator": "CONTAINS", **list_configuration}
            },
        }
    }


def _control(filter_id: str, title: str, control_type: str) -> dict[str, Any]:
    return {
        "FilterControlId": f"{filter_id}-control",
        "Title": title,
        "SourceFilterId": filter_id,
        "Type": control_type,
    }


def visual_filter(
    filter_id: str,
    sheet_id: str,
    visual_ids: Sequence[str],
    column: Mapping[str, str],
    values: Sequence[str],
) -> dict[str, Any]:
    """A fixed filter of some visuals to rows whose ``column`` is one of ``values``."""
    return _filter_group(
        filter_id,
        _category_filter(
            filter_id,
            column,
            {"CategoryValues": list(values), "NullOption": "NON_NULLS_ONLY"},
        ),
        scope(sheet_id, visual_ids),
        "SINGLE_DATASET",
    )


def list_filter(
    sheet_id: str, name: str, column: Mapping[str, str], title: str, values: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A multi-select dropdown over one column, all values selected until someone picks."""
    filter_id = f"{sheet_id}-{name}"
    group = _filter_group(
        filter_id,
        _category_filter(
            filter_id,
            column,
            {"SelectAllOptions": "FILTER_ALL_VALUES", "NullOption": "ALL_VALUES"},
        ),
        scope(sheet_id),
        "ALL_DATASETS",
    )
    dropdown = _control(filter_id, title, "MULTI_SELECT")
    if values:
        dropdown["SelectableValues"] = {"Values": list(values)}
    return group, {"Dropdown": dropdown}


def date_range_filter(
    sheet_id: str, column: Mapping[str, str], title: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The last DEFAULT_DAYS days (through today) by default; the control picks any range."""
    filter_id = f"{sheet_id}-date-range"
    today = "truncDate('DD', now())"
    time_range = {
        "TimeRangeFilter": {
            "FilterId": filter_id,
            "Column": dict(column),
            "IncludeMinimum": True,
            "IncludeMaximum": True,
            "RangeMinimumValue": {
                "RollingDate": {"Expression": f"addDateTime(-{DEFAULT_DAYS}, 'DD', {today})"}
            },
            "RangeMaximumValue": {"RollingDate": {"Expression": today}},
            "NullOption": "NON_NULLS_ONLY",
            "TimeGranularity": "DAY",
        }
    }
    group = _filter_group(filter_id, time_range, scope(sheet_id), "ALL_DATASETS")
    return group, {"DateTimePicker": _control(filter_id, title, "DATE_RANGE")}


def control_id(control: Mapping[str, Any]) -> str:
    [body] = control.values()
    return body["FilterControlId"]


def visual_id(visual: Mapping[str, Any]) -> str:
    [body] = visual.values()
    return body["VisualId"]


# ---------------------------------------------------------------------------------------------
# Sheets


def sheet(
    sheet_id: str,
    name: str,
    rows: Sequence[Sequence[tuple[dict[str, Any], int]]],
    controls: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """A sheet laid out on QuickSight's 36-column grid: each row is (visual, column span) pairs."""
    row_spans = {"KPIVisual": 4, "TableVisual": 12}
    elements = []
    visuals = []
    row_index = 0
    for row in rows:
        column_index = 0
        height = 0
        for visual, span in row:
            [kind] = visual
            row_span = row_spans.get(kind, 10)
            elements.append(
                {
                    "ElementId": visual_id(visual),
                    "ElementType": "VISUAL",
                    "ColumnIndex": column_index,
                    "ColumnSpan": span,
                    "RowIndex": row_index,
                    "RowSpan": row_span,
                }
            )
            visuals.append(visual)
            column_index += span
            height = max(height, row_span)
        row_index += height
    control_elements = [
        {
            "ElementId": control_id(control),
            "ElementType": "FILTER_CONTROL",
            "ColumnSpan": 2,
            "RowSpan": 1,
        }
        for control in controls
    ]
    return {
        "SheetId": sheet_id,
        "Name": name,
        "Visuals": visuals,
        "FilterControls": list(controls),
        "Layouts": [{"Configuration": {"GridLayout": {"Elements": elements}}}],
        "SheetControlLayouts": [{"Configuration": {"GridLayout": {"Elements": control_elements}}}],
        "ContentType": "INTERACTIVE",
    }
