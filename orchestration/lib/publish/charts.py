"""The charts of the offline pages, as Vega-Lite through altair.

The dashboard draws them in the browser from filtered data; the review report and the PNG/SVG
exports render the same charts to static images through ``vl-convert``. Every builder takes a
base chart (its data and filters) whose rows hold ``finding_count`` and the chart's category, and
sums ``finding_count`` per category, so aggregated and fine-grained rows both work.
"""

from __future__ import annotations

import json

import altair as alt
import vl_convert

from orchestration.lib.publish.html import SEVERITY_COLOURS, SEVERITY_LABELS

ACTION_TYPE_COLOUR = "#4f46e5"
COUNTRY_COLOUR = "#b91c1c"
FINDING_TYPE_COLOUR = "#0f766e"
ACCOUNT_COLOUR = "#334155"
NO_DATA_COLOUR = "#e5e7eb"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, DejaVu Sans, sans-serif"
SEVERITY_SCALE = alt.Scale(
    domain=list(SEVERITY_LABELS), range=[SEVERITY_COLOURS[label] for label in SEVERITY_LABELS]
)
CHART_CONFIG = {
    "font": FONT,
    "view": {"stroke": None},
    "title": {"anchor": "start", "fontSize": 15, "fontWeight": 600, "offset": 10},
    "axis": {"labelFontSize": 12, "titleFontSize": 12, "titleColor": "#374151"},
    "legend": {"labelFontSize": 12, "titleFontSize": 12},
}


def horizontal_bars(
    base: alt.Chart,
    category: str,
    title: str,
    *,
    colour: str | None = None,
    top: int | None = None,
    domain: list[str] | None = None,
    width: int = 460,
    label_limit: int = 220,
) -> alt.LayerChart:
    """Findings per ``category``, largest first (or in ``domain`` order), with their counts.

    Without ``colour`` the bars are coloured by severity (``category`` is then the severity).
    Each bar's ``description`` (its accessible name) is ``<title>, <category>: <findings>``.
    """
    chart = base.transform_aggregate(findings="sum(finding_count)", groupby=[category])
    if top:
        chart = chart.transform_window(
            rank="row_number()",
            sort=[alt.SortField("findings", order="descending"), alt.SortField(category)],
        ).transform_filter(f"datum.rank <= {top}")
    chart = chart.transform_calculate(
        description=f"{json.dumps(title + ', ')} + datum['{category}'] + ': '"
        " + format(datum.findings, ',')"
    )
    y = alt.Y(
        f"{category}:N",
        title=None,
        sort=domain if domain else alt.EncodingSortField("findings", order="descending"),
        scale=alt.Scale(domain=domain) if domain else alt.Undefined,
        axis=alt.Axis(labelLimit=label_limit, ticks=False, domain=False),
    )
    fill = (
        alt.Color(f"{category}:N", scale=SEVERITY_SCALE, legend=None)
        if colour is None
        else alt.value(colour)
    )
    bars = chart.mark_bar(cornerRadiusEnd=3, height={"band": 0.72}).encode(
        y=y,
        x=alt.X("findings:Q", title="Findings", axis=alt.Axis(format="~s", tickCount=4)),
        color=fill,
        description=alt.Description("description:N"),
        tooltip=[
            alt.Tooltip(f"{category}:N", title=title_case(category)),
            alt.Tooltip("findings:Q", title="Findings", format=","),
        ],
    )
    counts = bars.mark_text(align="left", dx=4, fontSize=12, color="#374151").encode(
        text=alt.Text("findings:Q", format=","), color=alt.Undefined, description=alt.Undefined
    )
    # One step per bar: the chart grows with the bars a filter leaves.
    return alt.layer(bars, counts).properties(title=title, width=width, height=alt.Step(24))


def top_bars(
    base: alt.Chart, category: str, limit: int, what: str, colour: str, **size: int
) -> alt.LayerChart:
    """The ``limit`` ``category`` values with the most findings, titled "Top <limit> <what>"."""
    return horizontal_bars(base, category, f"Top {limit} {what}", colour=colour, top=limit, **size)


def daily_trend(base: alt.Chart, title: str, *, width: int = 1100) -> alt.Chart:
    """Findings created per UTC day, stacked by severity; rows need ``finding_date``
    (``YYYY-MM-DD``), ``severity_label`` and ``finding_count``."""
    return (
        base.transform_aggregate(
            findings="sum(finding_count)", groupby=["finding_date", "severity_label"]
        )
        .transform_calculate(
            day="toDate(datum.finding_date)",
            severity_order=f"indexof({list(SEVERITY_LABELS)!r}, datum.severity_label)",
        )
        .mark_bar()
        .encode(
            x=alt.X(
                "utcyearmonthdate(day):T",
                title=None,
                axis=alt.Axis(format="%b %d", labelAngle=0, tickCount=10),
            ),
            y=alt.Y("findings:Q", title="Findings", stack="zero"),
            color=alt.Color(
                "severity_label:N",
                scale=SEVERITY_SCALE,
                title="Severity",
                legend=alt.Legend(orient="right", title=None),
            ),
            order=alt.Order("severity_order:Q"),
            tooltip=[
                alt.Tooltip("utcyearmonthdate(day):T", title="Day", format="%Y-%m-%d"),
                alt.Tooltip("severity_label:N", title="Severity"),
                alt.Tooltip("findings:Q", title="Findings", format=","),
            ],
        )
        .properties(title=title, width=width, height=220)
    )


_FIELD_TITLES = {"severity_label": "Severity", "country_name": "Country"}


def title_case(field: str) -> str:
    """``finding_type`` -> ``Finding type``: a field name as people read it."""
    return _FIELD_TITLES.get(field) or field.replace("_", " ").capitalize()


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as a standalone SVG document (no script), drawn by vl-convert."""
    return vl_convert.vegalite_to_svg(chart.to_dict(), config=CHART_CONFIG)


def to_png(chart: alt.TopLevelMixin, scale: float = 2) -> bytes:
    return vl_convert.vegalite_to_png(chart.to_dict(), config=CHART_CONFIG, scale=scale)
