"""The candidate grid of a decision: every channel x hourly slot of each customer's window,
with its request features. Used by the evaluation, the service and the batch scorer, so a
model is always scored on exactly the rows it would see in production.

Layout: customers x channels x slots, flattened in C order (customer slowest, slot fastest),
so model outputs reshape straight into the [rows, channels, slots] arrays the decision takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from features.request_features import (
    CHANNEL_SPECIFIC,
    DEFAULT_TZ,
    CustomerColumns,
    calendar_arrays,
    request_arrays,
    rhythm_profile,
    rhythm_tables,
)
from features.request_params import RequestParams
from optichannel.channels import CHANNELS
from optichannel.decision import quiet_hours_ok, slot_grid

SMALL_FRAME = 200  # rows up to which one object array beats a pandas call per column (measured)


class CandidateRows:
    """Model input rows without a wide frame: each customer's features once, indexed per
    candidate, plus the request features of each candidate. The model asks for its columns as
    one float matrix (`optichannel.model_bundle.FeatureRows`), so a 72-hour window does not
    copy a customer's hundred features 360 times through pandas."""

    def __init__(
        self,
        customers: pd.DataFrame,
        customer_of_row: np.ndarray,
        request: dict[str, np.ndarray],
        numeric: np.ndarray,
    ) -> None:
        self.customers = customers
        self.customer_of_row = customer_of_row
        self.request = request
        self._columns = {c: i for i, c in enumerate(customers.columns)}
        self._numeric = numeric  # customers as floats (strings -> NaN), shared by the grid's rows
        self._transposed: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.customer_of_row)

    def column(self, name: str) -> np.ndarray:
        return self.matrix([name])[:, 0]

    def matrix(
        self,
        columns: list[str],
        overrides: dict[str, np.ndarray] | None = None,
        subset: np.ndarray | None = None,
    ) -> np.ndarray:
        """[rows, columns] floats in column-major order (LightGBM reads it as is, and a prefix of
        the columns is a free view); a column neither here nor in `overrides` is all-missing.
        `subset`: only these rows, in this order (overrides then have one value per subset row)."""
        overrides = overrides or {}
        customer = self.customer_of_row if subset is None else self.customer_of_row[subset]
        out = np.empty((len(customer), len(columns)), order="F")
        by_customer = self._by_column()
        for j, c in enumerate(columns):
            if c in overrides:
                out[:, j] = overrides[c]
            elif c in self.request:
                out[:, j] = self.request[c] if subset is None else self.request[c][subset]
            elif c in self._columns:
                np.take(by_customer[self._columns[c]], customer, out=out[:, j])
            else:
                out[:, j] = np.nan
        return out

    def _by_column(self) -> np.ndarray:
        """The customers' floats column by column (contiguous per feature, for fast gathers)."""
        if self._transposed is None:
            self._transposed = np.ascontiguousarray(self._numeric.T)
        return self._transposed

    def frame(self, positions: np.ndarray | None = None) -> pd.DataFrame:
        """The rows (or some of them) as one wide frame: customer features then request features."""
        pos = np.arange(len(self)) if positions is None else np.asarray(positions)
        cust = self.customers.iloc[self.customer_of_row[pos]].reset_index(drop=True)
        req = pd.DataFrame({c: v[pos] for c, v in self.request.items()})
        return pd.concat([cust, req], axis=1)


