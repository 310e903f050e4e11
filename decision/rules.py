"""The rules that make an option allowed, built once and shared by every entry point.

A decision may use a (channel, hour) only with the customer's consent (or for a service
message, which needs none), on a channel the request lists, outside the channel's quiet hours in
the customer's local time, below the frequency cap (marketing only) and, under a campaign plan,
inside the contact centre's office hours. The settings give the quiet hours, the model its
economics (value, costs, cap), a plan narrows both. The request only ever narrows: it never
changes a model input, so what an option is worth does not depend on what else was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.request_features import CustomerColumns
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS
from optichannel.economics import Economics
from optichannel.settings import EXPLORATION_UNIFORM

if TYPE_CHECKING:
    from optichannel.campaign_plan import CampaignPlan
    from optichannel.settings import Settings

#: plan layouts a set of rules remembers (one per window start)
LAYOUTS_KEPT = 256


@dataclass(frozen=True)
class Rules:
    """Economics, quiet hours and (optionally) a campaign plan's office hours."""

    econ: Economics = field(default_factory=Economics)
    quiet_hours: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(DEFAULT_ALLOWED_HOURS))
    plan: CampaignPlan | None = None
    #: share of explored decisions drawn uniformly; the rest by value at the customer's uncertainty
    explore_uniform: float = EXPLORATION_UNIFORM
    #: the plan's layout per window (start, hours): most decisions share a window start
    _layouts: dict[tuple[int, int], Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, settings: Settings, econ: Economics | dict[str, Any] | None = None) -> Rules:
        """The deployment's rules: the settings' quiet hours and `econ` (a model's manifest
        `meta`, or economics; the defaults without either)."""
        if isinstance(econ, dict):
            econ = Economics.from_meta(econ)
        return cls(
            econ or Economics(), dict(settings.quiet_hours), explore_uniform=settings.exploration_uniform
        )

    def for_plan(self, plan: CampaignPlan) -> Rules:
        """These rules narrowed by a campaign plan: its economics, quiet and office hours."""
        return Rules(plan.apply_economics(self.econ), plan.allowed_hours(dict(self.quiet_hours)), plan,
                     explore_uniform=self.explore_uniform)  # fmt: skip

    @property
    def cap(self) -> int | None:
        return self.econ.max_contacts_7d

    def office_open(self, slots_us: np.ndarray) -> np.ndarray | None:
        """[n, channels, slots] inside the plan's office hours and weekdays (None without a plan);
        one layout per distinct window start."""
        if self.plan is None:
            return None
        from optichannel.capacity import plan_layout

        out = np.ones((len(slots_us), len(CHANNELS), slots_us.shape[1]), dtype=bool)
        for start in np.unique(slots_us[:, 0]):
            rows = np.flatnonzero(slots_us[:, 0] == start)
            key = (int(start), slots_us.shape[1])
            if key not in self._layouts:
                if len(self._layouts) >= LAYOUTS_KEPT:
                    self._layouts.clear()
                self._layouts[key] = plan_layout(self.plan, self.econ, slots_us[rows[0]])
            out[rows] = self._layouts[key].open_slot[None]
        return out


@dataclass(frozen=True)
class Asks:
    """What the requests say, per row; every field narrows (None: no narrowing)."""

    requested: np.ndarray | None = None  # [n, channels] channels the request lists
    consent: np.ndarray | None = None  # [n, channels] the CRM's own consents: 1/0, NaN = the store's
    service: np.ndarray | None = None  # [n] service messages: no marketing consent needed, no cap
    may_skip: np.ndarray | None = None  # [n] False where the CRM demands a contact when one is allowed

    def take(self, rows: np.ndarray) -> Asks:
        def part(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return Asks(part(self.requested), part(self.consent), part(self.service), part(self.may_skip))


def consent_matrix(customer: CustomerColumns, asks: Asks | None = None) -> np.ndarray:
    """[rows, channels]: True where consent is known and given (the CRM's word over the
    store's), or where a service message needs none."""
    given = np.column_stack([customer.get(fc.consent(ch)) for ch in CHANNELS]) if len(CHANNELS) else None
    if asks is not None and asks.consent is not None:
        given = np.where(np.isnan(asks.consent), given, asks.consent)
    out = np.nan_to_num(given, nan=0.0) > 0
    if asks is not None and asks.service is not None:
        out |= np.asarray(asks.service, dtype=bool)[:, None]
    return out


def frequency_ok(
    customer: CustomerColumns | pd.DataFrame, cap: int | None, asks: Asks | None = None
) -> np.ndarray:
    """[rows] True while the customer's contacts of the last 7 days stay below the cap (service
    messages are never capped). A cap without its column is an error: a renamed column must
    never mean "no cap"."""
    customer = customer if isinstance(customer, CustomerColumns) else CustomerColumns(customer)
    if cap is None:
        return np.ones(len(customer), dtype=bool)
    if fc.CONTACTS_7D not in customer:
        raise ValueError(
            f"the frequency cap needs the feature column {fc.CONTACTS_7D!r}, which the features lack"
        )
    ok = np.nan_to_num(customer.get(fc.CONTACTS_7D), nan=0.0) < cap
    if asks is not None and asks.service is not None:
        ok |= np.asarray(asks.service, dtype=bool)
    return ok


def requested_matrix(n: int, asks: Asks | None = None) -> np.ndarray:
    """[rows, channels]: the channels each request lists (all when it lists none)."""
    if asks is None or asks.requested is None:
        return np.ones((n, len(CHANNELS)), dtype=bool)
    return np.asarray(asks.requested, dtype=bool)
