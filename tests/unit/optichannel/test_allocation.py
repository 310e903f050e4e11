"""The campaign allocation: never past a limit, exact where limits are loose, close to HiGHS's
optimum, and the column reduction loses nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from decision.choice import best_option
from optichannel.allocation import NOTHING, Problem, greedy_cut, unconstrained
from optichannel.campaign_plan import CampaignPlan
from optichannel.capacity import Layout, plan_layout
from optichannel.channels import CHANNELS, NO_CONTACT
from optichannel.economics import Economics
from optichannel.exact_allocation import exact
from optichannel.hour_slots import slot_grid
from optichannel.lagrangian import lagrangian

START = pd.Timestamp("2026-02-09T06:00Z")  # a Monday


def _grid(n: int, hours: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Net contact values [n, channels, hours] shaped like a model's (calls dear but strong),
    allowed masks, no-contact values and the slots."""
    rng = np.random.default_rng(seed)
    p = rng.beta(1, 60, size=(n, len(CHANNELS), hours)) * (1 + np.sin(np.arange(hours) / 4))[None, None, :]
    p[:, CHANNELS.index("call")] *= 6
    econ = Economics()
    contact = econ.value_per_conversion * p - econ.channel_costs()
    allowed = rng.random((n, len(CHANNELS), hours)) < 0.8
    none = econ.value_per_conversion * rng.beta(1, 80, size=n)
    slots = slot_grid(np.array([START.value // 1000]), hours)[0]
    return contact, allowed, none, slots


def _problem(layout: Layout, contact: np.ndarray, allowed: np.ndarray, none: np.ndarray) -> Problem:
    gain, _ = layout.reduce(contact, allowed & layout.open_slot[None], none)
    capacity = np.array([r.capacity for r in layout.resources], dtype=float)
    return Problem(gain, layout.incidence, capacity, layout.column_cost, layout.budget)


def _plan(
    call_hour: int | None,
    sms_day: int | None,
    call_total: int | None,
    budget: float | None,
    office: bool = True,
) -> CampaignPlan:
    """Calls from a centre in Yekaterinburg (office hours 9-18 on weekdays unless not `office`)."""
    capacity: dict = {}
    if call_hour is not None or call_total is not None:
        hours, days = ([9, 18], [0, 1, 2, 3, 4]) if office else ([0, 24], list(range(7)))
        capacity["call"] = {"per_hour": call_hour, "total": call_total, "timezone": "Asia/Yekaterinburg",
                            "hours": hours, "weekdays": days}  # fmt: skip
    if sms_day is not None:
        capacity["sms"] = {"per_day": sms_day}
    return CampaignPlan.model_validate({"budget": budget, "capacity": capacity})


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 120),
    call_hour=st.one_of(st.none(), st.integers(0, 6)),
    sms_day=st.one_of(st.none(), st.integers(0, 20)),
    call_total=st.one_of(st.none(), st.integers(0, 15)),
    budget=st.one_of(st.none(), st.floats(0, 40)),
)
def test_no_plan_ever_exceeds_a_limit(
    seed: int,
    n: int,
    call_hour: int | None,
    sms_day: int | None,
    call_total: int | None,
    budget: float | None,
) -> None:
    contact, allowed, none, slots = _grid(n, 30, seed)
    plan = _plan(call_hour, sms_day, call_total, budget)
    problem = _problem(plan_layout(plan, Economics(), slots), contact, allowed, none)
    optimum = exact(problem, time_limit=60)
    for alloc in (lagrangian(problem), greedy_cut(problem), optimum):
        assert problem.feasible(alloc.column), alloc.method
        assert alloc.value <= optimum.value + 1e-6, alloc.method
    # the dual value certifies: no allocation can beat it
    assert lagrangian(problem).bound >= optimum.value - 1e-6


def test_loose_limits_give_exactly_the_kernels_unconstrained_argmax() -> None:
    contact, allowed, none, slots = _grid(3000, 72, seed=3)
    plan = _plan(call_hour=10_000, sms_day=10_000, call_total=None, budget=1e9, office=False)
    layout = plan_layout(plan, Economics(), slots)
    alloc = lagrangian(_problem(layout, contact, allowed, none))
    _, slot = layout.reduce(contact, allowed, none)
    direct = best_option(contact, allowed, none)
    rows = np.arange(len(none))
    chosen = np.where(alloc.column == NOTHING, NO_CONTACT, layout.column_channel[np.maximum(alloc.column, 0)])
    assert (chosen == direct.channel).all()
    picked_slot = slot[rows, np.maximum(alloc.column, 0)]
    contacted = alloc.column != NOTHING
    assert (picked_slot[contacted] == direct.slot[contacted]).all()
    assert contacted.sum() > 1000 and alloc.prices.max() == 0 and alloc.budget_price == 0


def test_joint_allocation_is_within_half_a_percent_of_highs_and_beats_cutting() -> None:
    contact, allowed, none, slots = _grid(2000, 72, seed=11)
    plan = _plan(call_hour=2, sms_day=40, call_total=None, budget=100.0)
    problem = _problem(plan_layout(plan, Economics(), slots), contact, allowed, none)
    ours, best, cut = lagrangian(problem), exact(problem, time_limit=120), greedy_cut(problem)
    assert problem.feasible(ours.column)
    assert ours.value >= best.value * (1 - 0.005), (ours.value, best.value)
    assert cut.value < ours.value * 0.99  # cutting after the fact loses real value here
    assert unconstrained(problem).value > best.value  # the limits bind


def test_merging_interchangeable_hours_into_columns_loses_nothing() -> None:
    """Exact optimum on the reduced columns == exact optimum with one column per (channel, hour)."""
    contact, allowed, none, slots = _grid(150, 24, seed=5)
    plan = _plan(call_hour=1, sms_day=6, call_total=None, budget=12.0)
    layout = plan_layout(plan, Economics(), slots)
    reduced = exact(_problem(layout, contact, allowed, none))
    # the full problem: every open (channel, hour) is its own column, using its group's resources
    k, h = len(CHANNELS), contact.shape[2]
    gain = np.where(allowed & layout.open_slot[None], contact - none[:, None, None], -np.inf).reshape(
        len(none), k * h
    )
    gain[gain <= 0] = -np.inf
    incidence = np.zeros((k * h, len(layout.resources)))
    for j, (ch, members) in enumerate(zip(layout.column_channel, layout.column_slots, strict=True)):
        incidence[ch * h + members] = layout.incidence[j]
    cost = np.repeat(Economics().channel_costs()[0, :, 0], h)
    capacity = np.array([r.capacity for r in layout.resources], dtype=float)
    full = exact(Problem(gain, incidence, capacity, cost, plan.budget))
    assert abs(full.value - reduced.value) < 1e-6 * max(1.0, full.value)
