"""Transactions and behavioural events of one chunk of customers, day by day.

Everything is drawn on a customers x days grid of Poisson rates, so a chunk of
20,000 customers x 180 days is a handful of NumPy calls. Contact responses (opens,
clicks) are added by `simulator.contacts`, which knows what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.calendar import WorldCalendar
from simulator.truth import US_PER_DAY, LatentArrays

SPEND_CATEGORIES = (
    "groceries",
    "restaurants",
    "fuel",
    "online",
    "cash_atm",
    "transfer",
    "utilities",
    "other",
)
SPEND_PROBS = np.array([0.36, 0.13, 0.09, 0.15, 0.06, 0.07, 0.04, 0.10])
#: log of the median amount per spend category for a median-income customer
SPEND_LOG_MEDIAN = np.log([1400, 1800, 2500, 2200, 5000, 7000, 4500, 1500])


@dataclass
class Rows:
    """Columnar rows of one table before ids are attached (cust = chunk-local position)."""

    cust: np.ndarray
    ts_us: np.ndarray
    columns: dict[str, np.ndarray]

    def sorted(self) -> Rows:
        order = np.lexsort((self.ts_us, self.cust))
        return Rows(self.cust[order], self.ts_us[order], {k: v[order] for k, v in self.columns.items()})


def rhythm_hours(
    lat: LatentArrays, cust: np.ndarray, weekend: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Local hours drawn from each customer's daily rhythm (one or two peaks, later on weekends)."""
    p2 = lat.peak2[cust]
    use2 = ~np.isnan(p2) & (rng.random(len(cust)) < 0.5)
    centre = np.where(use2, np.nan_to_num(p2), lat.peak1[cust]) + np.where(
        weekend, lat.weekend_shift[cust], 0
    )
    return (centre + rng.normal(0, 1, len(cust)) * lat.peak_width[cust]) % 24.0


