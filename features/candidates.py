"""The candidate grid of a decision: every channel x hourly slot of each customer's window,
with its request features. Used by the evaluation, the service and the batch scorer, so a
model is always scored on exactly the rows it would see in production.

Layout: customers x channels x slots, flattened in C order (customer slowest, slot fastest),
so model outputs reshape straight into the [rows, channels, slots] arrays the decision takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.request_features import CHANNEL_SPECIFIC, local_calendar, request_features
from optichannel.channels import CHANNELS
from optichannel.decision import quiet_hours_ok, slot_grid


@dataclass(frozen=True)
class CandidateGrid:
    """Request-feature rows of the allowed (customer, channel, slot) candidates, and the masks.

    Only allowed candidates (consent given, outside the channel's quiet hours) get a row, so
    nothing is scored that could never be chosen; `index` maps rows into the flat grid."""

    rows: pd.DataFrame  # customer features + request features of allowed candidates
    at_start: pd.DataFrame  # one row per customer: features + request features at the window start
    index: np.ndarray  # flat position of each row in [n, channels, hours]
    slots_us: np.ndarray  # [n, hours] UTC slot starts in microseconds
    local_hour: np.ndarray  # [n, hours]
    consent: np.ndarray  # [n, channels] bool (missing consent = no consent)
    quiet_ok: np.ndarray  # [n, channels, hours] outside quiet hours
    under_cap: np.ndarray  # [n] below the frequency cap
    channels: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.slots_us.shape[0], len(self.channels), self.slots_us.shape[1]

    @property
    def allowed(self) -> np.ndarray:
        return self.consent[:, :, None] & self.quiet_ok & self.under_cap[:, None, None]

    def spread(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Per-row values back into the [n, channels, hours] grid (`fill` where not allowed)."""
        out = np.full(int(np.prod(self.shape)), fill, dtype=float)
        out[self.index] = values
        return out.reshape(self.shape)


def consent_matrix(customer: pd.DataFrame, channels: tuple[str, ...] = CHANNELS) -> np.ndarray:
    """[rows, channels]: True only where the customer's consent is known and given."""
    cols = []
    for ch in channels:
        name = f"prf_consent_{ch}"
        col = customer[name] if name in customer else pd.Series(np.nan, index=customer.index)
        cols.append(pd.to_numeric(col, errors="coerce").fillna(0).to_numpy() > 0)
    return np.column_stack(cols) if cols else np.zeros((len(customer), 0), dtype=bool)


def frequency_ok(customer: pd.DataFrame, max_contacts_7d: int | None) -> np.ndarray:
    """[rows] True while the customer's contacts of the last 7 days stay below the cap."""
    if max_contacts_7d is None or "cnt_contacts_7d" not in customer:
        return np.ones(len(customer), dtype=bool)
    recent = pd.to_numeric(customer["cnt_contacts_7d"], errors="coerce").fillna(0).to_numpy()
    return recent < max_contacts_7d


def candidate_grid(
    customer: pd.DataFrame,
    window_start: pd.Series | pd.Timestamp,
    hours: int,
    channels: tuple[str, ...] = CHANNELS,
    allowed_hours: dict[str, tuple[int, int]] | None = None,
    max_contacts_7d: int | None = None,
) -> CandidateGrid:
    """Expand each customer row into its allowed channels x `hours` hourly slots from its window
    start (rounded up to the hour). `customer` holds snapshot features (nulls for cold start).

    `max_contacts_7d` is the frequency cap: a customer contacted that often in the last 7 days
    gets no candidate at all (only `none` remains)."""
    n = len(customer)
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    if not channels:
        raise ValueError("channels: at least one candidate channel is needed")
    starts = pd.Series(window_start, index=customer.index) if np.ndim(window_start) == 0 else window_start
    start_us = (
        pd.to_datetime(pd.Series(starts), utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()
    )
    slots = slot_grid(start_us, hours)
    k = len(channels)
    base = customer.reset_index(drop=True)
    tz = base["prf_tz"] if "prf_tz" in base else pd.Series([None] * n)
    cal = local_calendar(
        pd.Series(pd.to_datetime(slots.ravel(), unit="us", utc=True)),
        tz.iloc[np.repeat(np.arange(n), hours)].reset_index(drop=True),
    )
    local_hour = cal["hour"].to_numpy().reshape(n, hours)
    quiet_ok = quiet_hours_ok(local_hour, allowed_hours, tuple(channels))
    consent = consent_matrix(base, channels)
    under_cap = frequency_ok(base, max_contacts_7d)
    index = np.flatnonzero(consent[:, :, None] & quiet_ok & under_cap[:, None, None])
    cust, rest = np.divmod(index, k * hours)
    ch, slot = np.divmod(rest, hours)
    expanded = base.iloc[cust].reset_index(drop=True)
    req = request_features(
        expanded,
        pd.Series(np.array(channels, dtype=object)[ch]),
        pd.Series(pd.to_datetime(slots[cust, slot], unit="us", utc=True)),
    )
    first = request_features(
        base, pd.Series([CHANNELS[0]] * n), pd.Series(pd.to_datetime(slots[:, 0], unit="us", utc=True))
    )
    first = first.assign(**{c: np.nan for c in CHANNEL_SPECIFIC})
    return CandidateGrid(
        rows=pd.concat([expanded, req], axis=1),
        at_start=pd.concat([base, first], axis=1),
        index=index,
        slots_us=slots,
        local_hour=local_hour,
        consent=consent,
        quiet_ok=quiet_ok,
        under_cap=under_cap,
        channels=tuple(channels),
    )
