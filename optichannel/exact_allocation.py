"""The exact allocation of a constrained campaign, through HiGHS (scipy.optimize.milp): the
reference the Lagrangian method is measured against on instances up to ~20,000 customers.

One binary per (customer, column) that gains anything; at most one per customer; resource and
budget rows as in `optichannel.allocation.Problem`.
"""

from __future__ import annotations

import time

import numpy as np

from optichannel.allocation import NOTHING, Allocation, Problem


def exact(problem: Problem, time_limit: float = 600.0, relaxed: bool = False) -> Allocation:
    """The optimum (or, `relaxed`, the LP relaxation's value as a bound with its rounded-down
    plan). Raises RuntimeError when HiGHS finds no solution in `time_limit` seconds."""
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix, vstack

    began = time.perf_counter()
    rows, cols = np.nonzero(np.isfinite(problem.gain))
    gain = problem.gain[rows, cols]
    n, k = problem.gain.shape[0], len(gain)
    one_each = csr_matrix((np.ones(k), (rows, np.arange(k))), shape=(n, k))
    parts, upper = [one_each], [np.ones(n)]
    use = problem.incidence[cols]  # [k, resources]
    if use.shape[1]:
        r_idx, v_idx = np.nonzero(use.T)
        parts.append(csr_matrix((np.ones(len(r_idx)), (r_idx, v_idx)), shape=(use.shape[1], k)))
        upper.append(problem.capacity.astype(float))
    if problem.budget is not None:
        parts.append(csr_matrix(problem.cost[cols][None, :]))
        upper.append(np.array([problem.budget]))
    matrix = vstack(parts).tocsr()
    ub = np.concatenate(upper)
    result = milp(
        -gain,
        integrality=np.zeros(k) if relaxed else np.ones(k),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(matrix, -np.inf, ub),
        options={"time_limit": time_limit, "mip_rel_gap": 1e-6, "disp": False},
    )
    if result.x is None:
        raise RuntimeError(f"HiGHS found no allocation: {result.message}")
    chosen = result.x > 0.5 if not relaxed else result.x > 1 - 1e-9
    column = np.full(n, NOTHING, dtype=np.int64)
    column[rows[chosen]] = cols[chosen]
    bound = float(-result.fun) if relaxed else float(-getattr(result, "mip_dual_bound", result.fun))
    return Allocation(column, problem.value(column), np.zeros(problem.incidence.shape[1]), 0.0, bound,
                      "LP relaxation (HiGHS)" if relaxed else "exact (HiGHS MIP)",
                      time.perf_counter() - began)  # fmt: skip
