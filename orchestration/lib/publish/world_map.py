"""The offline world map: country polygons that ship with the package, and their projection.

``world_countries_110m.json`` is generated once by ``scripts/build_world_map.py`` from
Natural Earth (public domain) and holds each country's rings already projected (Equal Earth) into
map units, ``width`` wide with y pointing down, so drawing needs neither the network nor a GIS
library.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORLD_MAP_PATH = Path(__file__).resolve().parent / "world_countries_110m.json"

# Equal Earth projection constants (Šavrič, Patterson and Jenny, 2018).
_A1, _A2, _A3, _A4 = 1.340264, -0.081106, 0.000893, 0.003796
_M = math.sqrt(3) / 2


def equal_earth(longitude: float, latitude: float) -> tuple[float, float]:
    """Project degrees to Equal Earth planar coordinates on the unit sphere (y pointing north)."""
    lam = math.radians(longitude)
    theta = math.asin(_M * math.sin(math.radians(latitude)))
    theta2 = theta * theta
    theta6 = theta2 * theta2 * theta2
    x = (lam * math.cos(theta)) / (
        _M * (_A1 + 3 * _A2 * theta2 + theta6 * (7 * _A3 + 9 * _A4 * theta2))
    )
    y = theta * (_A1 + _A2 * theta2 + theta6 * (_A3 + _A4 * theta2))
    return x, y


@dataclass(frozen=True)
class Country:
    """One country of the map; ``code`` is ISO 3166-1 alpha-2, or None where it has none."""

    code: str | None
    name: str
    rings: tuple[tuple[float, ...], ...]

    def svg_path(self) -> str:
        """The SVG path data of all rings (flat x, y lists become ``M x y x y ... Z``)."""
        parts = []
        for ring in self.rings:
            coordinates = " ".join(f"{value:g}" for value in ring)
            parts.append(f"M{coordinates}Z")
        return "".join(parts)


@dataclass(frozen=True)
class WorldMap:
    """All countries, in map units ``width`` x ``height`` (y pointing down)."""

    width: float
    height: float
    attribution: str
    countries: tuple[Country, ...]
    _bounds: tuple[float, float, float, float]

    def project(self, longitude: float, latitude: float) -> tuple[float, float]:
        """Map coordinates of a point, on the same projection and scale as the countries."""
        min_x, max_x, _min_y, max_y = self._bounds
        scale = self.width / (max_x - min_x)
        x, y = equal_earth(longitude, max(-89.9, min(89.9, latitude)))
        return (x - min_x) * scale, (max_y - y) * scale


@cache
def load_world_map(path: Path = WORLD_MAP_PATH) -> WorldMap:
    """Read the packaged map once per process."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    bounds = raw["projection_bounds"]
    return WorldMap(
        width=float(raw["width"]),
        height=float(raw["height"]),
        attribution=raw["attribution"],
        countries=tuple(
            Country(
                code=country["code"],
                name=country["name"],
                rings=tuple(tuple(ring) for ring in country["rings"]),
            )
            for country in raw["countries"]
        ),
        _bounds=(bounds["min_x"], bounds["max_x"], bounds["min_y"], bounds["max_y"]),
    )
