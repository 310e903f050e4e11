"""The figures a simulated deployment is judged by, all on the truth's expected values (not on
drawn outcomes, so a week of a few thousand decisions already reads clearly):

- per week and arm: true net value per decision, and its incremental part over no contact then;
- per week, the policy against business as usual two ways: paired (for each of the policy's
  decisions, what the bank's rules would have earned for the same customer at the same moment)
  and between arms (the policy arm's incremental value against the business-as-usual arm's, Welch);
- the verdicts the issue's targets ask for, in words, including when a baseline wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optichannel.channels import NONE

MODEL, BAU, HOLDOUT = "model", "bau", "holdout"
Z95 = 1.959964
#: the effective sample size below which the own-logs estimate is not to be trusted
MIN_EFFECTIVE = 1000


def _ci(values: np.ndarray) -> tuple[float, float, float]:
    mean = float(np.mean(values)) if len(values) else float("nan")
    half = Z95 * float(np.std(values, ddof=1)) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, mean - half, mean + half


def weekly(decisions: pd.DataFrame) -> pd.DataFrame:
    """(week, arm) -> decisions, true value and incremental value per decision, share contacted."""
    d = decisions.assign(
        week=decisions["day"] // 7 + 1,
        incremental=decisions["value"] - decisions["baseline"],
        contacted=decisions["channel"] != NONE,
    )
    return d.groupby(["week", "arm"]).agg(
        decisions=("value", "size"), value=("value", "mean"), incremental=("incremental", "mean"),
        contacted=("contacted", "mean"),
    )  # fmt: skip


def margins(decisions: pd.DataFrame) -> pd.DataFrame:
    """Per week: the policy's true margin over business as usual per decision, with 95% intervals,
    paired on the policy's own decisions and between the two arms."""
    d = decisions.assign(
        week=decisions["day"] // 7 + 1, incremental=decisions["value"] - decisions["baseline"]
    )
    rows = []
    for week, part in d.groupby("week"):
        mine, bau = part[part["arm"] == MODEL], part[part["arm"] == BAU]
        paired = _ci((mine["value"] - mine["bau_value"]).to_numpy())
        a, b = mine["incremental"].to_numpy(), bau["incremental"].to_numpy()
        diff = float(a.mean() - b.mean()) if len(a) and len(b) else float("nan")
        se = np.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) if len(a) > 1 and len(b) > 1 else np.nan
        rows.append({"week": week, "policy_decisions": len(mine), "paired": paired[0], "paired_lo": paired[1],
                     "paired_hi": paired[2], "arms": diff, "arms_lo": diff - Z95 * se,
                     "arms_hi": diff + Z95 * se})  # fmt: skip
    return pd.DataFrame(rows).set_index("week")


