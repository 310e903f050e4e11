"""The model policy: score every allowed candidate of a grid, then take the kernel's argmax.

Shared by the training evaluation, the service, the batch scorer and the simulated A/B
campaign, so the policy that was judged is exactly the policy that runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from optichannel.channels import NO_CONTACT
from optichannel.decision import Choice, best_option
from optichannel.economics import Economics
from optichannel.model_bundle import NextBestChannelModel

Objective = Literal["response", "value"]


class Grid(Protocol):
    """What scoring needs from a candidate grid (features.candidates.CandidateGrid)."""

    candidates: Any  # FeatureRows with a `column(name)` accessor
    start: Any

    def spread(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray: ...

    def for_model(self, meta: dict[str, Any]) -> Grid: ...


@dataclass
class Scored:
    """Model outputs on a grid: [rows, channels, slots] probabilities and [rows] no-contact."""

    p_response: np.ndarray
    p_conversion: np.ndarray
    p_none: np.ndarray

    def values(self, econ: Economics) -> tuple[np.ndarray, np.ndarray]:
        """(net value of each contact [rows, channels, slots], value of no contact [rows])."""
        v = econ.value_per_conversion
        return v * self.p_conversion - econ.channel_costs(), v * self.p_none


def score_grid(model: NextBestChannelModel, grid: Grid) -> Scored:
    """Predict every candidate of the grid (vectorised) and reshape for the decision; the
    request features are the ones the model was trained with (its estimated constants)."""
    grid = grid.for_model(model.meta)
    rows = grid.candidates
    action = rows.column("req_channel").astype(np.int64)
    p_resp, p_conv = model.score(rows, action)
    return Scored(grid.spread(p_resp), grid.spread(p_conv), model.p_none(grid.start))


def decide(
    scored: Scored,
    allowed: np.ndarray,
    objective: Objective,
    econ: Economics,
    may_skip: np.ndarray | None = None,
    price: np.ndarray | None = None,
) -> Choice:
    """`response`: the best allowed contact by P(response); `value`: the best net value, where
    no contact wins whenever nothing allowed pays more than leaving the customer alone, except on
    rows where `may_skip` is False (the request demands a contact when one is allowed). `price`:
    what a campaign's limits charge each contact (its dual prices), paid on top of the cost."""
    if objective == "response":
        return best_option(scored.p_response, allowed, None)
    contact, none = scored.values(econ)
    if price is not None:
        contact = contact - price
    return best_option(contact, allowed, none, may_skip)


@dataclass(frozen=True)
class Picked:
    """What the policy hands out per row: the choice (greedy or explored) and its propensities."""

    choice: Choice
    propensity: np.ndarray  # P(this policy picks this option: channel and hour) for off-policy evaluation
    explored: np.ndarray  # True where the exploration draw replaced the greedy choice
    channel_propensity: np.ndarray  # P(this policy picks this channel at any hour, or no contact)


def explore(
    greedy: Choice,
    allowed: np.ndarray,
    may_skip: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
) -> Picked:
    """Epsilon-greedy over every allowed (channel, hour) plus `none` (where the row may skip, or
    nothing is allowed): with probability `epsilon` a uniform option. Exploring hours, not only
    channels, is what lets logged data teach the model about hours the greedy policy avoids. Both
    propensities are exact (the option's, and its channel's at any hour), so the logged decisions
    can be evaluated off-policy later, per option or per channel."""
    n, k, s = allowed.shape
    flat = allowed.reshape(n, k * s)
    with_none = np.asarray(may_skip, dtype=bool) | ~flat.any(axis=1)
    options = np.concatenate([flat, with_none[:, None]], axis=1)  # [n, channels * slots + none]
    count = options.sum(axis=1)
    draw = rng.random(n) < epsilon if epsilon > 0 else np.zeros(n, dtype=bool)
    # the r-th available option of each row, r uniform (only drawn where exploring)
    rank = np.floor(rng.random(n) * count).astype(np.int64) if epsilon > 0 else np.zeros(n, dtype=np.int64)
    code = (np.cumsum(options, axis=1) > rank[:, None]).argmax(axis=1)
    contact = code < k * s
    channel = np.where(draw, np.where(contact, code // s, NO_CONTACT), greedy.channel)
    slot = np.where(draw, np.where(contact, code % s, 0), greedy.slot)
    same = (channel == greedy.channel) & ((channel == NO_CONTACT) | (slot == greedy.slot))
    value = np.where(same, greedy.value, np.nan)
    rows = np.arange(n)
    slots_of_channel = np.where(
        channel == NO_CONTACT, with_none, allowed.sum(axis=2)[rows, np.clip(channel, 0, k - 1)]
    )
    propensity = epsilon / count + (1.0 - epsilon) * same
    channel_propensity = epsilon * slots_of_channel / count + (1.0 - epsilon) * (channel == greedy.channel)
    return Picked(Choice(channel, slot, value), propensity, ~same, channel_propensity)
