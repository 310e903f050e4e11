"""A simulated A/B test under a campaign plan: every arm gets the plan's limits in proportion to
its share of the customers, so the comparison is fair per customer. The model arm is allocated
jointly (`optichannel.allocation.lagrangian`); business as usual and random choose as they always
do, then are cut at capacity in random order (what a contact centre does with a full hour); the
holdout contacts nobody. Each policy is also run on all sampled customers under the whole plan, so
every arm's true rate under the limits is known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from decision.choice import Choice
from optichannel.allocation import NOTHING, Problem, greedy_cut
from optichannel.campaign_plan import CampaignPlan
from optichannel.capacity import Layout
from optichannel.channels import NO_CONTACT, action_names
from optichannel.lagrangian import lagrangian


@dataclass
class PlanInputs:
    """Per customer: the model's reduced options and the truth at each column, and the column
    the simple policies chose (NOTHING when they chose no contact or an hour the plan closes)."""

    gain: np.ndarray  # [n, m]
    slot: np.ndarray  # [n, m]
    true_conversion: np.ndarray  # [n, m]
    true_response: np.ndarray  # [n, m]
    local_hour: np.ndarray  # [n, slots]
    true_none: np.ndarray  # [n]
    chosen: dict[str, np.ndarray]  # policy -> [n] column of its own choice

    @staticmethod
    def concat(parts: list[PlanInputs]) -> PlanInputs:
        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        chosen = {k: np.concatenate([p.chosen[k] for p in parts]) for k in parts[0].chosen}
        return PlanInputs(cat("gain"), cat("slot"), cat("true_conversion"), cat("true_response"),
                          cat("local_hour"), cat("true_none"), chosen)  # fmt: skip


def column_of(layout: Layout, choice: Choice) -> np.ndarray:
    """[n] the plan column that books each choice, NOTHING for none or a closed hour."""
    contact = choice.contacted
    return np.where(contact, layout.column_at[np.where(contact, choice.channel, 0), choice.slot], NOTHING)


def inputs(
    layout: Layout,
    contact: np.ndarray,
    none: np.ndarray,
    allowed: np.ndarray,
    truth: dict[str, np.ndarray],
    local_hour: np.ndarray,
    choices: dict[str, Choice],
) -> PlanInputs:
    """One chunk's inputs: `allowed` must already hold the plan's open hours."""
    gain, slot = layout.reduce(contact, allowed, none)
    rows = np.arange(len(none))[:, None]
    ch = layout.column_channel[None, :]
    return PlanInputs(
        gain, slot, truth["p_conversion"][rows, ch, slot], truth["p_response"][rows, ch, slot], local_hour,
        truth["p_none"], {name: column_of(layout, c) for name, c in choices.items()},
    )  # fmt: skip


def allocate(
    policy: str,
    rows: np.ndarray,
    data: PlanInputs,
    layout: Layout,
    plan: CampaignPlan,
    rng: np.random.Generator,
) -> np.ndarray:
    """The columns `policy` gets for these customers under `plan` (already scaled to them)."""
    capacity = np.array([_limit(plan, r.channel, r.kind) for r in layout.resources], dtype=float)
    if policy == "holdout":
        return np.full(len(rows), NOTHING, dtype=np.int64)
    if policy == "model":
        problem = Problem(data.gain[rows], layout.incidence, capacity, layout.column_cost, plan.budget)
        return lagrangian(problem).column
    own = data.chosen[policy][rows]
    priority = rng.random(len(rows)) + 1e-9  # who gets the last places: arrival order, not value
    gain = np.full((len(rows), layout.columns), -np.inf)
    ok = own != NOTHING
    gain[np.flatnonzero(ok), own[ok]] = priority[ok]
    return greedy_cut(Problem(gain, layout.incidence, capacity, layout.column_cost, plan.budget)).column


def _limit(plan: CampaignPlan, channel: str, kind: str) -> int:
    cap = plan.capacity[channel]
    return int({"hour": cap.per_hour, "day": cap.per_day, "total": cap.total}[kind] or 0)


def apply_plan(
    outcomes: pd.DataFrame,
    data: PlanInputs,
    layout: Layout,
    plan: CampaignPlan,
    shares: dict[str, float],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Each arm's choices under its share of the plan, outcomes redrawn from the truth of those
    choices, and per policy the true conversion probability under the whole plan for everyone."""
    out = outcomes.copy()
    n = len(out)
    every = np.arange(n)
    true_p = {}
    for policy in shares:
        col = allocate(policy, every, data, layout, plan, rng)
        true_p[policy] = _at(data.true_conversion, col, data.true_none)
    column = np.full(n, NOTHING, dtype=np.int64)
    for arm, share in shares.items():
        rows = np.flatnonzero(out["arm"].to_numpy() == arm)
        column[rows] = allocate(arm, rows, data, layout, plan.scaled(share), rng)
    contact = column != NOTHING
    safe = np.maximum(column, 0)
    slot = data.slot[every, safe]
    p_conv = _at(data.true_conversion, column, data.true_none)
    p_resp = np.where(contact, data.true_response[every, safe], 0.0)
    out["channel"] = action_names(np.where(contact, layout.column_channel[safe], NO_CONTACT))
    out["send_at"] = pd.Series(pd.to_datetime(layout.slots_us[slot], unit="us", utc=True)).where(contact)
    out["local_hour"] = np.where(contact, data.local_hour[every, slot], -1)
    out["cost"] = np.where(contact, layout.column_cost[safe], 0.0)
    out["responded"] = (rng.random(n) < p_resp).astype(np.int64)
    out["converted"] = (rng.random(n) < p_conv).astype(np.int64)
    out["true_p_conversion"] = p_conv
    return out, true_p


def _at(values: np.ndarray, column: np.ndarray, none: np.ndarray) -> np.ndarray:
    contact = column != NOTHING
    return np.where(contact, values[np.arange(len(column)), np.maximum(column, 0)], none)
