"""The `updated_date` window a partitioned dbt run re-reads, as the models' environment.

The models read it through the `backfill_window()` macro (macros/lake_batches.sql). It is an
environment variable, not a dbt var: dbt parses the whole project again whenever its vars change,
and the window changes at every run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_DATE = "GUARDDUTY_BACKFILL_FIRST_DATE"
LAST_DATE = "GUARDDUTY_BACKFILL_LAST_DATE"


def backfill_window_environment(start: datetime, end: datetime) -> dict[str, str]:
    """The inclusive range of `updated_date`s of a partition time window [start, end)."""
    last_day = (end - timedelta(days=1)).date() if end.date() > start.date() else start.date()
    return {FIRST_DATE: start.date().isoformat(), LAST_DATE: last_day.isoformat()}
