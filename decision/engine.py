"""The one decision engine: candidate grid under the rules -> model scores -> the value argmax
(`none` where nothing pays) -> epsilon-greedy exploration with exact propensities.

Every entry point decides through an `Engine`: the service and `/predict_batch`, `score` and
`score --plan`, the promotion gate, the oracle evaluation, the seed-pattern check, the
simulated A/B campaign, off-policy evaluation and the simulated deployment. One engine is built
from the model and the deployment's rules (`Rules.of(settings, model.meta)`), so the decision a
model is judged on is the one it is served with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from decision.choice import Choice, Objective, Picked, best_option, explore, greedy
from decision.grid import CandidateGrid, candidate_grid
from decision.rules import Asks, Rules
from decision.scoring import Scored, score_grid
from decision.uncertainty import softmax_weights, temperature
from features.candidates import window_us
from features.customer_block import CustomerBlock
from features.request_features import REQUEST_FEATURES
from features.request_params import RequestParams
from optichannel.economics import Economics
from optichannel.model_bundle import ACTION, NextBestChannelModel

if TYPE_CHECKING:
    from optichannel.settings import Settings


class Limits(Protocol):
    """A live campaign's limits on one group's grid (serving.campaign_limits.Gate)."""

    room: np.ndarray  # [n, channels, slots] open, with room on every counter it would use
    price: np.ndarray  # [n, channels, slots] the dual price a contact there pays


@dataclass(frozen=True)
class Decided:
    """One group's grid, scores and picks: what answers, the batch scorer and the judges read."""

    grid: CandidateGrid
    scored: Scored
    contact: np.ndarray  # [n, channels, slots] net value of each contact
    none: np.ndarray  # [n] value of no contact
    picked: Picked
    allowed: np.ndarray  # [n, channels, slots] what the decision could take (a campaign's limits too)
    priced: np.ndarray  # [n, channels, slots] contact value net of the campaign's dual prices

    @property
    def choice(self) -> Choice:
        return self.picked.choice

    def retake(self, row: int, channel: int, slot: int, may_skip: bool) -> None:
        """Row `row`'s option ran out after the limits were read (a live counter filled up): take
        it out and choose again, greedily (propensity 1), in place."""
        self.allowed[row, channel, slot] = False
        one = slice(row, row + 1)
        again = best_option(self.priced[one], self.allowed[one], self.none[one], np.array([may_skip]))
        c, p = self.picked.choice, self.picked
        c.channel[row], c.slot[row], c.value[row] = again.channel[0], again.slot[0], again.value[0]
        p.propensity[row], p.channel_propensity[row], p.explored[row] = 1.0, 1.0, False


