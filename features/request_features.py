"""Request-time (slot) features: computed from a candidate (channel, UTC slot) and the
customer's snapshot features, by this one function in training and in serving alike,
so the two can never drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optichannel.channels import CHANNELS
from optichannel.localtime import epoch_seconds, to_local

REQUEST_FEATURES: tuple[str, ...] = (
    "req_channel",
    "req_local_hour",
    "req_weekday",
    "req_days_to_payday",
    "req_days_since_payday",
    "req_hours_since_contact",
    "req_hours_since_channel_contact",
    "req_activity_at_hour",
    "req_activity_next_3h",
    "req_channel_response_rate",
    "req_channel_sends_90d",
    "req_channel_consent",
)
DEFAULT_TZ = "UTC"


def local_calendar(slot_utc: pd.Series, tz: pd.Series) -> pd.DataFrame:
    """Local hour, weekday, day of month and month length of each slot, converting each
    distinct (zone, hour) once: campaigns repeat the same few zones and hours many times."""
    hour_us = pd.to_datetime(slot_utc, utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()
    zones = pd.Series(tz, copy=False).fillna(DEFAULT_TZ).astype(str).to_numpy()
    keys = pd.DataFrame({"tz": zones, "us": hour_us})
    uniq = keys.drop_duplicates().reset_index(drop=True)
    local = to_local(pd.to_datetime(uniq["us"], unit="us", utc=True), uniq["tz"])
    uniq["hour"] = local.dt.hour.to_numpy()
    uniq["weekday"] = local.dt.weekday.to_numpy()
    uniq["day"] = local.dt.day.to_numpy()
    uniq["month_days"] = local.dt.days_in_month.to_numpy()
    uniq["prev_month_days"] = (local - pd.to_timedelta(local.dt.day, unit="D")).dt.day.to_numpy()
    return keys.merge(uniq, on=["tz", "us"], how="left").drop(columns=["tz", "us"])


def _days_to(day: np.ndarray, month_days: np.ndarray, payday: np.ndarray) -> np.ndarray:
    pay = np.minimum(payday, month_days)
    return np.where(day <= pay, pay - day, month_days - day + payday)


def _days_since(day: np.ndarray, prev_month_days: np.ndarray, payday: np.ndarray) -> np.ndarray:
    return np.where(day >= payday, day - payday, day + prev_month_days - np.minimum(payday, prev_month_days))


def _per_channel(frame: pd.DataFrame, channel_idx: np.ndarray, template: str) -> np.ndarray:
    """Pick, per row, the column `template.format(channel)` of the row's channel."""
    cols = [template.format(ch) for ch in CHANNELS]
    present = [c if c in frame else None for c in cols]
    matrix = np.column_stack(
        [frame[c].to_numpy(dtype=float) if c else np.full(len(frame), np.nan) for c in present]
    )
    return matrix[np.arange(len(frame)), channel_idx]


def request_features(customer: pd.DataFrame, channel: pd.Series, slot_utc: pd.Series) -> pd.DataFrame:
    """Slot features for each row of `customer` (its snapshot features, nulls for cold start)
    contacted on `channel` at `slot_utc`. Row order and index follow `customer`."""
    n = len(customer)
    lookup = {c: i for i, c in enumerate(CHANNELS)}
    ch_names = pd.Series(channel, copy=False).astype(str).to_numpy()
    unknown = set(ch_names) - set(lookup)
    if unknown:
        raise ValueError(f"channel: unknown {sorted(unknown)}; expected one of {', '.join(CHANNELS)}")
    ch = np.array([lookup[c] for c in ch_names], dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    tz = customer["prf_tz"] if "prf_tz" in customer else pd.Series([None] * n)
    cal = local_calendar(pd.Series(slot_utc).reset_index(drop=True), tz.reset_index(drop=True))
    day, hour = cal["day"].to_numpy(), cal["hour"].to_numpy()

    def col(name: str) -> np.ndarray:
        return customer[name].to_numpy(dtype=float) if name in customer else np.full(n, np.nan)

    paydays = [col("txn_salary_day"), col("txn_advance_day")]
    to_pay = np.fmin(*[_days_to(day, cal["month_days"].to_numpy(), p) for p in paydays])
    since_pay = np.fmin(*[_days_since(day, cal["prev_month_days"].to_numpy(), p) for p in paydays])
    slot_epoch = epoch_seconds(pd.Series(slot_utc))
    last_any = col("cnt_last_contact_epoch")
    last_any = np.where(last_any > 0, last_any, np.nan)
    shares = np.column_stack([col(f"bhv_hour_share_{h:02d}") for h in range(24)])
    rows = np.arange(n)
    next3 = sum(shares[rows, (hour + k) % 24] for k in range(3))
    out = pd.DataFrame(
        {
            "req_channel": ch,
            "req_local_hour": hour,
            "req_weekday": cal["weekday"].to_numpy(),
            "req_days_to_payday": to_pay,
            "req_days_since_payday": since_pay,
            "req_hours_since_contact": (slot_epoch - last_any) / 3600.0,
            "req_hours_since_channel_contact": (slot_epoch - _per_channel(customer, ch, "cnt_last_{}_epoch"))
            / 3600,
            "req_activity_at_hour": shares[rows, hour] if n else np.zeros(0),
            "req_activity_next_3h": next3 if n else np.zeros(0),
            "req_channel_response_rate": _per_channel(customer, ch, "cnt_response_rate_{}"),
            "req_channel_sends_90d": _per_channel(customer, ch, "cnt_sends_{}_90d"),
            "req_channel_consent": _per_channel(customer, ch, "prf_consent_{}"),
        },
        index=customer.index,
    )
    return out[list(REQUEST_FEATURES)]
