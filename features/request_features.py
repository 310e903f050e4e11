"""Request-time (slot) features: computed from a candidate (channel, UTC slot) and the
customer's snapshot features, by this one function in training and in serving alike,
so the two can never drift apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.snapshot_sql import WEEKEND_SHIFT_HOURS
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
    "req_fatigue",
    "req_activity_at_hour",
    "req_activity_next_3h",
    "req_reach_short",
    "req_reach_long",
    "req_hours_to_peak",
    "req_channel_response_rate",
    "req_channel_sends_90d",
    "req_channel_consent",
)
#: request features that describe the channel: meaningless (blanked) for the `none` action
CHANNEL_SPECIFIC: tuple[str, ...] = (
    "req_channel",
    "req_hours_since_channel_contact",
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


#: a message waits for the customer to look: short for pushes and SMS, long for e-mail (per hour)
WAIT_DECAY = {"req_reach_short": 0.5, "req_reach_long": 0.85}
MAX_WAIT_HOURS = 12
#: the snapshot's fatigue decays on to the slot with the snapshot's time constant
FATIGUE_TAU_HOURS = 72.0


def rhythm_profile(customer: pd.DataFrame) -> np.ndarray:
    """[rows, 24] relative activity by local hour (peak = 1, NaN when nothing was seen).

    Two views of the day are pooled, weighted by their counts: app/web/message activity
    (behaviour family) and card spending (transactions family); then smoothed over
    neighbouring hours, because a peak at 19:40 shows up at 19:00 and 20:00."""
    n = len(customer)

    def block(prefix: str, count: str) -> np.ndarray:
        cols = [f"{prefix}_{h:02d}" for h in range(24)]
        if not any(c in customer for c in cols):
            return np.zeros((n, 24))
        shares = np.column_stack(
            [customer[c].to_numpy(dtype=float) if c in customer else np.zeros(n) for c in cols]
        )
        weight = customer[count].to_numpy(dtype=float) if count in customer else np.ones(n)
        return np.nan_to_num(shares) * np.nan_to_num(weight)[:, None]

    counts = block("bhv_hour_share", "bhv_active_events_90d") + block("txn_hour_share", "txn_count_90d")
    smooth = 0.5 * counts + 0.25 * (np.roll(counts, 1, axis=1) + np.roll(counts, -1, axis=1))
    peak = smooth.max(axis=1, keepdims=True) if n else np.zeros((0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak > 0, smooth / peak, np.nan)


def weekend_view(profile: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """The weekday profile as seen on weekend slots: shifted later by the snapshot's weekend shift
    (the hour shares count weekend activity earlier, see `snapshot_sql.WEEKEND_SHIFT_HOURS`)."""
    shifted = sum(np.roll(profile, s, axis=1) for s in WEEKEND_SHIFT_HOURS) / len(WEEKEND_SHIFT_HOURS)
    return np.where(np.asarray(weekend, dtype=bool)[:, None], shifted, profile)


def _reach(profile: np.ndarray, hour: np.ndarray, decay: float) -> np.ndarray:
    """Best decayed activity while a message waits from `hour` on (the customer sees it later)."""
    rows = np.arange(len(hour))
    best = profile[rows, hour % 24]
    for wait in range(1, MAX_WAIT_HOURS + 1):
        best = np.fmax(best, profile[rows, (hour + wait) % 24] * decay**wait)
    return best


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
    profile = weekend_view(rhythm_profile(customer), cal["weekday"].to_numpy() >= 5)
    rows = np.arange(n)
    # decayed recent contacts as of the snapshot, decayed further to the slot
    since_snapshot = np.clip(slot_epoch - col("cnt_fatigue_epoch"), 0, None) / 3600.0
    fatigue = col("cnt_fatigue") * np.exp(-since_snapshot / FATIGUE_TAU_HOURS)
    next3 = sum(profile[rows, (hour + k) % 24] for k in range(3)) / 3 if n else np.zeros(0)
    peak_hour = np.nanargmax(np.nan_to_num(profile, nan=-1.0), axis=1) if n else np.zeros(0, dtype=int)
    gap = (peak_hour - hour) % 24
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
            "req_fatigue": fatigue,
            "req_activity_at_hour": profile[rows, hour] if n else np.zeros(0),
            "req_activity_next_3h": next3,
            **{name: _reach(profile, hour, d) if n else np.zeros(0) for name, d in WAIT_DECAY.items()},
            "req_hours_to_peak": np.where(np.isnan(profile[:, 0]), np.nan, gap) if n else np.zeros(0),
            "req_channel_response_rate": _per_channel(customer, ch, "cnt_response_rate_{}"),
            "req_channel_sends_90d": _per_channel(customer, ch, "cnt_sends_{}_90d"),
            "req_channel_consent": _per_channel(customer, ch, "prf_consent_{}"),
        },
        index=customer.index,
    )
    return out[list(REQUEST_FEATURES)]
