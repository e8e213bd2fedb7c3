"""The offline dashboard: marts in a small DuckDB file -> HTML and PNG, checked as text and live.

The browser test opens the page in Debian's headless Chromium with every route to the network
closed, and fails on any console error, any request that is not the page itself, or a map that is
not drawn.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from websockets.sync.client import ClientConnection, connect

from orchestration.defs.publish.dashboard_assets import OFFLINE_DASHBOARD, offline_dashboard
from orchestration.lib.environment import ConfigurationError, get_settings
from orchestration.lib.publish.offline_dashboard import (
    CHOROPLETH_COLOURS,
    SEVERITY_LABELS,
    DashboardData,
    MissingMartsError,
    _choropleth_bin,
    _choropleth_legend,
    load_dashboard_data,
    render_dashboard_html,
    write_dashboard,
)
from orchestration.lib.publish.world_map import load_world_map

CHROMIUM = "/usr/bin/chromium"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_FINDING_TYPE = "Recon:EC2/<script>alert('x')</script>"
HOSTILE_COUNTRY_NAME = 'Germany"><img src=x onerror=alert(1)>'

# (finding type, severity, action type, direction, created day offset, count, endpoints)
# where an endpoint is (ip, country code, country name, latitude, longitude).
FINDINGS = [
    (
        "UnauthorizedAccess:EC2/SSHBruteForce",
        8.0,
        "NETWORK_CONNECTION",
        "INBOUND",
        0,
        12,
        [("198.51.100.7", "CN", "China", 39.9, 116.4)],
    ),
    (
        "UnauthorizedAccess:EC2/SSHBruteForce",
        8.0,
        "NETWORK_CONNECTION",
        "INBOUND",
        1,
        3,
        [("203.0.113.9", "RU", "Russia", 55.7, 37.6)],
    ),
    (
        "Recon:EC2/PortProbeUnprotectedPort",
        5.0,
        "PORT_PROBE",
        None,
        1,
        40,
        [
            ("192.0.2.10", "US", "United States", 37.7, -122.4),
            ("192.0.2.11", "BR", "Brazil", -23.5, -46.6),
            ("192.0.2.12", "SG", "Singapore", 1.35, 103.8),
        ],
    ),
    (
        HOSTILE_FINDING_TYPE,
        9.5,
        "AWS_API_CALL",
        None,
        3,
        1,
        [("2001:db8::1", "DE", HOSTILE_COUNTRY_NAME, 52.5, 13.4)],
    ),
    (
        "AttackSequence:IAM/CompromisedCredentials",
        9.0,
        "NONE",
        None,
        3,
        1,
        [("192.0.2.10", "US", "United States", 37.7, -122.4)],
    ),
    ("Policy:S3/BucketBlockPublicAccessDisabled", 4.0, "AWS_API_CALL", None, 3, 2, []),
]
FIRST_DAY = datetime(2024, 5, 1, 8, 30)


def build_marts(path: Path, schema: str = "main") -> None:
    """Write the five marts of data-contract.md §4 for ``FINDINGS`` into a DuckDB file."""
    with duckdb.connect(str(path)) as connection:
        [(catalog,)] = connection.execute("select current_database()").fetchall()
        qualified = f'"{catalog}".{schema}'

        def run(sql: str, parameters: list | None = None) -> None:
            connection.execute(sql.format(schema=qualified), parameters)

        run("create schema if not exists {schema}")
        run(
            """
            create table {schema}.fct_findings (
                finding_id varchar, account_id varchar, region varchar, finding_type varchar,
                threat_purpose varchar, resource_type varchar, severity double,
                severity_label varchar, action_type varchar, connection_direction varchar,
                is_archived boolean, occurrence_count bigint, created_at timestamp,
                updated_at timestamp, first_seen_at timestamp, last_seen_at timestamp,
                title varchar
            )
            """
        )
        run(
            """
            create table {schema}.fct_finding_remote_endpoints (
                finding_id varchar, endpoint_source varchar, ip_address varchar,
                ip_version integer, country_code varchar, country_name varchar, city varchar,
                latitude double, longitude double, asn bigint, asn_org varchar
            )
            """
        )
        for index, (finding_type, severity, action, direction, day, count, endpoints) in enumerate(
            FINDINGS
        ):
            created_at = FIRST_DAY + timedelta(days=day)
            label = next(
                label
                for label, floor in (("Critical", 9), ("High", 7), ("Medium", 4), ("Low", 0))
                if severity >= floor
            )
            run(
                "insert into {schema}.fct_findings values "
                "(?, ?, 'us-east-1', ?, ?, 'Instance', ?, ?, ?, ?, false, ?, ?, ?, ?, ?, ?)",
                [
                    f"f{index}",
                    f"11111111111{index % 2}",
                    finding_type,
                    finding_type.split(":")[0],
                    severity,
                    label,
                    action,
                    direction,
                    count,
                    created_at,
                    created_at + timedelta(hours=5),
                    created_at - timedelta(hours=1),
                    created_at + timedelta(hours=4),
                    f"Finding {index}",
                ],
            )
            for ip, code, name, latitude, longitude in endpoints:
                run(
                    "insert into {schema}.fct_finding_remote_endpoints values "
                    "(?, 'networkConnectionAction', ?, ?, ?, ?, 'City', ?, ?, 64500, 'Example AS')",
                    [f"f{index}", ip, 6 if ":" in ip else 4, code, name, latitude, longitude],
                )
        for mart, column in (
            ("agg_findings_by_severity", "severity_label"),
            ("agg_findings_by_action_type", "action_type"),
        ):
            run(
                "create table {schema}."
                + mart
                + " as select created_at::date as finding_date, account_id, region, "
                + column
                + ", count(*) as finding_count, sum(occurrence_count) as occurrence_count "
                "from {schema}.fct_findings group by all"
            )
        run(
            """
            create table {schema}.agg_findings_by_country as
            with located as (
                select distinct finding_id, country_code, country_name
                from {schema}.fct_finding_remote_endpoints
            )
            select
                f.created_at::date as finding_date, f.account_id, f.region,
                l.country_code, coalesce(l.country_name, 'Unknown') as country_name,
                count(*) as finding_count, sum(f.occurrence_count) as occurrence_count
            from {schema}.fct_findings as f
            left join located as l using (finding_id)
            group by all
            """
        )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    build_marts(path)
    return path


@pytest.fixture
def dashboard_data(warehouse: Path) -> DashboardData:
    return load_dashboard_data(warehouse)


def test_loads_totals_and_time_range_from_the_marts(dashboard_data: DashboardData) -> None:
    assert dashboard_data.total_findings == len(FINDINGS)
    assert dashboard_data.total_occurrences == sum(finding[5] for finding in FINDINGS)
    assert dashboard_data.account_count == 2
    assert dashboard_data.remote_ip_count == 6
    assert dashboard_data.first_seen_at == FIRST_DAY - timedelta(hours=1)
    assert dashboard_data.last_seen_at == FIRST_DAY + timedelta(days=3, hours=4)


def test_all_four_severity_labels_are_present_even_at_zero(dashboard_data: DashboardData) -> None:
    counts = {severity.label: severity.finding_count for severity in dashboard_data.severities}
    assert list(counts) == list(SEVERITY_LABELS)
    assert counts == {"Critical": 2, "High": 2, "Medium": 2, "Low": 0}


def test_action_types_and_countries_are_sorted_by_findings(dashboard_data: DashboardData) -> None:
    assert dashboard_data.action_types[0].label in {"NETWORK_CONNECTION", "AWS_API_CALL"}
    assert sum(a.finding_count for a in dashboard_data.action_types) == len(FINDINGS)
    countries = {c.country_code: c for c in dashboard_data.countries}
    assert countries["US"].finding_count == 2
    assert countries[None].country_name == "Unknown"
    assert countries["SG"].latitude == pytest.approx(1.35)


def test_daily_trend_has_every_day_including_empty_ones(dashboard_data: DashboardData) -> None:
    days = [day.finding_date for day in dashboard_data.daily]
    assert days == [date(2024, 5, 1) + timedelta(days=offset) for offset in range(4)]
    assert dashboard_data.daily[2].total == 0
    assert sum(day.total for day in dashboard_data.daily) == len(FINDINGS)


def test_schema_is_a_parameter(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    build_marts(path, schema="marts")
    assert load_dashboard_data(path, schema="marts").total_findings == len(FINDINGS)
    with pytest.raises(ConfigurationError):
        load_dashboard_data(path, schema="marts; drop table x")


def test_missing_warehouse_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="build the dbt marts first"):
        load_dashboard_data(tmp_path / "absent.duckdb")


def test_missing_mart_is_a_clear_error(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("drop table agg_findings_by_country")
    with pytest.raises(MissingMartsError, match="build the dbt marts first"):
        load_dashboard_data(warehouse)


def test_reading_never_takes_the_write_lock(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True):
        assert load_dashboard_data(warehouse).total_findings == len(FINDINGS)


def test_html_shows_labels_totals_and_time_range(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    for label in SEVERITY_LABELS:
        assert f">{label}</text>" in page
    assert '<div class="value">6</div><div class="name">Findings</div>' in page
    assert '<div class="value">59</div><div class="name">Occurrences</div>' in page
    assert "2024-05-01 07:30 UTC to 2024-05-04 12:30 UTC" in page
    assert "UnauthorizedAccess:EC2/SSHBruteForce" in page


def test_html_escapes_untrusted_strings(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    assert "<script" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "Germany&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


def test_html_references_nothing_remote(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    assert not re.search(r"(?i)https?:|//[a-z0-9.-]+\.[a-z]{2,}/|<script|@import|url\(", page)
    assert "default-src 'none'" in page


def test_map_fills_countries_with_data_and_dots_small_ones(dashboard_data: DashboardData) -> None:
    page = render_dashboard_html(dashboard_data)
    filled = set(re.findall(r'class="country has-data" data-code="([A-Z]{2})"', page))
    assert filled == {"CN", "RU", "US", "BR", "DE"}
    assert page.count('<path class="country') == len(load_world_map().countries) > 100
    assert 'class="country-dot has-data" data-code="SG"' in page


def test_empty_marts_render_an_empty_dashboard(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    build_marts(path)
    delete_all = "delete from {}"
    with duckdb.connect(str(path)) as connection:
        for table in (
            "fct_findings",
            "fct_finding_remote_endpoints",
            "agg_findings_by_severity",
            "agg_findings_by_action_type",
            "agg_findings_by_country",
        ):
            connection.execute(delete_all.format(table))
    data = load_dashboard_data(path)
    page = render_dashboard_html(data)
    assert data.total_findings == 0
    assert data.first_seen_at is None
    assert all(f">{label}</text>" in page for label in SEVERITY_LABELS)
    assert "Activity seen: no findings" in page
    files = write_dashboard(data, tmp_path / "report")
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in files.png_paths.values())


def test_write_dashboard_writes_html_and_valid_pngs(
    dashboard_data: DashboardData, tmp_path: Path
) -> None:
    report_dir = tmp_path / "reports"
    files = write_dashboard(dashboard_data, report_dir)
    assert files.html_path == report_dir / "index.html"
    assert files.html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert set(files.png_paths) == {"severity", "action_types", "countries", "trend", "map"}
    for png in files.png_paths.values():
        content = png.read_bytes()
        assert content.startswith(PNG_SIGNATURE), png
        width, height = int.from_bytes(content[16:20]), int.from_bytes(content[20:24])
        assert width > 300 and height > 150
    leftovers = [p for p in report_dir.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_write_dashboard_replaces_a_previous_report(
    dashboard_data: DashboardData, tmp_path: Path
) -> None:
    write_dashboard(dashboard_data, tmp_path)
    (tmp_path / "index.html").chmod(0o444)
    write_dashboard(dashboard_data, tmp_path)
    assert (tmp_path / "index.html").stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------------------------
# Dagster asset


@pytest.fixture
def local_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, warehouse: Path) -> Path:
    """The embedded default, with the warehouse of this test and a temporary report folder."""
    monkeypatch.setenv("GUARDDUTY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("GUARDDUTY_REPORT_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "reports"
    get_settings.cache_clear()


def test_offline_dashboard_asset_spec() -> None:
    spec = offline_dashboard.get_asset_spec(OFFLINE_DASHBOARD)
    assert spec.key == dg.AssetKey(["reports", "offline_dashboard"])
    assert spec.group_name == "publish"
    assert {dep.asset_key for dep in spec.deps} == {
        dg.AssetKey([name])
        for name in (
            "agg_findings_by_severity",
            "agg_findings_by_action_type",
            "agg_findings_by_country",
            "fct_findings",
            "fct_finding_remote_endpoints",
        )
    }
    assert offline_dashboard.node_def.pool == "guardduty_warehouse"


def test_offline_dashboard_asset_writes_the_report(local_settings: Path) -> None:
    result = dg.materialize([offline_dashboard])
    assert result.success
    [materialization] = result.asset_materializations_for_node("reports__offline_dashboard")
    metadata = materialization.metadata
    assert metadata["path"] == dg.MetadataValue.path(str(local_settings / "index.html"))
    assert metadata["total_findings"].value == len(FINDINGS)
    assert metadata["first_seen_at"].value == "2024-05-01T07:30:00Z"
    assert metadata["last_seen_at"].value == "2024-05-04T12:30:00Z"
    assert (local_settings / "index.html").is_file()
    assert (local_settings / "png" / "map.png").read_bytes().startswith(PNG_SIGNATURE)


def test_offline_dashboard_asset_reads_the_configured_schema(
    local_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "marts.duckdb"
    build_marts(other, schema="marts")
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(other))
    get_settings.cache_clear()
    config = {"ops": {"reports__offline_dashboard": {"config": {"schema_name": "marts"}}}}
    assert dg.materialize([offline_dashboard], run_config=config).success


def test_offline_dashboard_asset_fails_clearly_without_marts(
    local_settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARDDUTY_DUCKDB_PATH", str(tmp_path / "absent.duckdb"))
    get_settings.cache_clear()
    with pytest.raises(dg.Failure, match="build the dbt marts first"):
        dg.materialize([offline_dashboard])


# --------------------------------------------------------------------------------------------
# Browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, websocket: ClientConnection) -> None:
        self._socket = websocket
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, timeout: float = 30, **params: object) -> dict:
        self._next_id += 1
        call_id = self._next_id
        self._socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        for seen in self.events:
            if seen.get("method") == event:
                return seen
        while time.monotonic() < deadline:
            message = json.loads(self._socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(message)
            if message.get("method") == event:
                return message
        raise TimeoutError(event)

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


def _page_websocket_url(port: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/json/list")
            targets = json.loads(connection.getresponse().read())
            connection.close()
            pages = [target for target in targets if target.get("type") == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError("chromium did not open its DevTools port")


@pytest.fixture
def chromium(tmp_path: Path):
    if not (os.access(CHROMIUM, os.X_OK) and shutil.which(CHROMIUM)):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    port = _free_port()
    process = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            # Any request that still tried to leave the machine would fail here, and be seen.
            "--proxy-server=127.0.0.1:9",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--remote-debugging-port={port}",
            "--remote-allow-origins=*",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with connect(
            _page_websocket_url(port), max_size=64 * 1024 * 1024, open_timeout=10
        ) as websocket:
            yield DevTools(websocket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _console_errors(events: list[dict]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(json.dumps(params.get("args")))
        elif method == "Runtime.exceptionThrown":
            errors.append(json.dumps(params.get("exceptionDetails")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
        elif method == "Network.loadingFailed":
            errors.append(f"request failed: {params.get('errorText')}")
    return errors


@pytest.mark.browser
def test_dashboard_opens_offline_in_chromium_without_errors(
    dashboard_data: DashboardData, tmp_path: Path, chromium: DevTools
) -> None:
    files = write_dashboard(dashboard_data, tmp_path / "reports")
    page_url = files.html_path.resolve().as_uri()
    for domain in ("Page", "Runtime", "Log", "Network"):
        chromium.call(f"{domain}.enable")
    chromium.call("Page.navigate", url=page_url)
    chromium.wait_for("Page.loadEventFired")
    # Let late console messages (CSP reports, failed subresources) arrive before judging.
    chromium.evaluate("new Promise(resolve => setTimeout(resolve, 500))")

    assert _console_errors(chromium.events) == []
    requested = [
        event["params"]["request"]["url"]
        for event in chromium.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert requested and all(url == page_url or url.startswith("data:") for url in requested)

    country_paths = chromium.evaluate("document.querySelectorAll('path.country').length")
    assert country_paths > 100
    fills = chromium.evaluate(
        """Object.fromEntries([...document.querySelectorAll('path.country')]
            .filter(p => ['US', 'CN', 'FR'].includes(p.dataset.code))
            .map(p => [p.dataset.code, getComputedStyle(p).fill]))"""
    )
    no_data_fill = "rgb(229, 231, 235)"
    assert fills["FR"] == no_data_fill
    assert fills["US"] != no_data_fill and fills["CN"] != no_data_fill
    map_box = chromium.evaluate(
        "(({width, height}) => [width, height])"
        "(document.querySelector('#map svg').getBoundingClientRect())"
    )
    assert map_box[0] > 600 and map_box[1] > 250

    severity_text = chromium.evaluate("document.querySelector('#severity svg').textContent")
    assert all(label in severity_text for label in SEVERITY_LABELS)
    visible_text = chromium.evaluate("document.body.innerText")
    assert "Critical + High" in visible_text
    assert HOSTILE_FINDING_TYPE in visible_text  # shown as text, not run as markup

    screenshot = chromium.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    image = base64.b64decode(screenshot["data"])
    assert image.startswith(PNG_SIGNATURE)
    (tmp_path / "dashboard.png").write_bytes(image)


def test_dashboard_data_generated_at_is_utc(dashboard_data: DashboardData) -> None:
    assert dashboard_data.generated_at.tzinfo is UTC


@pytest.mark.parametrize("maximum", [1, 2, 7, 100, 4248])
def test_map_legend_names_the_class_of_every_count(maximum: int) -> None:
    legend = _choropleth_legend(maximum)
    for count in range(1, maximum + 1):
        colour_of_legend = [colour for colour, lowest in legend if lowest <= count][-1]
        assert colour_of_legend == CHOROPLETH_COLOURS[_choropleth_bin(count, maximum)]
