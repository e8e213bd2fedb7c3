"""Offline checks of a dashboard request deeper than botocore's own parameter validation.

botocore validates required members and types (and string/list minimums) when a request is sent.
QuickSight also rejects, only once deployed, what this module finds before: enum values, string
and list maximums, patterns, numeric ranges, structures of which exactly one member may be set,
and references inside the Definition (dataset identifiers, columns, filters, layout elements).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

import botocore.session
from botocore.model import Shape

from orchestration.lib.publish.quicksight.marts import DatasetSpec

# Structures documented as "exactly one of these" whose model carries no union trait.
ONE_MEMBER_STRUCTURES = frozenset(
    {
        "Visual",
        "Filter",
        "FilterControl",
        "DimensionField",
        "MeasureField",
        "FieldSortOptions",
        "LayoutConfiguration",
        "SheetControlLayoutConfiguration",
        "BarChartFieldWells",
        "LineChartFieldWells",
        "FilledMapFieldWells",
        "TableFieldWells",
        "CategoryFilterConfiguration",
        "FilterScopeConfiguration",
        "NumericalAggregationFunction",
        "AggregationFunction",
        "TimeRangeFilterValue",
        "NumericFormatConfiguration",
        "FormatConfiguration",
    }
)


@cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model("quicksight")


def check_against_model(operation: str, request: Mapping[str, Any]) -> list[str]:
    """Problems of ``request`` against the input shape of a QuickSight ``operation``."""
    shape = _service_model().operation_model(operation).input_shape
    return list(_check(shape, request, operation))


def _check(shape: Shape, value: Any, path: str) -> Iterator[str]:
    kind = shape.type_name
    if kind == "structure":
        yield from _check_structure(shape, value, path)
    elif kind == "list":
        yield from _check_length(shape, value, path, "items")
        for index, item in enumerate(value):
            yield from _check(shape.member, item, f"{path}[{index}]")
    elif kind == "map":
        for key, item in value.items():
            yield from _check(shape.value, item, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            yield f"{path}: expected a string, got {type(value).__name__}"
            return
        if shape.enum and value not in shape.enum:
            yield f"{path}: {value!r} is not one of {shape.enum}"
        yield from _check_length(shape, value, path, "characters")
        pattern = shape.metadata.get("pattern")
        # As the service model means it: the pattern matches somewhere, unless it is anchored.
        if pattern and not re.search(pattern, value):
            yield f"{path}: {value!r} does not match {pattern}"
    elif kind in {"integer", "long", "double", "float"}:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            yield f"{path}: {value} is outside [{low}, {high}]"
    elif kind == "boolean" and not isinstance(value, bool):
        yield f"{path}: expected a boolean, got {type(value).__name__}"


def _check_structure(shape: Shape, value: Any, path: str) -> Iterator[str]:
    if not isinstance(value, Mapping):
        yield f"{path}: expected a structure, got {type(value).__name__}"
        return
    unknown = sorted(set(value) - set(shape.members))
    if unknown:
        yield f"{path}: unknown members {unknown} of {shape.name}"
    missing = [name for name in shape.required_members if name not in value]
    if missing:
        yield f"{path}: {shape.name} requires {missing}"
    is_union = shape.metadata.get("union") or shape.name in ONE_MEMBER_STRUCTURES
    if is_union and len(value) != 1:
        yield f"{path}: {shape.name} takes exactly one member, got {sorted(value)}"
    for name, item in value.items():
        if name in shape.members:
            yield from _check(shape.members[name], item, f"{path}.{name}")


def _check_length(shape: Shape, value: Sequence[Any], path: str, unit: str) -> Iterator[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        yield f"{path}: {len(value)} {unit}, fewer than {low}"
    if high is not None and len(value) > high:
        yield f"{path}: {len(value)} {unit}, more than {high}"


# ---------------------------------------------------------------------------------------------
# References inside a Definition


def _walk(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield name, item
            yield from _walk(item, name)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)


def check_references(definition: Mapping[str, Any], specs: Sequence[DatasetSpec]) -> list[str]:
    """Problems with what the Definition names: datasets, columns, filters and layout elements."""
    problems: list[str] = []
    declared = {d["Identifier"] for d in definition["DataSetIdentifierDeclarations"]}
    columns = {spec.mart: {column.name for column in spec.columns} for spec in specs}
    for field in definition.get("CalculatedFields", []):
        columns.setdefault(field["DataSetIdentifier"], set()).add(field["Name"])
    for identifier in declared - set(columns):
        problems.append(f"dataset identifier {identifier} is not a published dataset")
    for key, value in _walk(definition):
        if key in {"Column", "SortBy"} and "ColumnName" in value:
            dataset, name = value.get("DataSetIdentifier"), value["ColumnName"]
            if dataset not in declared:
                problems.append(f"column {name} names undeclared dataset {dataset}")
            elif name not in columns.get(dataset, set()):
                problems.append(f"column {dataset}.{name} is not in the dataset")
    filter_ids = {
        value["FilterId"]
        for _, value in _walk(definition)
        if isinstance(value, Mapping) and "FilterId" in value
    }
    for sheet in definition.get("Sheets", []):
        visual_ids = {_only(visual)["VisualId"] for visual in sheet.get("Visuals", [])}
        control_ids = set()
        for control in sheet.get("FilterControls", []):
            body = _only(control)
            control_ids.add(body["FilterControlId"])
            if body["SourceFilterId"] not in filter_ids:
                problems.append(f"control {body['FilterControlId']} has no filter")
        laid_out = {
            element["ElementId"]
            for layout in sheet.get("Layouts", [])
            for element in layout["Configuration"]["GridLayout"]["Elements"]
        }
        if laid_out != visual_ids:
            problems.append(f"sheet {sheet['SheetId']}: layout {laid_out} != visuals {visual_ids}")
        for visual in sheet.get("Visuals", []):
            problems.extend(_check_field_ids(_only(visual)))
    sheet_ids = {sheet["SheetId"] for sheet in definition.get("Sheets", [])}
    for group in definition.get("FilterGroups", []):
        scope = group["ScopeConfiguration"].get("SelectedSheets", {})
        for scoping in scope.get("SheetVisualScopingConfigurations", []):
            if scoping["SheetId"] not in sheet_ids:
                problems.append(f"filter group {group['FilterGroupId']} scopes a missing sheet")
    return problems


def _check_field_ids(visual: Mapping[str, Any]) -> list[str]:
    fields = [
        value["FieldId"]
        for _, value in _walk(visual)
        if isinstance(value, Mapping) and "FieldId" in value and "Column" in value
    ]
    sorted_by = [value["FieldId"] for key, value in _walk(visual) if key == "FieldSort"]
    problems = [
        f"visual {visual['VisualId']}: field id {field_id} repeated"
        for field_id in sorted({f for f in fields if fields.count(f) > 1})
    ]
    problems += [
        f"visual {visual['VisualId']} sorts by unknown field {field_id}"
        for field_id in sorted_by
        if field_id not in fields
    ]
    return problems


def _only(union: Mapping[str, Any]) -> Mapping[str, Any]:
    [body] = union.values()
    return body
