import shutil
import sys
from pathlib import Path

import dagster as dg

from orchestration.lib.audit.alerts import SnsResource
from orchestration.lib.aws.guardduty import GuardDutyResource
from orchestration.lib.aws.s3 import CachedS3Resource
from orchestration.lib.environment import (
    DBT_PROJECT_DIR,
    export_for_dbt,
    get_audit_settings,
    get_settings,
)
from orchestration.lib.publish.quicksight.resource import QuickSightResource
from orchestration.lib.transform.dbt_resource import DbtCli


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    export_for_dbt(settings)
    return dg.Definitions(
        resources={
            # The configuration, validated once as the definitions load; assets, checks and
            # sensors take it as a parameter (dg.ResourceParam[Settings]), so tests can pass theirs.
            "settings": settings,
            "audit_settings": get_audit_settings(),
            # Credentials come from the standard AWS chain (role, profile or AWS_* variables),
            # never from configuration; AWS_ENDPOINT_URL_S3 points boto3 at another S3 server.
            "s3": CachedS3Resource(region_name=settings.aws_region, max_attempts=5),
            "quicksight": QuickSightResource(region_name=settings.aws_region, max_attempts=5),
            "guardduty": GuardDutyResource(region_name=settings.aws_region, max_attempts=5),
            "sns": SnsResource(region_name=settings.aws_region, max_attempts=5),
            "dbt": DbtCli(
                project_dir=str(DBT_PROJECT_DIR),
                profiles_dir=str(DBT_PROJECT_DIR),
                target=settings.dbt_target,
                dbt_executable=_dbt_executable(),
            ),
        }
    )


def _dbt_executable() -> str:
    """The dbt installed beside this Python, so runs work without an activated virtualenv."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else shutil.which("dbt") or "dbt"