class Engine:
    """A model under a set of rules: builds grids, scores them and chooses."""

    def __init__(self, model: NextBestChannelModel, rules: Rules | None = None) -> None:
        self.model = model
        self.rules = rules if rules is not None else Rules(Economics.from_meta(model.meta))
        self.params = RequestParams.from_meta(model.meta)
        self.prior = {k: float(v) for k, v in (model.meta.get("population") or {}).items()}

    @classmethod
    def of(cls, model: NextBestChannelModel, settings: Settings) -> Engine:
        """The engine the deployment runs: the settings' quiet hours, the model's economics."""
        return cls(model, Rules.of(settings, model.meta))

    @property
    def econ(self) -> Economics:
        return self.rules.econ

    def with_rules(self, rules: Rules) -> Engine:
        return Engine(self.model, rules)

    def check_inputs(self, provided: Iterable[str], source: str) -> None:
        """A ValueError naming the model's customer inputs that `source` (a store's or a
        snapshot's columns, `provided`) lacks: a model must never score a feature it was trained
        on as silently missing."""
        have = {*provided, *REQUEST_FEATURES, ACTION}
        inputs = dict.fromkeys([*self.model.response_features, *self.model.conversion_features])
        lacking = [c for c in inputs if c not in have]
        if lacking:
            shown = ", ".join(lacking[:8]) + (" ..." if len(lacking) > 8 else "")
            raise ValueError(
                f"{source} lacks {len(lacking)} feature(s) the model was trained on: {shown}; it would "
                "score them as missing: rebuild the features it was trained on (`optichannel features "
                "build`, `features apply`, `features materialize`) or retrain (`optichannel train`)"
            )

    def grid(
        self,
        customers: pd.DataFrame | CustomerBlock,
        window_start: pd.Series | pd.Timestamp | np.ndarray,
        hours: int,
        asks: Asks | None = None,
    ) -> CandidateGrid:
        """The candidate grid under this engine's rules, with the model's request constants."""
        return candidate_grid(customers, window_start, hours, self.rules, asks, self.params)

    def score(self, grid: CandidateGrid) -> Scored:
        return score_grid(self.model, grid)

    def choose(
        self,
        grid: CandidateGrid,
        scored: Scored,
        objective: Objective = "value",
        *,
        within: np.ndarray | None = None,
    ) -> Choice:
        """The greedy choice of `scored` (the model's, or any other scorer's such as the truth's)
        among the grid's allowed options (narrowed by `within`)."""
        allowed = grid.allowed if within is None else grid.allowed & within
        return greedy(scored, allowed, objective, self.rules.econ)

    def decide(
        self,
        customers: pd.DataFrame | CustomerBlock,
        window_start: pd.Series | pd.Timestamp | np.ndarray,
        hours: int,
        *,
        asks: Asks | None = None,
        epsilon: float = 0.0,
        rng: np.random.Generator | None = None,
        gate: Callable[[np.ndarray], Limits] | None = None,
    ) -> Decided:
        """The whole decision of each customer's window from its start: grid -> scores -> value
        argmax (`none` only where the asks allow skipping) -> exploration. `gate` (slots -> a
        live campaign's limits): only options with room, each contact paying its dual price."""
        grid = self.grid(customers, window_start, hours, asks)
        return self.decide_grid(grid, asks=asks, epsilon=epsilon, rng=rng, gate=gate)

    def decide_grid(
        self,
        grid: CandidateGrid,
        *,
        asks: Asks | None = None,
        epsilon: float = 0.0,
        rng: np.random.Generator | None = None,
        gate: Callable[[np.ndarray], Limits] | None = None,
    ) -> Decided:
        """`decide` on a grid already built under these rules (judges share one grid between
        models)."""
        n = grid.shape[0]
        scored = self.score(grid)
        contact, none = scored.values(self.rules.econ)
        limits = gate(grid.slots_us) if gate is not None else None
        allowed = grid.allowed if limits is None else grid.allowed & limits.room
        priced = contact if limits is None else contact - limits.price
        may_skip = np.ones(n, dtype=bool) if asks is None or asks.may_skip is None else asks.may_skip
        price = None if limits is None else limits.price
        best = greedy(scored, allowed, "value", self.rules.econ, may_skip, price)
        weights = None
        if epsilon > 0 and self.rules.explore_uniform < 1.0:
            heat = temperature(grid.candidates.customers, priced, none, allowed)
            weights = partial(softmax_weights, priced, none, temperature=heat)
        picked = explore(best, allowed, may_skip, epsilon, rng or np.random.default_rng(0), weights,
                         self.rules.explore_uniform)  # fmt: skip
        return Decided(grid, scored, contact, none, picked, allowed, priced)

    def decide_frame(
        self, feats: pd.DataFrame, start: pd.Timestamp | pd.Series, hours: int
    ) -> tuple[CustomerBlock, np.ndarray, Decided]:
        """An offline chunk (snapshots read at the window start, cold start included): the
        unknown customers carry the population prior; (the block, who the store knew, decisions)."""
        block = CustomerBlock.from_frame(feats)
        known = block.known()
        block = with_prior(block, self.prior, ~known)
        return block, known, self.decide(block, window_us(start, len(block)), hours)


def with_prior(block: CustomerBlock, prior: dict[str, float], unknown: np.ndarray) -> CustomerBlock:
    """A copy where unknown customers carry the population prior (the training medians the model
    was shipped with); the copy may then be overridden in place."""
    out = block.copy()
    if unknown.any() and prior:
        for col, value in prior.items():
            j = out.index.get(col)
            if j is not None:
                out.values[unknown, j] = value
    return out
