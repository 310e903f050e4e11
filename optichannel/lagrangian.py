"""The scalable allocation of a constrained campaign (millions of customers): one dual price per
limited resource (and one for the budget), found by exact coordinate descent on the Lagrangian dual
(each resource's price is the (capacity+1)-th largest margin of the customers who could use it; the
budget's by bisection), then each customer's argmax at those prices, then a repair pass that evicts
the lowest-margin customers from anything still over its limit, then a fill pass for what is left.
The dual value is an upper bound on the optimum at any size, so every run certifies its own gap.
"""

from __future__ import annotations

import itertools
import time

import numpy as np

from optichannel.allocation import Allocation, Problem, argmax


def _kth_largest(values: np.ndarray, k: int) -> float:
    """The k-th largest (1-based) of `values`, or -inf when there are fewer."""
    if k > len(values):
        return -np.inf
    return float(np.partition(values, len(values) - k)[len(values) - k])


class _Dual:
    """The adjusted gains W = gain - prices with each row's two best columns cached, updated one
    price at a time (exact coordinate descent on the dual)."""

    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.w = problem.gain.copy()
        self.lam = np.zeros(len(problem.capacity))
        self.mu = 0.0
        self.members = [np.flatnonzero(problem.incidence[:, r] > 0) for r in range(len(problem.capacity))]
        edges = np.flatnonzero(np.diff(problem.cost)) + 1
        bounds = [0, *edges.tolist(), len(problem.cost)]
        self.runs = [(a, b) for a, b in itertools.pairwise(bounds) if b > a]
        self.top = _top2(self.w)

    def update_resource(self, r: int) -> None:
        cols = self.members[r]
        if not len(cols):
            return
        cap = int(self.p.capacity[r])
        inside = self.w[:, cols[0]] if len(cols) == 1 else self.w[:, cols].max(axis=1)
        want = inside + self.lam[r]
        eligible = np.flatnonzero(want > 0)
        new = 0.0
        if len(eligible) > cap:
            v1, c1, v2, c2 = (t[eligible] for t in self.top)
            in1, in2 = _member(c1, cols), _member(c2, cols)
            alt = np.where(~in1, v1, np.where(~in2, v2, -np.inf))
            both = np.flatnonzero(in1 & in2)
            if len(both):
                alt[both] = np.delete(self.w[eligible[both]], cols, axis=1).max(axis=1, initial=-np.inf)
            new = max(0.0, _kth_largest(want[eligible] - np.maximum(alt, 0.0), cap + 1))
        delta = new - self.lam[r]
        if delta == 0:
            return
        self.w[:, cols] -= delta
        self.lam[r] = new
        c1, c2 = self.top[1], self.top[3]
        stale = _member(c1, cols) | _member(c2, cols)
        if delta < 0:
            stale |= inside - delta > self.top[2]
        rows = np.flatnonzero(stale)
        if len(rows):
            for cache, fresh in zip(self.top, _top2(self.w[rows]), strict=True):
                cache[rows] = fresh

    def update_budget(self) -> None:
        """Bisection on the budget's price: the smallest price at which the customers' choices
        spend no more than the budget (on each row's best column per cost level)."""
        budget = self.p.budget
        if budget is None:
            return
        # each row's best column per run of equal-cost columns (a channel's columns are adjacent)
        base = [(self.w[:, a:b].max(axis=1) + self.mu * self.p.cost[a]) for a, b in self.runs]
        levels = [float(self.p.cost[a]) for a, _ in self.runs]

        n = len(base[0])
        best, paid, value, better = np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=bool)

        def spend(mu: float) -> float:
            best.fill(0.0)  # no contact: gain 0, cost 0, wins ties
            paid.fill(0.0)
            for gain, cost in zip(base, levels, strict=True):
                np.subtract(gain, mu * cost, out=value)
                np.greater(value, best, out=better)
                np.copyto(best, value, where=better)
                np.copyto(paid, cost, where=better)
            return float(paid.sum())

        new = 0.0
        if spend(0.0) > budget:
            lo, hi = 0.0, max(1e-9, 1.5 * self.mu)
            if self.mu > 0 and spend(self.mu / 1.5) > budget:
                lo = self.mu / 1.5
            while spend(hi) > budget and hi < 1e12:
                lo, hi = hi, hi * 4
            for _ in range(60):
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if spend(mid) <= budget else (mid, hi)
                if hi - lo <= 1e-4 * max(1e-6, hi):  # any price gives a valid bound; repair keeps it feasible
                    break
            new = hi
        if new != self.mu:
            self.w -= (new - self.mu) * self.p.cost[None, :]
            self.mu = new
            self.top = _top2(self.w)

    def bound(self) -> float:
        best = np.maximum(self.top[0], 0.0)
        budget = self.mu * self.p.budget if self.p.budget is not None else 0.0
        return float(best.sum() + self.lam @ self.p.capacity + budget)


