from datetime import timedelta
from typing import TYPE_CHECKING

import dagster as dg

from orchestration.defs.ingest.assets import INGEST_POOL, LAKE_FINDINGS, LAKE_QUARANTINE
from orchestration.lib.environment import Settings
from orchestration.lib.lake.catalog import open_lake

if TYPE_CHECKING:
    from orchestration.lib.lake.maintenance import MaintenancePolicy

LAKE_MAINTENANCE = dg.AssetKey(["lake", "maintenance"])


class LakeMaintenanceConfig(dg.Config):
    """Defaults justified in orchestration/lib/lake/maintenance.py."""

    small_file_megabytes: int = 32
    min_small_files: int = 2
    invisible_row_min_age_hours: int = 24
    snapshot_retention_hours: int = 24
    orphan_min_age_days: int = 3

    def policy(self) -> "MaintenancePolicy":
        from orchestration.lib.lake.maintenance import MaintenancePolicy

        return MaintenancePolicy(
            small_file_bytes=self.small_file_megabytes * 1024 * 1024,
            min_small_files=self.min_small_files,
            invisible_row_min_age=timedelta(hours=self.invisible_row_min_age_hours),
            snapshot_retention=timedelta(hours=self.snapshot_retention_hours),
            orphan_min_age=timedelta(days=self.orphan_min_age_days),
        )


@dg.asset(
    key=LAKE_MAINTENANCE,
    deps=[LAKE_FINDINGS, LAKE_QUARANTINE],
    group_name="ingest",
    kinds={"iceberg"},
    # Sharing the ingest's pool keeps compaction from racing an ingest commit (which would only
    # make the partition wait for the next run: correctness does not depend on it).
    pool=INGEST_POOL,
    description=(
        "Lake upkeep: partitions with many small files compacted into one, snapshots older than "
        "the retention expired (those a review report tagged are kept), unreferenced files "
        "deleted. Runs on the Glue catalog on AWS the same way."
    ),
)
def lake_maintenance(
    context: dg.AssetExecutionContext,
    config: LakeMaintenanceConfig,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:
    # Imported here: pyarrow and pyiceberg are not needed to load the definitions.
    from orchestration.lib.lake.maintenance import maintain_lake

    result = maintain_lake(open_lake(settings), config.policy(), log=context.log)
    metadata = {}
    for table, done in result.tables.items():
        for name, value in vars(done).items():
            metadata[f"{table}.{name}"] = value
    return dg.MaterializeResult(metadata=metadata)


lake_maintenance_job = dg.define_asset_job(
    "lake_maintenance",
    selection=dg.AssetSelection.assets(LAKE_MAINTENANCE),
    description="Compact, expire snapshots of and sweep orphan files from the lake's tables.",
)

lake_maintenance_schedule = dg.ScheduleDefinition(
    job=lake_maintenance_job,
    cron_schedule="30 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily lake maintenance at 03:30 UTC, between the pipeline's refreshes.",
)
