"""What one generation wrote, counted as it is written."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CorpusSummary:
    """What a call of `generate_demo_corpus` wrote.

    ``versions`` counts distinct finding versions (id, updatedAt, count); ``deliveries`` counts
    finding records written, so duplicates of a version are counted once per copy.
    ``findings_by_action_type`` counts finding ids by the action type of their current version
    (``NONE`` for findings without one).
    """

    target_dir: str
    seed: int
    end_date: str
    finding_ids: int = 0
    versions: int = 0
    deliveries: int = 0
    duplicate_deliveries: int = 0
    out_of_order_deliveries: int = 0
    objects_written: int = 0
    non_finding_objects: int = 0
    sample_findings: int = 0
    archived_findings: int = 0
    objects_by_layout: dict[str, int] = field(default_factory=dict)
    deliveries_by_layout: dict[str, int] = field(default_factory=dict)
    findings_by_action_type: dict[str, int] = field(default_factory=dict)

    def one_line(self) -> str:
        """A one-line human summary."""
        layouts = ", ".join(f"{k}={v}" for k, v in sorted(self.objects_by_layout.items()))
        return (
            f"demo corpus in {self.target_dir}: {self.finding_ids} findings, {self.versions} "
            f"versions, {self.deliveries} records ({self.duplicate_deliveries} duplicates, "
            f"{self.out_of_order_deliveries} out of order), {self.objects_written} objects "
            f"({layouts}; {self.non_finding_objects} non-findings), "
            f"{self.sample_findings} samples, {self.archived_findings} archived"
        )
