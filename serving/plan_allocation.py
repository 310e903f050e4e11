"""A whole campaign under a plan: every customer's options scored through the one decision path
(`decision.engine.Engine`), reduced to the plan's columns chunk by chunk, then allocated
jointly (`optichannel.allocation.lagrangian`) so no capacity nor the budget is exceeded.

Memory is the reduced options of every customer (a few dozen columns each), not the full
customer x channel x hour grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from decision.engine import Engine
from features.candidates import window_us
from features.offline_read import stale_rows
from optichannel.allocation import Allocation, Problem, greedy_cut, unconstrained
from optichannel.campaign_plan import CampaignPlan
from optichannel.capacity import Layout, plan_layout
from optichannel.channels import CHANNELS, NO_CONTACT, action_names
from optichannel.hour_slots import slot_grid
from optichannel.lagrangian import lagrangian


@dataclass
class Options:
    """Every customer's reduced options: [n, columns] gain and slot, with the model's outputs
    at that slot, plus the per-customer facts the decisions file reports."""

    ids: list[np.ndarray]
    gain: list[np.ndarray]
    slot: list[np.ndarray]
    p_response: list[np.ndarray]
    p_conversion: list[np.ndarray]
    local_hour: list[np.ndarray]
    p_none: list[np.ndarray]
    none_value: list[np.ndarray]
    fallback: list[np.ndarray]
    stale: list[np.ndarray]

    @classmethod
    def empty(cls) -> Options:
        return cls(*([] for _ in range(10)))

    def joined(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name))


@dataclass(frozen=True)
class PlannedCampaign:
    """The allocation and its comparisons (same options, same limits)."""

    layout: Layout
    problem: Problem
    allocation: Allocation
    unconstrained: Allocation
    greedy: Allocation
    decisions: pd.DataFrame


def collect(
    engine: Engine,
    frames: Iterator[pd.DataFrame],
    start: pd.Timestamp,
    hours: int,
    layout: Layout,
    on_chunk: Callable[[int], None] | None = None,
) -> Options:
    """Score chunk after chunk through the decision engine (under the plan's rules: its economics,
    quiet and office hours) and keep only each column's best slot."""
    opts = Options.empty()
    for feats in frames:
        block, known, d = engine.decide_frame(feats, start, hours)
        n = len(block)
        gain, slot = layout.reduce(d.contact, d.allowed, d.none)
        rows = np.arange(n)[:, None]
        ch = layout.column_channel[None, :]
        opts.ids.append(block.ids.astype(str))
        opts.gain.append(gain)
        opts.slot.append(slot)
        opts.p_response.append(d.scored.p_response[rows, ch, slot].astype(np.float32))
        opts.p_conversion.append(d.scored.p_conversion[rows, ch, slot].astype(np.float32))
        opts.local_hour.append(d.grid.local_hour[rows, slot].astype(np.int8))
        opts.p_none.append(d.scored.p_none)
        opts.none_value.append(d.none)
        opts.fallback.append(~known)
        opts.stale.append(known & stale_rows(feats))
        if on_chunk is not None:
            on_chunk(n)
    return opts


def allocate_plan(opts: Options, layout: Layout) -> tuple[Problem, Allocation, Allocation, Allocation]:
    """The plan's allocation, and the unconstrained and greedy-then-cut plans beside it."""
    problem = layout.problem(opts.joined("gain"))
    return problem, lagrangian(problem), unconstrained(problem), greedy_cut(problem)


def decisions_frame(opts: Options, layout: Layout, problem: Problem, alloc: Allocation) -> pd.DataFrame:
    """One row per customer, the batch scorer's columns plus `cost` and `shadow_price`."""
    col = alloc.column
    n = len(col)
    rows = np.arange(n)
    contact = col >= 0
    safe = np.maximum(col, 0)
    pick = {
        name: opts.joined(name)[rows, safe] for name in ("slot", "p_response", "p_conversion", "local_hour")
    }
    p_none = opts.joined("p_none")
    channel = np.where(contact, layout.column_channel[safe], NO_CONTACT)
    p_conv = np.where(contact, pick["p_conversion"], p_none)
    none_value = opts.joined("none_value")
    send_us = layout.slots_us[pick["slot"].astype(np.int64)]
    return pd.DataFrame(
        {
            "customer_id": opts.joined("ids"),
            "channel": action_names(channel),
            "send_at": pd.Series(pd.to_datetime(send_us, unit="us", utc=True)).where(contact),
            "local_hour": np.where(contact, pick["local_hour"], -1),
            "p_response": np.where(contact, pick["p_response"], np.nan),
            "p_conversion": p_conv,
            "p_no_contact": p_none,
            "uplift": p_conv - p_none,
            "expected_value": none_value + np.where(contact, problem.gain[rows, safe], 0.0),
            "cost": np.where(contact, problem.cost[safe], 0.0),
            "shadow_price": alloc.shadow_price(problem),
            "fallback": opts.joined("fallback"),
            "stale": opts.joined("stale"),
        }
    )


def online_prices(planned: PlannedCampaign) -> dict[str, float]:
    """Dual prices for deciding one customer at a time (the service): per channel, the mean price
    its contacts paid for the resources they used in this allocation; and the budget's price."""
    alloc, layout = planned.allocation, planned.layout
    per_column = layout.incidence @ alloc.prices
    contacted = alloc.column[alloc.column >= 0]
    prices: dict[str, float] = {}
    for c, name in enumerate(CHANNELS):
        mine = contacted[layout.column_channel[contacted] == c]
        if len(mine):
            prices[name] = round(float(per_column[mine].mean()), 6)
    if planned.problem.budget is not None:
        prices["budget"] = round(float(alloc.budget_price), 6)
    return prices


def plan_campaign(
    engine: Engine,
    frames: Iterator[pd.DataFrame],
    start: pd.Timestamp,
    hours: int,
    plan: CampaignPlan,
    on_chunk: Callable[[int], None] | None = None,
) -> PlannedCampaign:
    """Collect every customer's options under the plan's rules (`Rules.for_plan` of the
    engine's), allocate, and lay out the decisions."""
    engine = engine.with_rules(engine.rules.for_plan(plan))
    slots = slot_grid(window_us(start, 1), hours)[0]
    layout = plan_layout(plan, engine.econ, slots)
    opts = collect(engine, frames, start, hours, layout, on_chunk)
    problem, alloc, free, greedy = allocate_plan(opts, layout)
    return PlannedCampaign(
        layout, problem, alloc, free, greedy, decisions_frame(opts, layout, problem, alloc)
    )
