"""Which marts QuickSight publishes and their columns, read from the marts' dbt contracts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.lib.environment import Settings
from orchestration.lib.publish.quicksight.errors import MartSchemaError
from orchestration.lib.transform.exposures import (
    MARTS_DIR,
    ExposureError,
    load_exposure,
    node_meta,
    yaml_documents,
)

ATHENA_CATALOG = "AwsDataCatalog"
PHYSICAL_TABLE_ID = "athena-table"
LOGICAL_TABLE_ID = "mart"


DATASETS_EXPOSURE = "quicksight_datasets"


@dataclass(frozen=True)
class PublishedMart:
    """A mart QuickSight publishes, as declared in the dbt exposure ``quicksight_datasets``."""

    name: str
    title: str
    required_columns: tuple[str, ...]


# Columns QuickSight should plot on a map without an author setting the role by hand. A column's
# dbt `meta: {quicksight: {geographic_role: ...}}` overrides this.
GEOGRAPHIC_ROLES = {
    "country_code": "COUNTRY",
    "city": "CITY",
    "latitude": "LATITUDE",
    "longitude": "LONGITUDE",
}
_GEOGRAPHIC_ROLE_VALUES = frozenset(
    {"COUNTRY", "STATE", "COUNTY", "CITY", "POSTCODE", "LONGITUDE", "LATITUDE"}
)


@dataclass(frozen=True)
class ColumnSpec:
    """One QuickSight input column."""

    name: str
    type: str
    sub_type: str | None = None
    geographic_role: str | None = None

    def input_column(self) -> dict[str, str]:
        column = {"Name": self.name, "Type": self.type}
        if self.sub_type:
            column["SubType"] = self.sub_type
        return column


@dataclass(frozen=True)
class DatasetSpec:
    """A SPICE dataset reading one mart table from Athena."""

    mart: str
    dataset_id: str
    name: str
    schema: str
    table: str
    columns: tuple[ColumnSpec, ...]
    catalog: str = ATHENA_CATALOG

    def physical_table_map(self, data_source_arn: str) -> dict[str, Any]:
        return {
            PHYSICAL_TABLE_ID: {
                "RelationalTable": {
                    "DataSourceArn": data_source_arn,
                    "Catalog": self.catalog,
                    "Schema": self.schema,
                    "Name": self.table,
                    "InputColumns": [column.input_column() for column in self.columns],
                }
            }
        }

    def logical_table_map(self) -> dict[str, Any] | None:
        """Geographic tags for map visuals, or None when the mart has no geographic column."""
        tags = [
            {
                "TagColumnOperation": {
                    "ColumnName": column.name,
                    "Tags": [{"ColumnGeographicRole": column.geographic_role}],
                }
            }
            for column in self.columns
            if column.geographic_role
        ]
        if not tags:
            return None
        return {
            LOGICAL_TABLE_ID: {
                "Alias": self.table[:64],
                "Source": {"PhysicalTableId": PHYSICAL_TABLE_ID},
                "DataTransforms": tags,
            }
        }


def dataset_id_for(prefix: str, mart: str) -> str:
    """The QuickSight dataset id of a mart: ``<prefix>-<mart with _ as ->``."""
    return f"{prefix}-{mart.replace('_', '-')}"


_DBT_MACRO_TYPES = {
    "string": ("STRING", None),
    "timestamp": ("DATETIME", None),
    "int": ("INTEGER", None),
    "bigint": ("INTEGER", None),
    "float": ("DECIMAL", "FLOAT"),
    "numeric": ("DECIMAL", "FIXED"),
    "boolean": ("BOOLEAN", None),
}
_SQL_TYPES = {
    **dict.fromkeys(("varchar", "char", "string", "text", "uuid"), ("STRING", None)),
    **dict.fromkeys(
        ("tinyint", "smallint", "int", "integer", "bigint", "hugeint", "long"), ("INTEGER", None)
    ),
    **dict.fromkeys(("double", "float", "real", "float4", "float8"), ("DECIMAL", "FLOAT")),
    **dict.fromkeys(("decimal", "numeric"), ("DECIMAL", "FIXED")),
    **dict.fromkeys(("timestamp", "timestamptz", "datetime", "date"), ("DATETIME", None)),
    **dict.fromkeys(("boolean", "bool"), ("BOOLEAN", None)),
}


def quicksight_type(dbt_data_type: str) -> tuple[str, str | None]:
    """Map a dbt contract ``data_type`` (Athena or DuckDB spelling) to a QuickSight input type.

    Returns:
        ``(Type, SubType)``: SubType is FLOAT/FIXED for DECIMAL columns, otherwise None.

    Raises:
        MartSchemaError: the type has no SPICE equivalent (arrays, maps, structs, ...).
    """
    text = dbt_data_type.strip().lower()
    macro = re.search(r"type_(\w+)\s*\(", text)
    if macro and macro.group(1) in _DBT_MACRO_TYPES:
        return _DBT_MACRO_TYPES[macro.group(1)]
    # "timestamp(6) with time zone", "decimal(10, 2)", "double precision" -> the leading word.
    base = re.split(r"[\s(]", text, maxsplit=1)[0]
    if base in _SQL_TYPES:
        return _SQL_TYPES[base]
    raise MartSchemaError(
        f"dbt data_type {dbt_data_type!r} has no QuickSight SPICE type: publish scalar columns "
        "only (flatten arrays/maps/structs in the mart)."
    )


def load_published_marts(marts_dir: Path | None = None) -> dict[str, PublishedMart]:
    """The marts QuickSight publishes, from the dbt exposure ``quicksight_datasets``.

    Its ``depends_on`` names the marts; its ``meta.quicksight.datasets`` gives each dataset's title
    and the columns the dashboards rely on.

    Raises:
        MartSchemaError: no such exposure, or its ``depends_on`` and datasets disagree.
    """
    try:
        exposure = load_exposure(DATASETS_EXPOSURE, marts_dir or MARTS_DIR)
    except ExposureError as error:
        raise MartSchemaError(f"{error} It declares the marts QuickSight publishes.") from error
    marts = exposure.marts
    datasets = (exposure.meta.get("quicksight") or {}).get("datasets") or {}
    if set(marts) != set(datasets):
        raise MartSchemaError(
            f"dbt exposure {DATASETS_EXPOSURE}: depends_on ({', '.join(marts)}) and "
            f"meta.quicksight.datasets ({', '.join(datasets)}) must name the same marts, as "
            "ref('<mart>')."
        )
    return {
        mart: PublishedMart(
            name=mart,
            title=str(datasets[mart]["title"]),
            required_columns=tuple(datasets[mart].get("required_columns") or ()),
        )
        for mart in marts
    }


def load_mart_columns(marts_dir: Path | None = None) -> dict[str, tuple[ColumnSpec, ...]]:
    """Read the QuickSight columns of each published mart from the dbt YAML under ``marts_dir``.

    Args:
        marts_dir: folder searched recursively for ``*.yml``/``*.yaml`` model properties and the
            exposure ``quicksight_datasets``; ``dbt_project/models/marts`` by default.

    Raises:
        MartSchemaError: a mart has no YAML, a column has no ``data_type``, a column the
            exposure requires is missing, or a type cannot be mapped.
    """
    marts_dir = marts_dir or MARTS_DIR
    published = load_published_marts(marts_dir)
    models: dict[str, Mapping[str, Any]] = {
        model["name"]: model
        for document in yaml_documents(marts_dir)
        for model in document.get("models") or []
        if model.get("name") in published
    }
    missing_models = [mart for mart in published if mart not in models]
    if missing_models:
        raise MartSchemaError(
            f"No dbt model YAML for {', '.join(missing_models)} under {marts_dir}: the QuickSight "
            "columns come from each mart's enforced contract (columns with data_type)."
        )
    columns_by_mart: dict[str, tuple[ColumnSpec, ...]] = {}
    for mart, declared in published.items():
        columns = []
        for column in models[mart].get("columns") or []:
            name = column.get("name")
            data_type = column.get("data_type")
            if not name or not data_type:
                raise MartSchemaError(
                    f"{mart}: column {name!r} has no data_type; an enforced contract needs one."
                )
            qs_type, sub_type = quicksight_type(str(data_type))
            role = (node_meta(column).get("quicksight") or {}).get("geographic_role")
            role = str(role).upper() if role else GEOGRAPHIC_ROLES.get(name)
            if role and role not in _GEOGRAPHIC_ROLE_VALUES:
                raise MartSchemaError(f"{mart}.{name}: unknown geographic_role {role!r}.")
            columns.append(ColumnSpec(name, qs_type, sub_type, role))
        names = {column.name for column in columns}
        absent = [name for name in declared.required_columns if name not in names]
        if absent:
            raise MartSchemaError(
                f"{mart}: the dbt YAML lacks contract columns {', '.join(absent)} that the "
                f"exposure {DATASETS_EXPOSURE} says the dashboards rely on."
            )
        columns_by_mart[mart] = tuple(columns)
    return columns_by_mart


def build_dataset_specs(settings: Settings, marts_dir: Path | None = None) -> list[DatasetSpec]:
    """One dataset declaration per published mart, with columns read from the dbt YAML now."""
    published = load_published_marts(marts_dir)
    columns_by_mart = load_mart_columns(marts_dir)
    return [
        DatasetSpec(
            mart=mart,
            dataset_id=dataset_id_for(settings.quicksight_dataset_prefix, mart),
            name=published[mart].title,
            schema=settings.athena_schema,
            table=mart,
            columns=columns,
        )
        for mart, columns in columns_by_mart.items()
    ]
