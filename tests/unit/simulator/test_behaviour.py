"""The simulated bank behaves as DESIGN.md claims, measured on generated data.

Tolerances are loose enough to be stable for the fixed seed and tight enough that a
generator missing the effect (ratio ~1) fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS
from optichannel.localtime import to_local
from simulator.oracle import Oracle
from simulator.world import WorldConfig


@pytest.fixture(scope="module")
def cfg(small_world_config: WorldConfig) -> WorldConfig:
    return small_world_config


@pytest.fixture(scope="module")
def world(small_world: Path) -> dict[str, pd.DataFrame]:
    return {
        "latent": pd.read_parquet(small_world / "truth" / "latent.parquet"),
        "customers": pd.read_parquet(small_world / "customers.parquet"),
        "events": pd.read_parquet(small_world / "events"),
        "transactions": pd.read_parquet(small_world / "transactions"),
        "contacts": pd.read_parquet(small_world / "contacts"),
    }


def _local(frame: pd.DataFrame, latent: pd.DataFrame, col: str) -> pd.Series:
    tz = frame.customer_id.map(latent.set_index("customer_id").tz)
    return to_local(frame[col], tz)


def test_salary_credits_arrive_on_the_latent_payday(world: dict[str, pd.DataFrame]) -> None:
    lat = world["latent"].set_index("customer_id")
    salary = world["transactions"].query("category == 'salary'")
    day = _local(salary, world["latent"], "ts").dt.day
    assert (day.to_numpy() == salary.customer_id.map(lat.salary_day).to_numpy()).mean() > 0.99


def test_inbound_calls_cluster_on_paydays(world: dict[str, pd.DataFrame]) -> None:
    lat = world["latent"].set_index("customer_id")
    calls = world["events"].query("event_type == 'inbound_call'")
    dom = _local(calls, world["latent"], "ts").dt.day.to_numpy()
    sd = calls.customer_id.map(lat.salary_day).to_numpy()
    ad = calls.customer_id.map(lat.advance_day).to_numpy()
    on_payday = (dom == sd) | (dom == sd + 1) | (dom == ad) | (dom == ad + 1)
    # 4 of ~30 days are payday-window days: calls per day there vs elsewhere
    rate_payday = on_payday.sum() / 4
    rate_other = (~on_payday).sum() / 26
    assert rate_payday / rate_other > 3.0


def test_inbound_emails_follow_air_tickets(world: dict[str, pd.DataFrame], cfg: WorldConfig) -> None:
    tickets = world["transactions"].query("category == 'travel_air'")[["customer_id", "ts"]]
    emails = world["events"].query("event_type == 'inbound_email'")[["customer_id", "ts"]]
    pairs = emails.merge(tickets, on="customer_id", suffixes=("", "_ticket"))
    gap = (pairs.ts - pairs.ts_ticket).dt.total_seconds() / 86400
    after = pairs[(gap > 0) & (gap <= 4)].drop_duplicates(["customer_id", "ts"])
    share_after = len(after) / len(emails)
    # share of customer-days that lie within 4 days after a ticket (generous upper bound of baseline)
    exposure_days = 4 * len(tickets) / (cfg.customers * cfg.days)
    assert share_after / exposure_days > 5.0


def test_response_rates_by_channel_in_industry_ranges(world: dict[str, pd.DataFrame]) -> None:
    c = world["contacts"].query("channel != 'none'")
    rate = c.groupby("channel").responded_at.apply(lambda s: s.notna().mean())
    ranges = {
        "email": (0.01, 0.05),
        "sms": (0.03, 0.08),
        "push": (0.03, 0.10),
        "call": (0.15, 0.35),
        "messenger": (0.10, 0.30),
    }
    for ch, (lo, hi) in ranges.items():
        assert lo <= rate[ch] <= hi, (ch, rate[ch])
    conv = world["contacts"].converted_at.notna().groupby(world["contacts"].channel).mean()
    assert 0.005 < conv["none"] < 0.05  # a real no-contact baseline
    assert conv["call"] > conv["none"]


def test_response_follows_channel_affinity(world: dict[str, pd.DataFrame]) -> None:
    lat = world["latent"].set_index("customer_id")
    for ch in ("email", "push"):
        c = world["contacts"].query("channel == @ch").copy()
        c["aff"] = c.customer_id.map(lat[f"aff_{ch}"])
        c["resp"] = c.responded_at.notna()
        low, high = c.aff.quantile([1 / 3, 2 / 3])
        ratio = c[c.aff >= high].resp.mean() / c[c.aff <= low].resp.mean()
        assert ratio > 1.8, (ch, ratio)


def test_observed_outcomes_match_the_oracle(
    world: dict[str, pd.DataFrame], small_world: Path, cfg: WorldConfig
) -> None:
    """Responses and conversions are drawn from exactly the probabilities the oracle reports."""
    oracle = Oracle.load(small_world)
    c = world["contacts"]
    end = pd.Timestamp(cfg.end, tz="UTC") - pd.Timedelta(days=8)
    c = c[c.sent_at < end]  # outcomes of the last days are censored at the feed's end
    p_resp, p_conv = oracle.probabilities(c.customer_id, c.channel, c.sent_at)
    sent = c.channel != "none"
    resp = c.responded_at.notna().to_numpy()
    deciles = pd.qcut(p_resp[sent], 10, labels=False, duplicates="drop")
    obs = pd.Series(resp[sent]).groupby(deciles).mean()
    pred = pd.Series(p_resp[sent]).groupby(deciles).mean()
    n = pd.Series(resp[sent]).groupby(deciles).size()
    se = np.sqrt(pred * (1 - pred) / n)
    assert (np.abs(obs - pred) < 4 * se + 1e-3).all(), pd.DataFrame({"obs": obs, "pred": pred, "se": se})
    conv = c.converted_at.notna().to_numpy()
    for mask in (sent.to_numpy(), ~sent.to_numpy()):
        expected, got = p_conv[mask].mean(), conv[mask].mean()
        assert abs(got - expected) < 4 * np.sqrt(expected * (1 - expected) / mask.sum()), (got, expected)


def test_response_depends_on_hour_through_the_daily_rhythm(
    world: dict[str, pd.DataFrame], small_world: Path
) -> None:
    from simulator.truth import activity

    oracle = Oracle.load(small_world)
    c = world["contacts"].query("channel == 'push' and arm == 'explore'").copy()
    cust = oracle.positions(c.customer_id)
    local = _local(c, world["latent"], "sent_at")
    act = activity(oracle.lat, cust, local.dt.hour.to_numpy() + 0.5, local.dt.weekday.to_numpy() >= 5)
    resp = c.responded_at.notna().to_numpy()
    assert resp[act > 0.6].mean() / resp[act < 0.2].mean() > 1.8


def test_logged_propensities_match_choice_frequencies(
    world: dict[str, pd.DataFrame], cfg: WorldConfig
) -> None:
    """IPS identity: E[1{action in S} / propensity] = |S ∩ allowed| for every decision."""
    c = world["contacts"].merge(world["customers"], on="customer_id")
    n = len(c)
    assert abs((c.channel == "none").div(c.propensity).sum() / n - 1) < 0.05
    start, end = cfg.logging_policy.window_hours
    for ch in CHANNELS:
        lo, hi = DEFAULT_ALLOWED_HOURS[ch]
        hours = max(0, min(end, hi) - max(start, lo))
        expected = (c[f"consent_{ch}"] * hours).sum()
        got = (c.channel == ch).div(c.propensity).sum()
        assert abs(got / expected - 1) < 0.06, (ch, got, expected)
    assert c.propensity.between(0, 1, inclusive="right").all()