def _grid_draw(rate: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(customer, day) of every event from a customers x days Poisson rate grid."""
    counts = rng.poisson(rate)
    cust, day = np.nonzero(counts)
    reps = counts[cust, day]
    return np.repeat(cust, reps), np.repeat(day, reps)


def payday_grid(lat: LatentArrays, cal: WorldCalendar) -> np.ndarray:
    """customers x days: True on salary/advance day and the day after (local calendar)."""
    dom = cal.day_of_month[None, :]
    sd, ad = lat.salary_day[:, None], lat.advance_day[:, None]
    return (dom == sd) | (dom == sd + 1) | (dom == ad) | (dom == ad + 1)


def active_grid(lat: LatentArrays, cal: WorldCalendar) -> np.ndarray:
    """customers x days: True once the customer has signed up."""
    return np.arange(cal.days)[None, :] >= lat.signup_offset_days[:, None]


def transactions(
    lat: LatentArrays, zone: np.ndarray, cal: WorldCalendar, rng: np.random.Generator
) -> tuple[Rows, Rows]:
    """(transactions, air tickets) of the chunk; air tickets also drive truth and inbound e-mail."""
    d = cal.days
    active = active_grid(lat, cal)
    weekend = (cal.weekday >= 5)[None, :]
    payday = payday_grid(lat, cal)
    income_scale = np.log(lat.income / 65_000)[:, None]
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, str, np.ndarray, np.ndarray]] = []

    # salary and advance credits on their days, in the morning
    for kind, day_col, share in (("salary", lat.salary_day, 0.6), ("advance", lat.advance_day, 0.4)):
        c, dd = np.nonzero((cal.day_of_month[None, :] == day_col[:, None]) & active)
        hour = np.clip(rng.normal(10, 1.5, len(c)), 7, 18)
        amount = (lat.income[c] * share * rng.normal(1, 0.03, len(c))).round(2)
        parts.append((c, dd, hour, kind, amount, np.full(len(c), None, dtype=object)))

    # everyday spending, livelier on weekends and right after payday
    rate = lat.spend_rate[:, None] * np.where(weekend, 1.25, 1.0) * np.where(payday, 1.5, 1.0) * active
    c, dd = _grid_draw(rate, rng)
    cat = rng.choice(len(SPEND_CATEGORIES), size=len(c), p=SPEND_PROBS)
    cash_boost = payday[c, dd] & (rng.random(len(c)) < 0.15)
    cat = np.where(cash_boost, SPEND_CATEGORIES.index("cash_atm"), cat)
    amount = np.exp(SPEND_LOG_MEDIAN[cat] + 0.5 * income_scale[c, 0] + rng.normal(0, 0.6, len(c))).round(2)
    online = rng.random(len(c)) < lat.online_share[c]
    online = np.where(np.isin(cat, [1, 2, 4]), False, np.where(cat == 3, True, online))
    hour = rhythm_hours(lat, c, weekend[0, dd], rng)
    names = np.array(SPEND_CATEGORIES, dtype=object)[cat]
    channel = np.where(online, "online", "offline").astype(object)
    parts.append((c, dd, hour, "", amount, channel))
    spend_names = names

    # air tickets (online, in the rhythm's hours) and hotels some days later
    c_air, d_air = _grid_draw(lat.travel_propensity[:, None] / 40.0 * active, rng)
    h_air = rhythm_hours(lat, c_air, weekend[0, d_air], rng)
    air_amount = np.exp(np.log(18_000) + 0.3 * income_scale[c_air, 0] + rng.normal(0, 0.5, len(c_air))).round(
        2
    )
    parts.append((c_air, d_air, h_air, "travel_air", air_amount, np.full(len(c_air), "online", dtype=object)))
    hotel = rng.random(len(c_air)) < 0.6
    d_hotel = d_air[hotel] + rng.integers(1, 21, hotel.sum())
    keep = d_hotel < d
    c_h, d_h = c_air[hotel][keep], d_hotel[keep]
    h_amount = np.exp(np.log(9_000) + rng.normal(0, 0.6, len(c_h))).round(2)
    parts.append(
        (
            c_h,
            d_h,
            rhythm_hours(lat, c_h, weekend[0, d_h], rng),
            "travel_hotel",
            h_amount,
            np.full(len(c_h), "online", dtype=object),
        )
    )

    cust = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    hour = np.concatenate([p[2] for p in parts])
    category = np.concatenate(
        [spend_names if p[3] == "" else np.full(len(p[0]), p[3], dtype=object) for p in parts]
    )
    credit = np.isin(category, ["salary", "advance"])
    ts = cal.to_utc_us(zone[cust], day, hour)
    txns = Rows(
        cust,
        ts,
        {
            "amount": np.concatenate([p[4] for p in parts]),
            "direction": np.where(credit, "credit", "debit").astype(object),
            "category": category,
            "merchant_channel": np.concatenate([p[5] for p in parts]),
        },
    ).sorted()
    air = Rows(c_air, cal.to_utc_us(zone[c_air], d_air, h_air), {})
    return txns, air


def events(
    lat: LatentArrays, zone: np.ndarray, cal: WorldCalendar, air: Rows, rng: np.random.Generator
) -> Rows:
    """Sessions, inbound calls (around paydays), inbound e-mails (after air tickets), chats, branch visits."""
    n, d = len(lat), cal.days
    active = active_grid(lat, cal)
    weekend = (cal.weekday >= 5)[None, :]
    payday = payday_grid(lat, cal)
    # air ticket in the three days before (or earlier the same day): a question about the trip follows
    bought = np.zeros((n, d), dtype=bool)
    bought[air.cust, np.clip(day_index(cal, zone[air.cust], air.ts_us), 0, d - 1)] = True
    after_trip = np.zeros_like(bought)
    for lag in (1, 2, 3):
        after_trip[:, lag:] |= bought[:, :-lag]
    young = np.clip((60 - lat.age) / 40, 0.1, 1.0)[:, None]
    rates = {
        "app_session": lat.has_app[:, None] * 1.1 * young * np.where(weekend, 1.15, 1.0),
        "web_session": np.full((n, 1), 0.22),
        "inbound_call": (0.008 + 0.09 * payday) * np.exp(0.4 * lat.affinity[:, 3])[:, None],
        "inbound_email": (0.004 + 0.3 * after_trip) * np.exp(0.3 * lat.affinity[:, 0])[:, None],
        "inbound_chat": 0.012 * np.exp(0.5 * lat.affinity[:, 4])[:, None] * np.ones((1, d)),
        "branch_visit": 0.004 * (1 + 2 * (lat.age > 55))[:, None] * np.where(weekend, 0.3, 1.0),
    }
    cust_parts, day_parts, hour_parts, type_parts = [], [], [], []
    for kind, rate in rates.items():
        c, dd = _grid_draw(np.broadcast_to(rate, (n, d)) * active, rng)
        if kind in ("branch_visit", "inbound_call"):
            office = rng.uniform(9, 19, len(c))
            hour = np.where(rng.random(len(c)) < 0.7, office, rhythm_hours(lat, c, weekend[0, dd], rng))
        else:
            hour = rhythm_hours(lat, c, weekend[0, dd], rng)
        cust_parts.append(c)
        day_parts.append(dd)
        hour_parts.append(hour)
        type_parts.append(np.full(len(c), kind, dtype=object))
    cust = np.concatenate(cust_parts)
    ts = cal.to_utc_us(zone[cust], np.concatenate(day_parts), np.concatenate(hour_parts))
    return Rows(cust, ts, {"event_type": np.concatenate(type_parts)})


def day_index(cal: WorldCalendar, zone: np.ndarray, ts_us: np.ndarray) -> np.ndarray:
    """Local day index of UTC times (per-zone offset of day 0; good enough for bucketing)."""
    return (ts_us + cal.offset_us[zone, 0] - cal.local_midnight_us[0]) // US_PER_DAY
