"""The monthly audit review report (NIST 800-53 AU-6): one offline HTML page and CSV files.

For one calendar month (UTC) it states totals and trends by severity, finding type, account and
country; the new Critical and High findings with their archive status; archive compliance against
the targets of the compliance marts; the findings open past target; the accounts and Regions gone
silent; the remote countries and autonomous systems first seen; and the evidence trail: the run,
the data time range, the lake snapshots its numbers come from (re-run it as of them with
``python -m orchestration.cli review-report``), the lake ledger's object counts for the month and
the dbt test results.

It opens with no network (inline SVG charts, no script, a Content-Security-Policy that forbids
remote loads), prints as a clean A4 document, and every string from the data is escaped; CSV
cells that a spreadsheet would run as a formula are defused. The marts are read from DuckDB
(read-only) locally or through Athena in production; the files go to a local folder or an S3
prefix through ``open_store``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from orchestration.lib.audit.report_csv import report_tables, to_csv
from orchestration.lib.audit.report_data import (
    DEFAULT_COVERAGE_GAP_DAYS,
    Month,
    ReportData,
    ReportError,
    latest_data_month,
    load_report_data,
)
from orchestration.lib.audit.report_evidence import (
    find_dbt_test_evidence,
    read_lake_snapshots,
    read_ledger_counts,
)
from orchestration.lib.audit.report_render import render_report_html
from orchestration.lib.lake import tables
from orchestration.lib.lake.catalog import Lake
from orchestration.lib.lake.store import ObjectStore
from orchestration.lib.publish.marts import AthenaMarts, open_duckdb_marts

# The report's entry points, for the Dagster asset, the schedule and the tests.
__all__ = [
    "DEFAULT_COVERAGE_GAP_DAYS",
    "REPORT_PREFIX",
    "AthenaMarts",
    "Month",
    "ReportError",
    "build_report",
    "open_duckdb_marts",
    "write_report",
]

REPORT_PREFIX = "review"


def write_report(data: ReportData, store: ObjectStore) -> list[str]:
    """Write ``review/<YYYY-MM>/csv/<name>.csv`` then ``review/<YYYY-MM>/index.html``.

    The page goes last, so that once it is there its CSV files are complete. Returns the keys
    written, relative to the store's root (GUARDDUTY_REPORT_DIR: a folder or an S3 prefix).
    """
    prefix = f"{REPORT_PREFIX}/{data.month.label}"
    keys = []
    for name, table in report_tables(data).items():
        key = f"{prefix}/csv/{name}.csv"
        store.write(key, to_csv(table))
        keys.append(key)
    page_key = f"{prefix}/index.html"
    store.write(page_key, render_report_html(data).encode("utf-8"))
    keys.append(page_key)
    return keys


def build_report(
    open_reader: Callable[[], Any],
    lake: Lake,
    report_store: ObjectStore,
    *,
    month: str | None,
    run_id: str,
    dbt_target_dir: str | os.PathLike[str],
    coverage_gap_days: int = DEFAULT_COVERAGE_GAP_DAYS,
) -> tuple[ReportData, list[str]]:
    """Read, render and write the report of ``month`` (``YYYY-MM``; default: the latest data's).

    ``open_reader`` returns a context manager yielding a MartReader (``open_duckdb_marts``, or an
    Athena reader wrapped in ``contextlib.nullcontext``).
    """
    with open_reader() as reader:
        chosen = Month.parse(month) if month else latest_data_month(reader)
        if chosen is None:
            chosen = Month.of(datetime.now(UTC))
        snapshots = read_lake_snapshots(reader, lake)
        data = load_report_data(
            reader,
            chosen,
            run_id=run_id,
            ledger=read_ledger_counts(lake, chosen, snapshots.ids.get(tables.LEDGER)),
            dbt_tests=find_dbt_test_evidence(dbt_target_dir, run_id),
            lake_snapshots=snapshots,
            coverage_gap_days=coverage_gap_days,
        )
    return data, write_report(data, report_store)
