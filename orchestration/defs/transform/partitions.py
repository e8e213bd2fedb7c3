import os

import dagster as dg

# end_offset=1 makes today's (still filling) partition runnable, as findings keep arriving.
DAILY_PARTITIONS = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("GUARDDUTY_PARTITIONS_START", "").strip() or "2024-01-01",
    end_offset=1,
)
