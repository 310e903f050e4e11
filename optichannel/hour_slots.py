"""Hour slots of a decision window and the quiet hours of each channel, on arrays.

In the kernel because the simulator's truth and the decision engine must lay out the very same
slots and read the very same quiet-hours table. Arrays are [rows, channels, slots].
"""

from __future__ import annotations

import numpy as np

from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS

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
