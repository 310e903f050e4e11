"""Request-time (slot) features: computed from a candidate (channel, UTC slot) and the
customer's snapshot features, by this one function in training and in serving alike,
so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from features.customer_block import CustomerBlock
from features.request_params import WAIT_DECAYS, RequestParams
from features.snapshot_sql import FATIGUE_TAUS_DAYS, WEEKEND_SHIFT_HOURS
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS
from optichannel.localtime import local_us

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
    "req_reach",
    "req_hours_to_peak",
    "req_channel_response_rate",
    "req_channel_sends_90d",
    "req_channel_consent",
    "req_days_since_air",
    "req_tenure_days",
)
#: the motivating contexts (payday, a recent air ticket) once more per channel, empty for the other
#: channels: a tree then learns each channel's own response to them as a main effect instead of
#: having to find the channel x context interaction (the e-mail lift after a ticket was not found
#: without them on the 2,000-customer world: 16 extra e-mail choices against the oracle's 42)
CONTEXT_FEATURES: tuple[str, ...] = ("req_days_to_payday", "req_days_since_payday", "req_days_since_air")
CHANNEL_CONTEXT: tuple[str, ...] = tuple(
    f"req_{channel}_{name.removeprefix('req_')}" for channel in CHANNELS for name in CONTEXT_FEATURES
)
REQUEST_FEATURES = (*REQUEST_FEATURES, *CHANNEL_CONTEXT)
#: request features that describe the channel: meaningless (blanked) for the `none` action
CHANNEL_SPECIFIC: tuple[str, ...] = (
    "req_channel",
    "req_hours_since_channel_contact",
    "req_channel_response_rate",
    "req_channel_sends_90d",
    "req_channel_consent",
    *CHANNEL_CONTEXT,
)
DEFAULT_TZ = "UTC"
#: request features looked up in the rhythm tables as they are
RHYTHM_FEATURES = ("req_activity_at_hour", "req_activity_next_3h", "req_hours_to_peak")


#: what `calendar_arrays` returns per time
CALENDAR_FIELDS = ("hour", "weekday", "day", "month_days", "prev_month_days")


def calendar_arrays(utc_us: np.ndarray, zones: np.ndarray) -> dict[str, np.ndarray]:
    """Local hour, weekday, day of month and month lengths of UTC microseconds in their zones,
    in NumPy after one time-zone conversion per zone (this sits on the service's hot path)."""
    zones = np.where(pd.isna(zones), DEFAULT_TZ, zones).astype(str)
    utc_us = np.asarray(utc_us, dtype=np.int64)
    # campaigns repeat a few zones and hours many times: convert each distinct (zone, time) once
    zone_code, zone_names = pd.factorize(zones)
    order = np.lexsort((utc_us, zone_code))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (np.diff(utc_us[order]) != 0) | (np.diff(zone_code[order]) != 0)
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    first = order[new]
    local = local_us(utc_us[first], np.asarray(zone_names)[zone_code[first]]).astype("datetime64[us]")
    days = local.astype("datetime64[D]")
    month = local.astype("datetime64[M]")
    month_start = month.astype("datetime64[D]")
    table = {
        "hour": (local - days).astype("timedelta64[h]").astype(np.int64),
        "weekday": (days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
        "day": (days - month_start).astype(np.int64) + 1,
        "month_days": ((month + 1).astype("datetime64[D]") - month_start).astype(np.int64),
        "prev_month_days": (month_start - (month - 1).astype("datetime64[D]")).astype(np.int64),
    }
    return {k: v[inverse] for k, v in table.items()}


def _utc_us(slot_utc: pd.Series) -> np.ndarray:
    return pd.to_datetime(slot_utc, utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()


def local_calendar(slot_utc: pd.Series, tz: pd.Series) -> pd.DataFrame:
    """`calendar_arrays` of a Series of UTC times, as a frame."""
    return pd.DataFrame(calendar_arrays(_utc_us(pd.Series(slot_utc)), pd.Series(tz, copy=False).to_numpy()))


#: a message waits at most this long for the customer to look (its per-hour decay is estimated)
MAX_WAIT_HOURS = 12
#: [hour, k]: the hour k hours after `hour`, for looking ahead in a 24-hour profile
AHEAD = (np.arange(24)[:, None] + np.arange(MAX_WAIT_HOURS + 1)[None, :]) % 24


class CustomerColumns:
    """Per-customer float columns by name, from a frame or from a ready-made float block
    (the candidate grid converts once; pandas costs ~50 us per column access on the hot path)."""

    def __init__(self, customer: pd.DataFrame | CustomerBlock) -> None:
        self.recent: np.ndarray | None = None  # contacts since the snapshot, [n, m] epoch seconds
        if isinstance(customer, CustomerBlock):
            self.frame, self.numeric, self.index = None, customer.values, customer.index
            self.recent = customer.recent
        else:
            self.frame, self.numeric = customer, None
            self.index = {c: i for i, c in enumerate(customer.columns)}
        self.n = len(customer)

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def __len__(self) -> int:
        return self.n

    def get(self, name: str, default: float = np.nan) -> np.ndarray:
        if name not in self.index:
            return np.full(self.n, default)
        if self.numeric is not None:
            return self.numeric[:, self.index[name]]
        return pd.to_numeric(self.frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def rhythm_profile(customer: pd.DataFrame | CustomerColumns) -> np.ndarray:
    """[rows, 24] relative activity by local hour (peak = 1, NaN when nothing was seen).

    Two views of the day are pooled, weighted by their counts: app/web/message activity
    (behaviour family) and card spending (transactions family); then smoothed over
    neighbouring hours, because a peak at 19:40 shows up at 19:00 and 20:00."""
    cols = customer if isinstance(customer, CustomerColumns) else CustomerColumns(customer)
    n = len(cols)

    def block(share: Callable[[int], str], count: str) -> np.ndarray:
        names = [share(h) for h in range(24)]
        if not any(c in cols for c in names):
            return np.zeros((n, 24))
        shares = np.column_stack([cols.get(c) for c in names])
        weight = cols.get(count, 1.0)
        return np.nan_to_num(shares) * np.nan_to_num(weight)[:, None]

    counts = block(fc.app_hour_share, fc.ACTIVE_EVENTS_90D) + block(fc.card_hour_share, fc.TXN_COUNT_90D)
    smooth = 0.5 * counts + 0.25 * (np.roll(counts, 1, axis=1) + np.roll(counts, -1, axis=1))
    peak = smooth.max(axis=1, keepdims=True) if n else np.zeros((0, 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(peak > 0, smooth / peak, np.nan)


def weekend_view(profile: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """The weekday profile as seen on weekend slots: shifted later by the snapshot's weekend shift
    (the hour shares count weekend activity earlier, see `snapshot_sql.WEEKEND_SHIFT_HOURS`)."""
    shifted = sum(np.roll(profile, s, axis=1) for s in WEEKEND_SHIFT_HOURS) / len(WEEKEND_SHIFT_HOURS)
    return np.where(np.asarray(weekend, dtype=bool)[:, None], shifted, profile)


def reach_table(decay: float) -> str:
    """The rhythm table of the best decayed activity while a message waits (per-hour `decay`)."""
    return f"reach_{decay:g}"


def rhythm_tables(profile: np.ndarray, decays: tuple[float, ...] | np.ndarray = ()) -> dict[str, np.ndarray]:
    """Per customer, weekday/weekend view and local hour: the rhythm request features, as
    [customers, 2, 24] tables, so candidates only look them up (a window repeats each
    customer's 24 hours many times over); one reach table per wait decay in `decays`."""
    views = np.stack([weekend_view(profile, np.full(len(profile), w)) for w in (False, True)], axis=1)

    def ahead(k: int) -> np.ndarray:  # the profile k hours later, at every hour (a gather, not a roll)
        return views[:, :, AHEAD[:, k]]

    tables = {"req_activity_at_hour": views, "req_activity_next_3h": (views + ahead(1) + ahead(2)) / 3}
    for decay in sorted({float(d) for d in decays}):  # best decayed activity while a message waits
        best = views
        for wait in range(1, MAX_WAIT_HOURS + 1 if decay > 0 else 1):
            best = np.fmax(best, ahead(wait) * decay**wait)
        tables[reach_table(decay)] = best
    peak = np.nanargmax(np.nan_to_num(views, nan=-1.0), axis=2) if len(views) else np.zeros((0, 2), dtype=int)
    gap = (peak[:, :, None] - np.arange(24)[None, None, :]) % 24
    tables["req_hours_to_peak"] = np.where(np.isnan(views[:, :, :1]), np.nan, gap)
    return tables


def _days_to(day: np.ndarray, month_days: np.ndarray, payday: np.ndarray) -> np.ndarray:
    pay = np.minimum(payday, month_days)
    return np.where(day <= pay, pay - day, month_days - day + payday)


def _days_since(day: np.ndarray, prev_month_days: np.ndarray, payday: np.ndarray) -> np.ndarray:
    return np.where(day >= payday, day - payday, day + prev_month_days - np.minimum(payday, prev_month_days))


def _per_channel(
    cols: CustomerColumns, rows: np.ndarray, channel_idx: np.ndarray, column: Callable[[str], str]
) -> np.ndarray:
    """Pick, per candidate, the column `column(channel)` of its customer and channel."""
    matrix = np.column_stack([cols.get(column(ch)) for ch in CHANNELS])
    return matrix[rows, channel_idx]


def _request_inputs(
    customer: pd.DataFrame, channel: pd.Series, slot_utc: pd.Series
) -> tuple[CustomerColumns, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(columns, channel index, UTC microseconds, local calendar) of contact rows."""
    n = len(customer)
    lookup = {c: i for i, c in enumerate(CHANNELS)}
    ch_names = pd.Series(channel, copy=False).astype(str).to_numpy()
    unknown = set(ch_names) - set(lookup)
    if unknown:
        raise ValueError(f"channel: unknown {sorted(unknown)}; expected one of {', '.join(CHANNELS)}")
    ch = np.array([lookup[c] for c in ch_names], dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    slot_us = _utc_us(pd.Series(slot_utc).reset_index(drop=True))
    tz = customer[fc.TIMEZONE].to_numpy() if fc.TIMEZONE in customer else np.full(n, None)
    return CustomerColumns(customer), ch, slot_us, calendar_arrays(slot_us, tz)


def request_features(
    customer: pd.DataFrame,
    channel: pd.Series,
    slot_utc: pd.Series,
    params: RequestParams | None = None,
) -> pd.DataFrame:
    """Slot features for each row of `customer` (its snapshot features, nulls for cold start)
    contacted on `channel` at `slot_utc`. Row order and index follow `customer`."""
    cols, ch, slot_us, cal = _request_inputs(customer, channel, slot_utc)
    arrays = request_arrays(cols, np.arange(len(customer)), ch, slot_us, cal, params=params)
    return pd.DataFrame(arrays, index=customer.index)


def constant_candidates(
    customer: pd.DataFrame, channel: pd.Series, slot_utc: pd.Series
) -> tuple[dict[float, np.ndarray], dict[float, np.ndarray], np.ndarray, np.ndarray]:
    """What estimating the request constants compares, for logged contact rows: the reach under
    every candidate wait decay, the fatigue under every candidate time constant, the channel
    index and the customer's smoothed response rate on that channel."""
    cols, ch, slot_us, cal = _request_inputs(customer, channel, slot_utc)
    pick = np.arange(len(customer))
    tables = rhythm_tables(rhythm_profile(cols), WAIT_DECAYS)
    where = (pick * 2 + (cal["weekday"] >= 5)) * 24 + cal["hour"]
    reach = {d: tables[reach_table(d)].reshape(-1)[where] for d in WAIT_DECAYS}
    fatigue = {tau: _fatigue(cols, pick, slot_us, tau) for tau in FATIGUE_TAUS_DAYS}
    return reach, fatigue, ch, _per_channel(cols, pick, ch, fc.response_rate)


def _fatigue(cols: CustomerColumns, pick: np.ndarray, slot_us: np.ndarray, tau_days: float) -> np.ndarray:
    """Decayed recent contacts as of the snapshot, decayed further on to the slot, plus the
    contacts given since the snapshot that are sent before the slot (each 1 at its send time)."""
    slot_s = slot_us / 1e6
    since_snapshot = np.clip(slot_s - cols.get(fc.FATIGUE_EPOCH)[pick], 0, None)
    fatigue = cols.get(fc.fatigue(tau_days))[pick] * np.exp(-since_snapshot / (tau_days * 86400.0))
    if cols.recent is None or not cols.recent.shape[1]:
        return fatigue
    ago = slot_s[:, None] - cols.recent[pick]  # NaN padding compares False
    with np.errstate(invalid="ignore", over="ignore"):
        extra = np.where(ago > 0, np.exp(-ago / (tau_days * 86400.0)), 0.0).sum(axis=1)
    return np.where(np.isnan(fatigue) & (extra > 0), 0.0, fatigue) + extra


def _last_contact(cols: CustomerColumns, pick: np.ndarray, slot_us: np.ndarray) -> np.ndarray:
    """The newest contact before the slot: the snapshot's, or one given since (NaN when none)."""
    last = cols.get(fc.LAST_CONTACT_EPOCH)[pick]
    last = np.where(last > 0, last, np.nan)
    if cols.recent is None or not cols.recent.shape[1]:
        return last
    recent = cols.recent[pick]
    before = np.where(recent < (slot_us / 1e6)[:, None], recent, np.nan)
    with np.errstate(invalid="ignore"):
        newest = np.nanmax(np.where(np.isnan(before).all(axis=1)[:, None], -np.inf, before), axis=1)
    return np.fmax(last, np.where(np.isfinite(newest), newest, np.nan))


def request_arrays(
    cols: CustomerColumns,
    pick: np.ndarray,
    ch: np.ndarray,
    slot_us: np.ndarray,
    cal: dict[str, np.ndarray],
    tables: dict[str, np.ndarray] | None = None,
    params: RequestParams | None = None,
) -> dict[str, np.ndarray]:
    """The request features (in REQUEST_FEATURES order) of candidates: customer `pick[i]` on
    channel `ch[i]` at `slot_us[i]`, whose local calendar is `cal`. Customer-level work runs
    once per customer, not per candidate (a 72-hour window repeats each customer 360 times).
    `tables`: the customers' `rhythm_tables` (with the reach tables of `params`), when the
    caller has them already; `params`: the estimated constants (defaults if None)."""
    day, hour = cal["day"], cal["hour"]

    def col(name: str) -> np.ndarray:
        return cols.get(name)[pick]

    paydays = [col(fc.SALARY_DAY), col(fc.ADVANCE_DAY)]
    to_pay = np.fmin(*[_days_to(day, cal["month_days"], p) for p in paydays])
    since_pay = np.fmin(*[_days_since(day, cal["prev_month_days"], p) for p in paydays])
    slot_epoch = slot_us / 1e6
    last_any = _last_contact(cols, pick, slot_us)
    params = params or RequestParams()
    decays = params.decays()
    since_snapshot_days = np.clip(slot_epoch - col(fc.FATIGUE_EPOCH), 0, None) / 86400.0
    where = (pick * 2 + (cal["weekday"] >= 5)) * 24 + hour
    tables = tables if tables is not None else rhythm_tables(rhythm_profile(cols), tuple(decays))
    rhythm = {name: tables[name].reshape(-1)[where] for name in RHYTHM_FEATURES}
    reach = np.empty(len(pick))
    for decay in np.unique(decays):
        mine = decays[ch] == decay
        reach[mine] = tables[reach_table(decay)].reshape(-1)[where[mine]]
    last_channel = _per_channel(cols, pick, ch, fc.last_contact_epoch)
    out = {
        "req_channel": ch,
        "req_local_hour": hour,
        "req_weekday": cal["weekday"],
        "req_days_to_payday": to_pay,
        "req_days_since_payday": since_pay,
        "req_hours_since_contact": (slot_epoch - last_any) / 3600.0,
        "req_hours_since_channel_contact": (slot_epoch - last_channel) / 3600.0,
        "req_fatigue": _fatigue(cols, pick, slot_us, params.fatigue_tau_days),
        **rhythm,
        "req_reach": reach,
        "req_channel_response_rate": _per_channel(cols, pick, ch, fc.response_rate),
        "req_channel_sends_90d": _per_channel(cols, pick, ch, fc.sends_90d),
        "req_channel_consent": _per_channel(cols, pick, ch, fc.consent),
        # whole days at the snapshot (every family snapshots at the same midnight) on to the slot
        "req_days_since_air": col(fc.DAYS_SINCE_AIR) + since_snapshot_days,
        # how long the customer has been with the bank at the slot: the signup day itself is an
        # absolute calendar number, which would drift with the calendar as a model input
        "req_tenure_days": slot_epoch / 86400.0 - col(fc.SIGNUP_DAY),
    }
    for c, channel in enumerate(CHANNELS):
        mine = ch == c
        for name in CONTEXT_FEATURES:
            out[f"req_{channel}_{name.removeprefix('req_')}"] = np.where(mine, out[name], np.nan)
    return {name: out[name] for name in REQUEST_FEATURES}
