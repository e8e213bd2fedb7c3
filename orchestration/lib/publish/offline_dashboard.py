"""The offline dashboard: one self-contained, interactive HTML page, plus PNG and SVG charts.

The page is a Vega-Lite dashboard (built with altair) whose data, map and JavaScript (Vega,
Vega-Lite and vega-embed, bundled by ``vl-convert``) are all inline: it opens from disk with no
network, and its Content-Security-Policy allows inline script only (Vega runs its expressions
through its interpreter, so no ``eval``). Filters for the date range, account, Region and
severity update every chart. The same charts are exported as PNG and SVG through ``vl-convert``.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import altair as alt
import vl_convert

from orchestration.lib.publish import charts
from orchestration.lib.publish.dashboard_data import DashboardData
from orchestration.lib.publish.html import (
    SCRIPTED_PAGE_POLICY,
    SEVERITY_LABELS,
    escape_html,
    format_number,
    format_timestamp,
    html_page,
    write_atomically,
)
from orchestration.lib.publish.world_map import MAP_ATTRIBUTION, load_world_map, mapped_codes

TOP_FINDING_TYPES = 10
TOP_COUNTRIES = 15
COLUMN_WIDTH = 300
FULL_WIDTH = 840
# Equal Earth without Antarctica is about 2.2 times as wide as it is high.
MAP_HEIGHT = 410
# Rows whose filter columns match every bound parameter; an empty parameter matches all.
FILTER = (
    "(!date_from || datum.finding_date >= date_from)"
    " && (!date_to || datum.finding_date <= date_to)"
    " && (!account || datum.account_id === account)"
    " && (!region || datum.region === region)"
    " && (!severity || datum.severity_label === severity)"
)


@dataclass(frozen=True)
class DashboardFiles:
    """What ``write_dashboard`` wrote: the page, and each chart's PNG and SVG."""

    html_path: Path
    png_paths: dict[str, Path]
    svg_paths: dict[str, Path]


def _rows(dataset: str, data: DashboardData) -> alt.Chart:
    """The rows of a named dataset, embedded as one row of columns."""
    columns = list(getattr(data, dataset).columns)
    return alt.Chart(alt.NamedData(name=dataset)).transform_flatten(columns)


def _cells(dataset: str, data: DashboardData) -> alt.Chart:
    """The rows of a named dataset that pass the filters."""
    return _rows(dataset, data).transform_filter(FILTER)


def _parameters(data: DashboardData) -> list[dict]:
    """The filters: Vega-Lite parameters bound to inputs; an empty value means "all"."""

    def choice(name: str, label: str, everything: str, values: list[str]) -> dict:
        bind = {"input": "select", "options": ["", *values], "labels": [everything, *values]}
        return {"name": name, "value": "", "bind": {**bind, "name": label}}

    first, last = data.first_day, data.last_day
    return [
        {
            "name": "date_from",
            "value": first.isoformat() if first else "",
            "bind": {"input": "date", "name": "From "},
        },
        {
            "name": "date_to",
            "value": last.isoformat() if last else "",
            "bind": {"input": "date", "name": "To "},
        },
        choice(
            "account", "Account ", "All accounts", sorted(set(data.findings.column("account_id")))
        ),
        choice("region", "Region ", "All Regions", sorted(set(data.findings.column("region")))),
        choice("severity", "Severity ", "All severities", list(SEVERITY_LABELS)),
    ]


