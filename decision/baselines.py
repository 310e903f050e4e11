"""The simple policies a model is judged against, each choosing one option per customer on the
engine's candidate grid ([rows, channels, slots], `allowed` by the engine's rules), so a
baseline is held to exactly the rules the model is: business as usual (the simulated bank's
rules), the heuristic, the newsletter, random and never.

A choice is (action code, NO_CONTACT for none; slot index). The random policy is scored by its
exact expectation over the allowed options (see evaluation), not by one noisy draw.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from decision.choice import Choice, best_option
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, NO_CONTACT
from simulator.logging_policy import RULES

EMAIL = CHANNELS.index("email")


def at_local_hour(
    channel: np.ndarray, hour: np.ndarray, local_hour: np.ndarray, allowed: np.ndarray
) -> Choice:
    """The first allowed slot of `channel` whose local hour is `hour` (none if there is none)."""
    rows = np.arange(len(channel))
    contact = channel != NO_CONTACT
    safe = np.where(contact, channel, 0)
    ok = allowed[rows, safe, :] & (local_hour == hour[:, None]) & contact[:, None]
    found = ok.any(axis=1)
    slot = ok.argmax(axis=1)
    return Choice(np.where(found, channel, NO_CONTACT), np.where(found, slot, 0), np.zeros(len(rows)))


def always_email(local_hour: np.ndarray, allowed: np.ndarray) -> Choice:
    """The newsletter: e-mail at 10:00 local, whoever the customer is."""
    n = allowed.shape[0]
    return at_local_hour(np.full(n, EMAIL), np.full(n, 10), local_hour, allowed)


def never_contact(n: int) -> Choice:
    return Choice(np.full(n, NO_CONTACT), np.zeros(n, dtype=np.int64), np.zeros(n))


def random_allowed(allowed: np.ndarray, rng: np.random.Generator) -> Choice:
    """One uniformly random allowed option per row (none when nothing is allowed)."""
    rows = allowed.shape[0]
    flat = allowed.reshape(rows, -1)
    keys = np.where(flat, rng.random(flat.shape), 2.0)
    pick = keys.argmin(axis=1)
    found = flat.any(axis=1)
    n_slots = allowed.shape[2]
    channel = np.where(found, pick // n_slots, NO_CONTACT)
    return Choice(channel, np.where(found, pick % n_slots, 0), np.zeros(rows))


def heuristic(customer: pd.DataFrame, local_hour: np.ndarray, allowed: np.ndarray) -> Choice:
    """A strong rule of thumb: the customer's historically most responsive consented channel
    (smoothed response rate), at their most active hour among the allowed slots."""
    rates = np.column_stack(
        [customer.get(fc.response_rate(c), pd.Series(np.nan, index=customer.index)).to_numpy(float)
         for c in CHANNELS]
    )  # fmt: skip
    rates = np.where(np.isnan(rates), 0.0, rates)
    shares = np.column_stack(
        [customer.get(fc.app_hour_share(h), pd.Series(0.0, index=customer.index)).to_numpy(float)
         for h in range(24)]
    )  # fmt: skip
    shares = np.nan_to_num(shares)
    activity = np.take_along_axis(shares, local_hour, axis=1)  # [rows, slots]
    # channel first (rate, ties broken by channel order), then the most active allowed slot
    channel_ok = allowed.any(axis=2)
    channel = np.where(channel_ok, rates + 1e-9 * np.arange(len(CHANNELS))[::-1], -np.inf).argmax(axis=1)
    value = np.full(allowed.shape, -np.inf)
    rows = np.arange(len(channel))
    value[rows, channel, :] = activity
    return best_option(value, allowed, None)


def business_rules(
    affluent: np.ndarray,
    consent: np.ndarray,
    local_hour: np.ndarray,
    allowed: np.ndarray,
    kind: str = "promo",
) -> Choice:
    """Business as usual on a candidate grid: the bank's rules for a campaign `kind` (promo: the
    first consented of call for the affluent at 11, push at 18, SMS at 12, messenger at 13, e-mail
    at 10; newsletter: e-mail at 10), at the first such local hour in the window that is allowed."""
    if kind not in RULES:
        raise ValueError(f"unknown campaign kind {kind!r}; rules exist for {sorted(RULES)}")
    n = len(affluent)
    channel = np.full(n, NO_CONTACT)
    hour = np.zeros(n, dtype=np.int64)
    for ch, h, affluent_only in RULES[kind]:
        ok = (channel == NO_CONTACT) & consent[:, ch] & (affluent if affluent_only else True)
        channel[ok], hour[ok] = ch, h
    return at_local_hour(channel, hour, local_hour, allowed)
