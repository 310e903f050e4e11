"""The choice among a grid's allowed options: the greedy argmax (value, or response) with `none`
where nothing pays, and epsilon-greedy exploration with exact propensities.

Only the decision engine (`decision.engine`) and the policies it judges beside the model
(`decision.baselines`) call these: every entry point decides through the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from decision.scoring import Scored
from optichannel.channels import NO_CONTACT
from optichannel.economics import Economics

Objective = Literal["response", "value", "contact"]


@dataclass(frozen=True)
class Choice:
    """The chosen option per row: action code (a CHANNELS index, or NO_CONTACT), slot index,
    and its value."""

    channel: np.ndarray
    slot: np.ndarray
    value: np.ndarray

    def take(self, values: np.ndarray, fill: np.ndarray | float) -> np.ndarray:
        """Each row's entry of a [rows, channels, slots] array at its choice; `fill` for none."""
        contact = self.contacted
        picked = values[np.arange(len(self.channel)), np.where(contact, self.channel, 0), self.slot]
        return np.where(contact, picked, fill)

    @property
    def contacted(self) -> np.ndarray:
        """[rows] True where the choice is a contact, not `none`."""
        return self.channel != NO_CONTACT


def best_option(
    value: np.ndarray, allowed: np.ndarray, none_value: np.ndarray | None, may_skip: np.ndarray | None = None
) -> Choice:
    """Argmax over allowed candidates; `none` wins ties and whenever nothing allowed pays more.

    `none_value=None` means no-contact is not an option: the best allowed contact is taken
    (and `none` only when nothing is allowed at all). `may_skip` [rows]: where False, that row
    must contact if anything is allowed (a CRM that asked for a contact), whatever `none` is worth.
    """
    rows = value.shape[0]
    masked = np.where(allowed, value, -np.inf).reshape(rows, -1)
    flat = masked.argmax(axis=1)
    best = masked[np.arange(rows), flat]
    n_slots = value.shape[2]
    channel, slot = flat // n_slots, flat % n_slots
    if none_value is None:
        take_none = ~np.isfinite(best)
        none_value = np.full(rows, np.nan)
    else:
        take_none = ~(best > none_value)
        if may_skip is not None:
            take_none &= np.asarray(may_skip, dtype=bool) | ~np.isfinite(best)
    return Choice(
        channel=np.where(take_none, NO_CONTACT, channel),
        slot=np.where(take_none, 0, slot),
        value=np.where(take_none, none_value, best),
    )


def greedy(
    scored: Scored,
    allowed: np.ndarray,
    objective: Objective,
    econ: Economics,
    may_skip: np.ndarray | None = None,
    price: np.ndarray | None = None,
) -> Choice:
    """`response`: the best allowed contact by P(response); `value`: the best net value, where
    no contact wins whenever nothing allowed pays more than leaving the customer alone, except on
    rows where `may_skip` is False (the request demands a contact when one is allowed);
    `contact`: the best net value among contacts only (the contact a policy would send). `price`:
    what a campaign's limits charge each contact (its dual prices), paid on top of the cost."""
    if objective == "response":
        return best_option(scored.p_response, allowed, None)
    contact, none = scored.values(econ)
    if price is not None:
        contact = contact - price
    if objective == "contact":
        return best_option(contact, allowed, None)
    return best_option(contact, allowed, none, may_skip)


@dataclass(frozen=True)
class Picked:
    """What the policy hands out per row: the choice (greedy or explored) and its propensities."""

    choice: Choice
    propensity: np.ndarray  # P(this policy picks this option: channel and hour) for off-policy evaluation
    explored: np.ndarray  # True where the exploration draw replaced the greedy choice
    channel_propensity: np.ndarray  # P(this policy picks this channel at any hour, or no contact)


def explore(
    best: Choice,
    allowed: np.ndarray,
    may_skip: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    weights: Callable[[np.ndarray], np.ndarray] | None = None,
    uniform: float = 1.0,
) -> Picked:
    """Epsilon-greedy over every allowed (channel, hour) plus `none` (where the row may skip, or
    nothing is allowed): with probability `epsilon` an explored option, drawn uniformly with
    probability `uniform` and otherwise from `weights(options)` ([n, channels * slots + 1] rows
    summing to one over the available options: contacts flat, then none; `decision.uncertainty`'s
    softmax). Exploring hours, not only channels, is what lets logged data teach the model about
    hours the greedy policy avoids; the uniform share keeps every option's propensity above zero.
    Both propensities are exact (the option's, and its channel's at any hour), so the logged
    decisions can be evaluated off-policy later, per option or per channel."""
    n, k, s = allowed.shape
    flat = allowed.reshape(n, k * s)
    with_none = np.asarray(may_skip, dtype=bool) | ~flat.any(axis=1)
    options = np.concatenate([flat, with_none[:, None]], axis=1)  # [n, channels * slots + none]
    count = options.sum(axis=1)
    # the explored distribution over the options: uniform, or mixed with the weighted draw
    q = options / np.maximum(count, 1)[:, None]
    if weights is not None and uniform < 1.0 and epsilon > 0:
        q = uniform * q + (1.0 - uniform) * weights(options)
    draw = rng.random(n) < epsilon if epsilon > 0 else np.zeros(n, dtype=bool)
    u = rng.random(n) if epsilon > 0 else np.zeros(n)
    code = np.minimum((np.cumsum(q, axis=1) <= u[:, None]).sum(axis=1), k * s)
    code = np.where(options[np.arange(n), code], code, options.argmax(axis=1))  # rounding at the top
    contact = code < k * s
    channel = np.where(draw, np.where(contact, code // s, NO_CONTACT), best.channel)
    slot = np.where(draw, np.where(contact, code % s, 0), best.slot)
    same = (channel == best.channel) & ((channel == NO_CONTACT) | (slot == best.slot))
    value = np.where(same, best.value, np.nan)
    rows = np.arange(n)
    option = np.where(channel == NO_CONTACT, k * s, np.clip(channel, 0, k - 1) * s + slot)
    per_channel = q[:, : k * s].reshape(n, k, s).sum(axis=2)
    q_channel = np.where(channel == NO_CONTACT, q[:, k * s], per_channel[rows, np.clip(channel, 0, k - 1)])
    propensity = epsilon * q[rows, option] + (1.0 - epsilon) * same
    channel_propensity = epsilon * q_channel + (1.0 - epsilon) * (channel == best.channel)
    return Picked(Choice(channel, slot, value), propensity, ~same, channel_propensity)
