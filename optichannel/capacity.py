"""A campaign plan laid over one decision window: which (channel, hour) options compete for
which limited resource, and each customer's best option per group of equivalent hours.

Options of one channel that consume exactly the same resources (the same centre hour and day,
or none at all) are interchangeable for the constraints, so only the best of them can ever be
chosen: each such group becomes one allocation *column*. That reduction is exact, and it turns
72 hours x 5 channels into a few dozen columns per customer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optichannel.allocation import NOTHING, Problem
from optichannel.campaign_plan import CampaignPlan
from optichannel.channels import CHANNELS
from optichannel.economics import Economics


@dataclass(frozen=True)
class Resource:
    """One limited thing the campaign books: a centre hour, a centre day or a channel's total."""

    channel: str
    kind: str  # "hour", "day" or "total"
    label: str  # e.g. "call 2026-02-09 10:00 Europe/Moscow"
    capacity: int


@dataclass(frozen=True)
class Layout:
    """The allocation's columns over one window of hourly slots (shared by all customers)."""

    slots_us: np.ndarray  # [hours] UTC slot starts
    open_slot: np.ndarray  # [channels, hours] inside the channel's office hours and weekdays
    column_channel: np.ndarray  # [m] CHANNELS index of each column
    column_slots: tuple[np.ndarray, ...]  # slot indices each column chooses among
    incidence: np.ndarray  # [m, resources] 1 where the column uses the resource
    resources: tuple[Resource, ...]
    column_cost: np.ndarray  # [m] cost of one contact through the column
    budget: float | None
    column_at: np.ndarray  # [channels, hours] the column that books each (channel, slot); -1 closed

    @property
    def columns(self) -> int:
        return len(self.column_channel)

    @property
    def capacity(self) -> np.ndarray:
        """[resources] how many contacts each limited resource takes."""
        return np.array([r.capacity for r in self.resources], dtype=float)

    def problem(self, gain: np.ndarray) -> Problem:
        """The allocation problem of these customers' reduced options under this layout's limits."""
        return Problem(gain, self.incidence, self.capacity, self.column_cost, self.budget)

    def reduce(
        self, contact: np.ndarray, allowed: np.ndarray, none: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per customer and column: the gain over no contact of the column's best allowed slot
        ([n, m] float, -inf where nothing worth more than `none` is allowed) and that slot."""
        n = contact.shape[0]
        gain = np.full((n, self.columns), -np.inf)
        slot = np.zeros((n, self.columns), dtype=np.int16)
        for j, (ch, slots) in enumerate(zip(self.column_channel, self.column_slots, strict=True)):
            block = np.where(allowed[:, ch, slots], contact[:, ch, slots], -np.inf)
            best = block.argmax(axis=1)
            value = block[np.arange(n), best] - none
            gain[:, j] = np.where(value > 0, value, -np.inf)
            slot[:, j] = slots[best]
        return gain, slot


def _centre_clock(slots_us: np.ndarray, timezone: str) -> pd.DatetimeIndex:
    utc = pd.DatetimeIndex(slots_us.astype("datetime64[us]")).tz_localize("UTC")
    return utc.tz_convert(timezone)


def plan_layout(plan: CampaignPlan, econ: Economics, slots_us: np.ndarray) -> Layout:
    """Columns and resources of `plan` over the window `slots_us` ([hours] UTC microseconds)."""
    slots_us = np.asarray(slots_us, dtype=np.int64)
    hours = len(slots_us)
    open_slot = np.ones((len(CHANNELS), hours), dtype=bool)
    channel_of, slots_of, uses = [], [], []
    resources: list[Resource] = []
    for c, ch in enumerate(CHANNELS):
        cap = plan.capacity.get(ch)
        if cap is None:
            channel_of.append(c)
            slots_of.append(np.arange(hours))
            uses.append([])
            continue
        clock = _centre_clock(slots_us, cap.timezone)
        hour, weekday = clock.hour.to_numpy(), clock.weekday.to_numpy()
        open_slot[c] = (hour >= cap.hours[0]) & (hour < cap.hours[1]) & np.isin(weekday, cap.weekdays)
        day = clock.strftime("%Y-%m-%d").to_numpy()
        total = None
        if cap.total is not None:
            total = len(resources)
            resources.append(Resource(ch, "total", f"{ch} whole campaign", cap.total))
        day_index: dict[str, int] = {}
        groups: dict[tuple[int, str], list[int]] = {}
        for k in np.flatnonzero(open_slot[c]).tolist():
            key = (k if cap.per_hour is not None else -1, day[k] if cap.per_day is not None else "")
            groups.setdefault(key, []).append(k)
        for (k, d), members in groups.items():
            used = [] if total is None else [total]
            if cap.per_day is not None:
                if d not in day_index:
                    day_index[d] = len(resources)
                    resources.append(Resource(ch, "day", f"{ch} {d} {cap.timezone}", cap.per_day))
                used.append(day_index[d])
            if cap.per_hour is not None:
                used.append(len(resources))
                label = f"{ch} {clock[k]:%Y-%m-%d %H:00} {cap.timezone}"
                resources.append(Resource(ch, "hour", label, cap.per_hour))
            channel_of.append(c)
            slots_of.append(np.array(members, dtype=np.int64))
            uses.append(used)
    incidence = np.zeros((len(channel_of), len(resources)))
    for j, used in enumerate(uses):
        incidence[j, used] = 1.0
    column_channel = np.array(channel_of, dtype=np.int64)
    cost = econ.channel_costs()[0, :, 0][column_channel]
    column_at = np.full((len(CHANNELS), hours), NOTHING, dtype=np.int64)
    for j, (ch, slots) in enumerate(zip(channel_of, slots_of, strict=True)):
        column_at[ch, slots] = j
    return Layout(slots_us, open_slot, column_channel, tuple(slots_of), incidence, tuple(resources), cost,
                  plan.budget, column_at)  # fmt: skip
