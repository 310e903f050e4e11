"""The decisions table: one row per customer and the option chosen for them, with the send time,
the model's probabilities and what the choice is worth. One builder, so the batch scorer, plans
and simulations write the same columns with the same meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from decision.choice import Choice
from decision.grid import CandidateGrid
from decision.scoring import Scored
from optichannel.channels import action_names
from optichannel.economics import Economics


def decisions_table(
    ids: np.ndarray, grid: CandidateGrid, scored: Scored, choice: Choice, econ: Economics
) -> pd.DataFrame:
    """customer_id, channel, send_at (UTC, NaT for none), local_hour (-1 for none), p_response,
    p_conversion, p_no_contact, uplift, expected_value and cost of each row's choice."""
    rows = np.arange(len(ids))
    contact = choice.contacted
    slot = choice.slot
    p_conv = choice.take(scored.p_conversion, scored.p_none)
    return pd.DataFrame(
        {
            "customer_id": np.asarray(ids).astype(str),
            "channel": action_names(choice.channel),
            "send_at": pd.to_datetime(grid.slots_us[rows, slot], unit="us", utc=True).where(contact),
            "local_hour": np.where(contact, grid.local_hour[rows, slot], -1),
            "p_response": choice.take(scored.p_response, np.nan),
            "p_conversion": p_conv,
            "p_no_contact": scored.p_none,
            "uplift": p_conv - scored.p_none,
            "expected_value": choice.value,
            "cost": econ.contact_cost(choice.channel),
        }
    )
