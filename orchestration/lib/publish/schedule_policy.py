"""How often the whole pipeline may run without exhausting QuickSight's daily refresh quota."""

from __future__ import annotations

# Manual (API) SPICE refreshes allowed per dataset in a rolling 24 hours, by edition.
REFRESHES_PER_DAY = {"STANDARD": 8, "ENTERPRISE": 32}

# Each pipeline run refreshes every dataset once; these leave room for a few manual refreshes.
DEFAULT_PIPELINE_CRON = {
    "STANDARD": "15 */6 * * *",  # 4 runs a day of the 8 allowed
    "ENTERPRISE": "15 * * * *",  # 24 runs a day of the 32 allowed
}


def pipeline_cron(edition: str, override: str = "") -> str:
    """The pipeline schedule: the user's cron when given, else the edition's default."""
    return override or DEFAULT_PIPELINE_CRON[edition]
