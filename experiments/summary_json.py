"""The machine-readable twin of the A/B report: `report.json` beside `report.html`.

Dashboards and notebooks read this instead of scraping HTML. Numbers that are not estimable are
`null` (JSON has no NaN or infinity), and every warning the report prints is here too, so a
pipeline that reads only the JSON is told the same things a person reading the page is.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from experiments.analysis import Analysis
from experiments.design import Design


def _num(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _arms(analysis: Analysis) -> list[dict[str, Any]]:
    level = "rate" if analysis.outcome.binary else "mean"
    return [
        {
            "arm": str(arm),
            "n": int(row["n"]),
            level: _num(row["rate"]),
            f"{level}_ci_low": _num(row["rate_lo"]),
            f"{level}_ci_high": _num(row["rate_hi"]),
            "total": _num(row["conversions"]),
            "cost": _num(row["cost"]),
        }
        for arm, row in analysis.arms.iterrows()
    ]


def _comparisons(analysis: Analysis) -> list[dict[str, Any]]:
    winners = set(analysis.headline.get("winners", []))
    return [
        {
            "arm": str(arm),
            "control": analysis.control,
            "estimable": _num(row["uplift_abs"]) is not None,
            "uplift": _num(row["uplift_abs"]),
            "ci_low": _num(row["abs_lo"]),
            "ci_high": _num(row["abs_hi"]),
            "relative_uplift": _num(row["uplift_rel"]),
            "relative_ci_low": _num(row["rel_lo"]),
            "relative_ci_high": _num(row["rel_hi"]),
            "p_value": _num(row["p_value"]),
            "p_adjusted": _num(row["p_adjusted"]),
            "significant": bool(row["significant"]),
            "winner": str(arm) in winners,
            "incremental": _num(row["incremental"]),
            "extra_cost": _num(row["extra_cost"]),
            "cost_per_incremental": _num(row["cost_per_incremental"]),
        }
        for arm, row in analysis.comparisons.iterrows()
    ]


def _segments(analysis: Analysis) -> list[dict[str, Any]] | None:
    if analysis.by_segment is None:
        return None
    return [
        {
            "segment": str(row["segment"]),
            "arm": str(row["arm"]),
            "n": int(row["n"]),
            "control_n": int(row["control_n"]),
            "uplift": _num(row["uplift_abs"]),
            "ci_low": _num(row["abs_lo"]),
            "ci_high": _num(row["abs_hi"]),
            "p_value": _num(row["p_value"]),
        }
        for _, row in analysis.by_segment.iterrows()
    ]


def summary(analysis: Analysis, design: Design | None = None, extra: dict[str, Any] | None = None) -> dict:
    """Everything the report states, as plain JSON-ready values."""
    srm = {k: v for k, v in analysis.srm.items() if k in ("checked", "mismatch", "p_value", "message")}
    out: dict[str, Any] = {
        "outcome": {
            "name": analysis.outcome.name,
            "kind": analysis.outcome.kind,
            "read_as": analysis.outcome.source,
        },
        "control": analysis.control,
        "alpha": analysis.alpha,
        "headline": analysis.headline["text"],
        "verdict": analysis.headline["verdict"],
        "winners": list(analysis.headline.get("winners", [])),
        "losers": list(analysis.headline.get("losers", [])),
        "arms": _arms(analysis),
        "comparisons": _comparisons(analysis),
        "segments": _segments(analysis),
        "sample_ratio": {k: (_num(v) if k == "p_value" else v) for k, v in srm.items()},
        "design": None if design is None else {"n_per_arm": design.n_per_arm, "power": design.power},
        "warnings": list(analysis.warnings),
        "notes": list(analysis.notes),
    }
    return out | (extra or {})


def write_summary(
    analysis: Analysis, path: Path, design: Design | None = None, extra: dict | None = None
) -> Path:
    """Write `summary` as indented JSON (strict: no NaN) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary(analysis, design, extra), indent=2, allow_nan=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    return path
