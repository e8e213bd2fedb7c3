import dagster as dg

from orchestration.lib.environment import get_settings

# end_offset=1 makes today's (still filling) partition runnable, as findings keep arriving.
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=get_settings().partitions_start,
    end_offset=1,
)
