"""Numbers a reader could misread, made "not estimable" and said out loud.

A 0% control rate makes the relative uplift infinite; a segment with no control customers has no
comparison at all; a planned arm that got nobody has no rate. Statistics code would happily print
"+inf%" or an interval from one side's data. Here such numbers become NaN (shown as "not
estimable") and each case gets a warning that the terminal and the report print first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.outcome_values import Outcome

_STATS = ("uplift_abs", "abs_lo", "abs_hi", "uplift_rel", "rel_lo", "rel_hi", "p_value", "p_adjusted")
_RELATIVE = ("uplift_rel", "rel_lo", "rel_hi")


def flag_comparisons(
    arms: pd.DataFrame, cmp: pd.DataFrame, control: str, outcome: Outcome, unmeasured: Sequence[str] = ()
) -> list[str]:
    """Blank what cannot be estimated in `cmp` (in place) and return one warning per case.

    `unmeasured` names arms whose outcome was never recorded (no customer of theirs appears in the
    outcomes): their zero is an artefact of the export, so every comparison involving one is blank.
    """
    warnings: list[str] = []
    if control in unmeasured:
        warnings.append(
            f"the control arm {control!r} has no recorded outcomes: no comparison is estimable "
            "(export the control customers' outcomes too)"
        )
    lost = cmp.index.isin(list(unmeasured)) | (control in unmeasured)
    empty = [str(a) for a in cmp.index if arms.loc[a, "n"] == 0]
    for arm in empty:
        warnings.append(f"arm {arm!r} has no customers: its {outcome.name} and uplift are not estimable")
    few = [str(a) for a in cmp.index if 0 < arms.loc[a, "n"] < 2 and not outcome.binary]
    if few:
        warnings.append(f"arm(s) {', '.join(few)} have one customer: a mean difference is not estimable")
    blank = cmp.index.isin(empty + few) | lost
    cmp.loc[blank, list(_STATS)] = np.nan
    cmp.loc[blank, "significant"] = False
    control_rate = float(arms.loc[control, "rate"])
    if control_rate == 0 and control not in unmeasured:
        what = "rate" if outcome.binary else "mean"
        warnings.append(
            f"the control arm {control!r} has a {outcome.name} {what} of 0: relative uplift is not "
            "estimable (shown as 'not estimable'); the absolute uplift in points still is"
        )
        cmp.loc[:, list(_RELATIVE)] = np.nan
    cmp[list(_RELATIVE)] = cmp[list(_RELATIVE)].replace([np.inf, -np.inf], np.nan)
    for column in ("incremental", "incremental_lo", "incremental_hi"):
        if column in cmp.columns:
            cmp.loc[blank, column] = np.nan
    return warnings


def flag_segments(segments: pd.DataFrame, control: str, unmeasured: Sequence[str] = ()) -> list[str]:
    """Blank the segment comparisons that have no control customers, or whose arm or control was
    never measured (in place); one warning for the segments without control."""
    stats = ["rate", "control_rate", "uplift_abs", "abs_lo", "abs_hi", "p_value"]
    lost = segments["arm"].isin(list(unmeasured)) | (control in unmeasured)
    segments.loc[lost, stats] = np.nan
    orphan = (segments["control_n"] == 0) & ~lost
    if not orphan.any():
        return []
    segments.loc[orphan, stats[1:]] = np.nan
    names = sorted(segments.loc[orphan, "segment"].astype(str).unique())
    return [
        f"segment(s) {', '.join(names)} have no {control!r} (control) customers: their uplift is not "
        "estimable and is not tested"
    ]


def design_shortfall(reached: dict[str, int], planned: dict[str, int]) -> list[str]:
    """A warning per arm that reached fewer customers than the design planned."""
    return [
        f"arm {arm!r} reached {reached.get(arm, 0):,} of the {n:,} customers the design planned: "
        "the test has less power than planned"
        for arm, n in planned.items()
        if reached.get(arm, 0) < n
    ]
