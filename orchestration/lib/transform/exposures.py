"""The marts' consumers as dbt declares them: exposures in the YAML under dbt_project/models/marts.

Read from the YAML rather than dbt's manifest so that the definitions load before dbt has parsed
the project; ``make docs`` shows the same exposures in the lineage graph.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestration.lib.environment import DBT_PROJECT_DIR

MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"
OFFLINE_DASHBOARD_EXPOSURE = "offline_dashboard"
REVIEW_REPORT_EXPOSURE = "review_report"

_REF = re.compile(r"""ref\(\s*['"](\w+)['"]\s*\)""")


class ExposureError(ValueError):
    """A dbt exposure the code relies on is missing or does not name its marts as refs."""


@dataclass(frozen=True)
class Exposure:
    name: str
    # The marts it reads, in the order of its depends_on.
    marts: tuple[str, ...]
    meta: Mapping[str, Any]


def node_meta(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """A dbt node's ``meta``: dbt >= 1.10 moves it under ``config``; both spellings count."""
    meta = dict(node.get("meta") or {})
    meta.update((node.get("config") or {}).get("meta") or {})
    return meta


def yaml_documents(marts_dir: Path) -> list[Mapping[str, Any]]:
    """Every dbt property file under ``marts_dir``, parsed."""
    paths = sorted([*marts_dir.rglob("*.yml"), *marts_dir.rglob("*.yaml")])
    # libyaml's safe loader (PyYAML's wheels include it): the definitions parse these files as they
    # load, and the pure-Python parser takes about ten times as long.
    return [
        yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) or {} for path in paths
    ]


def load_exposure(name: str, marts_dir: Path | None = None) -> Exposure:
    """The exposure ``name`` declared under ``marts_dir`` (``dbt_project/models/marts``).

    Raises:
        ExposureError: no such exposure, or a ``depends_on`` entry that is not ``ref('<mart>')``.
    """
    marts_dir = marts_dir or MARTS_DIR
    exposure = next(
        (
            exposure
            for document in yaml_documents(marts_dir)
            for exposure in document.get("exposures") or []
            if exposure.get("name") == name
        ),
        None,
    )
    if exposure is None:
        raise ExposureError(f"No dbt exposure {name} under {marts_dir}.")
    dependencies = [str(dependency).strip() for dependency in exposure.get("depends_on") or []]
    refs = [_REF.fullmatch(dependency) for dependency in dependencies]
    if not refs or not all(refs):
        raise ExposureError(
            f"dbt exposure {name}: depends_on ({', '.join(dependencies)}) must list the marts it "
            "reads, each as ref('<mart>')."
        )
    return Exposure(
        name=name,
        marts=tuple(ref.group(1) for ref in refs if ref),
        meta=node_meta(exposure),
    )
