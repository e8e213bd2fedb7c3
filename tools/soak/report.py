"""The soak's printed summary: scenarios, differences, and the cost of every run."""

from __future__ import annotations

from collections import Counter

from tools.soak.driver import SoakReport

SHOWN_DIFFERENCES = 40


def print_report(report: SoakReport, seconds: float) -> None:
    print()
    print("Scenarios:")
    for name, outcome in report.scenarios.items():
        print(f"  {name}: {outcome}")
    print()
    print(_cost_table(report))
    print()
    differences = report.differences
    if differences:
        print(
            f"{len(differences)} differences over {report.days_checked} days; by mart and column:"
        )
        by_column = Counter((item.mart, item.column) for _, item in differences)
        for (mart, column), count in by_column.most_common():
            print(f"  {mart}.{column}: {count}")
        print(f"First {min(len(differences), SHOWN_DIFFERENCES)}:")
        for day, item in differences[:SHOWN_DIFFERENCES]:
            print(f"  day {day + 1}: {item}")
    if report.unexercised:
        print(f"Scenarios never exercised: {', '.join(report.unexercised)}.")
    print(
        f"Soak {'PASSED' if report.passed else 'FAILED'}: {report.days_checked} days checked, "
        f"{len(differences)} differences, {len(report.costs)} runs, {seconds:.0f} s wall time."
    )


def _cost_table(report: SoakReport) -> str:
    header = (
        f"{'day':>3}  {'run':<44} {'status':<7} {'listed':>6} {'lake files':>10} "
        f"{'lake KiB':>9} {'ledger files':>12} {'ledger KiB':>10} {'seconds':>7} {'CPU s':>6}"
    )
    lines = [
        "Run costs (objects listed by the ingest; lake and ledger files and bytes read by the "
        "run's process, dbt's DuckDB reads excluded; wall time; CPU time with dbt's):",
        header,
        "-" * len(header),
    ]
    for cost in report.costs:
        listed = "" if cost.objects_listed is None else str(cost.objects_listed)
        lines.append(
            f"{cost.day + 1:>3}  {cost.what[:44]:<44} {cost.status:<7} {listed:>6} "
            f"{cost.lake_files:>10} {cost.lake_bytes / 1024:>9.1f} {cost.ledger_files:>12} "
            f"{cost.ledger_bytes / 1024:>10.1f} {cost.seconds:>7.1f} {cost.cpu_seconds:>6.1f}"
        )
    total = sum(cost.seconds for cost in report.costs)
    cpu = sum(cost.cpu_seconds for cost in report.costs)
    lines.append(
        f"{'':>3}  {'all runs':<44} {'':<7} {'':>6} {'':>10} {'':>9} {'':>12} {'':>10} "
        f"{total:>7.1f} {cpu:>6.1f}"
    )
    return "\n".join(lines)
