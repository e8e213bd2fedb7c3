"""The offline world map: Natural Earth country shapes that ship with the package.

``world_countries_110m.json`` is TopoJSON generated once by ``scripts/build_world_map.py`` from the
world-atlas package, with each country's ISO 3166-1 alpha-2 code in its properties; Vega reads and
projects it in the page, so drawing the map needs neither the network nor a GIS library.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

WORLD_MAP_PATH = Path(__file__).resolve().parent / "world_countries_110m.json"
# The full ISC notice travels with the shapes in the packaged JSON; the page names the sources.
MAP_ATTRIBUTION = "Map: Natural Earth 1:110m (public domain), via world-atlas (ISC licence)."


@cache
def load_world_map() -> dict:
    """The packaged TopoJSON topology, read once per process (callers must not change it)."""
    return json.loads(WORLD_MAP_PATH.read_text(encoding="utf-8"))


def mapped_codes() -> frozenset[str]:
    """The alpha-2 codes of the countries drawn as shapes on the map."""
    geometries = load_world_map()["objects"]["countries"]["geometries"]
    return frozenset(g["properties"]["code"] for g in geometries if g["properties"]["code"])
