"""The decision and the baseline policies on hand-made grids: constraints before the argmax."""

from __future__ import annotations

import numpy as np
import pandas as pd

from decision import baselines as policies
from decision.baselines import business_rules
from decision.choice import greedy as decide
from decision.grid import candidate_grid
from decision.rules import Rules
from decision.scoring import Scored
from optichannel.channels import CHANNELS, NO_CONTACT
from optichannel.economics import Economics

ECON = Economics()
UNCAPPED = Rules(Economics(max_contacts_7d=None))  # these grids carry no contact counts


def _grid_customers() -> pd.DataFrame:
    consents = {f"prf_consent_{c}": [1, 1, 0] for c in CHANNELS}
    consents["prf_consent_sms"] = [0, 1, 0]
    consents["prf_consent_email"] = [1, 1, 1]
    return pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "prf_tz": ["Europe/Moscow", "Asia/Omsk", "UTC"], **consents}
    )


def test_model_never_recommends_a_channel_without_consent_or_in_quiet_hours() -> None:
    grid = candidate_grid(_grid_customers(), pd.Timestamp("2026-03-02T00:00Z"), 72, UNCAPPED)
    rng = np.random.default_rng(0)
    shape = grid.shape
    # a model that loves exactly the forbidden options: high scores where not allowed
    scores = np.where(grid.allowed, rng.uniform(0, 0.1, shape), 0.9)
    scored = Scored(scores, scores, np.zeros(shape[0]))
    for objective in ("response", "value"):
        choice = decide(scored, grid.allowed, objective, ECON)
        rows = np.arange(shape[0])
        picked = choice.contacted
        assert grid.allowed[rows[picked], choice.channel[picked], choice.slot[picked]].all()
    # customer a has no SMS consent, customer c only e-mail: no row for the others exists at all
    sms = CHANNELS.index("sms")
    assert not grid.allowed[0, sms].any() and grid.allowed[1, sms].any()
    assert grid.allowed[2].any(axis=1).tolist() == [c == "email" for c in CHANNELS]
    assert len(grid.rows) == grid.allowed.sum()


def test_quiet_hours_follow_local_time() -> None:
    grid = candidate_grid(_grid_customers(), pd.Timestamp("2026-03-02T00:00Z"), 24, UNCAPPED)
    call = CHANNELS.index("call")
    # Moscow (UTC+3): calls allowed 09-20 local = 06-17 UTC, i.e. slots 6..16
    assert np.flatnonzero(grid.allowed[0, call]).tolist() == list(range(6, 17))


def test_none_is_chosen_when_every_option_costs_more_than_it_returns() -> None:
    n, k, h = 4, len(CHANNELS), 6
    allowed = np.ones((n, k, h), dtype=bool)
    p_none = np.full(n, 0.02)
    tiny_lift = Scored(np.full((n, k, h), 0.05), np.full((n, k, h), 0.0201), p_none)
    expensive = Economics(value_per_conversion=50.0, cost={**ECON.cost, **{c: 1.0 for c in CHANNELS}})
    assert (decide(tiny_lift, allowed, "value", expensive).channel == NO_CONTACT).all()
    # the same lift pays for itself when contacts are nearly free
    cheap = Economics(value_per_conversion=50.0, cost={**ECON.cost, **{c: 0.001 for c in CHANNELS}})
    assert decide(tiny_lift, allowed, "value", cheap).contacted.all()


def test_business_rules_follow_consent_and_affluence() -> None:
    n, h = 3, 24
    local_hour = np.tile(np.arange(h), (n, 1))
    consent = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 1, 1], [1, 0, 0, 0, 0]], dtype=bool)
    allowed = consent[:, :, None] & np.ones((n, len(CHANNELS), h), dtype=bool)
    choice = business_rules(np.array([True, False, False]), consent, local_hour, allowed)
    names = [CHANNELS[c] for c in choice.channel]
    assert names == ["call", "sms", "email"]  # affluent -> call; no push consent -> sms; only e-mail left
    assert local_hour[np.arange(n), choice.slot].tolist() == [11, 12, 10]


def test_heuristic_takes_the_best_rate_at_the_most_active_allowed_hour() -> None:
    rates = {f"cnt_response_rate_{c}": [0.2 if c == "push" else 0.01] for c in CHANNELS}
    hours = {f"bhv_hour_share_{x:02d}": [{23: 0.6, 19: 0.4}.get(x, 0.0)] for x in range(24)}
    customer = pd.DataFrame(rates | hours)
    local_hour = np.arange(24)[None, :]
    allowed = np.ones((1, len(CHANNELS), 24), dtype=bool)
    allowed[0, CHANNELS.index("push"), 22:] = False  # push quiet from 22:00
    choice = policies.heuristic(customer, local_hour, allowed)
    assert CHANNELS[choice.channel[0]] == "push" and choice.slot[0] == 19


def test_frequency_cap_leaves_only_no_contact() -> None:
    customers = _grid_customers().assign(cnt_contacts_7d=[4, 3, np.nan])
    capped = Rules(Economics(max_contacts_7d=4))
    grid = candidate_grid(customers, pd.Timestamp("2026-03-02T00:00Z"), 24, capped)
    assert grid.under_cap.tolist() == [False, True, True]
    assert not grid.allowed[0].any() and grid.allowed[1].any()
    assert not (grid.index // (len(CHANNELS) * 24) == 0).any()  # no candidate row for the capped one
    scores = np.full(grid.shape, 0.5)
    choice = decide(Scored(scores, scores, np.zeros(3)), grid.allowed, "response", ECON)
    assert choice.channel[0] == NO_CONTACT and choice.contacted[1]
