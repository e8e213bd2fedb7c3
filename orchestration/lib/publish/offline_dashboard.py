"""The offline dashboard: read the DuckDB marts, render one self-contained HTML page and PNG charts.

The page opens with no network at all: every chart is inline SVG drawn here in Python, the world
map comes from the polygons packaged with ``world_map``, there is no JavaScript, and a
Content-Security-Policy forbids any remote load. Every string from the data (finding types,
country names, ...) is untrusted input and is HTML-escaped.
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from orchestration.lib.environment import validate_sql_identifier
from orchestration.lib.publish.marts import MissingMartsError
from orchestration.lib.publish.world_map import WorldMap, load_world_map

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SEVERITY_LABELS = ("Critical", "High", "Medium", "Low")
SEVERITY_COLOURS = {
    "Critical": "#991b1b",
    "High": "#ea580c",
    "Medium": "#d97706",
    "Low": "#2563eb",
}
ACTION_TYPE_COLOUR = "#4f46e5"
COUNTRY_COLOUR = "#b91c1c"
FINDING_TYPE_COLOUR = "#0f766e"
NO_DATA_COLOUR = "#e5e7eb"
# Light to dark, so that more findings read as "hotter" (ColorBrewer Reds, 5 classes).
CHOROPLETH_COLOURS = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")

TOP_N = 10
TOP_COUNTRIES = 15
# A corrupt created_at (1970, 2999) must not make the trend chart thousands of bars wide.
MAX_TREND_DAYS = 366

# The full ISC notice travels with the polygons in the packaged JSON; the page names the sources.
MAP_ATTRIBUTION = "Map: Natural Earth 1:110m (public domain), via world-atlas (ISC licence)."
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
MART_TABLES = (
    "agg_findings_by_severity",
    "agg_findings_by_action_type",
    "agg_findings_by_country",
    "fct_findings",
    "fct_finding_remote_endpoints",
)


@dataclass(frozen=True)
class CategoryCount:
    """Findings and occurrences of one category (a severity label, an action type, ...)."""

    label: str
    finding_count: int
    occurrence_count: int


@dataclass(frozen=True)
class CountryCount:
    """Findings from one country; ``country_code`` (alpha-2) is None when unknown."""

    country_code: str | None
    country_name: str
    finding_count: int
    occurrence_count: int
    # Mean location of the country's endpoints: places a dot for countries too small for the map.
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class DailyCount:
    """Findings created on one UTC day, per severity label (in ``SEVERITY_LABELS`` order)."""

    finding_date: date
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class FindingTypeCount:
    finding_type: str
    finding_count: int
    occurrence_count: int
    max_severity: float


@dataclass(frozen=True)
class RemoteEndpointCount:
    ip_address: str
    country_name: str
    asn_org: str
    finding_count: int


@dataclass(frozen=True)
class DashboardData:
    """Everything the dashboard shows, read from the marts."""

    total_findings: int
    total_occurrences: int
    account_count: int
    region_count: int
    remote_ip_count: int
    country_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    severities: tuple[CategoryCount, ...]
    action_types: tuple[CategoryCount, ...]
    countries: tuple[CountryCount, ...]
    daily: tuple[DailyCount, ...]
    top_finding_types: tuple[FindingTypeCount, ...]
    top_remote_ips: tuple[RemoteEndpointCount, ...]
    source: str = ""
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def critical_and_high_count(self) -> int:
        return sum(s.finding_count for s in self.severities if s.label in ("Critical", "High"))


@dataclass(frozen=True)
class DashboardFiles:
    """What ``write_dashboard`` wrote: the page and the PNG chart for each chart name."""

    html_path: Path
    png_paths: dict[str, Path]


# --------------------------------------------------------------------------------------------
# Loading


def load_dashboard_data(duckdb_path: str | os.PathLike[str], schema: str = "main") -> DashboardData:
    """Read the five marts from a DuckDB warehouse.

    Args:
        duckdb_path: The DuckDB file that dbt wrote the marts into.
        schema: The schema holding the marts (dbt-duckdb writes to ``main`` by default).

    Returns:
        The dashboard's figures, with all four severity labels present even at zero.

    Raises:
        MissingMartsError: The DuckDB file or one of the marts does not exist.
        ConfigurationError: ``schema`` is not a plain SQL identifier.
    """
    path = Path(duckdb_path)
    if not path.is_file():
        raise MissingMartsError(f"No DuckDB warehouse at {path}: build the dbt marts first.")
    schema = validate_sql_identifier(schema, "schema")
    # Read-only: DuckDB allows one writer, and the dashboard must never block dbt.
    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        try:
            return _query_dashboard_data(connection, schema, source=f"{path} (schema {schema})")
        except duckdb.CatalogException as error:
            raise MissingMartsError(
                f"A mart is missing from {path} (schema {schema}): build the dbt marts first. "
                f"{error}"
            ) from error


def _query_dashboard_data(
    connection: duckdb.DuckDBPyConnection, schema: str, source: str
) -> DashboardData:
    # Qualified by catalog too: a file named like the schema (marts.duckdb) makes "marts" ambiguous.
    [(catalog,)] = connection.execute("select current_database()").fetchall()
    qualified_schema = '"{}".{}'.format(catalog.replace('"', '""'), schema)

    def rows(sql: str, parameters: Sequence[object] = ()) -> list[tuple]:
        # Only the validated schema name is interpolated; values are bound as parameters.
        return connection.execute(sql.format(schema=qualified_schema), parameters).fetchall()

    (
        total_findings,
        total_occurrences,
        account_count,
        region_count,
        first_seen_at,
        last_seen_at,
    ) = rows(
        """
        select
            count(*),
            coalesce(sum(occurrence_count), 0),
            count(distinct account_id),
            count(distinct region),
            min(coalesce(first_seen_at, created_at))::timestamp,
            max(coalesce(last_seen_at, updated_at))::timestamp
        from {schema}.fct_findings
        """
    )[0]
    remote_ip_count, country_count = rows(
        """
        select count(distinct ip_address), count(distinct country_code)
        from {schema}.fct_finding_remote_endpoints
        """
    )[0]

    severity_totals = {
        label: (int(findings), int(occurrences))
        for label, findings, occurrences in rows(
            """
            select severity_label, sum(finding_count), sum(occurrence_count)
            from {schema}.agg_findings_by_severity
            group by severity_label
            """
        )
    }
    severities = tuple(
        CategoryCount(label, *severity_totals.get(label, (0, 0))) for label in SEVERITY_LABELS
    )

    action_types = tuple(
        CategoryCount(str(action_type), int(findings), int(occurrences))
        for action_type, findings, occurrences in rows(
            """
            select coalesce(action_type, 'NONE'), sum(finding_count), sum(occurrence_count)
            from {schema}.agg_findings_by_action_type
            group by 1
            order by 2 desc, 1
            """
        )
    )

    locations = {
        code: (latitude, longitude)
        for code, latitude, longitude in rows(
            """
            select upper(country_code), avg(latitude), avg(longitude)
            from {schema}.fct_finding_remote_endpoints
            where country_code is not null and latitude is not null and longitude is not null
            group by 1
            """
        )
    }
    countries = tuple(
        CountryCount(
            country_code=code,
            country_name=str(name or code or "Unknown"),
            finding_count=int(findings),
            occurrence_count=int(occurrences),
            latitude=locations.get(code, (None, None))[0],
            longitude=locations.get(code, (None, None))[1],
        )
        for code, name, findings, occurrences in rows(
            """
            with coded as (
                select
                    upper(nullif(trim(country_code), '')) as code,
                    country_name,
                    finding_count,
                    occurrence_count
                from {schema}.agg_findings_by_country
            )
            select code, max(country_name), sum(finding_count), sum(occurrence_count)
            from coded
            -- Without a code, only the name tells countries apart ('Unknown', unmapped names).
            group by code, case when code is null then country_name end
            order by 3 desc, 2
            """
        )
    )

    daily = _fill_days(
        rows(
            """
            select finding_date::date, severity_label, sum(finding_count)
            from {schema}.agg_findings_by_severity
            where finding_date is not null
            group by 1, 2
            """
        )
    )

    top_finding_types = tuple(
        FindingTypeCount(str(finding_type), int(findings), int(occurrences), float(severity))
        for finding_type, findings, occurrences, severity in rows(
            """
            select
                finding_type,
                count(*),
                coalesce(sum(occurrence_count), 0),
                coalesce(max(severity), 0)
            from {schema}.fct_findings
            group by finding_type
            order by 2 desc, 1
            limit ?
            """,
            [TOP_N],
        )
    )
    top_remote_ips = tuple(
        RemoteEndpointCount(str(ip), str(country or "Unknown"), str(org or ""), int(findings))
        for ip, country, org, findings in rows(
            """
            select ip_address, max(country_name), max(asn_org), count(distinct finding_id)
            from {schema}.fct_finding_remote_endpoints
            where ip_address is not null
            group by ip_address
            order by 4 desc, 1
            limit ?
            """,
            [TOP_N],
        )
    )
    return DashboardData(
        total_findings=int(total_findings),
        total_occurrences=int(total_occurrences),
        account_count=int(account_count),
        region_count=int(region_count),
        remote_ip_count=int(remote_ip_count),
        country_count=int(country_count),
        first_seen_at=first_seen_at,
        last_seen_at=last_seen_at,
        severities=severities,
        action_types=action_types,
        countries=countries,
        daily=daily,
        top_finding_types=top_finding_types,
        top_remote_ips=top_remote_ips,
        source=source,
    )


def _fill_days(rows: Iterable[tuple[date, str, int]]) -> tuple[DailyCount, ...]:
    """One entry per day from the first to the last, zeros included, capped at the latest days."""
    per_day: dict[date, list[int]] = {}
    for finding_date, label, count in rows:
        if label not in SEVERITY_LABELS:
            continue
        counts = per_day.setdefault(finding_date, [0] * len(SEVERITY_LABELS))
        counts[SEVERITY_LABELS.index(label)] += int(count)
    if not per_day:
        return ()
    last = max(per_day)
    first = max(min(per_day), last - timedelta(days=MAX_TREND_DAYS - 1))
    zero = (0,) * len(SEVERITY_LABELS)
    return tuple(
        DailyCount(day, tuple(per_day.get(day, zero)))
        for day in (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    )


# --------------------------------------------------------------------------------------------
# HTML


def _escape(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float) -> str:
    return f"{value:,.0f}"


def _timestamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "no findings"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _nice_step(maximum: float, target_ticks: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``target_ticks`` ticks."""
    if maximum <= 0:
        return 1
    raw = maximum / target_ticks
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return max(1, multiple * power)
    return max(1, 10 * power)


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An accessible data table, the fallback (and the exact numbers) behind a chart."""
    head = "".join(f'<th scope="col">{_escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}">No data</td></tr>'
    return (
        f"<details><summary>Table: {_escape(caption)}</summary>"
        f"<table><caption>{_escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></details>"
    )


def _figure(
    chart_id: str, title: str, svg: str, table: str, note: str = "", wide: bool = False
) -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    css_class = "card wide" if wide else "card"
    return (
        f'<figure class="{css_class}" id="{chart_id}"><figcaption><h2>{_escape(title)}</h2>'
        f"</figcaption>{svg}{note_html}{table}</figure>"
    )


def _svg_open(chart_id: str, width: float, height: float, title: str, description: str) -> str:
    return (
        f'<svg viewBox="0 0 {width:g} {height:g}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart">'
        f'<title id="{chart_id}-title">{_escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{_escape(description)}</desc>'
    )


def _svg_horizontal_bars(
    chart_id: str,
    title: str,
    items: Sequence[tuple[str, int, str]],
    label_width: int = 220,
    label_chars: int = 27,
) -> str:
    """Horizontal bars (label, value, colour); long labels are cut, the full text is a tooltip."""
    width, row_height, value_width = 640, 28, 70
    height = max(1, len(items)) * row_height + 8
    description = "; ".join(f"{label}: {value}" for label, value, _ in items) or "No data"
    parts = [_svg_open(chart_id, width, height, title, description)]
    if not items:
        parts.append('<text x="8" y="22" class="muted">No data</text>')
    maximum = max((value for _, value, _ in items), default=0) or 1
    bar_space = width - label_width - value_width
    for index, (label, value, colour) in enumerate(items):
        y = 4 + index * row_height
        bar_width = bar_space * value / maximum
        parts.append(
            f'<g class="bar"><title>{_escape(label)}: {_number(value)}</title>'
            f'<text x="{label_width - 8}" y="{y + 18}" text-anchor="end" class="label">'
            f"{_escape(_truncate(label, label_chars))}</text>"
            f'<rect x="{label_width}" y="{y + 4}" width="{bar_width:.1f}" height="{row_height - 8}"'
            f' rx="3" fill="{colour}"/>'
            f'<text x="{label_width + bar_width + 6:.1f}" y="{y + 18}" class="value">'
            f"{_number(value)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_daily_trend(daily: Sequence[DailyCount]) -> str:
    """Stacked daily bars per severity, with a y grid and a few date ticks."""
    width, height = 1000, 280
    left, right, top, bottom = 56, 12, 34, 30
    plot_width, plot_height = width - left - right, height - top - bottom
    description = (
        f"Findings per day from {daily[0].finding_date} to {daily[-1].finding_date}"
        if daily
        else "No data"
    )
    parts = [_svg_open("trend-svg", width, height, "Findings per day by severity", description)]
    legend_x = left
    for label in SEVERITY_LABELS:
        parts.append(
            f'<rect x="{legend_x}" y="8" width="12" height="12" rx="2" '
            f'fill="{SEVERITY_COLOURS[label]}"/>'
            f'<text x="{legend_x + 17}" y="19" class="label">{label}</text>'
        )
        legend_x += 34 + 9 * len(label)
    maximum = max((day.total for day in daily), default=0)
    step = _nice_step(maximum)
    axis_top = max(step, math.ceil(maximum / step) * step)
    tick = 0.0
    while tick <= axis_top:
        y = top + plot_height - plot_height * tick / axis_top
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_number(tick)}</text>"
        )
        tick += step
    if not daily:
        parts.append(f'<text x="{left + 8}" y="{top + 24}" class="muted">No data</text>')
    slot = plot_width / max(1, len(daily))
    # A few days must not become slabs a third of the chart wide.
    bar_width = min(48.0, max(1.0, slot * 0.8))
    for index, day in enumerate(daily):
        x = left + index * slot + (slot - bar_width) / 2
        y_bottom = top + plot_height
        tooltip = f"{day.finding_date}: {day.total} findings (" + ", ".join(
            f"{label} {count}" for label, count in zip(SEVERITY_LABELS, day.counts, strict=True)
        )
        parts.append(f"<g><title>{_escape(tooltip)})</title>")
        for label, count in zip(SEVERITY_LABELS, day.counts, strict=True):
            if not count:
                continue
            bar_height = plot_height * count / axis_top
            y_bottom -= bar_height
            parts.append(
                f'<rect x="{x:.1f}" y="{y_bottom:.1f}" width="{bar_width:.1f}" '
                f'height="{bar_height:.1f}" fill="{SEVERITY_COLOURS[label]}"/>'
            )
        parts.append("</g>")
    tick_every = max(1, math.ceil(len(daily) / 8))
    for index in range(0, len(daily), tick_every):
        x = left + index * slot + slot / 2
        parts.append(
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle" class="tick">'
            f"{daily[index].finding_date:%b %d}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _choropleth_bin(count: int, maximum: int) -> int:
    """Class 0-4 of a count on a log scale, so one noisy country does not wash out the rest."""
    if maximum <= 1:
        return len(CHOROPLETH_COLOURS) - 1
    scaled = math.log1p(count) / math.log1p(maximum)
    return min(len(CHOROPLETH_COLOURS) - 1, int(scaled * len(CHOROPLETH_COLOURS)))


def _choropleth_legend(maximum: int) -> list[tuple[str, int]]:
    """(colour, lowest count of that class) for each class that some count 1..maximum falls in."""
    classes = len(CHOROPLETH_COLOURS)
    legend: list[tuple[str, int]] = []
    for bin_index in range(classes):
        lowest = max(1, math.ceil(math.expm1(bin_index * math.log1p(maximum) / classes)))
        # The inverse of the log scale is exact only up to float rounding: settle on the bin.
        while lowest <= maximum and _choropleth_bin(lowest, maximum) < bin_index:
            lowest += 1
        if lowest <= maximum and _choropleth_bin(lowest, maximum) == bin_index:
            legend.append((CHOROPLETH_COLOURS[bin_index], lowest))
    return legend


def _country_counts_by_code(data: DashboardData) -> dict[str, CountryCount]:
    return {country.country_code: country for country in data.countries if country.country_code}


def _svg_world_map(data: DashboardData, world: WorldMap) -> tuple[str, list[str]]:
    """The choropleth; returns the SVG and the names of countries drawn as dots."""
    by_code = _country_counts_by_code(data)
    maximum = max((country.finding_count for country in by_code.values()), default=0)
    legend_height = 40
    description = "; ".join(
        f"{country.country_name}: {country.finding_count}" for country in by_code.values()
    )
    parts = [
        _svg_open(
            "map-svg",
            world.width,
            world.height + legend_height,
            "Findings by country of the remote endpoint",
            description or "No located endpoints",
        ),
        '<g class="countries">',
    ]
    mapped_codes = set()
    for country in world.countries:
        count = by_code.get(country.code) if country.code else None
        mapped_codes.add(country.code)
        if count:
            fill = CHOROPLETH_COLOURS[_choropleth_bin(count.finding_count, maximum)]
            css_class = "country has-data"
            tooltip = f"{count.country_name}: {_number(count.finding_count)} findings"
        else:
            fill, css_class, tooltip = NO_DATA_COLOUR, "country", f"{country.name}: no findings"
        parts.append(
            f'<path class="{css_class}" data-code="{_escape(country.code or "")}" fill="{fill}" '
            f'd="{country.svg_path()}"><title>{_escape(tooltip)}</title></path>'
        )
    parts.append("</g>")
    dotted = []
    for code, count in by_code.items():
        if code in mapped_codes or count.latitude is None or count.longitude is None:
            continue
        x, y = world.project(count.longitude, count.latitude)
        fill = CHOROPLETH_COLOURS[_choropleth_bin(count.finding_count, maximum)]
        dotted.append(count.country_name)
        parts.append(
            f'<circle class="country-dot has-data" data-code="{_escape(code)}" cx="{x:.1f}" '
            f'cy="{y:.1f}" r="4" fill="{fill}"><title>{_escape(count.country_name)}: '
            f"{_number(count.finding_count)} findings</title></circle>"
        )
    legend_y = world.height + 14
    parts.append(
        f'<text x="0" y="{legend_y + 11}" class="label">Findings</text>'
        f'<rect x="70" y="{legend_y}" width="14" height="14" fill="{NO_DATA_COLOUR}"/>'
        f'<text x="88" y="{legend_y + 11}" class="tick">0</text>'
    )
    legend_x = 120
    for colour, lowest in _choropleth_legend(maximum):
        parts.append(
            f'<rect x="{legend_x}" y="{legend_y}" width="14" height="14" fill="{colour}"/>'
            f'<text x="{legend_x + 18}" y="{legend_y + 11}" class="tick">'
            f"≥ {_number(lowest)}</text>"
        )
        legend_x += 80
    parts.append("</svg>")
    return "".join(parts), sorted(dotted)


_STYLE = """
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
  sans-serif; color: var(--ink); background: #f3f4f6; }