def served_versions(decisions: pd.DataFrame) -> dict[int, str]:
    """week -> the champion version(s) that decided in it, e.g. "1" or "1, 2"."""
    mine = decisions[decisions["arm"] == MODEL]
    by_week = mine.groupby(mine["day"] // 7 + 1)["version"].unique()
    return {int(w): ", ".join(sorted(map(str, v))) for w, v in by_week.items()}


def daily(decisions: pd.DataFrame) -> pd.DataFrame:
    """day -> each arm's true net value per decision that day (NaN: the arm decided nothing)."""
    return decisions.pivot_table(index="date", columns="arm", values="value", aggfunc="mean")


@dataclass
class Verdicts:
    """The targets' questions answered in sentences (a baseline's win is said, not hidden)."""

    sentences: list[str]
    rises: bool
    beats_bau: bool
    ope_covers: bool | None
    ope_effective: float | None


def verdicts(
    week: pd.DataFrame, margin: pd.DataFrame, ope: pd.DataFrame | None, served: dict[int, str] | None = None
) -> Verdicts:
    """Does the policy's true value rise week over week, does it end above business as usual
    beyond noise, and does the estimate on its own logs have the sample and cover the truth?
    `served`: week -> the champion version(s) that decided in it."""
    out = []
    policy = week.xs(MODEL, level="arm")["incremental"]
    steps = np.diff(policy.to_numpy())
    rises = bool(len(steps) and (steps > 0).all())
    served = served or {}
    trail = ", ".join(
        f"week {w}: {v:+.3f}" + (f" (v{served[w]})" if w in served else "") for w, v in policy.items()
    )
    out.append(f"True incremental value per decision of the policy by week ({trail}): "
               + ("it rises every week." if rises else "it does NOT rise every week."))  # fmt: skip
    last = margin.iloc[-1]
    beats = bool(last["paired_lo"] > 0)
    where = (f"week {margin.index[-1]}: {last['paired']:+.3f} per decision "
             f"(95% CI {last['paired_lo']:+.3f} to {last['paired_hi']:+.3f})")  # fmt: skip
    if beats:
        out.append(f"The policy ends above business as usual beyond noise ({where}).")
    elif last["paired_hi"] < 0:
        out.append(f"BUSINESS AS USUAL BEATS THE POLICY in the last week ({where}).")
    else:
        out.append(
            f"The policy is not yet distinguishable from business as usual in the last week ({where})."
        )
    covers = effective = None
    if ope is not None and "champion" in ope.index:
        row = ope.loc["champion"]
        effective = float(row["effective_n"])
        covers = bool(row["lo"] <= row["true_value"] <= row["hi"]) if "true_value" in row else None
        few = "" if effective >= MIN_EFFECTIVE else f", BELOW {MIN_EFFECTIVE:,}"
        truth = float(row.get("true_value", float("nan")))
        out.append(
            f"The final champion estimated on the deployment's own logs: {row['estimate']:.3f} per decision "
            f"(95% CI {row['lo']:.3f} to {row['hi']:.3f}, effective sample size {effective:,.0f}{few}); "
            f"true value {truth:.3f}: "
            + ("the interval covers it." if covers else "the interval does NOT cover it.")
        )
        for column, how in (("estimate", "IS ESTIMATED ABOVE"), ("true_value", "TRULY EARNS MORE THAN")):
            if column not in ope:
                continue
            best = ope[column].drop("champion").idxmax()
            if ope.loc[best, column] > row[column]:
                above = f"{ope.loc[best, column]:.3f} vs {row[column]:.3f} per decision"
                out.append(
                    f"ON THE DEPLOYMENT'S DECISIONS THE BASELINE {best!r} {how} THE CHAMPION ({above})."
                )
    return Verdicts(out, rises, beats, covers, effective)


#: the deployment's second half, in weeks, judged against its first (the issue's weeks 5-8 vs 1-4)
LATE_FROM_WEEK = 5


def heuristic_margin(decisions: pd.DataFrame, from_week: int = LATE_FROM_WEEK) -> dict[str, float] | None:
    """The service's true value per decision minus the heuristic's on the same decisions, from
    week `from_week` on (value, lo, hi: 95% interval); None when those weeks were not run."""
    if "heuristic" not in decisions:
        return None
    mine = decisions[(decisions["arm"] == MODEL) & (decisions["day"] // 7 + 1 >= from_week)]
    mine = mine.dropna(subset=["served", "heuristic"])
    if len(mine) < 2:
        return None
    value, lo, hi = _ci((mine["served"] - mine["heuristic"]).to_numpy())
    return {"value": value, "lo": lo, "hi": hi, "decisions": float(len(mine))}


def rise(
    decisions: pd.DataFrame, from_week: int = LATE_FROM_WEEK, column: str = "value"
) -> dict[str, float] | None:
    """Mean true value per decision of the service (or another per-decision `column`) in weeks
    `from_week`.. minus weeks before it, paired by customer (each customer decided in both halves:
    the mean of their late decisions minus the mean of their early ones), with a 95% interval;
    None without both halves."""
    mine = decisions[decisions["arm"] == MODEL]
    if column not in mine:
        return None
    mine = mine.dropna(subset=[column])
    late = mine["day"] // 7 + 1 >= from_week
    per = mine.groupby([mine["customer_id"], late])[column].mean().unstack()
    if per.shape[1] < 2:
        return None
    paired = (per[True] - per[False]).dropna().to_numpy()
    if len(paired) < 2:
        return None
    value, lo, hi = _ci(paired)
    return {"value": value, "lo": lo, "hi": hi, "customers": float(len(paired))}


def closer_to_oracle(decisions: pd.DataFrame) -> dict[str, float] | None:
    """`rise` of the served decisions' value minus the oracle's on the same grid (minus the
    regret): positive when the later weeks come closer to the best possible, whatever the world's
    own level does (more fatigue, another time of the month)."""
    if "oracle" not in decisions:
        return None
    return rise(decisions.assign(gain=decisions["served"] - decisions["oracle"]), column="gain")


def late_sentences(
    margin: dict[str, float] | None,
    rose: dict[str, float] | None,
    recovery: int | None,
    moved: bool,
    closer: dict[str, float] | None = None,
) -> list[str]:
    """The second half's questions in words: above the heuristic on the same decisions, rising,
    and how fast the moved customers recover (a heuristic's win is said, not hidden)."""
    out = []
    if margin is None:
        out.append(f"The run is too short to judge weeks {LATE_FROM_WEEK} on against the heuristic.")
    else:
        where = f"{margin['value']:+.3f} per decision (95% CI {margin['lo']:+.3f} to {margin['hi']:+.3f})"
        if margin["lo"] > 0:
            out.append(f"From week {LATE_FROM_WEEK} the service beats the heuristic on the same decisions "
                       f"by {where}.")  # fmt: skip
        elif margin["hi"] < 0:
            out.append(f"THE HEURISTIC BEATS THE SERVICE from week {LATE_FROM_WEEK} on the same decisions "
                       f"({where}).")  # fmt: skip
        else:
            out.append(f"From week {LATE_FROM_WEEK} the service is NOT distinguishable from the heuristic "
                       f"on the same decisions ({where}).")  # fmt: skip
    if rose is not None:
        where = f"{rose['value']:+.3f} per decision (95% CI {rose['lo']:+.3f} to {rose['hi']:+.3f})"
        verdict = "rises" if rose["lo"] > 0 else "FALLS" if rose["hi"] < 0 else "does NOT clearly rise"
        out.append(f"The service's true value per decision {verdict} from weeks 1-{LATE_FROM_WEEK - 1} to "
                   f"the later weeks, paired by customer: {where}.")  # fmt: skip
    if closer is not None:
        where = f"{closer['value']:+.3f} per decision (95% CI {closer['lo']:+.3f} to {closer['hi']:+.3f})"
        verdict = "closer to" if closer["lo"] > 0 else "FURTHER FROM" if closer["hi"] < 0 else "no closer to"
        out.append(f"Against the oracle on the same grids the later weeks are {verdict} the best possible: "
                   f"{where} less regret, paired by customer.")  # fmt: skip
    if moved:
        out.append(
            "Customers whose best channel moved are back to 80% of the others' value capture "
            + (f"in week {recovery} after the move." if recovery else "NOT within the run.")
        )
    return out
