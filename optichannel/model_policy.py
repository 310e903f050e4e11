"""The model policy: score every allowed candidate of a grid, then take the kernel's argmax.

Shared by the training evaluation, the service, the batch scorer and the simulated A/B
campaign, so the policy that was judged is exactly the policy that runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

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


def decide(scored: Scored, allowed: np.ndarray, objective: Objective, econ: Economics) -> Choice:
    """`response`: the best allowed contact by P(response); `value`: the best net value, where
    no contact wins whenever nothing allowed pays more than leaving the customer alone."""
    if objective == "response":
        return best_option(scored.p_response, allowed, None)
    contact, none = scored.values(econ)
    return best_option(contact, allowed, none)
