"""Soak harness: simulated months of GuardDuty activity through the real Dagster definitions,
with every mart compared after each simulated day to an oracle computed from the simulation.

Run ``make soak`` (60 days) or ``python -m tools.soak --days N --seed S``.
"""
