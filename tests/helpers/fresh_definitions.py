"""The code location loaded in a fresh interpreter for one dbt target, once per test session.

The target is read as the definitions load, so each target needs an interpreter of its own; the
jobs it resolves and the modules it imported come from the same load.
"""

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass

LOAD_AND_REPORT = """
import json, sys
from orchestration.definitions import defs
jobs = [job.name for job in defs().resolve_all_job_defs()]
print(json.dumps({"jobs": jobs, "modules": sorted(sys.modules)}))
"""


@dataclass(frozen=True)
class FreshLoad:
    jobs: frozenset[str]
    modules: frozenset[str]


@functools.cache
def definitions_loaded_afresh(target: str) -> FreshLoad:
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_REPORT],
        env={**os.environ, "DBT_TARGET": target},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    return FreshLoad(frozenset(report["jobs"]), frozenset(report["modules"]))
