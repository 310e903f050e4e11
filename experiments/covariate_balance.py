"""Leakage guard: in a randomised test, columns measured before treatment look alike in every arm.

A column whose distribution differs between arms far beyond chance was most likely measured
after the treatment (a visit when learning conversions, spend when learning visits), and a
model fed with it learns the outcome from its own consequence. Categorical columns are tested
by chi-square on the (value x arm) table, numeric ones by Kruskal-Wallis; where values are
missing, the missing share by arm is tested too. With p < 1e-6 a genuine pre-treatment column
is flagged about once in a million tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.targeting.learn import as_numbers

#: p-value below which a column is taken as measured after treatment
LEAKAGE_P = 1e-6


def _chi_square(values: pd.Series, arm: pd.Series) -> float:
    from scipy.stats import chi2_contingency

    table = pd.crosstab(values, arm)
    if table.shape[0] < 2 or table.shape[1] < 2:
        return 1.0
    return float(chi2_contingency(table.to_numpy()).pvalue)


def _kruskal(values: pd.Series, arm: pd.Series) -> float:
    from scipy.stats import kruskal

    groups = [g.to_numpy(dtype=np.float64) for _, g in values.groupby(arm, sort=True)]
    groups = [g for g in groups if len(g)]
    if len(groups) < 2 or np.unique(np.concatenate(groups)).size < 2:
        return 1.0
    return float(kruskal(*groups).pvalue)


def balance_p_value(column: pd.Series, arm: pd.Series) -> float:
    """Smallest p-value of 'this column is distributed alike in every arm'."""
    arm = arm.astype(str).reset_index(drop=True)
    column = column.reset_index(drop=True)
    missing = column.isna()
    p = _chi_square(missing, arm) if missing.any() else 1.0
    present, groups = column[~missing], arm[~missing]
    numbers = None if isinstance(present.dtype, pd.CategoricalDtype) else as_numbers(present)
    if numbers is not None:
        return min(p, _kruskal(numbers, groups))
    if pd.api.types.is_datetime64_any_dtype(present):
        return min(p, _kruskal(present.astype("int64").astype(np.float64), groups))
    return min(p, _chi_square(present.astype(str), groups))


def post_treatment_suspects(
    frame: pd.DataFrame, arm_column: str, columns: Sequence[str], threshold: float = LEAKAGE_P
) -> dict[str, float]:
    """Columns whose distribution differs between arms (p < threshold), with their p-value."""
    out = {}
    for name in columns:
        p = balance_p_value(frame[name], frame[arm_column])
        if p < threshold:
            out[name] = p
    return out
