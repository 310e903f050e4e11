"""What an A/B test says: per-arm outcome, uplift against the control with intervals, and checks.

Input is one row per customer (arm, the outcome, optionally channel, cost, segment, score); the
contacts feed and experiment exports are turned into that shape by `experiments.outcomes` and
`experiments.export_tables`, the sentences come from `experiments.narrative`, and what cannot be
estimated is flagged by `experiments.caveats`. Binary outcomes: Wilson for each arm's rate,
Agresti-Caffo for the difference (a Wald interval with one success and one failure added, well
behaved at small counts) and the test that matches it, log-adjusted for the ratio. Numeric
outcomes (spend): Welch (`experiments.mean_difference`). p-values are Holm-corrected across the
comparisons with the control.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.caveats import flag_comparisons, flag_segments
from experiments.mean_difference import compare_means, mean_interval, tail_note
from experiments.narrative import cost_note, headline
from experiments.outcome_values import CONVERSION, Outcome
from experiments.sample_ratio import sample_ratio
from optichannel.assignment import check_shares
from optichannel.channels import ACTIONS
from optichannel.uplift_metrics import QiniSummary, qini_summary


@dataclass
class Analysis:
    """Everything the report shows, as DataFrames plus a headline in words.

    For a numeric outcome the arms' `rate` column holds the mean and `conversions` the total, so
    one table shape serves both kinds; `outcome` says which it is. `warnings` are the loud ones
    (printed on the terminal and at the top of the report), `notes` the quiet data notes.
    """

    control: str
    alpha: float
    arms: pd.DataFrame
    comparisons: pd.DataFrame
    srm: dict[str, object]
    headline: dict[str, object]
    by_channel: pd.DataFrame | None = None
    by_segment: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    outcome: Outcome = CONVERSION
    warnings: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        """Customers analysed (equals the rows of the input frame)."""
        return int(self.arms["n"].sum())


def compare_proportions(
    conv_t: np.ndarray, n_t: np.ndarray, conv_c: np.ndarray, n_c: np.ndarray, alpha: float = 0.05
) -> dict[str, np.ndarray]:
    """Treated vs control conversion, vectorised over comparisons (or simulated experiments).

    Returns rates, absolute uplift with its interval and p-value, and relative uplift (ratio - 1)
    with its interval.
    """
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    conv_t, n_t, conv_c, n_c = (np.asarray(a, dtype=np.float64) for a in (conv_t, n_t, conv_c, n_c))
    with np.errstate(invalid="ignore", divide="ignore"):
        abs_lo, abs_hi = confint_proportions_2indep(
            conv_t, n_t, conv_c, n_c, method="agresti-caffo", compare="diff", alpha=alpha
        )
        rel_lo, rel_hi = confint_proportions_2indep(
            conv_t, n_t, conv_c, n_c, method="log-adjusted", compare="ratio", alpha=alpha
        )
        test = test_proportions_2indep(conv_t, n_t, conv_c, n_c, method="agresti-caffo", compare="diff")
        rate_t, rate_c = conv_t / n_t, conv_c / n_c
        return {
            "rate": rate_t,
            "control_rate": rate_c,
            "uplift_abs": rate_t - rate_c,
            "abs_lo": np.asarray(abs_lo, dtype=np.float64),
            "abs_hi": np.asarray(abs_hi, dtype=np.float64),
            "uplift_rel": rate_t / rate_c - 1.0,
            "rel_lo": np.asarray(rel_lo, dtype=np.float64) - 1.0,
            "rel_hi": np.asarray(rel_hi, dtype=np.float64) - 1.0,
            "p_value": np.asarray(test.pvalue, dtype=np.float64),
        }


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (as statsmodels' multipletests(method="holm")).

    Written out because statsmodels forces a full garbage collection on every Holm call, which
    costs more than the whole analysis in a long-lived process.
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def _check_frame(frame: pd.DataFrame, control: str, outcome: Outcome) -> pd.DataFrame:
    column = outcome.column
    missing = [c for c in ("customer_id", "arm", column) if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame misses column(s) {', '.join(missing)}; has {', '.join(frame.columns)}")
    if frame["arm"].isna().any():
        raise ValueError(f"arm is missing for {int(frame['arm'].isna().sum()):,} customers")
    values = pd.to_numeric(frame[column], errors="coerce")
    if outcome.binary:
        bad = int((~values.isin([0, 1])).sum())
        if bad:
            raise ValueError(f"{column} must be 0 or 1; {bad:,} of {len(frame):,} rows are not")
    elif not np.isfinite(values).all():
        raise ValueError(
            f"{outcome.name} must be a finite number; {int((~np.isfinite(values)).sum()):,} rows are not"
        )
    if len(frame) and values.nunique() == 1:
        raise ValueError(
            f"outcome {outcome.name!r} is {values.iloc[0]:g} for all {len(frame):,} customers: "
            "there is nothing to compare (is it the right column?)"
        )
    dupes = int(frame["customer_id"].duplicated().sum())
    if dupes:
        raise ValueError(f"customer_id must be unique (one row per customer); {dupes:,} duplicates")
    arms = frame["arm"].astype(str).unique().tolist()
    if control not in arms:
        raise ValueError(f"control arm {control!r} not found; arms in the data: {', '.join(sorted(arms))}")
    if len(arms) < 2:
        raise ValueError(f"need the control and at least one other arm; found only {control!r}")
    out = frame.assign(arm=frame["arm"].astype(str))
    out[column] = values.astype(np.int64) if outcome.binary else values.astype(np.float64)
    if "cost" in out.columns:
        out["cost"] = pd.to_numeric(out["cost"], errors="coerce").fillna(0.0)
    return out


def _groups(data: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """n, total (`conversions`), mean (`rate`) and variance of the outcome per group."""
    grouped = data.groupby(keys, observed=True, sort=False)[column]
    out = pd.DataFrame({"n": grouped.size(), "conversions": grouped.sum()})
    out["rate"] = out["conversions"] / out["n"]
    out["var"] = grouped.var()
    return out


def _compare(treated: pd.DataFrame, control: pd.DataFrame, outcome: Outcome, alpha: float) -> dict:
    """Each treated row against its control row (aligned frames of `_groups`)."""
    if outcome.binary:
        return compare_proportions(
            treated["conversions"], treated["n"], control["conversions"], control["n"], alpha
        )
    return compare_means(
        treated["rate"], treated["var"], treated["n"], control["rate"], control["var"], control["n"], alpha
    )


def _by_channel(data: pd.DataFrame, arm_order: list[str]) -> pd.DataFrame:
    grouped = data.groupby(["arm", "channel"], observed=True)["converted"].agg(n="size", conversions="sum")
    out = grouped.reset_index()
    out["share_of_arm"] = out["n"] / out.groupby("arm")["n"].transform("sum")
    out["rate"] = out["conversions"] / out["n"]
    out["_arm"] = out["arm"].map({name: i for i, name in enumerate(arm_order)})
    out["_channel"] = out["channel"].map({name: i for i, name in enumerate(ACTIONS)}).fillna(len(ACTIONS))
    out = out.sort_values(["_arm", "_channel", "channel"])
    return out.drop(columns=["_arm", "_channel"]).reset_index(drop=True)


def _by_segment(
    data: pd.DataFrame, control: str, order: list[str], alpha: float, outcome: Outcome
) -> pd.DataFrame:
    counts = _groups(data, ["segment", "arm"], outcome.column).reset_index()
    ctrl = counts[counts["arm"] == control].set_index("segment")
    rows = counts[counts["arm"] != control].reset_index(drop=True)
    matched = ctrl.reindex(rows["segment"]).reset_index(drop=True)
    rows["control_n"] = matched["n"].fillna(0).astype(np.int64).to_numpy()
    rows["control_conversions"] = matched["conversions"].fillna(0).to_numpy()
    stats = _compare(rows, matched.fillna({"n": 0, "conversions": 0}), outcome, alpha)
    for key in ("rate", "control_rate", "uplift_abs", "abs_lo", "abs_hi", "p_value"):
        rows[key] = np.asarray(stats[key], dtype=np.float64)
    rows["_arm"] = rows["arm"].map({name: i for i, name in enumerate(order)})
    return rows.sort_values(["segment", "_arm"]).drop(columns=["_arm", "var"]).reset_index(drop=True)


def _arms_table(
    data: pd.DataFrame, order: list[str], planned: Mapping[str, float], alpha: float, outcome: Outcome
) -> pd.DataFrame:
    """One row per arm in `order` (planned arms without customers included, with n = 0)."""
    from statsmodels.stats.proportion import proportion_confint

    arms = _groups(data, ["arm"], outcome.column).reindex(order)
    arms["n"] = arms["n"].fillna(0).astype(np.int64)
    arms["conversions"] = arms["conversions"].fillna(0)
    arms.index.name = "arm"
    arms["share"] = arms["n"] / arms["n"].sum()
    arms["planned_share"] = [float(planned.get(a, np.nan)) for a in order]
    if outcome.binary:
        with np.errstate(invalid="ignore", divide="ignore"):
            lo, hi = proportion_confint(arms["conversions"], arms["n"], alpha=alpha, method="wilson")
    else:
        lo, hi = mean_interval(arms["rate"], arms["var"], arms["n"], alpha)
    rate = arms["rate"].to_numpy(dtype=np.float64)
    # Wilson's bounds are computed in floating point: at 0/n the lower one can come out at 1e-20, above the
    # rate itself; an interval always holds its estimate
    low, high = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        arms["rate_lo"], arms["rate_hi"] = np.where(low > rate, rate, low), np.where(high < rate, rate, high)
    has_cost = "cost" in data.columns
    arms["cost"] = data.groupby("arm")["cost"].sum().reindex(order).fillna(0.0) if has_cost else np.nan
    arms["cost_per_customer"] = arms["cost"] / arms["n"].where(arms["n"] > 0)
    return arms


def _comparisons(
    arms: pd.DataFrame, control: str, alpha: float, has_cost: bool, outcome: Outcome
) -> pd.DataFrame:
    """Each non-control arm against the control: uplift, Holm-adjusted p, incremental outcome, cost."""
    treated = [a for a in arms.index if a != control]
    ctrl = arms.loc[[control] * len(treated)].reset_index(drop=True)
    cmp = pd.DataFrame(index=pd.Index(treated, name="arm"))
    cmp["n"] = arms.loc[treated, "n"]
    cmp["control_n"] = int(arms.loc[control, "n"])
    stats = _compare(arms.loc[treated].reset_index(drop=True), ctrl, outcome, alpha)
    for key, values in stats.items():
        cmp[key] = np.asarray(values, dtype=np.float64)
    cmp["p_adjusted"] = holm(cmp["p_value"].fillna(1.0).to_numpy())
    cmp.loc[cmp["p_value"].isna(), "p_adjusted"] = np.nan
    cmp["significant"] = (cmp["p_adjusted"] < alpha).fillna(False).astype(bool)
    cmp["incremental"] = cmp["uplift_abs"] * cmp["n"]
    cmp["incremental_lo"] = cmp["abs_lo"] * cmp["n"]
    cmp["incremental_hi"] = cmp["abs_hi"] * cmp["n"]
    ctrl_row = arms.loc[control]
    cmp["extra_cost"] = arms.loc[treated, "cost"] - ctrl_row["cost"] * cmp["n"] / ctrl_row["n"]
    costs = [
        cost_note(extra, incremental, significant, has_cost)
        for extra, incremental, significant in zip(
            cmp["extra_cost"], cmp["incremental"], cmp["significant"], strict=True
        )
    ]
    cmp["cost_per_incremental"] = [value for value, _ in costs]
    cmp["cost_note"] = [note for _, note in costs]
    return cmp


def analyze(
    frame: pd.DataFrame,
    control: str,
    planned_shares: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    outcome: Outcome = CONVERSION,
    warnings: list[str] | None = None,
    unmeasured: Sequence[str] = (),
) -> Analysis:
    """Analyse a per-customer frame (customer_id, arm, the outcome [, channel, cost, segment]).

    Without `planned_shares`, a `planned_share` column (as written by `experiment assign`) is used
    for the sample-ratio check; without either, the check is skipped and says so. Planned arms
    without customers stay in the tables as "not estimable" and are warned about; `warnings`
    carries the input's own loud lines (e.g. from reading an export) to the top of the report, and
    `unmeasured` the arms whose outcomes the export never recorded (their comparisons are blank).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    data = _check_frame(frame, control, outcome)
    if planned_shares is None and "planned_share" in data.columns:
        planned_shares = data.groupby("arm", sort=False)["planned_share"].first().to_dict()
    if planned_shares is not None:
        planned_shares = check_shares(planned_shares)
    order = [a for a in (planned_shares or {}) if a in set(data["arm"]) or planned_shares[a] > 0]
    order += sorted(set(data["arm"]) - set(order))
    order = [control] + [a for a in order if a != control]
    arms = _arms_table(data, order, planned_shares or {}, alpha, outcome)
    cmp = _comparisons(arms, control, alpha, "cost" in data.columns, outcome)
    loud = list(warnings or []) + flag_comparisons(arms, cmp, control, outcome, unmeasured)
    arms.loc[arms.index.isin(list(unmeasured)), ["rate", "rate_lo", "rate_hi"]] = np.nan  # not measured
    segments = None
    if "segment" in data.columns:
        segments = _by_segment(data, control, order, alpha, outcome)
        loud += flag_segments(segments, control, unmeasured)
    notes = list(frame.attrs.get("notes", []))
    if not outcome.binary and (tails := tail_note(data, outcome.column, outcome.name)):
        notes.append(tails)
    result = Analysis(
        control=control,
        alpha=alpha,
        arms=arms,
        comparisons=cmp,
        srm=sample_ratio(arms["n"], planned_shares),
        headline=headline(arms, cmp, control, alpha, outcome),
        by_channel=_by_channel(data, order) if "channel" in data.columns and outcome.binary else None,
        by_segment=segments,
        notes=notes,
        outcome=outcome,
        warnings=loud,
    )
    if result.n_rows != len(frame):
        raise RuntimeError(f"counts do not reconcile: {result.n_rows} analysed vs {len(frame)} rows")
    return result


def qini_for(frame: pd.DataFrame, arm: str, control: str, score_col: str = "score") -> QiniSummary:
    """Qini curve of the model's scores on `arm` (treated) against `control`, from a per-customer frame."""
    if score_col not in frame.columns:
        raise ValueError(f"no {score_col!r} column: the Qini curve needs the model's uplift scores")
    both = frame[frame["arm"].astype(str).isin([arm, control])].dropna(subset=[score_col])
    treatment = (both["arm"].astype(str) == arm).astype(np.int64)
    return qini_summary(both["converted"], both[score_col], treatment, label=f"{arm} vs {control}")
