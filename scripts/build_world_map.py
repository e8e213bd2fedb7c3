"""Build the offline world map that the dashboard draws its choropleth from.

The input is ``countries-110m.json`` from the ``world-atlas`` npm package (Natural Earth 1:110m,
public domain, redistributed as TopoJSON under the ISC licence): ``npm pack world-atlas@2.0.2``
and untar it. The output is a compact JSON file of projected polygons, keyed by ISO 3166-1 alpha-2
code, that ships inside the Python package so the dashboard never needs the network.

Usage::

    .venv/bin/python scripts/build_world_map.py package/countries-110m.json \
        orchestration/lib/publish/world_countries_110m.json
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pycountry

from orchestration.lib.publish.world_map import equal_earth

SOURCE_NOTICE = (
    "Country polygons: Natural Earth 1:110m Admin 0 countries v4.1.0 (public domain, "
    "naturalearthdata.com), via the world-atlas 2.0.2 TopoJSON package, Copyright 2013-2019 "
    "Michael Bostock, ISC licence: Permission to use, copy, modify, and/or distribute this "
    "software for any purpose with or without fee is hereby granted, provided that the above "
    "copyright notice and this permission notice appear in all copies. Projected (Equal Earth) "
    "and rounded by scripts/build_world_map.py."
)

Point = tuple[float, float]

# Natural Earth leaves these without an ISO numeric code; Kosovo's XK is the code that IP
# geolocation services (and so GuardDuty) use for it.
CODES_WITHOUT_ISO_NUMERIC = {"Kosovo": "XK"}
# Nobody attacks from Antarctica, and it takes a sixth of the map's height.
EXCLUDED_NUMERIC_CODES = {"010"}

MAP_WIDTH = 1000.0
COORDINATE_DECIMALS = 1


def decode_arcs(topology: dict) -> list[list[tuple[float, float]]]:
    """Turn quantised, delta-encoded TopoJSON arcs into lists of (longitude, latitude)."""
    scale_x, scale_y = topology["transform"]["scale"]
    translate_x, translate_y = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for delta_x, delta_y in arc:
            x += delta_x
            y += delta_y
            points.append((x * scale_x + translate_x, y * scale_y + translate_y))
        arcs.append(points)
    return arcs


def ring_coordinates(
    ring: list[int], arcs: list[list[tuple[float, float]]]
) -> list[tuple[float, float]]:
    """Join a ring's arcs; a negative index ~i means arc i reversed."""
    points: list[tuple[float, float]] = []
    for index in ring:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        # Consecutive arcs share their joining point.
        points.extend(arc[1:] if points else arc)
    return points


def _clip(points: list[Point], keep: Callable[[Point], bool], boundary: float) -> list[Point]:
    """Sutherland-Hodgman clipping of a ring against the half-plane ``keep``, cut at a meridian."""
    clipped: list[Point] = []
    for index, current in enumerate(points):
        previous = points[index - 1]
        if keep(current) != keep(previous):
            fraction = (boundary - previous[0]) / (current[0] - previous[0])
            clipped.append((boundary, previous[1] + fraction * (current[1] - previous[1])))
        if keep(current):
            clipped.append(current)
    return clipped


def split_at_antimeridian(points: list[Point]) -> list[list[Point]]:
    """Cut a ring that wraps across longitude ±180 into pieces that each stay on one side.

    TopoJSON is spherical: Russia's and Fiji's rings step from +180 to -180. Drawn on a plane, that
    step is a line across the whole map, so the ring is unwrapped and then cut at the meridian.
    """
    if all(abs(b[0] - a[0]) <= 180 for a, b in itertools.pairwise(points)):
        return [points]
    unwrapped = [points[0]]
    offset = 0.0
    for previous, current in itertools.pairwise(points):
        step = current[0] - previous[0]
        if step > 180:
            offset -= 360
        elif step < -180:
            offset += 360
        unwrapped.append((current[0] + offset, current[1]))
    longitudes = [lon for lon, _ in unwrapped]
    pieces = [unwrapped]
    if max(longitudes) > 180:
        pieces = [
            _clip(unwrapped, lambda point: point[0] <= 180, 180),
            [(lon - 360, lat) for lon, lat in _clip(unwrapped, lambda point: point[0] >= 180, 180)],
        ]
    elif min(longitudes) < -180:
        pieces = [
            _clip(unwrapped, lambda point: point[0] >= -180, -180),
            [
                (lon + 360, lat)
                for lon, lat in _clip(unwrapped, lambda point: point[0] <= -180, -180)
            ],
        ]
    return [piece for piece in pieces if len(piece) >= 3]


def polygons_of(geometry: dict) -> list[list[list[int]]]:
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["arcs"]
    return []


def alpha2_code(geometry: dict) -> str | None:
    name = geometry["properties"]["name"]
    if name in CODES_WITHOUT_ISO_NUMERIC:
        return CODES_WITHOUT_ISO_NUMERIC[name]
    numeric = geometry.get("id")
    country = pycountry.countries.get(numeric=numeric) if numeric else None
    return country.alpha_2 if country else None


def build(topology: dict) -> dict:
    """Project every country and scale it to a map ``MAP_WIDTH`` units wide, y pointing down."""
    arcs = decode_arcs(topology)
    geometries = [
        geometry
        for geometry in topology["objects"]["countries"]["geometries"]
        if geometry.get("id") not in EXCLUDED_NUMERIC_CODES
    ]
    projected: list[tuple[dict, list[list[tuple[float, float]]]]] = []
    for geometry in geometries:
        rings = [
            [equal_earth(lon, lat) for lon, lat in piece]
            for polygon in polygons_of(geometry)
            for ring in polygon
            for piece in split_at_antimeridian(ring_coordinates(ring, arcs))
        ]
        projected.append((geometry, rings))

    all_points = [point for _, rings in projected for ring in rings for point in ring]
    min_x = min(x for x, _ in all_points)
    max_x = max(x for x, _ in all_points)
    min_y = min(y for _, y in all_points)
    max_y = max(y for _, y in all_points)
    scale = MAP_WIDTH / (max_x - min_x)
    height = round((max_y - min_y) * scale, COORDINATE_DECIMALS)

    countries = []
    for geometry, rings in projected:
        flat_rings = []
        for ring in rings:
            flat: list[float] = []
            previous = None
            for x, y in ring:
                point = (
                    round((x - min_x) * scale, COORDINATE_DECIMALS),
                    round((max_y - y) * scale, COORDINATE_DECIMALS),
                )
                # Rounding merges neighbouring vertices; repeating them only adds bytes.
                if point != previous:
                    flat.extend(point)
                    previous = point
            if len(flat) >= 6:
                flat_rings.append(flat)
        countries.append(
            {
                "code": alpha2_code(geometry),
                "name": geometry["properties"]["name"],
                "rings": flat_rings,
            }
        )
    countries.sort(key=lambda country: country["name"])
    return {
        "attribution": SOURCE_NOTICE,
        "projection": "Equal Earth",
        "width": MAP_WIDTH,
        "height": height,
        "projection_bounds": {"min_x": min_x, "max_x": max_x, "min_y": min_y, "max_y": max_y},
        "countries": countries,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-110m.json")
    parser.add_argument("output", type=Path, help="where to write the compact map JSON")
    arguments = parser.parse_args()
    world_map = build(json.loads(arguments.topojson.read_text(encoding="utf-8")))
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(
        json.dumps(world_map, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"{len(world_map['countries'])} countries -> {arguments.output}")


if __name__ == "__main__":
    main()
