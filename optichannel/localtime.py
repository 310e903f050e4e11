"""UTC <-> customer-local time, vectorised per time zone.

Customers live in a handful of IANA zones, so converting group by group with pandas
is exact (DST included) and fast; a per-row zoneinfo call would be neither.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

import numpy as np
import pandas as pd


def is_valid_tz(name: object) -> bool:
    """True for an IANA zone name this machine knows."""
    if not isinstance(name, str) or not name:
        return False
    if name in _zones():
        return True
    try:
        ZoneInfo(name)
    except Exception:
        return False
    return True


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def to_local(ts_utc: pd.Series | np.ndarray, tz: pd.Series | np.ndarray) -> pd.Series:
    """Wall-clock local time (tz-naive) for each UTC instant in its row's zone."""
    ts = pd.Series(pd.to_datetime(ts_utc, utc=True))
    zones = pd.Series(np.asarray(tz, dtype=object), index=ts.index)
    out = pd.Series(pd.NaT, index=ts.index, dtype="datetime64[us]")
    for zone, idx in zones.groupby(zones, sort=False).groups.items():
        local = ts.loc[idx].dt.tz_convert(zone).dt.tz_localize(None)
        out.loc[idx] = local.astype("datetime64[us]")
    return out


def local_us(utc_us: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """Local wall-clock microseconds (as if UTC) of UTC microseconds, per row's zone: the
    NumPy twin of `to_local` for hot paths (one tz conversion per zone, no Series)."""
    utc_us = np.asarray(utc_us, dtype=np.int64)
    zones = np.asarray(tz, dtype=object)
    out = utc_us.copy()
    for zone in pd.unique(zones):
        if zone == "UTC":
            continue
        mask = zones == zone
        idx = pd.DatetimeIndex(utc_us[mask].astype("datetime64[us]")).tz_localize("UTC")
        out[mask] = idx.tz_convert(zone).tz_localize(None).as_unit("us").asi8
    return out


def local_to_utc(local_naive: pd.Series | np.ndarray, tz: pd.Series | np.ndarray) -> pd.Series:
    """UTC instant of each local wall-clock time; nonexistent/ambiguous DST times shift forward."""
    loc = pd.Series(pd.to_datetime(local_naive))
    zones = pd.Series(np.asarray(tz, dtype=object), index=loc.index)
    out = pd.Series(pd.NaT, index=loc.index, dtype="datetime64[us, UTC]")
    for zone, idx in zones.groupby(zones, sort=False).groups.items():
        aware = loc.loc[idx].dt.tz_localize(zone, nonexistent="shift_forward", ambiguous=False)
        out.loc[idx] = aware.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return out


def utc_offset_hours(day_utc: pd.Timestamp, zones: list[str]) -> dict[str, float]:
    """Offset from UTC in hours of each zone at noon UTC of a day (for fast per-day shifts)."""
    noon = pd.Timestamp(day_utc).tz_localize(None).normalize() + pd.Timedelta(hours=12)
    noon = noon.tz_localize("UTC")
    return {z: noon.tz_convert(z).utcoffset().total_seconds() / 3600.0 for z in zones}


def epoch_seconds(ts: object) -> np.ndarray:
    """Seconds since 1970 of UTC instants, whatever the datetime unit (pandas 2 keeps us, ms or ns)."""
    series = pd.Series(pd.to_datetime(ts, utc=True))
    return ((series - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)


def local_day_start(ts_utc: pd.Series, tz: pd.Series | np.ndarray, first_hour: int) -> pd.Series:
    """UTC time of `first_hour` local on each instant's local date: the start of a campaign day,
    whose options off-policy evaluation lays out as a candidate window."""
    zones = pd.Series(np.asarray(tz, dtype=object)).fillna("UTC").astype(str).to_numpy()
    local = to_local(pd.Series(ts_utc).reset_index(drop=True), zones)
    return local_to_utc(local.dt.normalize() + pd.Timedelta(hours=first_hour), zones)
