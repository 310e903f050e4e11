"""Latent customers: who they are, when they are awake, which channels they like.

The latent frame is the truth; `customers_feed` is the part a bank would actually
know (profile and consents), in the contract of `optichannel.contracts.CUSTOMERS`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from optichannel.channels import CHANNELS
from simulator.world import WorldConfig

#: rhythm peaks (local hour) a customer's day can centre on
PEAK_HOURS = np.array([8.0, 12.5, 19.5, 22.5])
PEAK_NAMES = ("morning", "lunch", "evening", "night")

#: how channel affinity (logit) moves per decade of age above 45: young like push and messenger
AGE_SLOPE = {"email": 0.05, "sms": 0.12, "push": -0.3, "call": 0.3, "messenger": -0.25}


def customer_ids(n: int) -> pa.Array:
    """Stable, zero-padded string ids C0000001... (vectorised in Arrow)."""
    digits = pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise("C", pc.utf8_lpad(digits, 7, "0"), "")


def make_latent(cfg: WorldConfig) -> pd.DataFrame:
    """Draw every customer's latent traits; one row per customer, index = position."""
    rng = np.random.default_rng([cfg.seed, 1])
    n = cfg.customers
    zones = [z for z, _, _ in cfg.zones]
    regions = [r for _, r, _ in cfg.zones]
    shares = np.array([s for _, _, s in cfg.zones])
    zone_idx = rng.choice(len(zones), size=n, p=shares / shares.sum())

    age = np.clip(rng.gamma(3.5, 7.0, n) + 18, 18, 85).round()
    log_income = 10.9 + 0.35 * np.exp(-(((age - 45) / 18) ** 2)) + rng.normal(0, 0.45, n)
    income = np.exp(log_income).round(-2)  # monthly, in cfg.currency
    salary_day = rng.integers(1, 29, n)
    advance_day = (salary_day + 14) % 28 + 1
    has_app = rng.random(n) < np.clip(0.95 - 0.012 * (age - 25), 0.25, 0.95)

    n_peaks = np.where(rng.random(n) < 0.45, 2, 1)
    peak_probs = np.array([0.3, 0.2, 0.38, 0.12])
    first = rng.choice(4, size=n, p=peak_probs)
    second = (first + rng.integers(1, 4, n)) % 4
    peak1 = PEAK_HOURS[first] + rng.normal(0, 0.7, n)
    peak2 = np.where(n_peaks == 2, PEAK_HOURS[second] + rng.normal(0, 0.7, n), np.nan)

    eff = cfg.response
    decades = (age - 45) / 10
    affinity = {ch: AGE_SLOPE[ch] * decades + rng.normal(0, eff.affinity_sd, n) for ch in CHANNELS}
    consent = {}
    for ch in CHANNELS:
        # customers who like a channel are more likely to have opted in to it
        lift = 0.6 * affinity[ch]
        p = 1 / (1 + np.exp(-(np.log(cfg.consent_rates[ch] / (1 - cfg.consent_rates[ch])) + lift)))
        consent[ch] = rng.random(n) < p
    consent["push"] &= has_app

    signup_offset = np.where(
        rng.random(n) < cfg.new_customer_share,
        rng.integers(0, max(cfg.days - 7, 1), n),  # days after start
        -rng.integers(30, 8 * 365, n),
    )
    conv = cfg.conversion
    frame = pd.DataFrame(
        {
            "customer_id": customer_ids(n).to_numpy(zero_copy_only=False),
            "tz": np.array(zones, dtype=object)[zone_idx],
            "region": np.array(regions, dtype=object)[zone_idx],
            "age": age.astype(np.int16),
            "income": income,
            "salary_day": salary_day.astype(np.int8),
            "advance_day": advance_day.astype(np.int8),
            "has_app": has_app,
            "peak1": peak1,
            "peak2": peak2,
            "peak_width": rng.uniform(1.0, 2.4, n),
            "weekend_shift": rng.normal(1.5, 0.7, n),
            "responsiveness": rng.normal(0, eff.responsiveness_sd, n),
            "fatigue_sensitivity": rng.lognormal(0, 0.5, n),
            "travel_propensity": rng.beta(1.2, 8, n) * (income / income.mean()) ** 0.5,
            "spend_rate": rng.gamma(4, 0.35, n) * (income / income.mean()) ** 0.3,
            "online_share": rng.beta(2, 3, n),
            "conv_baseline_logit": rng.normal(conv.baseline_logit_mean, conv.baseline_logit_sd, n),
            "conv_given_response": rng.beta(4, 4 * (1 / conv.given_response_mean - 1), n),
            "signup_offset_days": signup_offset.astype(np.int32),
        }
    )
    for ch in CHANNELS:
        frame[f"aff_{ch}"] = affinity[ch]
        frame[f"consent_{ch}"] = consent[ch]
    frame["affluent"] = frame["income"] >= frame["income"].quantile(cfg.logging_policy.affluent_quantile)
    _add_drift(frame, cfg)
    return frame


def _add_drift(frame: pd.DataFrame, cfg: WorldConfig) -> None:
    """`drift_day` (days from the start, -1 = never) and `aff2_<channel>`, the affinities after it:
    the customer's own affinities rotated by one to four channels, so the best channel always moves.
    Drawn from a stream of its own, so a world without drift is the same bytes as before."""
    drift = cfg.drift
    if drift.share <= 0:
        return
    rng = np.random.default_rng([cfg.seed, 2])
    n = len(frame)
    moves = rng.random(n) < drift.share
    last = max(drift.last_day or cfg.days, drift.first_day + 1)
    frame["drift_day"] = np.where(moves, rng.integers(drift.first_day, last, n), -1).astype(np.int32)
    before = frame[[f"aff_{ch}" for ch in CHANNELS]].to_numpy()
    shift = rng.integers(1, len(CHANNELS), n)
    after = before[
        np.arange(n)[:, None], (np.arange(len(CHANNELS))[None, :] + shift[:, None]) % len(CHANNELS)
    ]
    for k, ch in enumerate(CHANNELS):
        frame[f"aff2_{ch}"] = np.where(moves, after[:, k], before[:, k])


def customers_feed(latent: pd.DataFrame, cfg: WorldConfig) -> pd.DataFrame:
    """What the bank knows: profile and consents, in the customers contract."""
    start = pd.Timestamp(cfg.start)
    signup = start + pd.to_timedelta(latent["signup_offset_days"], unit="D")
    feed = pd.DataFrame(
        {
            "customer_id": latent["customer_id"],
            "signup_date": signup.astype("datetime64[us]"),
            "birth_year": (start.year - latent["age"]).astype(np.int64),
            "region": latent["region"],
            "tz": latent["tz"],
        }
    )
    for ch in CHANNELS:
        feed[f"consent_{ch}"] = latent[f"consent_{ch}"].astype(bool)
    return feed
