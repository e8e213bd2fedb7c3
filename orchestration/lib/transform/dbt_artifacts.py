"""What one dbt invocation leaves for the next: its parse state, and a bounded folder of artifacts.

dagster-dbt gives every invocation its own folder under the project's `target/` and seeds it with
`target/partial_parse.msgpack`. The one written when the image or the manifest was built was made
with another profile (another warehouse path, bucket or workgroup), and dbt then parses the whole
project again on every run; the folders pile up, one per invocation, for as long as the pipeline
runs.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path

PARTIAL_PARSE = "partial_parse.msgpack"
# The review report takes the newest invocation's test results as its evidence (report_evidence.py).
INVOCATION_RETENTION = timedelta(days=7)
# dagster-dbt names them "<op>-<run id[:7]>-<uuid[:7]>", or "<uuid[:7]>" outside a run.
INVOCATION_FOLDER = re.compile(r"(^|-)[0-9a-f]{7}$")


def keep_parse_state(invocation_dir: Path, project_target: Path) -> bool:
    """Make the invocation's parse state the one the next invocation starts from."""
    fresh = invocation_dir / PARTIAL_PARSE
    if not fresh.is_file():
        return False
    staged = project_target / f".{PARTIAL_PARSE}.{os.getpid()}"
    shutil.copyfile(fresh, staged)
    os.replace(staged, project_target / PARTIAL_PARSE)
    return True


def prune_invocations(
    project_target: Path, keep_for: timedelta = INVOCATION_RETENTION, now: float | None = None
) -> list[Path]:
    """Delete invocation folders last written more than `keep_for` ago; the newest always stays."""
    folders = sorted(
        (
            path
            for path in project_target.iterdir()
            if path.is_dir() and INVOCATION_FOLDER.search(path.name)
        ),
        key=lambda path: path.stat().st_mtime,
    )
    cutoff = (time.time() if now is None else now) - keep_for.total_seconds()
    expired = [path for path in folders[:-1] if path.stat().st_mtime < cutoff]
    for path in expired:
        shutil.rmtree(path, ignore_errors=True)
    return expired
