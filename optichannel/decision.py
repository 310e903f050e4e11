"""The decision: among allowed (channel, hour slot) candidates and `none`, take the best.

Shared by the simulator's oracle, the model policy, serving and experiments, so every
policy is judged under the same constraints. Arrays are [rows, channels, slots].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS, NO_CONTACT

US_PER_HOUR = 3_600_000_000


def slot_grid(window_start_us: np.ndarray, hours: int) -> np.ndarray:
    """[rows, hours] UTC slot starts: the window start rounded up to the hour, then hourly."""
    start = np.asarray(window_start_us, dtype=np.int64)
    start = -(-start // US_PER_HOUR) * US_PER_HOUR
    return start[:, None] + np.arange(hours, dtype=np.int64)[None, :] * US_PER_HOUR


def quiet_hours_ok(
    local_hour: np.ndarray,
    allowed_hours: dict[str, tuple[int, int]] | None = None,
    channels: tuple[str, ...] = CHANNELS,
) -> np.ndarray:
    """[rows, channels, slots] True where each channel may be used at the slot's local hour."""
    table = allowed_hours or DEFAULT_ALLOWED_HOURS
    lo = np.array([table[c][0] for c in channels])[None, :, None]
    hi = np.array([table[c][1] for c in channels])[None, :, None]
    hour = np.asarray(local_hour)[:, None, :]
    return (hour >= lo) & (hour < hi)


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
