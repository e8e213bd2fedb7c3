"""dbt-duckdb plugin: dbt's DuckDB target reads the lake through views over pinned snapshots.

When dbt opens its DuckDB connection the plugin pins the lake (``reader.pin``) and (re)creates
the views ``<GUARDDUTY_GLUE_DATABASE>.findings``, ``.quarantine`` and ``.ingest_ledger`` over the
pinned snapshots' data files, so one dbt invocation reads one snapshot of each table however
many batches commit meanwhile. The transform assets pin first and pass the snapshot ids in
``GUARDDUTY_LAKE_SNAPSHOTS`` (JSON), so the ids recorded in Dagster are the ones dbt read; a dbt
started by hand pins the current snapshots.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin

from orchestration.lib.environment import load_settings
from orchestration.lib.lake import reader
from orchestration.lib.lake.catalog import open_lake

SNAPSHOTS_VARIABLE = "GUARDDUTY_LAKE_SNAPSHOTS"
# A folder: each connection logs every file read and its bytes there (bench/e2e.py sums them).
READ_LOG_VARIABLE = "GUARDDUTY_DUCKDB_READ_LOG"


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        read_log = os.environ.get(READ_LOG_VARIABLE)
        if read_log:
            folder = Path(read_log) / uuid.uuid4().hex
            conn.execute(
                "call enable_logging('FileSystem', level = 'trace', storage = 'file', "
                f"storage_path = '{folder}')"
            )
        settings = load_settings()
        pinned_ids = os.environ.get(SNAPSHOTS_VARIABLE, "").strip()
        pinned = reader.pin(open_lake(settings), json.loads(pinned_ids) if pinned_ids else None)
        pinned.create_duckdb_views(conn, settings.glue_database)


@contextmanager
def snapshots_for_dbt(snapshot_ids: Mapping[str, int | None]) -> Iterator[None]:
    """Make the dbt processes started inside the block read these snapshots."""
    previous = os.environ.get(SNAPSHOTS_VARIABLE)
    os.environ[SNAPSHOTS_VARIABLE] = json.dumps(dict(snapshot_ids))
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(SNAPSHOTS_VARIABLE, None)
        else:
            os.environ[SNAPSHOTS_VARIABLE] = previous
