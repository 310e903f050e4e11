"""Outcome-proxy guard: a column that alone predicts the outcome far better than any other.

The leakage guard (`experiments.covariate_balance`) finds columns measured after treatment by their
difference between arms; a column measured during the test that tracks the outcome itself (spend in
the test window when learning "completed the offer") can look alike in every arm and still hand the
model the answer. Real pre-treatment covariates predict an outcome weakly and several of them about
as well; a proxy predicts it alone, far better than the rest. Each column is scored on its own by a
rank measure in [0, 1] that needs no model: |2 AUC - 1| for a 0/1 outcome, |Spearman rho| for a
numeric one (a missing value ranks lowest, so "empty when not converted" counts too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.targeting.learn import as_numbers

#: a column predicting at least this well on its own ...
PROXY_SCORE = 0.5
#: ... and this many times better than the best column below that score is taken as a proxy
PROXY_RATIO = 2.0
_MAX_LEVELS = 50  # text columns with more levels than this are not scored (ids, free text)


def _ranks(column: pd.Series, outcome: pd.Series) -> np.ndarray | None:
    """Ranks of the column's values, missing lowest; text by its levels' mean outcome; None when
    the column cannot be ranked (a single value, too many levels)."""
    from scipy.stats import rankdata

    numbers = None if isinstance(column.dtype, pd.CategoricalDtype) else as_numbers(column)
    if numbers is None and pd.api.types.is_datetime64_any_dtype(column):
        numbers = pd.Series(column.to_numpy(dtype="datetime64[us]").astype(np.int64), dtype=np.float64)
        numbers[column.isna().to_numpy()] = np.nan
    if numbers is None:
        text = column.astype(str).where(column.notna(), None)
        if text.nunique(dropna=True) > _MAX_LEVELS:
            return None
        numbers = outcome.groupby(text.to_numpy()).transform("mean").where(text.notna().to_numpy())
    values = numbers.to_numpy(dtype=np.float64)
    if np.unique(values[np.isfinite(values)]).size < 2 and np.isfinite(values).all():
        return None
    finite = np.isfinite(values)
    floor = values[finite].min() - 1.0 if finite.any() else 0.0
    return rankdata(np.where(finite, values, floor))


def proxy_score(column: pd.Series, outcome: pd.Series, binary: bool) -> float:
    """How well the column alone ranks the outcome, 0 (not at all) to 1 (perfectly)."""
    column, outcome = column.reset_index(drop=True), outcome.reset_index(drop=True).astype(np.float64)
    ranks = _ranks(column, outcome)
    y = outcome.to_numpy()
    if ranks is None or np.unique(y).size < 2:
        return 0.0
    if binary:
        positive = y > 0
        n1, n0 = int(positive.sum()), int((~positive).sum())
        auc = (ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)
        return float(abs(2 * auc - 1))
    from scipy.stats import rankdata

    rho = np.corrcoef(ranks, rankdata(y))[0, 1]
    return float(abs(rho)) if np.isfinite(rho) else 0.0


def outcome_proxies(
    frame: pd.DataFrame, outcome: str, features: Sequence[str], binary: bool
) -> tuple[dict[str, float], pd.Series]:
    """The proxies (column -> score) and every column's score. Never all the columns: when each
    predicts strongly, none stands out."""
    scores = pd.Series({f: proxy_score(frame[f], frame[outcome], binary) for f in features}, dtype=np.float64)
    if len(scores) < 2:
        return {}, scores
    strong = scores[scores >= PROXY_SCORE]
    rest = scores.drop(strong.index)
    if rest.empty:
        return {}, scores
    flagged = strong[strong >= PROXY_RATIO * rest.max()]
    return {str(k): float(v) for k, v in flagged.sort_values(ascending=False).items()}, scores
