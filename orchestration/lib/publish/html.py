"""The HTML kit of the offline pages (the dashboard and the review report): one look, one
escaping rule, one way to write a page to disk.

Every string from the data (finding types, country names, titles) is untrusted input: it reaches
a page only through ``escape_html``.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
import textwrap
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

SEVERITY_LABELS = ("Critical", "High", "Medium", "Low")
SEVERITY_COLOURS = {
    "Critical": "#991b1b",
    "High": "#ea580c",
    "Medium": "#d97706",
    "Low": "#2563eb",
}
# A page with no script at all: styles inline, images only as data: URLs.
STATIC_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# The interactive dashboard: inline script too, but no eval and nothing remote.
SCRIPTED_PAGE_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"
)
_BREAK_AFTER = re.compile(r"([:/.])(?=[A-Za-z])")
_LONG_RUN = re.compile(r"[0-9a-f]{24,}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def escape_html(value: object) -> str:
    return html.escape(str(value), quote=True)


def format_number(value: float) -> str:
    return f"{value:,.0f}"


def format_timestamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "no findings"


def html_page(title: str, header: str, main: str, footer: str, policy: str, style: str = "") -> str:
    """An HTML5 document; ``header``, ``main`` and ``footer`` are HTML already escaped."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # An inline empty icon stops the browser asking for /favicon.ico.
        '<link rel="icon" href="data:,">'
        f"<title>{escape_html(title)}</title><style>{PAGE_STYLE}{style}</style></head><body>"
        f"<header>{header}</header><main>{main}</main><footer>{footer}</footer></body></html>\n"
    )


def kpi_card(name: str, value: str, alert: bool = False) -> str:
    css_class = "kpi alert" if alert else "kpi"
    return (
        f'<div class="{css_class}"><div class="value">{escape_html(value)}</div>'
        f'<div class="name">{escape_html(name)}</div></div>'
    )


def breakable_html(value: object) -> str:
    """Escaped text that may wrap after ``:``, ``/`` and ``.`` and inside long hexadecimal ids,
    so that a narrow column wraps at sensible points (a date stays whole), never letter by
    letter."""
    text = escape_html(value)
    text = _BREAK_AFTER.sub(r"\1<wbr>", text)
    text = _DATE.sub(r'<span class="nowrap">\g<0></span>', text)
    return _LONG_RUN.sub(lambda match: "<wbr>".join(textwrap.wrap(match[0], 16)), text)


def table_html(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: set[int]) -> str:
    """A data table; columns whose index is in ``numeric`` are right-aligned."""

    def cell(tag: str, index: int, text: object, scope: str = "") -> str:
        css = ' class="num"' if index in numeric else ""
        return f"<{tag}{scope}{css}>{breakable_html(text)}</{tag}>"

    head = "".join(cell("th", i, h, ' scope="col"') for i, h in enumerate(headers))
    body = (
        "".join(
            "<tr>" + "".join(cell("td", i, value) for i, value in enumerate(row)) + "</tr>"
            for row in rows
        )
        or f'<tr><td colspan="{len(headers)}" class="empty">None</td></tr>'
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_card(
    card_id: str, title: str, figure: str, details: str = "", note: str = "", wide: bool = False
) -> str:
    """A titled card around a chart (``figure``, trusted markup) with an optional data table."""
    note_html = f'<p class="note">{escape_html(note)}</p>' if note else ""
    css_class = "card wide" if wide else "card"
    return (
        f'<figure class="{css_class}" id="{escape_html(card_id)}"><figcaption>'
        f"<h2>{escape_html(title)}</h2></figcaption>{figure}{note_html}{details}</figure>"
    )


def write_atomically(path: Path, content: bytes) -> None:
    """Write to a temp file beside ``path``, then rename it over ``path``.

    A reader (a browser, a web server) never sees a half-written file: the rename is atomic
    within one file system.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, before the rename)
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            handle.write(content)
        os.chmod(handle.name, 0o644)
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


PAGE_STYLE = """
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
.card svg { max-width: 100%; height: auto; display: block; }
.note { color: var(--muted); font-size: 13px; margin: 6px 0 0; }
details { margin-top: 8px; } summary { cursor: pointer; color: #374151; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 6px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-weight: 600; color: #374151; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num, .nowrap { white-space: nowrap; }
td.empty { color: var(--muted); }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 24px; max-width: 1400px;
  margin: 0 auto; }
"""
