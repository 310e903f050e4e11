"""`experiment analyze` from start to files: export in, analysis, report, JSON and quarantine out.

Kept out of the command so the whole path is testable without a CLI runner, and so the contacts
feed and an assignments + outcomes export go through the same checks, costs and design check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from experiments.analysis import Analysis, analyze
from experiments.caveats import design_shortfall
from experiments.design import Design
from experiments.export_tables import ARM, CUSTOMER_ID, ExportFrame, load_export
from experiments.outcomes import customer_outcomes


@dataclass
class ExportAnalysis:
    """The analysis and what went into it (the export with its quarantine, the design)."""

    analysis: Analysis
    frame: pd.DataFrame
    export: ExportFrame | None = None
    design: Design | None = None


def parse_costs(items: Sequence[str]) -> dict[str, float]:
    """`ARM=VALUE` items -> {arm: cost per customer} (arm names may hold spaces and `=`: the last `=`
    splits); one clear error for anything malformed, negative or given twice."""
    costs: dict[str, float] = {}
    for item in items:
        arm, sep, value = item.rpartition("=")
        arm = arm.strip()
        try:
            cost = float(value)
        except ValueError:
            cost = float("nan")
        if not sep or not arm or not 0 <= cost < float("inf"):
            raise ValueError(
                f"--cost must look like ARM=VALUE with a cost >= 0 (e.g. 'Mens E-Mail=0.1'), got {item!r}"
            )
        if arm in costs:
            raise ValueError(f"--cost gives arm {arm!r} twice")
        costs[arm] = cost
    return costs


def _with_costs(frame: pd.DataFrame, costs: Mapping[str, float]) -> pd.DataFrame:
    unknown = sorted(set(costs) - set(frame["arm"].astype(str)))
    if unknown:
        raise ValueError(f"--cost names arm(s) {', '.join(unknown)} not in the data "
                         f"(arms: {', '.join(sorted(frame['arm'].astype(str).unique()))})")  # fmt: skip
    return frame.assign(cost=frame["arm"].astype(str).map(costs).fillna(0.0).astype(float))


def _design_warnings(design: Design, control: str, analysis: Analysis) -> list[str]:
    if design.control != control:
        raise ValueError(f"the design's control is {design.control!r} but --control is {control!r}")
    reached = analysis.arms["n"].astype(int).to_dict()
    extra = sorted(set(reached) - set(design.n_per_arm))
    lines = [f"arm(s) {', '.join(extra)} are not in the design"] if extra else []
    return lines + design_shortfall(reached, design.n_per_arm)


def analyze_export(
    assignments: pd.DataFrame,
    control: str,
    outcome_column: str | None = None,
    outcomes: pd.DataFrame | None = None,
    contacts: pd.DataFrame | None = None,
    arm_column: str = ARM,
    id_column: str = CUSTOMER_ID,
    segment: str | None = None,
    costs: Mapping[str, float] | None = None,
    design: Design | None = None,
    planned_shares: Mapping[str, float] | None = None,
    alpha: float = 0.05,
) -> ExportAnalysis:
    """Analyse an export: assignments with outcomes (same or another table) or with the contacts feed."""
    if outcomes is not None and contacts is not None:
        raise ValueError("give the outcomes table or the contacts feed, not both")
    if planned_shares is None and design is not None:
        planned_shares = design.shares
    export = None
    if contacts is not None:
        renamed = assignments.rename(columns={arm_column: ARM, id_column: CUSTOMER_ID})
        frame = customer_outcomes(contacts, renamed, outcome_column or "converted_at")
        if segment is not None:
            if segment not in renamed.columns:
                raise ValueError(f"the assignments table has no segment column {segment!r}")
            frame["segment"] = renamed[segment].astype("string").fillna("(missing)").to_numpy()
        outcome, loud, unmeasured = (
            frame.attrs["outcome"],
            list(frame.attrs["warnings"]),
            frame.attrs["unmeasured"],
        )
    else:
        if outcome_column is None:
            raise ValueError(
                "--outcome is required with an assignments/outcomes export (e.g. --outcome visit)"
            )
        export = load_export(assignments, outcome_column, outcomes, arm_column, id_column, segment)
        frame, outcome, loud, unmeasured = (
            export.frame,
            export.outcome,
            list(export.warnings),
            export.unmeasured,
        )
        frame.attrs["notes"] = list(export.notes)
    if costs:
        frame = _with_costs(frame, costs)
    analysis = analyze(frame, control, planned_shares, alpha, outcome, loud, unmeasured)
    if design is not None:
        analysis.warnings += _design_warnings(design, control, analysis)
    return ExportAnalysis(analysis, frame, export, design)


def write_outputs(result: ExportAnalysis, out: Path, title: str, qini: list | None = None) -> dict[str, Path]:
    """The HTML report, `<stem>.json` and (when rows were rejected) `<stem>.quarantine.csv`."""
    from experiments.report import render_report
    from experiments.summary_json import write_summary

    paths = {"report": render_report(result.analysis, out, title=title, design=result.design, qini=qini)}
    extra: dict[str, object] = {}
    if result.export is not None:
        extra["rows"] = {"read": result.export.read, "used": result.export.used,
                         "quarantined": len(result.export.quarantine)}  # fmt: skip
        if len(result.export.quarantine):
            paths["quarantine"] = out.with_suffix(".quarantine.csv")
            result.export.quarantine.to_csv(paths["quarantine"], index=False)
            extra["quarantine_file"] = str(paths["quarantine"])
    paths["summary"] = write_summary(result.analysis, out.with_suffix(".json"), result.design, extra)
    return paths