def _kpi(
    data: DashboardData,
    dataset: str,
    title: str,
    kpi_id: str,
    field: str,
    *,
    distinct: bool = False,
    where: str = "true",
) -> alt.Chart:
    """The sum of ``field`` (or the number of its distinct values) over the rows that pass the
    filters and ``where``.

    Rows are not filtered out but their value is nulled: an aggregate of no rows has no row at
    all, and the KPI must read 0, not vanish.
    """
    chart = _rows(dataset, data).transform_calculate(
        **{kpi_id: f"({FILTER}) && ({where}) ? datum.{field} : null"}
    )
    if distinct:
        # "distinct" counts null as one more value.
        chart = chart.transform_aggregate(
            values=f"distinct({kpi_id})", nulls=f"missing({kpi_id})"
        ).transform_calculate(value="datum.values - (datum.nulls ? 1 : 0)")
    else:
        chart = chart.transform_aggregate(value=f"sum({kpi_id})")
    return (
        chart.transform_calculate(
            shown="format(datum.value || 0, ',')", description=f"'{title}: ' + datum.shown"
        )
        .mark_text(align="left", baseline="middle", fontSize=30, fontWeight="bold")
        .encode(
            x=alt.value(0),
            y=alt.value(20),
            text=alt.Text("shown:N"),
            description=alt.Description("description:N"),
            color=alt.value("#991b1b" if kpi_id == "critical_high" else "#111827"),
        )
        .properties(title=title, width=240, height=40)
    )


def _largest_country(data: DashboardData) -> int:
    totals: dict[str, int] = {}
    for code, count in zip(
        data.countries.column("country_code"), data.countries.column("finding_count"), strict=True
    ):
        if code:
            totals[code] = totals.get(code, 0) + count
    return max(totals.values(), default=0)


def _world_map(data: DashboardData) -> alt.LayerChart:
    world = alt.NamedData(name="world", format=alt.DataFormat(type="topojson", feature="countries"))
    countries = (
        _cells("countries", data)
        .transform_aggregate(
            findings="sum(finding_count)", groupby=["country_code", "country_name"]
        )
        .transform_filter("datum.country_code")
        .transform_calculate(
            description="'World map, ' + datum.country_name + ': ' + format(datum.findings, ',')"
        )
    )
    colour = alt.Color(
        "findings:Q",
        title="Findings",
        # A fixed domain: a colour means the same count under every filter, and an empty
        # selection does not leave the legend without a domain.
        scale=alt.Scale(type="log", scheme="reds", domain=[1, max(2, _largest_country(data))]),
        legend=alt.Legend(
            orient="none",
            legendX=0,
            legendY=MAP_HEIGHT - 170,
            format="~s",
            gradientLength=160,
            tickCount=4,
        ),
    )
    tooltip = [
        alt.Tooltip("country_name:N", title="Country"),
        alt.Tooltip("findings:Q", title="Findings", format=","),
    ]
    background = (
        alt.Chart(world)
        # A tooltip from an expression, not a field: a field would transform the map's data,
        # and Vega-Lite then compiles the lookup below before the data it reads.
        .mark_geoshape(
            fill=charts.NO_DATA_COLOUR,
            stroke="white",
            strokeWidth=0.5,
            tooltip={"expr": "datum.properties.name + ': no findings'"},
        )
    )
    filled = (
        countries.transform_lookup(
            lookup="country_code",
            from_=alt.LookupData(data=world, key="properties.code"),
            as_="geo",
        )
        .transform_filter("isValid(datum.geo)")
        .mark_geoshape(stroke="white", strokeWidth=0.5)
        .encode(
            shape="geo:G",
            color=colour,
            tooltip=tooltip,
            description=alt.Description("description:N"),
        )
    )
    # Countries too small for a 1:110m map (Singapore, Malta, ...) are dots at their endpoints.
    dots = (
        countries.transform_lookup(
            lookup="country_code",
            from_=alt.LookupData(
                data=alt.NamedData(name="country_points"),
                key="country_code",
                fields=["latitude", "longitude"],
            ),
        )
        .transform_filter("isValid(datum.latitude)")
        .mark_circle(size=70, stroke="#111827", strokeWidth=0.7, opacity=1)
        .encode(
            longitude="longitude:Q",
            latitude="latitude:Q",
            color=colour,
            tooltip=tooltip,
            description=alt.Description("description:N"),
        )
    )
    return (
        alt.layer(background, filled, dots)
        .project(type="equalEarth")
        .properties(
            title="World map: findings by remote endpoint country",
            width=FULL_WIDTH,
            height=MAP_HEIGHT,
        )
    )


