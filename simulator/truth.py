"""The ground-truth response and conversion model of the simulated bank.

Generation and the oracle both call these functions, so the feeds are drawn from
exactly the probabilities the oracle reports. Everything is vectorised over query
rows: `cust` holds latent-row positions, times are int64 microseconds since epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optichannel.channels import CHANNELS, NO_CONTACT
from simulator.world import WorldConfig

US_PER_HOUR = 3_600_000_000
US_PER_DAY = 24 * US_PER_HOUR
#: how many earlier contacts count for fatigue (older ones have decayed away)
FATIGUE_MEMORY = 12


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _circular_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.abs(a - b) % 24.0
    return np.minimum(d, 24.0 - d)


def activity(lat: LatentArrays, cust: np.ndarray, local_hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """How awake and reachable a customer is at a local hour, in [0.03, 1]."""
    shift = np.where(weekend, lat.weekend_shift[cust], 0.0)
    width = lat.peak_width[cust]
    g1 = np.exp(-0.5 * (_circular_gap(local_hour, lat.peak1[cust] + shift) / width) ** 2)
    p2 = lat.peak2[cust]
    g2 = np.where(
        np.isnan(p2), 0.0, np.exp(-0.5 * (_circular_gap(local_hour, np.nan_to_num(p2) + shift) / width) ** 2)
    )
    return np.maximum(np.maximum(g1, g2), 0.03)


def reach(
    lat: LatentArrays,
    cust: np.ndarray,
    ch: np.ndarray,
    local_hour: np.ndarray,
    weekend: np.ndarray,
    cfg: WorldConfig,
) -> np.ndarray:
    """Activity when the message is seen: it waits, decaying hourly, until the customer is up."""
    decay = np.array([cfg.response.wait_decay[c] for c in CHANNELS])[ch]
    best = activity(lat, cust, local_hour + 0.5, weekend)
    factor = np.ones_like(best)
    for wait in range(1, 13):
        factor = factor * decay
        if not factor.any():
            break
        best = np.maximum(best, factor * activity(lat, cust, local_hour + 0.5 + wait, weekend))
    return best


def payday_window(lat: LatentArrays, cust: np.ndarray, day_of_month: np.ndarray) -> np.ndarray:
    """True on a salary or advance day and on the day after."""
    sd = lat.salary_day[cust]
    ad = lat.advance_day[cust]
    return (day_of_month == sd) | (day_of_month == sd + 1) | (day_of_month == ad) | (day_of_month == ad + 1)


def fatigue(last_contacts: np.ndarray, t: np.ndarray, cfg: WorldConfig) -> np.ndarray:
    """Decayed count of earlier delivered contacts; `last_contacts` is [rows, K] of times (or -1 = none)."""
    tau = cfg.response.fatigue_tau_days * US_PER_DAY
    age = t[:, None] - last_contacts
    valid = (last_contacts >= 0) & (age > 0) & (age < 8 * tau)
    return np.where(valid, np.exp(-np.clip(age, 0, None) / tau), 0.0).sum(axis=1)


@dataclass(frozen=True)
class SlotContext:
    """What the truth needs about each (customer, slot): local calendar, travel, fatigue."""

    local_hour: np.ndarray  # integer local hour of the slot
    weekday: np.ndarray  # 0 = Monday, local
    day_of_month: np.ndarray  # local
    travel_recent: np.ndarray  # bool: air ticket within travel_days before the slot
    fatigue: np.ndarray  # decayed recent contacts
    drifted: np.ndarray | None = None  # bool: the customer's preferences have moved by the slot

    @property
    def weekend(self) -> np.ndarray:
        return self.weekday >= 5


def response_logit(
    lat: LatentArrays, cust: np.ndarray, ch: np.ndarray, ctx: SlotContext, cfg: WorldConfig
) -> np.ndarray:
    eff = cfg.response
    intercept = np.array([eff.intercept[c] for c in CHANNELS])[ch]
    affinity = lat.affinity[cust, ch]
    if ctx.drifted is not None:
        affinity = np.where(ctx.drifted, lat.affinity_after[cust, ch], affinity)
    rhythm = eff.rhythm_weight * (reach(lat, cust, ch, ctx.local_hour.astype(float), ctx.weekend, cfg) - 0.6)
    payday = np.isin(ch, [CHANNELS.index("call"), CHANNELS.index("push")]) & payday_window(
        lat, cust, ctx.day_of_month
    )
    travel = (ch == CHANNELS.index("email")) & ctx.travel_recent
    tired = eff.fatigue_weight * lat.fatigue_sensitivity[cust] * ctx.fatigue
    return (
        intercept
        + affinity
        + lat.responsiveness[cust]
        + rhythm
        + eff.payday_lift * payday
        + eff.travel_lift * travel
        - tired
    )


def response_proba(
    lat: LatentArrays, cust: np.ndarray, ch: np.ndarray, ctx: SlotContext, cfg: WorldConfig
) -> np.ndarray:
    """True P(response) of contacting customer `cust` on channel `ch` in the slot."""
    return sigmoid(response_logit(lat, cust, ch, ctx, cfg))


def baseline_conversion(lat: LatentArrays, cust: np.ndarray) -> np.ndarray:
    """P(convert within the window) with no contact at all."""
    return sigmoid(lat.conv_baseline_logit[cust])


def conversion_parts(
    lat: LatentArrays, cust: np.ndarray, ch: np.ndarray, fatigue_now: np.ndarray, cfg: WorldConfig
) -> tuple[np.ndarray, np.ndarray]:
    """(P(convert | contacted, no response), P(convert | responded)) for a contact on `ch`."""
    conv = cfg.conversion
    base = baseline_conversion(lat, cust)
    annoy = np.clip(conv.annoyance * lat.fatigue_sensitivity[cust] * (1 + 0.5 * fatigue_now), 0, 0.9)
    without = base * (1 - annoy)
    mult = np.array([conv.channel_multiplier[c] for c in CHANNELS])[ch]
    q = np.clip(lat.conv_given_response[cust] * mult, 0, 0.95)
    return without, 1 - (1 - without) * (1 - q)


def conversion_proba(
    lat: LatentArrays,
    cust: np.ndarray,
    ch: np.ndarray,
    p_response: np.ndarray,
    fatigue_now: np.ndarray,
    cfg: WorldConfig,
) -> np.ndarray:
    """True P(convert) after contacting on `ch`; NO_CONTACT means no contact (the baseline)."""
    none = ch == NO_CONTACT
    safe_ch = np.where(none, 0, ch)
    without, with_response = conversion_parts(lat, cust, safe_ch, fatigue_now, cfg)
    contacted = without + p_response * (with_response - without)
    return np.where(none, baseline_conversion(lat, cust), contacted)


class LatentArrays:
    """Column arrays of the latent frame for fast fancy indexing by position."""

    def __init__(self, latent: pd.DataFrame) -> None:
        self.customer_id = latent["customer_id"].to_numpy()
        self.tz = latent["tz"].to_numpy()
        for name in (
            "peak1",
            "peak2",
            "peak_width",
            "weekend_shift",
            "responsiveness",
            "fatigue_sensitivity",
            "conv_baseline_logit",
            "conv_given_response",
            "travel_propensity",
            "spend_rate",
            "online_share",
            "income",
        ):
            setattr(self, name, latent[name].to_numpy(dtype=float))
        self.salary_day = latent["salary_day"].to_numpy(dtype=np.int64)
        self.advance_day = latent["advance_day"].to_numpy(dtype=np.int64)
        self.affinity = np.column_stack([latent[f"aff_{c}"].to_numpy(dtype=float) for c in CHANNELS])
        self.consent = np.column_stack([latent[f"consent_{c}"].to_numpy(dtype=bool) for c in CHANNELS])
        self.has_app = latent["has_app"].to_numpy(dtype=bool)
        self.affluent = latent["affluent"].to_numpy(dtype=bool)
        self.age = latent["age"].to_numpy(dtype=float)
        self.signup_offset_days = latent["signup_offset_days"].to_numpy(dtype=np.int64)
        moves = "drift_day" in latent
        self.drift_day = latent["drift_day"].to_numpy(np.int64) if moves else np.full(len(latent), -1)
        self.affinity_after = (
            np.column_stack([latent[f"aff2_{c}"].to_numpy(dtype=float) for c in CHANNELS])
            if moves
            else self.affinity
        )

    def drifted(self, cust: np.ndarray, t_us: np.ndarray, start_us: int) -> np.ndarray | None:
        """[rows] whether each customer's preferences have moved by `t_us` (the world starting at
        `start_us`, UTC); None in a world without drift."""
        if not (self.drift_day >= 0).any():
            return None
        day = self.drift_day[cust]
        return (day >= 0) & (t_us >= start_us + day * US_PER_DAY)

    def __len__(self) -> int:
        return len(self.customer_id)
