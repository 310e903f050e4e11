"""Allocate a constrained campaign: every customer gets at most one option (a column of the
capacity layout) so that total gain over no contact is largest and no resource nor the budget is
exceeded.

Here: the problem, an allocation, and the two plans every allocation is compared with (each
customer's own best ignoring the limits, and "greedy then cut at capacity"). The scalable method is
`optichannel.lagrangian`; the exact reference `optichannel.exact_allocation`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

NOTHING = -1  # column code of "no contact" in an allocation


@dataclass(frozen=True)
class Problem:
    """gain [n, m] over no contact (-inf: not an option); which resources each column uses."""

    gain: np.ndarray
    incidence: np.ndarray  # [m, resources]
    capacity: np.ndarray  # [resources]
    cost: np.ndarray  # [m]
    budget: float | None = None

    def loads(self, column: np.ndarray) -> np.ndarray:
        """[resources] how many chosen options use each resource."""
        counts = np.bincount(column[column >= 0], minlength=self.gain.shape[1])
        return counts @ self.incidence

    def spend(self, column: np.ndarray) -> float:
        return float(self.cost[column[column >= 0]].sum())

    def value(self, column: np.ndarray) -> float:
        rows = np.flatnonzero(column >= 0)
        return float(self.gain[rows, column[rows]].sum())

    def feasible(self, column: np.ndarray, tol: float = 1e-9) -> bool:
        """True when no resource and not the budget is exceeded, and every pick is an option."""
        rows = np.flatnonzero(column >= 0)
        if not np.isfinite(self.gain[rows, column[rows]]).all():
            return False
        budget_ok = self.budget is None or self.spend(column) <= self.budget * (1 + tol) + tol
        return bool((self.loads(column) <= self.capacity + tol).all() and budget_ok)


@dataclass(frozen=True)
class Allocation:
    """Each customer's column (NOTHING for no contact), the prices that applied, the value."""

    column: np.ndarray
    value: float
    prices: np.ndarray  # [resources] dual price of each resource
    budget_price: float
    bound: float | None  # an upper bound on the optimum (dual value or solver bound)
    method: str
    seconds: float
    rounds: int = 0

    @property
    def gap(self) -> float | None:
        """Relative distance to the bound (0 = provably optimal)."""
        if self.bound is None or self.bound <= 0:
            return None
        return max(0.0, (self.bound - self.value) / self.bound)

    def shadow_price(self, problem: Problem) -> np.ndarray:
        """[n] the price each customer's option paid for the resources it uses (0 for none)."""
        per_column = problem.incidence @ self.prices + self.budget_price * problem.cost
        return np.where(self.column >= 0, per_column[np.maximum(self.column, 0)], 0.0)


def unconstrained(problem: Problem) -> Allocation:
    """Each customer's best option, ignoring every limit (none when nothing gains)."""
    began = time.perf_counter()
    column = argmax(problem.gain)
    return Allocation(column, problem.value(column), np.zeros(len(problem.capacity)), 0.0, None,
                      "unconstrained", time.perf_counter() - began)  # fmt: skip


def greedy_cut(problem: Problem) -> Allocation:
    """What most tools do: everyone's best option, then cut at capacity, keeping the highest
    gains (and, over budget, the best gain per cost); the cut customers get no contact."""
    began = time.perf_counter()
    column = argmax(problem.gain)
    gain = np.where(column >= 0, problem.gain[np.arange(len(column)), np.maximum(column, 0)], 0.0)
    for r in range(len(problem.capacity)):
        users = np.flatnonzero((column >= 0) & (problem.incidence[np.maximum(column, 0), r] > 0))
        extra = len(users) - int(problem.capacity[r])
        if extra > 0:
            column[users[np.argsort(gain[users], kind="stable")[:extra]]] = NOTHING
    if problem.budget is not None:
        rows = np.flatnonzero(column >= 0)
        cost = problem.cost[column[rows]]
        order = rows[np.argsort(-gain[rows] / np.maximum(cost, 1e-12), kind="stable")]
        keep = np.cumsum(problem.cost[column[order]]) <= problem.budget
        column[order[~keep]] = NOTHING
    return Allocation(column, problem.value(column), np.zeros(len(problem.capacity)), 0.0, None,
                      "greedy then cut", time.perf_counter() - began)  # fmt: skip


def argmax(values: np.ndarray) -> np.ndarray:
    """Each row's best column, NOTHING when no column is worth more than 0 (none wins ties)."""
    if values.shape[1] == 0:
        return np.full(values.shape[0], NOTHING, dtype=np.int64)
    best = values.argmax(axis=1)
    top = values[np.arange(len(best)), best]
    return np.where(top > 0, best, NOTHING).astype(np.int64)
