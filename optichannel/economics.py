"""What a conversion is worth and what each outreach costs: the decision's economics.

In the kernel because training evaluates with it, the model carries it in its manifest,
and serving and experiments decide with the very same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from optichannel.channels import CHANNELS, DEFAULT_COST, NO_CONTACT


class Economics(BaseModel):
    """Value of a conversion, cost per channel (one currency unit) and the frequency cap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value_per_conversion: float = Field(50.0, gt=0)
    cost: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_COST))
    max_contacts_7d: int | None = Field(
        4, ge=1, description="frequency cap: customers contacted this often in 7 days get no contact"
    )

    def channel_costs(self) -> np.ndarray:
        """Cost per channel in CHANNELS order, shaped [1, channels, 1] to broadcast over a grid."""
        return np.array([self.cost[c] for c in CHANNELS], dtype=float)[None, :, None]

    def contact_cost(self, channel: np.ndarray) -> np.ndarray:
        """Cost of each row's action code (0 for no contact, NO_CONTACT)."""
        channel = np.asarray(channel)
        contact = channel != NO_CONTACT
        return np.where(contact, self.channel_costs()[0, np.where(contact, channel, 0), 0], 0.0)

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Economics:
        """The economics a model was trained and judged with (defaults for older models)."""
        return cls.model_validate(meta.get("economics") or {})
