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


def test_best_value_is_never_beaten_by_an_allowed_option(oracle: Oracle, ids: np.ndarray) -> None:
    best = oracle.best(ids, START, 48, value_per_conversion=50.0)
    g = oracle.grid(ids, START, 48)
    cost = np.array([DEFAULT_COST[c] for c in CHANNELS])[None, :, None]
    value = np.where(g["allowed"], 50.0 * g["p_conversion"] - cost, -np.inf)
    assert (best.value.to_numpy() >= value.max(axis=(1, 2)) - 1e-12).all()
    assert (best.value.to_numpy() >= 50.0 * g["p_none"] - 1e-12).all()
    assert (best.channel == "none").any() and (best.channel != "none").any()


def test_best_respects_consent_quiet_hours_and_window(oracle: Oracle, ids: np.ndarray) -> None:
    best = oracle.best(ids, START, 72, objective="response")
    lat = oracle.latent.set_index("customer_id").loc[best.customer_id]
    contacted = best.channel != "none"
    for ch in CHANNELS:
        chosen = (best.channel == ch).to_numpy()
        assert lat[f"consent_{ch}"].to_numpy()[chosen].all(), ch
    local_hour = to_local(best.send_at, lat.tz.to_numpy()).dt.hour.to_numpy()
    lo = best.channel.map(lambda c: DEFAULT_ALLOWED_HOURS.get(c, (0, 24))[0]).to_numpy()
    hi = best.channel.map(lambda c: DEFAULT_ALLOWED_HOURS.get(c, (0, 24))[1]).to_numpy()
    assert ((local_hour >= lo) & (local_hour < hi))[contacted.to_numpy()].all()
    assert best.send_at.between(START, START + pd.Timedelta(hours=71)).all()
    # with a response objective a customer with any consent is always contacted
    any_consent = lat[[f"consent_{c}" for c in CHANNELS]].any(axis=1).to_numpy()
    assert (contacted.to_numpy() == any_consent).all()


def test_none_wins_when_contacts_cost_more_than_they_return(oracle: Oracle, ids: np.ndarray) -> None:
    expensive = {c: 1000.0 for c in CHANNELS} | {"none": 0.0}
    best = oracle.best(ids, START, 24, costs=expensive)
    assert (best.channel == "none").all()


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
    with pytest.raises(ValueError, match="unknown actions"):
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
