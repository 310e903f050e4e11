"""The bank's logging policy: business rules, an exploration share and a no-contact holdout.

The full action distribution of every decision is computed explicitly, so the
propensity logged with each contact is exactly the probability the draw used.
Option `ch * H + h` is channel `ch` at window hour `h`, and `none` comes last (`none_option`),
the layout of the decision engine's exploration; `decode` turns an option into the one action
code of the product (a CHANNELS index, or NO_CONTACT).
"""

from __future__ import annotations

import numpy as np

from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS, NO_CONTACT
from simulator.truth import LatentArrays
from simulator.world import LoggingPolicy

EMAIL, SMS, PUSH, CALL, MESSENGER = (CHANNELS.index(c) for c in ("email", "sms", "push", "call", "messenger"))
#: business rules: campaign kind -> ordered (channel, local hour, needs affluent) tried until one is consented
RULES: dict[str, tuple[tuple[int, int, bool], ...]] = {
    "newsletter": ((EMAIL, 10, False),),
    "promo": (
        (CALL, 11, True),
        (PUSH, 18, False),
        (SMS, 12, False),
        (MESSENGER, 13, False),
        (EMAIL, 10, False),
    ),
}


def window_hours(policy: LoggingPolicy) -> np.ndarray:
    start, end = policy.window_hours
    return np.arange(start, end)


def allowed_mask(lat: LatentArrays, cust: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """[rows, channels, hours]: consent given and the hour outside the channel's quiet hours."""
    quiet_ok = np.array(
        [[DEFAULT_ALLOWED_HOURS[c][0] <= h < DEFAULT_ALLOWED_HOURS[c][1] for h in hours] for c in CHANNELS]
    )
    return lat.consent[cust][:, :, None] & quiet_ok[None, :, :]


def rule_action(lat: LatentArrays, cust: np.ndarray, kind: str, hours: np.ndarray) -> np.ndarray:
    """Option index the business rules pick for each row (`none_option` when nothing is consented)."""
    if kind not in RULES:
        raise ValueError(f"unknown campaign kind {kind!r}; rules exist for {sorted(RULES)}")
    action = np.full(len(cust), none_option(hours), dtype=np.int64)
    undecided = np.ones(len(cust), dtype=bool)
    for ch, hour, affluent_only in RULES[kind]:
        ok = undecided & lat.consent[cust, ch]
        if affluent_only:
            ok &= lat.affluent[cust]
        action[ok] = ch * len(hours) + int(np.searchsorted(hours, hour))
        undecided &= ~ok
    return action


def none_option(hours: np.ndarray) -> int:
    """The option index of no contact: after every (channel, hour), as in the decision engine's
    exploration (`decision.choice.explore`): option `c * H + h` is channel `c` at window hour `h`."""
    return len(CHANNELS) * len(hours)


def action_distribution(
    lat: LatentArrays, cust: np.ndarray, kind: str, policy: LoggingPolicy
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(probabilities [rows, channels * hours + none], rule option per row, allowed options
    [rows, channels * hours])."""
    hours = window_hours(policy)
    allowed = allowed_mask(lat, cust, hours).reshape(len(cust), -1)
    count = allowed.sum(axis=1)
    rule = rule_action(lat, cust, kind, hours)
    eps, hold = policy.exploration, policy.holdout
    bau = 1.0 - eps - hold
    none = none_option(hours)
    probs = np.zeros((len(cust), none + 1))
    probs[:, :none] = eps * allowed / np.maximum(count, 1)[:, None]
    probs[:, none] = hold + eps * (count == 0)
    probs[np.arange(len(cust)), rule] += bau
    return probs, rule, allowed


def draw(
    lat: LatentArrays, cust: np.ndarray, kind: str, policy: LoggingPolicy, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(option index, propensity, channel propensity, arm) per row: pick the component, then the
    option within it. The channel propensity is the probability of the drawn channel at any hour
    (of no contact for `none`): what channel-level off-policy evaluation weighs by."""
    probs, rule, allowed = action_distribution(lat, cust, kind, policy)
    hours = window_hours(policy)
    none = none_option(hours)
    n = len(cust)
    u = rng.random(n)
    holdout = u < policy.holdout
    explore = ~holdout & (u < policy.holdout + policy.exploration)
    # uniform pick among allowed options: the allowed option with the smallest random key
    keys = np.where(allowed, rng.random(allowed.shape), 2.0)
    uniform_pick = np.where(allowed.any(axis=1), keys.argmin(axis=1), none)
    action = np.where(holdout, none, np.where(explore, uniform_pick, rule))
    arm = np.where(holdout, "holdout", np.where(explore, "explore", "bau")).astype(object)
    rows = np.arange(n)
    by_channel = probs[:, :none].reshape(n, len(CHANNELS), -1).sum(axis=2)
    ch = np.minimum(action // len(hours), len(CHANNELS) - 1)
    channel_p = np.where(action == none, probs[:, none], by_channel[rows, ch])
    return action, probs[rows, action], channel_p, arm


def decode(action: np.ndarray, policy: LoggingPolicy) -> tuple[np.ndarray, np.ndarray]:
    """(action code: a CHANNELS index or NO_CONTACT; local hour) of option indices."""
    hours = window_hours(policy)
    none = action == none_option(hours)
    ch = np.where(none, NO_CONTACT, action // len(hours))
    hour = np.where(none, hours[0], hours[np.where(none, 0, action) % len(hours)])
    return ch, hour
