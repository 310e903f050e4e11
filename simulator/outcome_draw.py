"""What a contact leads to, drawn from the truth: delivery, a response, a conversion, and the
events a response leaves in the behaviour feed.

One function for the bank's history (the logging policy's contacts, `simulator.contacts`) and
for a simulated deployment's decisions (`simulator.live_bank`), so both are drawn from exactly
the probabilities the oracle reports. Random numbers are drawn in a fixed order: the same seed
gives the same world bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optichannel.channels import CHANNELS, NO_CONTACT
from simulator.behaviour import Rows
from simulator.truth import (
    US_PER_DAY,
    US_PER_HOUR,
    LatentArrays,
    SlotContext,
    baseline_conversion,
    conversion_parts,
    response_proba,
)
from simulator.world import WorldConfig

DELIVERY_RATE = np.array([0.97, 0.96, 0.92, 1.0, 0.95])  # email, sms, push, call (dialled), messenger
RESPONSE_DELAY_HOURS = np.array([3.0, 0.5, 0.2, 0.02, 0.8])
RESPONSE_EVENT = np.array(["email_click", "sms_click", "push_open", "", "messenger_reply"], dtype=object)
#: behaviour events only a contact causes (organic behaviour never produces them)
CONTACT_EVENTS = frozenset({"email_open", *(e for e in RESPONSE_EVENT if e)})
EMAIL, CALL = CHANNELS.index("email"), CHANNELS.index("call")
PROXY_OPEN_RATE = 0.55  # mail privacy proxies "open" most delivered e-mails


@dataclass
class Drawn:
    """Outcomes of one batch of decisions; times in UTC microseconds, -1 = did not happen."""

    delivered: np.ndarray
    responded_at: np.ndarray
    converted_at: np.ndarray


def draw_outcomes(
    lat: LatentArrays,
    cust: np.ndarray,
    ch: np.ndarray,
    sent: np.ndarray,
    ctx: SlotContext,
    cfg: WorldConfig,
    rng: np.random.Generator,
) -> Drawn:
    """Delivery, response and conversion of each decision (`ch` NO_CONTACT: only the
    baseline conversion, counted from `sent`). `ctx.fatigue` is the customer's fatigue then."""
    n = len(cust)
    contacted = ch != NO_CONTACT
    safe_ch = np.where(contacted, ch, 0)
    p_resp = np.where(contacted, response_proba(lat, cust, safe_ch, ctx, cfg), 0.0)
    responded = contacted & (rng.random(n) < p_resp)
    p_del = DELIVERY_RATE[safe_ch]
    delivered = contacted & (responded | (rng.random(n) < np.clip((p_del - p_resp) / (1 - p_resp), 0, 1)))
    without, with_resp = conversion_parts(lat, cust, safe_ch, ctx.fatigue, cfg)
    p_conv = np.where(contacted, np.where(responded, with_resp, without), baseline_conversion(lat, cust))
    converted = rng.random(n) < p_conv

    delay = (rng.exponential(1.0, n) * RESPONSE_DELAY_HOURS[safe_ch] * US_PER_HOUR).astype(np.int64) + 1
    resp_at = np.where(responded, sent + delay, -1)
    conv_from = np.where(responded, resp_at, sent)
    window = cfg.conversion.window_days * US_PER_DAY
    conv_at = conv_from + (rng.random(n) * window).astype(np.int64)
    conv_at = np.where(converted & (conv_at < sent + window), conv_at, -1)
    return Drawn(delivered, resp_at, conv_at)


def response_events(
    cust: np.ndarray, ch: np.ndarray, sent: np.ndarray, drawn: Drawn, rng: np.random.Generator
) -> Rows:
    """What the contacts leave in the behaviour feed: proxy opens of delivered e-mails, and a
    click, open or reply at each response (a call's answer leaves none)."""
    n = len(cust)
    safe_ch = np.where(ch != NO_CONTACT, ch, 0)
    is_email = drawn.delivered & (ch == EMAIL)
    proxy_open = is_email & (rng.random(n) < PROXY_OPEN_RATE)
    opened_at = sent + rng.integers(60, 1800, n) * 1_000_000
    answered = (drawn.responded_at >= 0) & (ch != CALL)
    kinds = [np.full(int(proxy_open.sum()), "email_open", dtype=object), RESPONSE_EVENT[safe_ch[answered]]]
    return Rows(
        np.concatenate([cust[proxy_open], cust[answered]]),
        np.concatenate([opened_at[proxy_open], drawn.responded_at[answered]]),
        {"event_type": np.concatenate(kinds)},
    )