def _compliance(data: DashboardData) -> alt.LayerChart:
    base = (
        _cells("compliance", data)
        .transform_aggregate(
            findings="sum(finding_count)",
            within="sum(archived_within_target_count)",
            target="max(target_hours)",
            groupby=["severity_label"],
        )
        .transform_calculate(
            share="datum.findings ? datum.within / datum.findings : 0",
            description="'Archive compliance, ' + datum.severity_label + ': '"
            " + format(datum.within, ',') + ' of ' + format(datum.findings, ',')"
            " + ' archived within target'",
        )
    )
    bars = base.mark_bar(cornerRadiusEnd=3, height={"band": 0.72}).encode(
        y=alt.Y(
            "severity_label:N",
            title=None,
            sort=list(SEVERITY_LABELS),
            scale=alt.Scale(domain=list(SEVERITY_LABELS)),
            axis=alt.Axis(ticks=False, domain=False),
        ),
        x=alt.X(
            "share:Q",
            title="Share archived within target",
            scale=alt.Scale(domain=[0, 1]),
            axis=alt.Axis(format="%", tickCount=5),
        ),
        color=alt.Color("severity_label:N", scale=charts.SEVERITY_SCALE, legend=None),
        description=alt.Description("description:N"),
        tooltip=[
            alt.Tooltip("severity_label:N", title="Severity"),
            alt.Tooltip("target:Q", title="Target (hours)"),
            alt.Tooltip("findings:Q", title="Findings", format=","),
            alt.Tooltip("within:Q", title="Archived within target", format=","),
            alt.Tooltip("share:Q", title="Share", format=".0%"),
        ],
    )
    labels = bars.mark_text(align="left", dx=4, fontSize=12, color="#374151").encode(
        text=alt.Text("share:Q", format=".0%"), color=alt.Undefined, description=alt.Undefined
    )
    return alt.layer(bars, labels).properties(
        title="Archive compliance by severity", width=COLUMN_WIDTH, height=4 * 26
    )


def dashboard_charts(data: DashboardData) -> dict[str, alt.TopLevelMixin]:
    """Every chart of the dashboard by name, each reading the page's named datasets."""
    findings = _cells("findings", data)
    return {
        "severity": charts.horizontal_bars(
            findings,
            "severity_label",
            "Findings by severity",
            domain=list(SEVERITY_LABELS),
            width=COLUMN_WIDTH,
        ),
        "action_types": charts.horizontal_bars(
            findings,
            "action_type",
            "Findings by action type",
            colour=charts.ACTION_TYPE_COLOUR,
            width=COLUMN_WIDTH,
        ),
        "map": _world_map(data),
        "trend": charts.daily_trend(
            findings, "Daily trend: findings created per UTC day", width=FULL_WIDTH - 90
        ),
        "finding_types": charts.top_bars(
            _cells("finding_types", data),
            "finding_type",
            TOP_FINDING_TYPES,
            "finding types",
            charts.FINDING_TYPE_COLOUR,
            width=COLUMN_WIDTH - 60,
            label_limit=230,
        ),
        "countries": charts.top_bars(
            _cells("countries", data),
            "country_name",
            TOP_COUNTRIES,
            "remote endpoint countries",
            charts.COUNTRY_COLOUR,
            width=COLUMN_WIDTH,
        ),
        "archive_compliance": _compliance(data),
        "open_past_target": charts.horizontal_bars(
            _cells("compliance", data).transform_calculate(
                finding_count="datum.open_past_target_count"
            ),
            "severity_label",
            "Open past their archive target",
            domain=list(SEVERITY_LABELS),
            width=COLUMN_WIDTH,
        ),
    }


