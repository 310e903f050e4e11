"""The sample-ratio check: did the arms get the customers the plan gave them?

A split far from the planned shares means broken assignment or lost logging, and then no uplift
figure can be trusted; the check is a chi-square of the counts against the planned shares.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: p-value below which the split of customers across arms is called a sample-ratio mismatch
SRM_THRESHOLD = 0.001


def sample_ratio(observed: pd.Series, planned: Mapping[str, float] | None) -> dict[str, object]:
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
