"""dbt-duckdb plugin: dbt's DuckDB target reads the lake through views over pinned snapshots.

When dbt first opens its DuckDB connection the plugin pins the lake (``reader.pin``) and
(re)creates the views ``<GUARDDUTY_GLUE_DATABASE>.findings``, ``.quarantine`` and
``.ingest_ledger`` over the pinned snapshots' data files. dbt-duckdb closes the connection when
no model uses it and opens it again for the next, so the plugin keeps its first pin for every
later connection: one dbt invocation reads one snapshot of each table however many batches
commit meanwhile. The transform assets pin once per Dagster run and pass the snapshot ids in
``GUARDDUTY_LAKE_SNAPSHOTS`` (JSON), so every dbt step of the run reads them and the ids
recorded in Dagster are the ones dbt read; a dbt started by hand pins the current snapshots.

The pinned ids are also written to the warehouse table ``main.lake_snapshots`` (table name,
snapshot id, pinned at), replaced at each pin, so the marts say which lake they reflect (the
review report records them and can be re-run as of them).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.flags import get_flags

from orchestration.lib.environment import load_settings
from orchestration.lib.lake import reader
from orchestration.lib.lake.catalog import open_lake

SNAPSHOTS_VARIABLE = "GUARDDUTY_LAKE_SNAPSHOTS"
# A folder: each connection logs every file read and its bytes there (bench/e2e.py sums them).
READ_LOG_VARIABLE = "GUARDDUTY_DUCKDB_READ_LOG"
# Only commands that write models record the pin: `dbt docs` or `dbt compile` leave the record
# of the build the marts came from.
BUILDING_COMMANDS = frozenset({"build", "run"})


class Plugin(BasePlugin):
    # The snapshot ids this dbt invocation reads, fixed by its first connection.
    pinned_ids: dict[str, int | None] | None = None

    def configure_connection(self, conn) -> None:
        read_log = os.environ.get(READ_LOG_VARIABLE)
        if read_log:
            folder = Path(read_log) / uuid.uuid4().hex
            conn.execute(
                "call enable_logging('FileSystem', level = 'trace', storage = 'file', "
                f"storage_path = '{folder}')"
            )
        settings = load_settings()
        if self.pinned_ids is None:
            given = os.environ.get(SNAPSHOTS_VARIABLE, "").strip()
            self.pinned_ids = json.loads(given) if given else None
        pinned = reader.pin(open_lake(settings), self.pinned_ids)
        self.pinned_ids = pinned.snapshot_ids
        pinned.create_duckdb_views(conn, settings.glue_database)
        if getattr(get_flags(), "WHICH", None) in BUILDING_COMMANDS:
            record_pinned_snapshots(conn, pinned.snapshot_ids, datetime.now(UTC))


def record_pinned_snapshots(
    conn, snapshot_ids: Mapping[str, int | None], pinned_at: datetime
) -> None:
    """Replace ``main.lake_snapshots`` with the snapshots this dbt connection reads."""
    conn.execute(
        "create or replace table main.lake_snapshots "
        "(table_name varchar, snapshot_id bigint, pinned_at timestamp)"
    )
    naive_utc = pinned_at.astimezone(UTC).replace(tzinfo=None)
    conn.executemany(
        "insert into main.lake_snapshots values (?, ?, ?)",
        [(name, snapshot_id, naive_utc) for name, snapshot_id in snapshot_ids.items()],
    )


def snapshots_environment(snapshot_ids: Mapping[str, int | None]) -> dict[str, str]:
    """The environment that makes a dbt process read these snapshots."""
    return {SNAPSHOTS_VARIABLE: json.dumps(dict(snapshot_ids))}