header { background: #111827; color: #f9fafb; padding: 20px 28px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 2px 0; color: #d1d5db; }
main { padding: 20px 28px 40px; max-width: 1400px; margin: 0 auto; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px;
  margin-bottom: 16px; }
.kpi { background: #fff; border-radius: 10px; padding: 12px 16px; border: 1px solid var(--line); }
.kpi .value { font-size: 26px; font-weight: 700; }
.kpi .name { color: var(--muted); font-size: 13px; }
.kpi.alert .value { color: #991b1b; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.card { background: #fff; border-radius: 10px; border: 1px solid var(--line); margin: 0;
  padding: 14px 18px; min-width: 0; }
.wide { grid-column: 1 / -1; }
.card h2 { font-size: 17px; margin: 0 0 8px; }
svg.chart { width: 100%; height: auto; display: block; }
#map svg.chart { max-width: 1100px; margin: 0 auto; }
svg text { font-family: inherit; fill: var(--ink); }
svg .label { font-size: 13px; } svg .value { font-size: 12px; fill: #374151; }
svg .tick { font-size: 11px; fill: var(--muted); } svg .muted { fill: var(--muted); }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .country { stroke: #fff; stroke-width: 0.4; fill-rule: evenodd; }
svg .country:hover, svg .country-dot:hover { stroke: #111827; stroke-width: 1; }
svg .country-dot { stroke: #111827; stroke-width: 0.6; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
details { margin-top: 8px; } summary { cursor: pointer; color: #374151; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 6px; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  overflow-wrap: anywhere; }
.plain-table table { margin-top: 0; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; max-width: 1400px;
  margin: 0 auto; }
"""


def _kpi(name: str, value: str, alert: bool = False) -> str:
    css_class = "kpi alert" if alert else "kpi"
    return (
        f'<div class="{css_class}"><div class="value">{_escape(value)}</div>'
        f'<div class="name">{_escape(name)}</div></div>'
    )


def _plain_table(chart_id: str, title: str, headers: Sequence[str], rows: list[list[str]]) -> str:
    head = "".join(f'<th scope="col">{_escape(h)}</th>' for h in headers)
    body = (
        "".join(
            "<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
        )
        or f'<tr><td colspan="{len(headers)}">No data</td></tr>'
    )
    return (
        f'<section class="card plain-table" id="{chart_id}"><h2>{_escape(title)}</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def render_dashboard_html(data: DashboardData, world: WorldMap | None = None) -> str:
    """Render the whole dashboard as one self-contained HTML page.

    Args:
        data: The figures from ``load_dashboard_data``.
        world: The map to draw; the packaged Natural Earth map by default.

    Returns:
        An HTML5 document with inline CSS and SVG, no script and no remote reference.
    """
    world = world or load_world_map()
    severity_svg = _svg_horizontal_bars(
        "severity-svg",
        "Findings by severity",
        [(s.label, s.finding_count, SEVERITY_COLOURS[s.label]) for s in data.severities],
        label_width=110,
    )
    action_svg = _svg_horizontal_bars(
        "action-svg",
        "Findings by action type",
        [(a.label, a.finding_count, ACTION_TYPE_COLOUR) for a in data.action_types],
    )
    top_countries = data.countries[:TOP_COUNTRIES]
    country_svg = _svg_horizontal_bars(
        "country-svg",
        "Findings by country",
        [(c.country_name, c.finding_count, COUNTRY_COLOUR) for c in top_countries],
    )
    finding_type_svg = _svg_horizontal_bars(
        "finding-type-svg",
        "Top finding types",
        [(t.finding_type, t.finding_count, FINDING_TYPE_COLOUR) for t in data.top_finding_types],
        label_width=370,
        label_chars=46,
    )
    map_svg, dotted = _svg_world_map(data, world)
    map_note = "Grey: no findings. Hover a country for its count."
    if dotted:
        map_note += " Too small for this map, drawn as dots: " + _escape(", ".join(dotted)) + "."
    map_note += " " + MAP_ATTRIBUTION

    sections = [
        _figure(
            "severity",
            "Findings by severity",
            severity_svg,
            _table(
                "Findings by severity",
                ["Severity", "Findings", "Occurrences"],
                [
                    (s.label, _number(s.finding_count), _number(s.occurrence_count))
                    for s in data.severities
                ],
            ),
        ),
        _figure(
            "action-types",
            "Findings by action type",
            action_svg,
            _table(
                "Findings by action type",
                ["Action type", "Findings", "Occurrences"],
                [
                    (a.label, _number(a.finding_count), _number(a.occurrence_count))
                    for a in data.action_types
                ],
            ),
        ),
        _figure(
            "trend",
            "Daily trend (findings created per UTC day)",
            _svg_daily_trend(data.daily),
            _table(
                "Findings per day",
                ["Date", "Total", *SEVERITY_LABELS],
                [
                    (day.finding_date.isoformat(), day.total, *day.counts)
                    for day in data.daily
                    if day.total
                ],
            ),
            wide=True,
        ),
        _figure(
            "map",
            "World map: findings by remote endpoint country",
            map_svg,
            "",
            note=map_note,
            wide=True,
        ),
        _figure(
            "countries",
            f"Findings by country (top {TOP_COUNTRIES})",
            country_svg,
            _table(
                "Findings by country",
                ["Country", "Code", "Findings", "Occurrences"],
                [
                    (
                        c.country_name,
                        c.country_code or "",
                        _number(c.finding_count),
                        _number(c.occurrence_count),
                    )
                    for c in data.countries
                ],
            ),
            note="A finding counts once for each country among its remote endpoints.",
        ),
        _figure(
            "finding-types",
            f"Top {TOP_N} finding types",
            finding_type_svg,
            _table(
                "Top finding types",
                ["Finding type", "Findings", "Occurrences", "Max severity"],
                [
                    (
                        t.finding_type,
                        _number(t.finding_count),
                        _number(t.occurrence_count),
                        f"{t.max_severity:g}",
                    )
                    for t in data.top_finding_types
                ],
            ),
        ),
        _plain_table(
            "remote-ips",
            f"Top {TOP_N} remote IP addresses",
            ["IP address", "Country", "AS organisation", "Findings"],
            [
                [ip.ip_address, ip.country_name, ip.asn_org, _number(ip.finding_count)]
                for ip in data.top_remote_ips
            ],
        ),
    ]
    kpis = [
        _kpi("Findings", _number(data.total_findings)),
        _kpi("Critical + High", _number(data.critical_and_high_count), alert=True),
        _kpi("Occurrences", _number(data.total_occurrences)),
        _kpi("Accounts", _number(data.account_count)),
        _kpi("Regions", _number(data.region_count)),
        _kpi("Remote IPs", _number(data.remote_ip_count)),
        _kpi("Countries", _number(data.country_count)),
    ]
    time_range = (
        f"{_timestamp(data.first_seen_at)} to {_timestamp(data.last_seen_at)}"
        if data.first_seen_at
        else "no findings"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An inline empty icon stops the browser asking for /favicon.ico.
        '<link rel="icon" href="data:,">'
        f"<title>GuardDuty findings dashboard</title><style>{_STYLE}</style></head><body>"
        "<header><h1>GuardDuty findings dashboard</h1>"
        f'<p id="time-range">Activity seen: {_escape(time_range)}</p>'
        f"<p>{_number(data.total_findings)} current findings (samples excluded). "
        f"Generated {_escape(_timestamp(data.generated_at))} from "
        f"{_escape(data.source or 'the marts')}.</p></header>"
        f'<main><section class="kpis" id="totals" aria-label="Totals">{"".join(kpis)}</section>'
        f'<div class="grid">{"".join(sections)}</div></main>'
        "<footer>Offline report: no network needed. Severity labels: Critical ≥ 9, High ≥ 7, "
        "Medium ≥ 4, Low below.</footer></body></html>\n"
    )


# --------------------------------------------------------------------------------------------
# PNG charts and writing


def _new_figure(**options) -> Figure:
    # matplotlib takes about a second to import: load it when PNGs are drawn, not whenever the
    # code location loads.
    from matplotlib.figure import Figure

    return Figure(**options)


def _horizontal_bar_png(
    title: str, items: Sequence[tuple[str, int, str]], path: Path, label_chars: int = 40
) -> None:
    figure = _new_figure(
        figsize=(8, max(2.2, 0.45 * len(items) + 1.2)), dpi=110, layout="constrained"
    )
    axes = figure.add_subplot()
    labels = [_truncate(label, label_chars) for label, _, _ in items][::-1]
    values = [value for _, value, _ in items][::-1]
    colours = [colour for _, _, colour in items][::-1]
    bars = axes.barh(labels, values, color=colours)
    axes.bar_label(bars, labels=[_number(value) for value in values], padding=3, fontsize=9)
    axes.set_title(title, loc="left", fontweight="bold")
    axes.set_xlabel("Findings")
    axes.spines[["top", "right"]].set_visible(False)
    axes.margins(x=0.12)
    if not items:
        axes.text(0.5, 0.5, "No data", ha="center", va="center", transform=axes.transAxes)
    _save_png(figure, path)


def _trend_png(daily: Sequence[DailyCount], path: Path) -> None:
    figure = _new_figure(figsize=(10, 3.6), dpi=110, layout="constrained")
    axes = figure.add_subplot()
    days = [day.finding_date for day in daily]
    bottoms = [0] * len(daily)
    for index, label in enumerate(SEVERITY_LABELS):
        counts = [day.counts[index] for day in daily]
        axes.bar(days, counts, bottom=bottoms, color=SEVERITY_COLOURS[label], label=label)
        bottoms = [bottom + count for bottom, count in zip(bottoms, counts, strict=True)]
    axes.set_title("Findings per day by severity", loc="left", fontweight="bold")
    axes.set_ylabel("Findings")
    axes.legend(ncols=4, loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.autofmt_xdate()
    if not daily:
        axes.text(0.5, 0.5, "No data", ha="center", va="center", transform=axes.transAxes)
    _save_png(figure, path)


def _map_png(data: DashboardData, world: WorldMap, path: Path) -> None:
    from matplotlib.patches import Patch, PathPatch
    from matplotlib.path import Path as MatplotlibPath

    figure = _new_figure(figsize=(10, 10 * world.height / world.width + 0.6), dpi=110)
    axes = figure.add_axes((0, 0, 1, 0.93))
    by_code = _country_counts_by_code(data)
    maximum = max((country.finding_count for country in by_code.values()), default=0)
    mapped_codes = set()
    for country in world.countries:
        mapped_codes.add(country.code)
        count = by_code.get(country.code) if country.code else None
        fill = (
            CHOROPLETH_COLOURS[_choropleth_bin(count.finding_count, maximum)]
            if count
            else NO_DATA_COLOUR
        )
        vertices: list[tuple[float, float]] = []
        codes: list[int] = []
        for ring in country.rings:
            points = list(zip(ring[0::2], ring[1::2], strict=True))
            vertices.extend([*points, points[0]])
            codes.extend(
                [MatplotlibPath.MOVETO]
                + [MatplotlibPath.LINETO] * (len(points) - 1)
                + [MatplotlibPath.CLOSEPOLY]
            )
        if vertices:
            axes.add_patch(
                PathPatch(
                    MatplotlibPath(vertices, codes), facecolor=fill, edgecolor="white", lw=0.3
                )
            )
    for code, count in by_code.items():
        if code not in mapped_codes and count.latitude is not None and count.longitude is not None:
            x, y = world.project(count.longitude, count.latitude)
            fill = CHOROPLETH_COLOURS[_choropleth_bin(count.finding_count, maximum)]
            axes.scatter([x], [y], s=18, color=fill, edgecolors="#111827", linewidths=0.5)
    legend_handles = [Patch(facecolor=NO_DATA_COLOUR, label="0")] + [
        Patch(facecolor=colour, label=f"≥ {_number(lowest)}")
        for colour, lowest in _choropleth_legend(maximum)
    ]
    axes.legend(
        handles=legend_handles,
        title="Findings",
        loc="lower left",
        frameon=False,
        fontsize=8,
        title_fontsize=9,
    )
    axes.set_xlim(0, world.width)
    axes.set_ylim(world.height, 0)
    axes.set_aspect("equal")
    axes.axis("off")
    figure.suptitle(
        "Findings by remote endpoint country", x=0.02, ha="left", fontweight="bold", y=0.98
    )
    _save_png(figure, path)


def _save_png(figure: Figure, path: Path) -> None:
    _write_atomically(path, lambda handle: figure.savefig(handle, format="png"))


def _write_atomically(path: Path, write: Callable) -> None:
    """Write through ``write(binary_handle)`` to a temp file beside ``path``, then rename it.

    A reader (a browser, a web server) never sees a half-written file: the rename is atomic
    within one file system.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, before the rename)
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            write(handle)
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def write_dashboard(
    data: DashboardData, report_dir: str | os.PathLike[str], world: WorldMap | None = None
) -> DashboardFiles:
    """Write ``index.html`` and ``png/<chart>.png`` into ``report_dir``.

    Args:
        data: The figures from ``load_dashboard_data``.
        report_dir: The report folder (``settings.report_dir``); created if missing.
        world: The map to draw; the packaged Natural Earth map by default.

    Returns:
        The paths written.
    """
    world = world or load_world_map()
    report_path = Path(report_dir)
    png_dir = report_path / "png"
    png_paths = {
        name: png_dir / f"{name}.png"
        for name in ("severity", "action_types", "countries", "trend", "map")
    }
    _horizontal_bar_png(
        "Findings by severity",
        [(s.label, s.finding_count, SEVERITY_COLOURS[s.label]) for s in data.severities],
        png_paths["severity"],
    )
    _horizontal_bar_png(
        "Findings by action type",
        [(a.label, a.finding_count, ACTION_TYPE_COLOUR) for a in data.action_types],
        png_paths["action_types"],
    )
    _horizontal_bar_png(
        f"Findings by country (top {TOP_COUNTRIES})",
        [(c.country_name, c.finding_count, COUNTRY_COLOUR) for c in data.countries[:TOP_COUNTRIES]],
        png_paths["countries"],
    )
    _trend_png(data.daily, png_paths["trend"])
    _map_png(data, world, png_paths["map"])
    html_path = report_path / "index.html"
    page = render_dashboard_html(data, world).encode("utf-8")
    # The page goes last, so that when it appears its PNG companions are already complete.
    _write_atomically(html_path, lambda handle: handle.write(page))
    return DashboardFiles(html_path=html_path, png_paths=png_paths)


# --------------------------------------------------------------------------------------------
# Rendering helpers shared with the monthly review report (review_report.py): one look, one
# escaping rule for every offline page.

escape_html = _escape
format_number = _number
format_timestamp = _timestamp
html_table = _table
figure_card = _figure
kpi_card = _kpi
plain_table_card = _plain_table
svg_horizontal_bars = _svg_horizontal_bars
svg_daily_trend = _svg_daily_trend
PAGE_STYLE = _STYLE
