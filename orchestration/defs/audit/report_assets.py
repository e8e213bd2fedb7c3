"""The monthly audit review report (NIST 800-53 AU-6) from the compliance marts."""

from contextlib import nullcontext
from functools import partial

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from orchestration.lib.audit.review_report import (
    DEFAULT_COVERAGE_GAP_DAYS,
    REPORT_PREFIX,
    AthenaMarts,
    ReportError,
    build_report,
    open_duckdb_marts,
)
from orchestration.lib.environment import DBT_PROJECT_DIR, ConfigurationError, Settings
from orchestration.lib.lake.catalog import open_lake
from orchestration.lib.lake.store import open_store
from orchestration.lib.publish.marts import MissingMartsError
from orchestration.lib.transform.exposures import REVIEW_REPORT_EXPOSURE, load_exposure

REVIEW_REPORT = dg.AssetKey(["reports", "review_report"])
REVIEW_REPORT_MART_KEYS = [
    dg.AssetKey([mart]) for mart in load_exposure(REVIEW_REPORT_EXPOSURE).marts
]
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"


class ReviewReportConfig(dg.Config):
    """Which month to report on, and what counts as a coverage gap."""

    month: str | None = Field(
        default=None,
        description="Month to report on, YYYY-MM (UTC); default: the month of the newest finding.",
    )
    coverage_gap_days: int = Field(
        default=DEFAULT_COVERAGE_GAP_DAYS,
        ge=1,
        description="An account and Region with no finding for more than this many days is a gap.",
    )
    schema_name: str = Field(
        default="main", description="DuckDB schema holding the marts (local target only)."
    )


# Unpartitioned on purpose: the pipeline job runs with a daily partition key, and a monthly-
# partitioned asset could not be in it, so `make run` would produce no report. The month is run
# config instead; the monthly schedule passes the month just ended.
@dg.asset(
    key=REVIEW_REPORT,
    group_name="audit",
    deps=REVIEW_REPORT_MART_KEYS,
    # The warehouse pool keeps this reader from running while dbt holds DuckDB's one write lock.
    pool="guardduty_warehouse",
    kinds={"html", "csv"},
    description=(
        "The monthly review report (AU-6) in GUARDDUTY_REPORT_DIR/review/<YYYY-MM>/: index.html "
        "(offline, no network) and csv/*.csv. Totals and trends by severity, finding type, "
        "account and country; new Critical and High findings with their archive status; archive "
        "compliance and findings open past target; coverage gaps; first-seen countries and ASNs; "
        "and the evidence trail (run id, data time range, the lake snapshots read, which it tags "
        "review-<YYYY-MM> so maintenance keeps them, lake ledger counts, dbt test results)."
    ),
)
def review_report(
    context: dg.AssetExecutionContext,
    config: ReviewReportConfig,
    s3: S3Resource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    if settings.uses_athena:
        athena = AthenaMarts(
            schema=settings.athena_schema,
            work_group=settings.athena_workgroup,
            region_name=settings.aws_region,
        )
        open_reader = partial(nullcontext, athena)
    else:
        open_reader = partial(open_duckdb_marts, settings.duckdb_path, schema=config.schema_name)
    lake = open_lake(settings)
    try:
        data, keys = build_report(
            open_reader,
            lake=lake,
            report_store=open_store(settings.report_dir, s3.get_client),
            month=config.month,
            run_id=context.run.run_id,
            dbt_target_dir=DBT_TARGET_DIR,
            coverage_gap_days=config.coverage_gap_days,
        )
    except (MissingMartsError, ConfigurationError, ReportError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    page = f"{settings.report_dir}/{REPORT_PREFIX}/{data.month.label}/index.html"
    context.log.info("review report for %s written to %s", data.month.label, page)
    # Imported here: maintenance loads pyarrow, which loading the definitions does not need.
    from orchestration.lib.lake.maintenance import keep_snapshots

    # Kept through the retention (AU-11): the report can be re-run as of the snapshots it read.
    keep_snapshots(lake, data.lake_snapshots.ids, f"{REPORT_PREFIX}-{data.month.label}")
    tests = data.dbt_tests
    return dg.MaterializeResult(
        metadata={
            "month": data.month.label,
            "path": dg.MetadataValue.path(page),
            "files": dg.MetadataValue.int(len(keys)),
            "findings_in_month": dg.MetadataValue.int(data.total_findings),
            "new_critical_high": dg.MetadataValue.int(len(data.new_critical_high.rows)),
            "open_past_target": dg.MetadataValue.int(len(data.open_past_target.rows)),
            "coverage_gaps": dg.MetadataValue.int(len(data.coverage_gaps.rows)),
            "ledger_objects_read": dg.MetadataValue.int(data.ledger.objects_read),
            "ledger_balanced": dg.MetadataValue.bool(data.ledger.balanced),
            **{
                f"lake_snapshot_{name}": str(snapshot_id)
                for name, snapshot_id in data.lake_snapshots.ids.items()
            },
            "lake_snapshots": data.lake_snapshots.argument,
            "dbt_tests": dg.MetadataValue.json(tests.counts),
            "dbt_results_from_this_run": dg.MetadataValue.bool(tests.from_this_run),
            "source": data.source,
        }
    )
