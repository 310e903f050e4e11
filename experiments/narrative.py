"""The words of an A/B report: the headline sentence and how to read a cost per incremental conversion.

Kept apart from the statistics so the wording can change without touching a number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: how arms with conventional names read in sentences
ARM_LABELS = {"bau": "business as usual", "holdout": "the no-contact holdout", "model": "the model"}


def _label(arm: str) -> str:
    return ARM_LABELS.get(arm, f"the {arm} arm")


def _pct(rate: float) -> str:
    return f"{rate:.2%}" if abs(rate) < 0.01 else f"{rate:.1%}"


def _points(values: tuple[float, ...]) -> tuple[str, ...]:
    """Percentage points with enough decimals to tell the interval's ends apart."""
    digits = 1 if max(abs(v) for v in values) * 100 >= 0.5 else 2
    rounded = (round(v * 100, digits) for v in values)
    return tuple(f"{v:+.{digits}f}" if v != 0 else f"{0:.{digits}f}" for v in rounded)


def _p_text(p: float, comparisons: int) -> str:
    text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return text + (f" (Holm-adjusted for {comparisons} comparisons)" if comparisons > 1 else "")


def headline(arms: pd.DataFrame, cmp: pd.DataFrame, control: str, alpha: float) -> dict[str, object]:
    """The one sentence a marketer reads first, and the numbers behind it.

    The winner is the arm with the largest uplift among those significantly better than the
    control after the Holm correction; without one, the sentence reports the best arm anyway.
    """
    wins = cmp[cmp["significant"] & (cmp["uplift_abs"] > 0)]
    best = (wins if len(wins) else cmp)["uplift_abs"].fillna(-np.inf).idxmax()
    row = cmp.loc[best]
    level = f"{1 - alpha:.0%}"
    diff, lo, hi = _points((row["uplift_abs"], row["abs_lo"], row["abs_hi"]))
    text = (
        f"The {best} arm converted {_pct(row['rate'])} vs {_pct(row['control_rate'])} for {_label(control)}: "
        f"{diff} points ({level} CI {lo} to {hi}), {_p_text(row['p_adjusted'], len(cmp))}."
    )
    if len(wins):
        verdict = "win"
        text += f" Winner: {best} ({row['uplift_rel']:+.0%} relative to {control})."
    elif bool(row["significant"]):
        verdict = "loss"
        text += f" No arm beat {control}; {best} did significantly worse."
    else:
        verdict = "inconclusive"
        text += f" No arm beat {control} with {level} confidence: the difference may be chance."
    return {
        "winner": best if len(wins) else None,
        "arm": best,
        "control": control,
        "verdict": verdict,
        "rate": float(row["rate"]),
        "control_rate": float(row["control_rate"]),
        "uplift_abs": float(row["uplift_abs"]),
        "abs_lo": float(row["abs_lo"]),
        "abs_hi": float(row["abs_hi"]),
        "uplift_rel": float(row["uplift_rel"]),
        "p_adjusted": float(row["p_adjusted"]),
        "text": text,
    }


def cost_note(extra_cost: float, incremental: float, significant: bool, has_cost: bool) -> tuple[float, str]:
    """Cost per incremental conversion and a sentence on how to read it (or why it is undefined)."""
    if not has_cost:
        return float("nan"), "no cost data"
    if incremental > 0:
        value = extra_cost / incremental
        note = "" if extra_cost >= 0 else "negative: cheaper than the control and more conversions"
        if not significant:
            note = (note + "; " if note else "") + "uplift not significant, so this figure is uncertain"
        return value, note
    if extra_cost > 0:
        return float("inf"), "no incremental conversions (uplift <= 0): the extra cost bought nothing"
    return float("nan"), "no incremental conversions and no extra cost: not defined"
