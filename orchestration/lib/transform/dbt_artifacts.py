"""What one dbt invocation leaves for the next: its parse state, and a bounded folder of artifacts;
and what the manifest was made from.

dagster-dbt gives every invocation its own folder under the project's `target/` and seeds it with
`target/partial_parse.msgpack`. The one written when the image or the manifest was built was made
with another profile (another warehouse path, bucket or workgroup), and dbt then parses the whole
project again on every run; the folders pile up, one per invocation, for as long as the pipeline
runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from importlib import metadata
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


def manifest_fingerprint(project_dir: Path, target: str, environ: Mapping[str, str]) -> str:
    """What dbt's manifest is made of: every project file's content, the target, the installed dbt
    packages' versions and the environment variables the project reads with ``env_var``.

    ``make run`` compares it with the one recorded when the manifest was written, and skips
    ``dbt parse`` (4-5 s of every run, most of it dbt's start-up) when nothing changed.
    """
    digest = hashlib.sha256()
    variables: set[str] = set()
    for path in sorted(_project_files(project_dir)):
        content = path.read_bytes()
        variables.update(_ENV_VAR.findall(content.decode("utf-8", errors="replace")))
        digest.update(f"{path.relative_to(project_dir)}\0{len(content)}\0".encode())
        digest.update(content)
    for package in ("dbt-core", "dbt-duckdb", "dbt-athena"):
        digest.update(f"{package}={_installed_version(package)}\0".encode())
    digest.update(f"target={target}\0".encode())
    for name in sorted(variables):
        digest.update(f"{name}={environ.get(name)}\0".encode())
    return digest.hexdigest()


_ENV_VAR = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")
# dbt's own output, and the dbt_packages it would install, are not sources of the manifest.
_NOT_SOURCES = {"target", "logs", "dbt_packages"}


def _project_files(project_dir: Path) -> Iterator[Path]:
    for path in project_dir.iterdir():
        if path.name in _NOT_SOURCES or path.name.startswith("."):
            continue
        if path.is_dir():
            yield from (child for child in path.rglob("*") if child.is_file())
        elif path.is_file():
            yield path


def _installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
