"""Build the offline world map that the dashboard draws its choropleth from.

The input is ``countries-110m.json`` from the ``world-atlas`` npm package (Natural Earth 1:110m,
public domain, redistributed as TopoJSON under the ISC licence): ``npm pack world-atlas@2.0.2``
and untar it. The output is the same TopoJSON, which Vega reads and projects itself, with each
country's ISO 3166-1 alpha-2 code (the code GuardDuty reports) added to its properties, the
licence notice embedded, and Antarctica left out. It ships inside the Python package so the
dashboard never needs the network.

Usage::

    .venv/bin/python scripts/build_world_map.py package/countries-110m.json \
        orchestration/lib/publish/world_countries_110m.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pycountry

SOURCE_NOTICE = (
    "Country polygons: Natural Earth 1:110m Admin 0 countries v4.1.0 (public domain, "
    "naturalearthdata.com), via the world-atlas 2.0.2 TopoJSON package, Copyright 2013-2019 "
    "Michael Bostock, ISC licence: Permission to use, copy, modify, and/or distribute this "
    "software for any purpose with or without fee is hereby granted, provided that the above "
    "copyright notice and this permission notice appear in all copies. ISO alpha-2 codes added "
    "by scripts/build_world_map.py."
)

# Natural Earth leaves these without an ISO numeric code; Kosovo's XK is the code that IP
# geolocation services (and so GuardDuty) use for it.
CODES_WITHOUT_ISO_NUMERIC = {"Kosovo": "XK"}
# Nobody attacks from Antarctica, and it takes a sixth of the map's height.
EXCLUDED_NUMERIC_CODES = {"010"}


def alpha2_code(geometry: dict) -> str | None:
    name = geometry["properties"]["name"]
    if name in CODES_WITHOUT_ISO_NUMERIC:
        return CODES_WITHOUT_ISO_NUMERIC[name]
    numeric = geometry.get("id")
    country = pycountry.countries.get(numeric=numeric) if numeric else None
    return country.alpha_2 if country else None


def build(topology: dict) -> dict:
    """The topology with only the countries, each with ``code`` and ``name`` properties."""
    countries = topology["objects"]["countries"]
    geometries = [
        {
            **geometry,
            "properties": {
                "code": alpha2_code(geometry),
                "name": geometry["properties"]["name"],
            },
        }
        for geometry in countries["geometries"]
        if geometry.get("id") not in EXCLUDED_NUMERIC_CODES
    ]
    return {
        "type": "Topology",
        "attribution": SOURCE_NOTICE,
        "transform": topology["transform"],
        "arcs": topology["arcs"],
        "objects": {"countries": {**countries, "geometries": geometries}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-110m.json")
    parser.add_argument("output", type=Path, help="where to write the annotated TopoJSON")
    arguments = parser.parse_args()
    world_map = build(json.loads(arguments.topojson.read_text(encoding="utf-8")))
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(
        json.dumps(world_map, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    count = len(world_map["objects"]["countries"]["geometries"])
    print(f"{count} countries -> {arguments.output}")


if __name__ == "__main__":
    main()
