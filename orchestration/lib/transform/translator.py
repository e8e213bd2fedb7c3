"""How dbt resources become Dagster assets: keys, groups and descriptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

LAYERS = ("staging", "intermediate", "marts")


def dbt_group_name(dbt_resource_props: Mapping[str, Any]) -> str | None:
    """The layer folder a model lives in (models/<layer>/...), or "seeds" for seeds."""
    fqn = dbt_resource_props.get("fqn", [])
    if dbt_resource_props.get("resource_type") == "seed":
        return "seeds"
    # fqn is [project, <folders...>, name]
    return fqn[1] if len(fqn) > 2 and fqn[1] in LAYERS else None


class GuardDutyDbtTranslator(DagsterDbtTranslator):
    """Keys are the bare model name, identical on DuckDB and Athena (no database or schema).

    Sources keep the default behaviour, which reads `meta.dagster.asset_key`: the lake sources
    point at the ingest assets `lake/findings` and `lake/quarantine`.
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(
        self,
        manifest: Mapping[str, Any],
        unique_id: str,
        project: Any | None,
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props.get("resource_type") not in ("model", "seed", "snapshot"):
            return spec
        return spec.replace_attributes(
            key=dg.AssetKey([props["name"]]),
            group_name=dbt_group_name(props),
            description=props.get("description") or spec.description,
        )
