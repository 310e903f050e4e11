"""The oracle: its best option is never beaten, respects consent and quiet hours; effects point right."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS, DEFAULT_COST
from optichannel.localtime import to_local
from simulator.oracle import Oracle


@pytest.fixture(scope="module")
def oracle(small_world: Path) -> Oracle:
    return Oracle.load(small_world)


@pytest.fixture(scope="module")
def ids(oracle: Oracle) -> np.ndarray:
    return oracle.latent.customer_id.to_numpy()[:600]


START = pd.Timestamp("2026-04-27T05:00:00Z")


def _truth_choice(
    oracle: Oracle, ids: np.ndarray, hours: int, objective: str, costs: dict[str, float] | None = None
) -> tuple[dict, object, object]:
    """The oracle policy as the product builds it: the decision engine's grid (the latent consents
    and zones as features), the truth as the scores, the engine's greedy choice."""
    from decision.choice import greedy
    from decision.grid import candidate_grid
    from decision.scoring import Scored
    from optichannel.economics import Economics

    lat = oracle.latent.set_index("customer_id").loc[ids]
    consents = {f"prf_consent_{c}": lat[f"consent_{c}"].to_numpy(float) for c in CHANNELS}
    feats = pd.DataFrame({"customer_id": ids, "prf_tz": lat.tz.to_numpy(), "cnt_contacts_7d": 0.0} | consents)
    grid = candidate_grid(feats, START, hours)
    g = oracle.grid(ids, START, hours)
    scored = Scored(g["p_response"], g["p_conversion"], g["p_none"])
    econ = Economics(cost=costs) if costs else Economics()
    return g, grid, greedy(scored, grid.allowed & g["allowed"], objective, econ)


def test_best_value_is_never_beaten_by_an_allowed_option(oracle: Oracle, ids: np.ndarray) -> None:
    g, grid, best = _truth_choice(oracle, ids, 48, "value")
    cost = np.array([DEFAULT_COST[c] for c in CHANNELS])[None, :, None]
    value = np.where(grid.allowed & g["allowed"], 50.0 * g["p_conversion"] - cost, -np.inf)
    assert (best.value >= value.max(axis=(1, 2)) - 1e-12).all()
    assert (best.value >= 50.0 * g["p_none"] - 1e-12).all()
    assert (~best.contacted).any() and best.contacted.any()


def test_best_respects_consent_quiet_hours_and_window(oracle: Oracle, ids: np.ndarray) -> None:
    g, grid, best = _truth_choice(oracle, ids, 72, "response")
    lat = oracle.latent.set_index("customer_id").loc[ids]
    contacted = best.contacted
    channel = np.array([*CHANNELS, "none"], dtype=object)[best.channel]
    for ch in CHANNELS:
        chosen = channel == ch
        assert lat[f"consent_{ch}"].to_numpy()[chosen].all(), ch
    send_at = pd.Series(pd.to_datetime(g["slots"][np.arange(len(ids)), best.slot], unit="us", utc=True))
    local_hour = to_local(send_at, lat.tz.to_numpy()).dt.hour.to_numpy()
    lo = np.array([DEFAULT_ALLOWED_HOURS.get(c, (0, 24))[0] for c in channel])
    hi = np.array([DEFAULT_ALLOWED_HOURS.get(c, (0, 24))[1] for c in channel])
    has = (grid.allowed & g["allowed"]).any(axis=(1, 2))
    assert (contacted == has).all()  # the response objective contacts whoever has an allowed option
    assert ((local_hour >= lo) & (local_hour < hi))[contacted].all()
    assert send_at.between(START, START + pd.Timedelta(hours=71)).all()


def test_none_wins_when_contacts_cost_more_than_they_return(oracle: Oracle, ids: np.ndarray) -> None:
    expensive = {c: 1000.0 for c in CHANNELS} | {"none": 0.0}
    _, _, best = _truth_choice(oracle, ids, 24, "value", expensive)
    assert not best.contacted.any()
    _, _, cheap = _truth_choice(oracle, ids, 24, "value")
    assert cheap.contacted.any()  # the same customers are contacted when contacts pay