def _top2(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each row's best and second-best column and their values (-inf when missing)."""
    n, m = w.shape
    rows = np.arange(n)
    if m == 0:
        nothing = np.full(n, -np.inf)
        return nothing, np.full(n, -1), nothing.copy(), np.full(n, -1)
    c1 = w.argmax(axis=1)
    v1 = w[rows, c1]
    if m == 1:
        return v1, c1, np.full(n, -np.inf), np.full(n, -1)
    saved = v1.copy()
    w[rows, c1] = -np.inf
    c2 = w.argmax(axis=1)
    v2 = w[rows, c2]
    w[rows, c1] = saved
    return v1, c1, v2, c2


def _member(values: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """values in cols (the common single column without np.isin's sorting)."""
    return values == cols[0] if len(cols) == 1 else np.isin(values, cols)


def lagrangian(problem: Problem, rounds: int = 100, tol: float = 1e-6) -> Allocation:
    """Dual prices by coordinate descent, each customer's argmax at them, then repair, then
    fill what the prices left unused."""
    began = time.perf_counter()
    dual = _Dual(problem)
    best_bound = dual.bound()
    done = 0
    for done in range(1, rounds + 1):  # noqa: B007 - the count is reported
        for r in range(len(problem.capacity)):
            dual.update_resource(r)
        dual.update_budget()
        bound = dual.bound()
        improved = best_bound - bound
        best_bound = min(best_bound, bound)
        if improved <= tol * max(1.0, abs(bound)):
            break
    column = fill(problem, repair(problem, dual.w, argmax(dual.w)))
    return Allocation(column, problem.value(column), dual.lam.copy(), dual.mu, best_bound, "lagrangian",
                      time.perf_counter() - began, done)  # fmt: skip


def repair(problem: Problem, adjusted: np.ndarray, column: np.ndarray) -> np.ndarray:
    """Evict the lowest-margin customers from every over-full resource (they move to their next
    option at the same prices, or none) and, over budget, the lowest gain per cost, until
    nothing is exceeded. Terminates: every eviction removes an option for good."""
    w = adjusted.copy()
    column = column.copy()
    for _ in range(10_000):
        loads = problem.loads(column)
        over = np.flatnonzero(loads > problem.capacity)
        spent = problem.spend(column)
        over_budget = problem.budget is not None and spent > problem.budget
        if not len(over) and not over_budget:
            return column
        moved: list[np.ndarray] = []
        for r in over:
            cols = np.flatnonzero(problem.incidence[:, r] > 0)
            users = np.flatnonzero(np.isin(column, cols))
            extra = len(users) - int(problem.capacity[r])
            if extra <= 0:
                continue
            alt = np.delete(w[users], cols, axis=1).max(axis=1, initial=0.0)
            margin = w[users, column[users]] - np.maximum(alt, 0.0)
            out = users[np.argsort(margin, kind="stable")[:extra]]
            w[out[:, None], cols[None, :]] = -np.inf
            moved.append(out)
        if over_budget and not moved:
            rows = np.flatnonzero(column >= 0)
            cost = problem.cost[column[rows]]
            ratio = problem.gain[rows, column[rows]] / np.maximum(cost, 1e-12)
            order = np.argsort(ratio, kind="stable")
            cut = int(np.searchsorted(np.cumsum(cost[order]), spent - problem.budget)) + 1
            out = rows[order[:cut]]
            w[out, column[out]] = -np.inf
            moved.append(out)
        out = np.unique(np.concatenate(moved))
        column[out] = argmax(w[out])
    raise RuntimeError("allocation repair did not converge")  # pragma: no cover - bounded by options


def fill(problem: Problem, column: np.ndarray, rounds: int = 20) -> np.ndarray:
    """Greedy improvement with what is left: customers move to a better option whose resources
    all have room, best improvements first, and never past a limit (moves are admitted in order
    while every resource they use, and the budget, still has room for them)."""
    column = column.copy()
    n = len(column)
    for _ in range(rounds):
        slack = problem.capacity - problem.loads(column)
        room = (problem.incidence * (slack[None, :] < 1)).sum(axis=1) == 0  # [m] every resource has room
        current = np.where(column >= 0, problem.gain[np.arange(n), np.maximum(column, 0)], 0.0)
        old_cost = np.where(column >= 0, problem.cost[np.maximum(column, 0)], 0.0)
        budget_left = np.inf if problem.budget is None else problem.budget - problem.spend(column)
        options = np.where(room[None, :], problem.gain, -np.inf)
        if problem.budget is not None:
            options = np.where(problem.cost[None, :] - old_cost[:, None] <= budget_left, options, -np.inf)
        better = options.argmax(axis=1) if options.shape[1] else np.zeros(n, dtype=np.int64)
        gain = options[np.arange(n), better] - current if options.shape[1] else np.zeros(n)
        movers = np.flatnonzero(gain > 1e-12)
        if not len(movers):
            break
        movers = movers[np.argsort(-gain[movers], kind="stable")]
        target = better[movers]
        use = problem.incidence[target] > 0  # [movers, resources]
        admitted = ~(use & (np.cumsum(use, axis=0) > slack[None, :])).any(axis=1)
        if problem.budget is not None:
            extra = np.where(admitted, problem.cost[target] - old_cost[movers], 0.0)
            admitted &= np.cumsum(np.maximum(extra, 0.0)) <= budget_left
        if not admitted.any():
            break
        column[movers[admitted]] = target[admitted]
    return column