def _kpis(data: DashboardData) -> alt.HConcatChart:
    return alt.hconcat(
        _kpi(data, "findings", "Distinct findings", "findings", "finding_count"),
        _kpi(
            data,
            "findings",
            "Critical + High",
            "critical_high",
            "finding_count",
            where="datum.severity_label === 'Critical' || datum.severity_label === 'High'",
        ),
        _kpi(data, "findings", "Accounts", "accounts", "account_id", distinct=True),
        _kpi(data, "countries", "Countries", "countries", "country_code", distinct=True),
        spacing=24,
    )


def datasets(data: DashboardData) -> dict[str, list]:
    """The page's named datasets: cells as one row of columns (flattened in the browser)."""
    on_map = mapped_codes()
    return {
        "findings": [data.findings.as_columns()],
        "finding_types": [data.finding_types.as_columns()],
        "countries": [data.countries.as_columns()],
        "compliance": [data.compliance.as_columns()],
        "country_points": [
            {"country_code": code, "latitude": c.latitude, "longitude": c.longitude}
            for code, c in data.countries_by_code.items()
            if code and code not in on_map and c.latitude is not None and c.longitude is not None
        ],
        "world": load_world_map(),
    }


def dashboard_spec(data: DashboardData) -> dict:
    """The whole dashboard as one Vega-Lite specification, data included."""
    named = dashboard_charts(data)
    # One column of rows, each as wide as it needs ("align none": no shared column widths).
    layout = alt.concat(
        _kpis(data),
        alt.hconcat(named["severity"], named["action_types"], spacing=60),
        named["map"],
        named["trend"],
        alt.hconcat(named["finding_types"], named["countries"], spacing=60),
        alt.hconcat(named["archive_compliance"], named["open_past_target"], spacing=60),
        columns=1,
        spacing=36,
        align="none",
    )
    # Validated against the Vega-Lite schema by the tests (the charts are code, not input);
    # validating at every run took half a second of each dashboard's 1.6.
    spec = layout.to_dict(validate=False)
    # Set on the dict: altair's add_params copies every subchart, seconds for this layout.
    spec["params"] = _parameters(data)
    spec["datasets"] = datasets(data)
    spec["config"] = charts.CHART_CONFIG
    return spec


def chart_specs(data: DashboardData) -> dict[str, dict]:
    """Each chart on its own (for PNG and SVG), filtered by the parameters' initial values and
    holding only the datasets it reads."""
    every_dataset = datasets(data)
    params = [{"name": param["name"], "value": param["value"]} for param in _parameters(data)]
    specs = {}
    for name, chart in dashboard_charts(data).items():
        spec = chart.to_dict(validate=False)
        text = json.dumps(spec)
        spec["params"] = params
        spec["datasets"] = {
            dataset: values
            for dataset, values in every_dataset.items()
            if f'"name": "{dataset}"' in text
        }
        spec["background"] = "white"
        spec["padding"] = 12
        specs[name] = spec
    return specs


@cache
def vega_javascript() -> str:
    """Vega, Vega-Lite and vega-embed as one script, cached on disk per library version.

    vl-convert takes seconds to bundle them; the cache lives in the user's cache folder (never
    a shared temp folder, whose files another user could plant).
    """
    versions = "-".join(
        (
            vl_convert.get_vega_version(),
            vl_convert.get_vegalite_versions()[-1],
            vl_convert.get_vega_embed_version(),
        )
    )
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cached = cache_home / "guardduty-pipeline" / f"vega-bundle-{versions}.js"
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle = vl_convert.javascript_bundle()
    # A read-only home only costs the next run the bundling time.
    with contextlib.suppress(OSError):
        write_atomically(cached, bundle.encode("utf-8"))
    return bundle