def test_fatigue_lowers_response(oracle: Oracle) -> None:
    exp = oracle.exposures
    cust_pos = int(np.argmax(np.diff(exp.offsets)))  # the most contacted customer
    cid = oracle.latent.customer_id[cust_pos]
    last = pd.Timestamp(exp.times[exp.offsets[cust_pos + 1] - 1], unit="us", tz="UTC")
    soon = last + pd.Timedelta(hours=24)
    later = soon + pd.Timedelta(weeks=8)  # same weekday and hour; SMS has no payday or travel effect
    p, _ = oracle.probabilities([cid, cid], ["sms", "sms"], [soon, later])
    assert p[0] < p[1]


def test_payday_lifts_call_and_push_only(oracle: Oracle) -> None:
    rows = []
    for c in oracle.latent.iloc[:200].itertuples():
        paydays = {c.salary_day, c.salary_day + 1, c.advance_day, c.advance_day + 1}
        other = next(d for d in range(1, 29) if d not in paydays and d - 1 not in paydays)
        for day, is_payday in ((c.salary_day, True), (other, False)):
            slot = pd.Timestamp(2026, 9, int(day), 12).tz_localize(c.tz).tz_convert("UTC")
            rows.append((c.customer_id, slot, is_payday))
    frame = pd.DataFrame(rows, columns=["customer_id", "slot", "payday"])
    payday = frame.payday.to_numpy()
    for ch, lifted in (("call", True), ("push", True), ("email", False)):
        p, _ = oracle.probabilities(frame.customer_id, [ch] * len(frame), frame.slot)
        diff = p[payday].mean() - p[~payday].mean()
        assert (diff > 0.01) if lifted else (abs(diff) < 0.005), (ch, diff)


def test_unknown_customer_and_action_are_clear_errors(oracle: Oracle) -> None:
    with pytest.raises(KeyError, match="unknown to this world"):
        oracle.probabilities(["nobody"], ["email"], [START])
    with pytest.raises(ValueError, match="unknown action 'fax'"):
        oracle.probabilities([oracle.latent.customer_id[0]], ["fax"], [START])


def test_load_without_truth_names_the_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no simulated truth"):
        Oracle.load(tmp_path)


def test_grid_fatigue_counts_only_contacts_before_the_decision(oracle: Oracle, ids: np.ndarray) -> None:
    """Contacts the world logged inside the window are what business as usual did instead of the
    decision being judged: the grid's truth must not charge their fatigue to it."""
    exp = oracle.exposures
    start_us = int(START.value // 1000)
    inside = []
    for pos in oracle.positions(ids):
        last = exp.last_before(np.array([pos]), np.array([start_us + 48 * 3_600_000_000]), k=1)[0, 0]
        if last > start_us:
            inside.append(pos)
    assert inside, "the small world should have contacts inside the window"
    who = oracle.latent.customer_id.to_numpy()[inside]
    g = oracle.grid(who, START, 48)
    slots = pd.to_datetime(g["slots"][:, -1], unit="us", utc=True)
    # probabilities() is the world's view at the slot (later contacts included): more tired
    p_world, _ = oracle.probabilities(who, ["email"] * len(who), slots)
    assert (g["p_response"][:, 0, -1] >= p_world - 1e-12).all()
    assert (g["p_response"][:, 0, -1] > p_world + 1e-9).mean() > 0.9
    # a live bank's later exposures are contacts already decided: `scheduled` charges them, as the
    # world's view at the slot does
    scheduled = oracle.grid(who, START, 48, scheduled=True)
    np.testing.assert_allclose(scheduled["p_response"][:, 0, -1], p_world, rtol=1e-12)
