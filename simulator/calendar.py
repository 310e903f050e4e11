"""The simulated period's local calendar: day indices, weekdays, UTC offsets per zone.

Generation works in (local day, local hour) and converts to UTC with a per-zone,
per-day offset table: exact except inside the hour a DST switch happens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optichannel.localtime import to_local
from simulator.truth import US_PER_DAY, US_PER_HOUR
from simulator.world import WorldConfig


class WorldCalendar:
    """Per-day facts of the simulated period, shared by every generator."""

    def __init__(self, cfg: WorldConfig) -> None:
        self.days = cfg.days
        self.zones = [z for z, _, _ in cfg.zones]
        dates = pd.date_range(pd.Timestamp(cfg.start), periods=cfg.days, freq="D")
        self.local_midnight_us = dates.asi8 // 1000  # naive local midnight as if UTC, in us
        self.weekday = dates.weekday.to_numpy()
        self.day_of_month = dates.day.to_numpy()
        self.offset_us = np.zeros((len(self.zones), cfg.days), dtype=np.int64)
        noon = dates + pd.Timedelta(hours=12)
        for i, zone in enumerate(self.zones):
            local = noon.tz_localize(zone, nonexistent="shift_forward", ambiguous=False)
            self.offset_us[i] = (
                np.array([ts.utcoffset().total_seconds() for ts in local], dtype=np.int64) * 1_000_000
            )

    def zone_index(self, tz: np.ndarray) -> np.ndarray:
        lookup = {z: i for i, z in enumerate(self.zones)}
        return np.array([lookup[z] for z in tz], dtype=np.int64)

    def to_utc_us(self, zone: np.ndarray, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
        """UTC microseconds of local (day index, fractional hour) in each row's zone."""
        local = self.local_midnight_us[day] + (hour * US_PER_HOUR).astype(np.int64)
        return local - self.offset_us[zone, day]


def local_parts(ts_us: np.ndarray, tz: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(local hour, weekday, day of month) of UTC microsecond times in each row's zone (exact, DST-aware)."""
    local = to_local(pd.to_datetime(ts_us, unit="us", utc=True), tz)
    return local.dt.hour.to_numpy(), local.dt.weekday.to_numpy(), local.dt.day.to_numpy()


def floor_day_us(ts_us: np.ndarray) -> np.ndarray:
    return ts_us - ts_us % US_PER_DAY
