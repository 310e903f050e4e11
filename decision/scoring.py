"""Model scores on a candidate grid: P(response) and P(conversion) of every allowed option and
P(conversion) without contact, reshaped into the [rows, channels, slots] arrays the choice takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from decision.grid import CandidateGrid
from optichannel.economics import Economics
from optichannel.model_bundle import NextBestChannelModel


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


def score_grid(model: NextBestChannelModel, grid: CandidateGrid) -> Scored:
    """Predict every candidate of the grid (vectorised) and reshape for the decision; the
    request features are the ones the model was trained with (its estimated constants)."""
    grid = grid.for_model(model.meta)
    rows = grid.candidates
    action = rows.column("req_channel").astype(np.int64)
    p_resp, p_conv = model.score(rows, action)
    return Scored(grid.spread(p_resp), grid.spread(p_conv), model.p_none(grid.start))