def _script_json(value: object) -> str:
    """JSON safe inside a <script> element: no ``</script>``, no HTML comment, no entity."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    for character, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(character, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


_EMBED = """
const spec = JSON.parse(document.getElementById("dashboard-spec").textContent);
vegaEmbed("#dashboard", spec, {renderer: "svg", actions: false, ast: true, bind: "#filters"})
  .then((result) => { window.dashboardView = result.view; document.body.dataset.ready = "yes"; })
  .catch((error) => {
    document.getElementById("dashboard").textContent = "The charts could not be drawn: " + error;
    console.error(error);
  });
"""

_STYLE = """
.filters { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid
  var(--line); padding: 10px 28px; display: flex; flex-wrap: wrap; gap: 8px 24px;
  align-items: center; font-size: 14px; }
.filters .vega-bind { display: inline-flex; align-items: center; }
.filters .vega-bind-name { color: #374151; font-weight: 600; margin-right: 4px; }
.filters select, .filters input { font: inherit; padding: 3px 6px; border: 1px solid #d1d5db;
  border-radius: 6px; background: #fff; }
#dashboard { display: block; background: #fff; border: 1px solid var(--line);
  border-radius: 10px; padding: 18px; overflow-x: auto; }
#dashboard svg { max-width: none; }
"""


def render_dashboard_html(data: DashboardData) -> str:
    """The whole dashboard as one self-contained HTML page."""
    time_range = (
        f"{format_timestamp(data.first_seen_at)} to {format_timestamp(data.last_seen_at)}"
        if data.first_seen_at
        else "no findings"
    )
    header = (
        "<h1>GuardDuty findings dashboard</h1>"
        f'<p id="time-range">Activity seen: {escape_html(time_range)}</p>'
        f"<p>{format_number(data.total_findings)} current findings, "
        f"{format_number(data.total_occurrences)} occurrences (samples excluded). Generated "
        f"{escape_html(format_timestamp(data.generated_at))} from "
        f"{escape_html(data.source or 'the marts')}.</p>"
    )
    main = (
        '<div id="filters" class="filters" aria-label="Filters"></div>'
        '<div id="dashboard" role="region" aria-label="Charts">'
        "<noscript>The charts need JavaScript; the same charts are in png/ and svg/.</noscript>"
        "</div>"
        f'<script type="application/json" id="dashboard-spec">{_script_json(dashboard_spec(data))}'
        "</script>"
        f"<script>{vega_javascript()}</script><script>{_EMBED}</script>"
    )
    footer = (
        "Offline dashboard: no network needed. Dates are UTC creation days; every chart follows "
        "the filters. A finding counts once for each country among its remote endpoints. "
        "Severity labels: Critical ≥ 9, High ≥ 7, Medium ≥ 4, Low below. "
        f"{escape_html(MAP_ATTRIBUTION)}"
    )
    return html_page(
        "GuardDuty findings dashboard", header, main, footer, SCRIPTED_PAGE_POLICY, _STYLE
    )


def write_dashboard(data: DashboardData, report_dir: str | os.PathLike[str]) -> DashboardFiles:
    """Write ``png/<chart>.png``, ``svg/<chart>.svg`` and then ``index.html`` into ``report_dir``.

    The page goes last, so that when it appears its companions are already complete.
    """
    report_path = Path(report_dir)
    specs = chart_specs(data)
    png_paths = {name: report_path / "png" / f"{name}.png" for name in specs}
    svg_paths = {name: report_path / "svg" / f"{name}.svg" for name in specs}
    for name, spec in specs.items():
        svg = vl_convert.vegalite_to_svg(spec, config=charts.CHART_CONFIG)
        write_atomically(svg_paths[name], svg.encode("utf-8"))
        write_atomically(png_paths[name], vl_convert.svg_to_png(svg, scale=2))
    html_path = report_path / "index.html"
    write_atomically(html_path, render_dashboard_html(data).encode("utf-8"))
    return DashboardFiles(html_path=html_path, png_paths=png_paths, svg_paths=svg_paths)
