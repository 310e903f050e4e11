"""What an A/B test says: per-arm conversion, uplift against the control with intervals, and checks.

Input is one row per customer (arm, converted, optionally channel, cost, segment, score); the
contacts feed is turned into that shape by `experiments.outcomes`, and the sentences come from
`experiments.narrative`. Intervals: Wilson for each arm's rate, Agresti-Caffo for the difference
(a Wald interval with one success and one failure added, well behaved at small counts) and the
test that matches it, log-adjusted for the ratio; p-values are Holm-corrected across the
comparisons with the control.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from experiments.narrative import cost_note, headline
from optichannel.assignment import check_shares
from optichannel.channels import ACTIONS
from optichannel.uplift_metrics import QiniSummary, qini_summary

#: p-value below which the split of customers across arms is called a sample-ratio mismatch
SRM_THRESHOLD = 0.001


@dataclass
class Analysis:
    """Everything the report shows, as DataFrames plus a headline in words."""

    control: str
    alpha: float
    arms: pd.DataFrame
    comparisons: pd.DataFrame
    srm: dict[str, object]
    headline: dict[str, object]
    by_channel: pd.DataFrame | None = None
    by_segment: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

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


def _check_frame(frame: pd.DataFrame, control: str) -> pd.DataFrame:
    missing = [c for c in ("customer_id", "arm", "converted") if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame misses column(s) {', '.join(missing)}; has {', '.join(frame.columns)}")
    if frame["arm"].isna().any():
        raise ValueError(f"arm is missing for {int(frame['arm'].isna().sum()):,} customers")
    converted = pd.to_numeric(frame["converted"], errors="coerce")
    bad = int((~converted.isin([0, 1])).sum())
    if bad:
        raise ValueError(f"converted must be 0 or 1; {bad:,} of {len(frame):,} rows are not")
    dupes = int(frame["customer_id"].duplicated().sum())
    if dupes:
        raise ValueError(f"customer_id must be unique (one row per customer); {dupes:,} duplicates")
    arms = frame["arm"].astype(str).unique().tolist()
    if control not in arms:
        raise ValueError(f"control arm {control!r} not found; arms in the data: {', '.join(sorted(arms))}")
    if len(arms) < 2:
        raise ValueError(f"need the control and at least one other arm; found only {control!r}")
    out = frame.assign(arm=frame["arm"].astype(str), converted=converted.astype(np.int64))
    if "cost" in out.columns:
        out["cost"] = pd.to_numeric(out["cost"], errors="coerce").fillna(0.0)
    return out


def _srm(observed: pd.Series, planned: Mapping[str, float] | None) -> dict[str, object]:
    """Chi-square of the arm counts against the planned shares: a mismatch means broken assignment."""
    from scipy.stats import chisquare

    if planned is None:
        return {"checked": False, "mismatch": False, "message": "not checked: no planned shares given"}
    unplanned = sorted(set(observed.index) - set(planned))
    if unplanned:
        return {
            "checked": True,
            "mismatch": True,
            "p_value": 0.0,
            "message": f"arm(s) {', '.join(unplanned)} were not in the plan ({', '.join(planned)})",
        }
    counts = observed.reindex(list(planned), fill_value=0).to_numpy(dtype=np.float64)
    shares = np.array([planned[a] for a in planned], dtype=np.float64)
    keep = shares > 0
    expected = shares[keep] / shares[keep].sum() * counts.sum()
    stat, p_value = chisquare(counts[keep], expected)
    mismatch = bool(p_value < SRM_THRESHOLD) or bool(counts[~keep].sum() > 0)
    total = counts.sum()
    split = ", ".join(
        f"{a} {n:,.0f} ({n / total:.1%} vs {planned[a]:.1%} planned)"
        for a, n in zip(planned, counts, strict=True)
    )
    verdict = "MISMATCH: the assignment or the logging is broken" if mismatch else "ok"
    return {
        "checked": True,
        "mismatch": mismatch,
        "chi2": float(stat),
        "p_value": float(p_value),
        "observed": dict(zip(planned, counts.astype(int).tolist(), strict=True)),
        "planned": dict(planned),
        "message": f"{verdict} (chi-square p = {p_value:.3g}; {split})",
    }


def _by_channel(data: pd.DataFrame, arm_order: list[str]) -> pd.DataFrame:
    grouped = data.groupby(["arm", "channel"], observed=True)["converted"].agg(n="size", conversions="sum")
    out = grouped.reset_index()
    out["share_of_arm"] = out["n"] / out.groupby("arm")["n"].transform("sum")
    out["rate"] = out["conversions"] / out["n"]
    out["_arm"] = out["arm"].map({name: i for i, name in enumerate(arm_order)})
    out["_channel"] = out["channel"].map({name: i for i, name in enumerate(ACTIONS)}).fillna(len(ACTIONS))
    out = out.sort_values(["_arm", "_channel", "channel"])
    return out.drop(columns=["_arm", "_channel"]).reset_index(drop=True)


def _by_segment(data: pd.DataFrame, control: str, order: list[str], alpha: float) -> pd.DataFrame:
    counts = data.groupby(["segment", "arm"], observed=True)["converted"].agg(n="size", conversions="sum")
    counts = counts.reset_index()
    ctrl = counts[counts["arm"] == control].set_index("segment")
    rows = counts[counts["arm"] != control].copy()
    rows["control_n"] = rows["segment"].map(ctrl["n"]).fillna(0).astype(np.int64)
    rows["control_conversions"] = rows["segment"].map(ctrl["conversions"]).fillna(0).astype(np.int64)
    stats = compare_proportions(
        rows["conversions"], rows["n"], rows["control_conversions"], rows["control_n"], alpha
    )
    for key in ("rate", "control_rate", "uplift_abs", "abs_lo", "abs_hi", "p_value"):
        rows[key] = stats[key]
    rows["_arm"] = rows["arm"].map({name: i for i, name in enumerate(order)})
    return rows.sort_values(["segment", "_arm"]).drop(columns="_arm").reset_index(drop=True)


def _arms_table(
    data: pd.DataFrame, order: list[str], planned: Mapping[str, float], alpha: float
) -> pd.DataFrame:
    from statsmodels.stats.proportion import proportion_confint

    grouped = data.groupby("arm")
    arms = pd.DataFrame({"n": grouped.size(), "conversions": grouped["converted"].sum()}).reindex(order)
    arms.index.name = "arm"
    arms["share"] = arms["n"] / arms["n"].sum()
    arms["planned_share"] = [float(planned.get(a, np.nan)) for a in order]
    arms["rate"] = arms["conversions"] / arms["n"]
    lo, hi = proportion_confint(arms["conversions"], arms["n"], alpha=alpha, method="wilson")
    arms["rate_lo"], arms["rate_hi"] = np.asarray(lo), np.asarray(hi)
    arms["cost"] = grouped["cost"].sum().reindex(order) if "cost" in data.columns else np.nan
    arms["cost_per_customer"] = arms["cost"] / arms["n"]
    return arms


def _comparisons(arms: pd.DataFrame, control: str, alpha: float, has_cost: bool) -> pd.DataFrame:
    """Each non-control arm against the control: uplift, Holm-adjusted p, incremental conversions, cost."""
    treated = [a for a in arms.index if a != control]
    ctrl = arms.loc[control]
    cmp = pd.DataFrame(index=pd.Index(treated, name="arm"))
    cmp["n"] = arms.loc[treated, "n"]
    cmp["control_n"] = int(ctrl["n"])
    control_conv = np.full(len(treated), ctrl["conversions"])
    stats = compare_proportions(
        arms.loc[treated, "conversions"], cmp["n"], control_conv, cmp["control_n"], alpha
    )
    for key, values in stats.items():
        cmp[key] = values
    cmp["p_adjusted"] = holm(cmp["p_value"].fillna(1.0).to_numpy())
    cmp["significant"] = cmp["p_adjusted"] < alpha
    cmp["incremental"] = cmp["uplift_abs"] * cmp["n"]
    cmp["incremental_lo"] = cmp["abs_lo"] * cmp["n"]
    cmp["incremental_hi"] = cmp["abs_hi"] * cmp["n"]
    cmp["extra_cost"] = arms.loc[treated, "cost"] - ctrl["cost"] * cmp["n"] / ctrl["n"]
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
) -> Analysis:
    """Analyse a per-customer frame (customer_id, arm, converted [, channel, cost, segment]).

    Without `planned_shares`, a `planned_share` column (as written by `experiment assign`) is used
    for the sample-ratio check; without either, the check is skipped and says so.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    data = _check_frame(frame, control)
    if planned_shares is None and "planned_share" in data.columns:
        planned_shares = data.groupby("arm", sort=False)["planned_share"].first().to_dict()
    if planned_shares is not None:
        planned_shares = check_shares(planned_shares)
    order = [a for a in (planned_shares or {}) if a in set(data["arm"])]
    order += sorted(set(data["arm"]) - set(order))
    order = [control] + [a for a in order if a != control]
    arms = _arms_table(data, order, planned_shares or {}, alpha)
    cmp = _comparisons(arms, control, alpha, has_cost="cost" in data.columns)
    data_notes = list(frame.attrs.get("notes", []))
    result = Analysis(
        control=control,
        alpha=alpha,
        arms=arms,
        comparisons=cmp,
        srm=_srm(arms["n"], planned_shares),
        headline=headline(arms, cmp, control, alpha),
        by_channel=_by_channel(data, order) if "channel" in data.columns else None,
        by_segment=_by_segment(data, control, order, alpha) if "segment" in data.columns else None,
        notes=data_notes,
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
