"""The words of an A/B report: the headline sentence and how to read a cost per incremental conversion.

Kept apart from the statistics so the wording can change without touching a number.
"""

from __future__ import annotations

import math

import pandas as pd

from experiments.outcome_values import CONVERSION, Outcome

#: how arms with conventional names read in sentences
ARM_LABELS = {"bau": "business as usual", "holdout": "the no-contact holdout", "model": "the model"}


def _label(arm: str) -> str:
    return ARM_LABELS.get(arm, f"the {arm} arm")


def _pct(rate: float) -> str:
    if not math.isfinite(rate):
        return "not estimable"
    return f"{rate:.2%}" if abs(rate) < 0.01 else f"{rate:.1%}"


def _points(values: tuple[float, ...]) -> tuple[str, ...]:
    """Percentage points with enough decimals to tell the interval's ends apart."""
    digits = 1 if max(abs(v) for v in values) * 100 >= 0.5 else 2
    rounded = (round(v * 100, digits) for v in values)
    return tuple(f"{v:+.{digits}f}" if v != 0 else f"{0:.{digits}f}" for v in rounded)


def _amounts(values: tuple[float, ...]) -> tuple[str, ...]:
    """Differences in a numeric outcome's own units, with enough decimals to tell the ends apart."""
    spread = max(abs(v) for v in values)
    digits = 2 if spread >= 0.1 else 4
    return tuple(f"{v:+,.{digits}f}" for v in values)


def _p_text(p: float, comparisons: int) -> str:
    text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return text + (f" (Holm-adjusted for {comparisons} comparisons)" if comparisons > 1 else "")


def _relative(value: float, control: str) -> str:
    return f"{value:+.0%} relative to {control}" if math.isfinite(value) else "relative uplift not estimable"


def _measured(row: pd.Series, arm: str, control: str, outcome: Outcome, level: str) -> tuple[str, str]:
    """The sentence's first half (what each side did) and its difference with interval."""
    if outcome.binary:
        rates = f"{_pct(row['rate'])} vs {_pct(row['control_rate'])} for {_label(control)}"
        seen = f"The {arm} arm converted {rates}"
        if not outcome.is_conversion:
            seen = f"The {arm} arm's {outcome.name} rate was {rates}"
        diff, lo, hi = _points((row["uplift_abs"], row["abs_lo"], row["abs_hi"]))
        return seen, f"{diff} points ({level} CI {lo} to {hi})"
    seen = (
        f"The {arm} arm had a mean {outcome.name} of {row['rate']:,.4g} vs {row['control_rate']:,.4g} "
        f"for {_label(control)}"
    )
    diff, lo, hi = _amounts((row["uplift_abs"], row["abs_lo"], row["abs_hi"]))
    return seen, f"{diff} per customer ({level} CI {lo} to {hi}, Welch)"


def _and(arms: list[str], cmp: pd.DataFrame, control: str) -> str:
    """ "a" alone; "a (-30% relative to c) and b (-90% ...)" for several, worst first."""
    if len(arms) == 1:
        return arms[0]
    named = [f"{a} ({_relative(cmp.loc[a, 'uplift_rel'], control)})" for a in arms]
    return ", ".join(named[:-1]) + " and " + named[-1]


def headline(
    arms: pd.DataFrame, cmp: pd.DataFrame, control: str, alpha: float, outcome: Outcome = CONVERSION
) -> dict[str, object]:
    """The one sentence a marketer reads first, and the numbers behind it.

    The sentence reports the arm with the largest uplift among those significantly better than
    the control after the Holm correction, and names every such winner; without one, it reports
    the best estimable arm anyway. Every arm significantly worse than the control is named too (a
    second loser hidden behind the first misleads). Comparisons that are not estimable never headline.
    """
    estimable = cmp[cmp["uplift_abs"].notna()]
    level = f"{1 - alpha:.0%}"
    if estimable.empty:
        text = f"No arm can be compared with {control}: every comparison is not estimable (see the warnings)."
        return {"winner": None, "winners": [], "losers": [], "arm": None, "control": control,
                "verdict": "not estimable", "text": text}  # fmt: skip
    wins = estimable[estimable["significant"] & (estimable["uplift_abs"] > 0)]
    best = (wins if len(wins) else estimable)["uplift_abs"].idxmax()
    row = cmp.loc[best]
    seen, difference = _measured(row, str(best), control, outcome, level)
    text = f"{seen}: {difference}, {_p_text(row['p_adjusted'], len(cmp))}."
    winners = [str(a) for a in wins.sort_values("uplift_abs", ascending=False).index]
    worse = estimable[estimable["significant"] & (estimable["uplift_abs"] < 0)]
    losers = [str(a) for a in worse.sort_values("uplift_abs").index]
    if len(wins) > 1:
        verdict = "win"
        named = ", ".join(f"{a} ({_relative(wins.loc[a, 'uplift_rel'], control)})" for a in winners)
        text += f" Winners (each significantly better than {control}): {named}."
    elif len(wins):
        verdict = "win"
        text += f" Winner: {best} ({_relative(row['uplift_rel'], control)})."
    elif bool(row["significant"]):
        verdict = "loss"
        text += f" No arm beat {control}; {_and(losers, estimable, control)} did significantly worse."
    else:
        verdict = "inconclusive"
        text += f" No arm beat {control} with {level} confidence: the difference may be chance."
    if losers and verdict != "loss":  # every arm that did worse is named, whatever headlines
        text += f" Significantly worse than {control}: {_and(losers, estimable, control)}."
    return {
        "winner": best if len(wins) else None,
        "winners": winners,
        "losers": losers,
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
