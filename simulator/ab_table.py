"""A randomised A/B table with known effects, for testing and timing targeting policies.

Rows look like a marketer's export (customer_id, arm, a 0/1 outcome, covariates of mixed types
and a post-treatment column `visit` that must not be used as a covariate), and every customer's
true probability of the outcome under every arm comes alongside, so a learned policy's true
value, the best single arm's and the oracle's can be computed exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

ARMS = ("none", "a", "b")
REGIONS = ("north", "south", "east", "west")


@dataclass
class ABTable:
    """The export (`table`) and the true outcome probability per customer and arm (`truth`)."""

    table: pd.DataFrame
    truth: pd.DataFrame  # columns = arms, rows aligned with `table`

    def policy_value(self, actions: Sequence[str], rows: np.ndarray | None = None) -> float:
        """True mean outcome when each customer (of `rows`) gets the arm in `actions`."""
        truth = self.truth if rows is None else self.truth[rows]
        col = truth.columns.get_indexer(np.asarray(actions, dtype=object))
        return float(truth.to_numpy()[np.arange(len(truth)), col].mean())


def simulate_ab_table(
    n: int = 24_000,
    effect: Literal["heterogeneous", "constant", "none"] = "heterogeneous",
    size: float = 0.08,
    seed: int = 0,
) -> ABTable:
    """`n` customers over arms none/a/b (1/3 each) with 12 covariates x0..x8 (normal), region
    (text), member (bool), tenure (integer), and a binary `converted`.

    Heterogeneous: arm a adds `size` to the probability when x0 > 0 and takes it away
    otherwise, arm b the opposite (no single arm beats the control on average, the oracle gains
    `size`). Constant: arm a adds 3 points for everybody, b 1 point. None: no arm does anything.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 9))
    region = rng.choice(REGIONS, size=n)
    member = rng.random(n) < 0.3
    tenure = rng.integers(0, 20, size=n)
    base = 0.12 + 0.03 * np.tanh(x[:, 1]) + 0.02 * (region == "north") + 0.02 * member - 0.001 * tenure
    if effect == "heterogeneous":
        lift_a = np.where(x[:, 0] > 0, size, -size)
        lift_b = -lift_a
    elif effect == "constant":
        lift_a, lift_b = np.full(n, 0.03), np.full(n, 0.01)
    else:
        lift_a = lift_b = np.zeros(n)
    truth = pd.DataFrame({"none": base, "a": base + lift_a, "b": base + lift_b}).clip(0.0, 1.0)
    arm = rng.choice(ARMS, size=n)
    p = truth.to_numpy()[np.arange(n), pd.Index(ARMS).get_indexer(arm)]
    converted = (rng.random(n) < p).astype(np.int64)
    table = pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(n)], "arm": arm})
    for j in range(9):
        table[f"x{j}"] = x[:, j]
    table["region"], table["member"], table["tenure"] = region, member, tenure
    table["converted"] = converted
    # measured after treatment: the e-mails bring visits, so its distribution differs between arms
    table["visit"] = ((rng.random(n) < np.where(arm == "none", 0.2, 0.3)) | (converted == 1)).astype(np.int64)
    return ABTable(table, truth)
