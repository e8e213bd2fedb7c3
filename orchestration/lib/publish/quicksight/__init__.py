"""QuickSight as code: the Athena data source, one SPICE dataset per published mart, the dashboard,
and SPICE refreshes. Plain logic; ``orchestration/defs/publish/quicksight_assets.py`` wires it into
assets."""
