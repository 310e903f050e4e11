"""Campaign plans online: while a CRM asks one customer at a time, a campaign's decisions use its
economics and quiet hours, pay its dual prices (learnt offline by `optichannel score --plan`, the
`prices` of the plan it writes), stay inside the centre's office hours, and book each contact on
live counters (`serving.capacity_counter`) so no hour, day or budget is ever exceeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from optichannel.campaign_plan import CampaignPlan
from optichannel.capacity import Layout, plan_layout
from optichannel.channels import CHANNELS
from optichannel.economics import Economics
from serving.capacity_counter import KEY_PREFIX, CapacityCounter, Item

LAYOUTS_KEPT = 256  # (campaign, window) layouts remembered; most requests share the next full hour


class UnknownCampaign(ValueError):
    """A request named a campaign the service was not started with."""


@dataclass(frozen=True)
class Gate:
    """One group's plan limits on its [n, channels, slots] grid."""

    room: np.ndarray  # open, and every counter it would use has room (budget included)
    price: np.ndarray  # dual price a contact there pays (resource prices + budget price x cost)


@dataclass
class CampaignLimits:
    """The plans a service was started with, by name, and the counters they book against."""

    plans: Mapping[str, CampaignPlan]
    counter: CapacityCounter
    base: Economics
    _layouts: dict[tuple[str, int, int], Layout] = field(default_factory=dict, repr=False)

    def plan(self, name: str) -> CampaignPlan:
        if name not in self.plans:
            known = ", ".join(sorted(self.plans)) or "none"
            raise UnknownCampaign(f"campaign: unknown campaign {name!r} (this service knows: {known})")
        return self.plans[name]

    def economics(self, name: str) -> Economics:
        return self.plan(name).apply_economics(self.base)

    def layout(self, name: str, slots_us: np.ndarray) -> Layout:
        key = (name, int(slots_us[0]), len(slots_us))
        if key not in self._layouts:
            if len(self._layouts) >= LAYOUTS_KEPT:
                self._layouts.clear()
            self._layouts[key] = plan_layout(self.plan(name), self.economics(name), slots_us)
        return self._layouts[key]

    def gate(self, name: str, slots_us: np.ndarray) -> Gate:
        """Room left (inside the office hours) and prices for every row's window ([n, slots] UTC slots)."""
        plan = self.plan(name)
        econ = self.economics(name)
        n, hours = slots_us.shape
        shape = (n, len(CHANNELS), hours)
        room, price = np.ones(shape, bool), np.zeros(shape)
        cost = econ.channel_costs()[0, :, 0]
        per_contact = (
            np.array([plan.prices.get(c, 0.0) for c in CHANNELS]) + plan.prices.get("budget", 0.0) * cost
        )
        price[:] = per_contact[None, :, None]
        left = self._budget_left(name)
        for start in np.unique(slots_us[:, 0]):
            rows = np.flatnonzero(slots_us[:, 0] == start)
            layout = self.layout(name, slots_us[rows[0]])
            keys = [self._key(name, r.label) for r in layout.resources]
            used = np.array(self.counter.used(keys))
            full = used + 1 > layout.capacity + 1e-9
            blocked = (layout.incidence[:, full] > 0).any(axis=1)  # [columns]
            ok = ~np.append(blocked, True)[layout.column_at]  # column -1 (closed) reads the final True
            ok &= (cost <= left + 1e-9)[:, None]
            room[rows] = (ok & layout.open_slot)[None]
        return Gate(room, price)

    def items(self, name: str, slots_us: np.ndarray, channel: int, slot: int) -> list[Item] | None:
        """The counters one contact uses (key, amount, limit); None when the centre is closed then."""
        plan = self.plan(name)
        layout = self.layout(name, slots_us)
        column = int(layout.column_at[channel, slot])
        if column < 0:
            return None
        items = [
            (self._key(name, layout.resources[r].label), 1.0, float(layout.resources[r].capacity))
            for r in np.flatnonzero(layout.incidence[column] > 0)
        ]
        if plan.budget is not None:
            cost = float(self.economics(name).channel_costs()[0, channel, 0])
            items.append((self._key(name, "budget"), cost, float(plan.budget)))
        return items

    def book(self, name: str, slots_us: np.ndarray, channel: int, slot: int) -> bool:
        """Book one contact (all its counters, or none of them); False when a place ran out."""
        items = self.items(name, slots_us, channel, slot)
        if items is None:
            return False  # the centre is closed at that hour
        return self.counter.book(items) if items else True

    def release(self, name: str, send_at_us: int, channel: int, once: str | None = None) -> bool:
        """Give back what a contact booked (the CRM reported it `not_sent`); False when nothing was
        booked for it (an unknown campaign, or an hour the centre is closed) or, with a `once` key
        (its decision id), when it was given back before."""
        if name not in self.plans:
            return False
        items = self.items(name, np.array([send_at_us], dtype=np.int64), channel, 0)
        if not items:
            return False
        marker = None if once is None else self._key(name, f"released:{once}")
        return self.counter.release([(key, amount) for key, amount, _ in items], marker)

    def _budget_left(self, name: str) -> float:
        budget = self.plan(name).budget
        if budget is None:
            return np.inf
        return budget - self.counter.used([self._key(name, "budget")])[0]

    @staticmethod
    def _key(name: str, label: str) -> str:
        return f"{KEY_PREFIX}{name}:{label}"
