"""Numeric outcomes (spend, number of visits): difference in means with Welch's interval.

Welch's t interval does not assume equal variances, which matters when a treatment changes who
spends. Spend is heavy-tailed (most customers spend nothing, a few spend a lot); the t interval
is still right for large arms by the central limit theorem, but a handful of big spenders can move
a mean, so `tail_note` says how concentrated the total is and the report prints it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: share of an arm's total held by its top 1% of customers above which the report warns
HEAVY_TAIL_SHARE = 0.5


def arm_moments(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per arm: n, total, mean and the sample variance (ddof=1) of `column`."""
    grouped = frame.groupby("arm", sort=False)[column]
    return pd.DataFrame(
        {"n": grouped.size(), "total": grouped.sum(), "mean": grouped.mean(), "var": grouped.var()}
    )


def mean_interval(mean: np.ndarray, var: np.ndarray, n: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    """t interval of each arm's mean (NaN for fewer than two customers)."""
    from scipy.stats import t

    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = t.ppf(1 - alpha / 2, np.where(n > 1, n - 1, np.nan)) * np.sqrt(np.asarray(var) / n)
    return np.asarray(mean) - half, np.asarray(mean) + half


def compare_means(
    mean_t: np.ndarray,
    var_t: np.ndarray,
    n_t: np.ndarray,
    mean_c: np.ndarray,
    var_c: np.ndarray,
    n_c: np.ndarray,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Treated vs control means, vectorised over comparisons: the same keys as `compare_proportions`.

    Absolute difference with Welch's interval and two-sided p-value; relative difference
    (mean_t / mean_c - 1) with a delta-method interval, NaN where the control mean is 0.
    """
    from scipy.stats import t

    mt, vt, nt, mc, vc, nc = (
        np.asarray(a, dtype=np.float64) for a in (mean_t, var_t, n_t, mean_c, var_c, n_c)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        st, sc = vt / nt, vc / nc
        se = np.sqrt(st + sc)
        df = (st + sc) ** 2 / (st**2 / (nt - 1) + sc**2 / (nc - 1))
        diff = mt - mc
        crit = t.ppf(1 - alpha / 2, df)
        stat = diff / se
        p = np.where(se > 0, 2 * t.sf(np.abs(stat), df), np.where(diff == 0, 1.0, 0.0))
        rel = mt / mc - 1.0
        rel_se = np.sqrt(st / mc**2 + mt**2 * sc / mc**4)
        rel_crit = t.ppf(1 - alpha / 2, df)
    valid = (nt > 1) & (nc > 1)
    rel_ok = valid & (mc != 0)
    nan = np.full_like(diff, np.nan)
    return {
        "rate": mt,
        "control_rate": mc,
        "uplift_abs": np.where(valid, diff, nan),
        "abs_lo": np.where(valid, diff - crit * se, nan),
        "abs_hi": np.where(valid, diff + crit * se, nan),
        "uplift_rel": np.where(rel_ok, rel, nan),
        "rel_lo": np.where(rel_ok, rel - rel_crit * rel_se, nan),
        "rel_hi": np.where(rel_ok, rel + rel_crit * rel_se, nan),
        "p_value": np.where(valid, p, nan),
    }


def tail_note(frame: pd.DataFrame, column: str, name: str) -> str | None:
    """A sentence when the outcome is heavy-tailed in some arm (top 1% hold most of its total)."""
    shares = []
    for arm, values in frame.groupby("arm", sort=False)[column]:
        total = values.abs().sum()
        top = max(1, int(np.ceil(len(values) * 0.01)))
        if total > 0 and len(values) >= 100:
            shares.append((float(np.sort(values.abs().to_numpy())[-top:].sum() / total), str(arm)))
    if not shares:
        return None
    share, arm = max(shares)
    zeros = float((frame[column] == 0).mean())
    if share < HEAVY_TAIL_SHARE:
        return None
    return (
        f"{name} is heavy-tailed: the top 1% of customers in arm {arm!r} hold {share:.0%} of its total "
        f"and {zeros:.0%} of all customers have 0. Means (and Welch intervals) can move with a few large "
        "values: check that one customer does not decide the result."
    )