@dataclass(frozen=True)
class CandidateGrid:
    """Request-feature rows of the allowed (customer, channel, slot) candidates, and the masks.

    Only allowed candidates (consent given, outside the channel's quiet hours) get a row, so
    nothing is scored that could never be chosen; `index` maps rows into the flat grid."""

    candidates: CandidateRows  # customer features + request features of allowed candidates
    start: CandidateRows  # one row per customer at the window start, channel features blanked
    index: np.ndarray  # flat position of each row in [n, channels, hours]
    slots_us: np.ndarray  # [n, hours] UTC slot starts in microseconds
    local_hour: np.ndarray  # [n, hours]
    consent: np.ndarray  # [n, channels] bool (missing consent = no consent)
    quiet_ok: np.ndarray  # [n, channels, hours] outside quiet hours
    under_cap: np.ndarray  # [n] below the frequency cap
    channels: tuple[str, ...]
    params: RequestParams = field(default_factory=RequestParams)  # the request features' constants
    calendar: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # [n, hours] local calendar

    def with_params(self, params: RequestParams) -> CandidateGrid:
        """The same grid with request features computed under other constants (a model trained
        with other estimates than the grid's); itself when they are the same."""
        if params == self.params:
            return self
        code = np.array([CHANNELS.index(c) for c in self.channels], dtype=np.int64)
        candidates, start = _request_rows(self.candidates.customers, self.candidates._numeric,
                                          self.index, self.slots_us, self.calendar, params, code)  # fmt: skip
        return replace(self, candidates=candidates, start=start, params=params)

    def for_model(self, meta: dict[str, Any]) -> CandidateGrid:
        """The grid as the model with this manifest `meta` must see it (its estimated constants)."""
        return self.with_params(RequestParams.from_meta(meta))

    @property
    def rows(self) -> pd.DataFrame:
        """All candidate rows as one wide frame (slow for big grids; scoring uses `candidates`)."""
        return self.candidates.frame()

    @property
    def at_start(self) -> pd.DataFrame:
        return self.start.frame()

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.slots_us.shape[0], len(self.channels), self.slots_us.shape[1]

    @property
    def allowed(self) -> np.ndarray:
        return self.consent[:, :, None] & self.quiet_ok & self.under_cap[:, None, None]

    def position(self, row: int, channel: int, slot: int) -> int:
        """Index into `candidates` of one allowed (customer row, channel, slot)."""
        flat = (row * len(self.channels) + channel) * self.slots_us.shape[1] + slot
        pos = int(np.searchsorted(self.index, flat))
        if pos >= len(self.index) or self.index[pos] != flat:
            raise KeyError(f"candidate ({row}, {channel}, {slot}) is not allowed")
        return pos

    def spread(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Per-row values back into the [n, channels, hours] grid (`fill` where not allowed)."""
        out = np.full(int(np.prod(self.shape)), fill, dtype=float)
        out[self.index] = values
        return out.reshape(self.shape)


def _grid_calendar(slots: np.ndarray, tz: np.ndarray) -> dict[str, np.ndarray]:
    """Local calendar of every [customer, slot]. A campaign shares one window: then each zone's
    hours are computed once and looked up by the customer's zone."""
    n, hours = slots.shape
    if n and (slots == slots[0]).all():
        codes, names = pd.factorize(pd.Series(tz, dtype=object).fillna(DEFAULT_TZ).astype(str))
        per_zone = calendar_arrays(np.tile(slots[0], len(names)), np.repeat(np.asarray(names), hours))
        return {k: v.reshape(len(names), hours)[codes] for k, v in per_zone.items()}
    return {k: v.reshape(n, hours) for k, v in calendar_arrays(slots.ravel(), np.repeat(tz, hours)).items()}


def numeric_matrix(frame: pd.DataFrame) -> np.ndarray:
    """[rows, columns] floats of a feature frame; text and missing values become NaN.

    Small frames (a service request) go through one object array, which is ten times quicker
    than a pandas call per column; large ones column by column, without boxing every cell."""
    if len(frame) <= SMALL_FRAME:
        return _to_floats(frame.to_numpy(dtype=object))
    out = np.full(frame.shape, np.nan)
    is_float = (frame.dtypes == np.float64).to_numpy()
    if is_float.any():
        out[:, is_float] = frame.iloc[:, np.flatnonzero(is_float)].to_numpy(dtype=float)
    rest = np.flatnonzero(~is_float)
    if len(rest):
        out[:, rest] = _to_floats(frame.iloc[:, rest].to_numpy(dtype=object))
    return out


def _to_floats(values: np.ndarray) -> np.ndarray:
    out = np.full(values.shape, np.nan)
    for j in range(values.shape[1]):
        col = values[:, j]
        try:  # numbers, ints and None (the online store's integer features) convert directly
            out[:, j] = col.astype(float)
        except (TypeError, ValueError):  # text (a zone, a region) is not a number; mixed: coerce
            if all(isinstance(v, str) or v is None for v in col):
                continue
            out[:, j] = pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return out


def consent_matrix(
    customer: pd.DataFrame | CustomerColumns, channels: tuple[str, ...] = CHANNELS
) -> np.ndarray:
    """[rows, channels]: True only where the customer's consent is known and given."""
    cols = customer if isinstance(customer, CustomerColumns) else CustomerColumns(customer)
    if not channels:
        return np.zeros((len(cols), 0), dtype=bool)
    return np.column_stack([np.nan_to_num(cols.get(f"prf_consent_{ch}"), nan=0.0) > 0 for ch in channels])


def frequency_ok(customer: pd.DataFrame | CustomerColumns, max_contacts_7d: int | None) -> np.ndarray:
    """[rows] True while the customer's contacts of the last 7 days stay below the cap."""
    cols = customer if isinstance(customer, CustomerColumns) else CustomerColumns(customer)
    if max_contacts_7d is None or "cnt_contacts_7d" not in cols:
        return np.ones(len(cols), dtype=bool)
    return np.nan_to_num(cols.get("cnt_contacts_7d"), nan=0.0) < max_contacts_7d


def candidate_grid(
    customer: pd.DataFrame,
    window_start: pd.Series | pd.Timestamp,
    hours: int,
    channels: tuple[str, ...] = CHANNELS,
    allowed_hours: dict[str, tuple[int, int]] | None = None,
    max_contacts_7d: int | None = None,
    params: RequestParams | None = None,
) -> CandidateGrid:
    """Expand each customer row into its allowed channels x `hours` hourly slots from its window
    start (rounded up to the hour). `customer` holds snapshot features (nulls for cold start).

    `max_contacts_7d` is the frequency cap: a customer contacted that often in the last 7 days
    gets no candidate at all (only `none` remains). `params`: the constants of the request
    features, those of the model that will score the grid (`RequestParams.from_meta`)."""
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
    base = customer.reset_index(drop=True)
    tz = base["prf_tz"].to_numpy() if "prf_tz" in base else np.full(n, None)
    cal = _grid_calendar(slots, tz)
    local_hour = cal["hour"]
    quiet_ok = quiet_hours_ok(local_hour, allowed_hours, tuple(channels))
    numeric = numeric_matrix(base)
    cols = CustomerColumns(base, numeric)
    consent = consent_matrix(cols, channels)
    under_cap = frequency_ok(cols, max_contacts_7d)
    index = np.flatnonzero(consent[:, :, None] & quiet_ok & under_cap[:, None, None])
    code = np.array([CHANNELS.index(c) for c in channels], dtype=np.int64)
    params = params or RequestParams()
    candidates, start = _request_rows(base, numeric, index, slots, cal, params, code)
    return CandidateGrid(
        candidates=candidates,
        start=start,
        index=index,
        slots_us=slots,
        local_hour=local_hour,
        consent=consent,
        quiet_ok=quiet_ok,
        under_cap=under_cap,
        channels=tuple(channels),
        params=params,
        calendar=cal,
    )


def _request_rows(
    base: pd.DataFrame,
    numeric: np.ndarray,
    index: np.ndarray,
    slots: np.ndarray,
    cal: dict[str, np.ndarray],
    params: RequestParams,
    code: np.ndarray,
) -> tuple[CandidateRows, CandidateRows]:
    """The candidates' request features (`code`: the grid's channel indices) and the
    window-start rows (channel features blanked)."""
    n, hours = slots.shape
    cols = CustomerColumns(base, numeric)
    cust, rest = np.divmod(index, len(code) * hours)
    ch, slot = np.divmod(rest, hours)
    tables = rhythm_tables(rhythm_profile(cols), tuple(params.decays()))
    req = request_arrays(
        cols, cust, code[ch], slots[cust, slot], {k: v[cust, slot] for k, v in cal.items()}, tables, params
    )
    whole = np.arange(n)
    first = request_arrays(
        cols, whole, np.zeros(n, dtype=np.int64), slots[:, 0], {k: v[:, 0] for k, v in cal.items()}, tables,
        params,
    )  # fmt: skip
    first.update({c: np.full(n, np.nan) for c in CHANNEL_SPECIFIC})
    return CandidateRows(base, cust, req, numeric), CandidateRows(base, whole, first, numeric)
