"""The offline dashboard in Debian's headless Chromium: the page opens from disk with every route to
the network closed, fails on any console error or any request that is not the page itself, and
its filters change the charts' counts to exactly the warehouse's.
"""

import json
import re
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.publish.dashboard_data import load_dashboard_data
from orchestration.lib.publish.offline_dashboard import write_dashboard
from tests.helpers.browser import offline_chromium
from tests.helpers.dashboard_marts import HOSTILE_FINDING_TYPE, PNG_SIGNATURE, build_marts

_ACCESSIBLE_NAMES = (
    "[...document.querySelectorAll('#dashboard [aria-label]')].map(e => e.ariaLabel)"
)
_SET_FILTER = """(async (name, value) => {
    const input = document.querySelector(`#filters [name="${name}"]`);
    input.value = value;
    input.dispatchEvent(new Event(input.tagName === 'SELECT' ? 'change' : 'input'));
    await window.dashboardView.runAsync();
    return input.value;
})(%s, %s)"""
# A filter of the page and the same filter in SQL over fct_findings.
FILTER_CASES = [
    ("severity", "High", "severity_label = 'High'"),
    ("severity", "Low", "severity_label = 'Low'"),
    ("severity", "", "true"),
    ("account", "111111111111", "account_id = '111111111111'"),
    ("region", "eu-west-1", "account_id = '111111111111' and region = 'eu-west-1'"),
    ("account", "", "region = 'eu-west-1'"),
    ("region", "", "true"),
    ("date_from", "2024-05-02", "cast(created_at as date) >= date '2024-05-02'"),
    ("date_to", "2024-05-02", "cast(created_at as date) = date '2024-05-02'"),
    ("date_from", "2024-05-01", "cast(created_at as date) <= date '2024-05-02'"),
    ("date_to", "2024-05-04", "true"),
]


def expected_figures(warehouse: Path, condition: str) -> dict[str, object]:
    """What the page must show, computed from the warehouse with SQL of the test's own."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:

        def one(sql: str) -> object:
            return connection.execute(sql).fetchone()[0]

        def counts(column: str) -> dict[str, int]:
            sql = f"select {column}, count(*) from fct_findings where {condition} group by 1"
            return dict(connection.execute(sql).fetchall())

        return {
            "Distinct findings": one(f"select count(*) from fct_findings where {condition}"),
            "Critical + High": one(
                f"select count(*) from fct_findings where ({condition})"
                " and severity_label in ('Critical', 'High')"
            ),
            "Accounts": one(
                f"select count(distinct account_id) from fct_findings where {condition}"
            ),
            "Countries": one(
                "select count(distinct e.country_code) from fct_finding_remote_endpoints e"
                f" join (select * from fct_findings where {condition}) f using (finding_id)"
            ),
            "Findings by severity": counts("severity_label"),
            "Findings by action type": counts("action_type"),
        }


def shown_figures(names: list[str]) -> dict[str, object]:
    """KPIs and bars as the page names them to assistive technology ("<chart>, <bar>: <n>")."""
    shown: dict[str, object] = {"Findings by severity": {}, "Findings by action type": {}}
    for name in names:
        if match := re.fullmatch(r"(Findings by (?:severity|action type)), (.+): ([\d,]+)", name):
            shown[match[1]][match[2]] = int(match[3].replace(",", ""))
        elif match := re.fullmatch(
            r"(Distinct findings|Critical \+ High|Accounts|Countries): (\d+)", name
        ):
            shown[match[1]] = int(match[2])
    return shown


@pytest.mark.browser
def test_dashboard_opens_offline_and_its_filters_update_the_charts(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    build_marts(warehouse)
    files = write_dashboard(load_dashboard_data(warehouse), tmp_path / "reports")
    page_url = files.html_path.resolve().as_uri()
    with offline_chromium(tmp_path / "profile", width=1280, height=1000) as chromium:
        chromium.open(page_url)
        chromium.evaluate(
            "new Promise(resolve => { const ready = () => document.body.dataset.ready"
            " ? resolve() : setTimeout(ready, 50); ready(); })"
        )
        assert shown_figures(chromium.evaluate(_ACCESSIBLE_NAMES)) == expected_figures(
            warehouse, "true"
        )
        map_names = [n for n in chromium.evaluate(_ACCESSIBLE_NAMES) if n.startswith("World map")]
        assert len(map_names) == 6  # five shaded countries and the dot of Singapore
        high_bar = chromium.evaluate(
            "(() => { const bar = [...document.querySelectorAll('#dashboard [aria-label]')]"
            ".find(e => e.ariaLabel === 'Findings by severity, High: 2');"
            " const box = bar.getBoundingClientRect();"
            " return [box.x + box.width / 2, box.y + box.height / 2]; })()"
        )
        chromium.call("Input.dispatchMouseEvent", type="mouseMoved", x=high_bar[0], y=high_bar[1])
        tooltip = chromium.evaluate(
            "new Promise(resolve => setTimeout(() => resolve("
            "document.querySelector('#vg-tooltip-element.visible').innerText), 200))"
        )
        assert tooltip.split() == ["Severity", "High", "Findings", "2"]
        # Hostile strings are shown as text, not run as markup.
        assert f"Top 10 finding types, {HOSTILE_FINDING_TYPE}: 1" in chromium.evaluate(
            _ACCESSIBLE_NAMES
        )

        for name, value, condition in FILTER_CASES:
            assert chromium.evaluate(_SET_FILTER % (json.dumps(name), json.dumps(value))) == value
            shown = shown_figures(chromium.evaluate(_ACCESSIBLE_NAMES))
            assert shown == expected_figures(warehouse, condition), (name, value)
        assert chromium.evaluate("document.images.length") == 0
        # Let late console messages (CSP reports, failed subresources) arrive before judging.
        chromium.evaluate("new Promise(resolve => setTimeout(resolve, 300))")
        assert chromium.console_errors() == []
        # Only the page itself (and data: URLs, such as the date inputs' calendar icon).
        requested = chromium.requested_urls()
        assert [url for url in requested if url != page_url and not url.startswith("data:")] == []
        assert chromium.screenshot(tmp_path / "offline-dashboard.png").startswith(PNG_SIGNATURE)
