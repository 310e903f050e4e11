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

from features.customer_block import CustomerBlock
from features.request_features import (
    CALENDAR_FIELDS,
    CHANNEL_SPECIFIC,
    DEFAULT_TZ,
    CustomerColumns,
    calendar_arrays,
    request_arrays,
    rhythm_profile,
    rhythm_tables,
)
from features.request_params import RequestParams
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS
from optichannel.decision import US_PER_HOUR, quiet_hours_ok, slot_grid


class CandidateRows:
    """Model input rows without a wide frame: each customer's features once, indexed per
    candidate, plus the request features of each candidate. The model asks for its columns as
    one float matrix (`optichannel.model_bundle.FeatureRows`), so a 72-hour window does not
    copy a customer's hundred features 360 times through pandas."""

    def __init__(
        self, customers: CustomerBlock, customer_of_row: np.ndarray, request: dict[str, np.ndarray]
    ) -> None:
        self.customers = customers  # shared by the grid's rows
        self.customer_of_row = customer_of_row
        self.request = request
        self._columns = customers.index
        self._templates: dict[tuple[str, ...], np.ndarray] = {}

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
        """[rows, columns] floats in row-major order: each row's customer part is one contiguous
        copy from a per-customer template, and LightGBM reads rows faster than columns. A column
        neither here nor in `overrides` is all-missing. `subset`: only these rows, in this order
        (overrides then have one value per subset row)."""
        overrides = overrides or {}
        customer = self.customer_of_row if subset is None else self.customer_of_row[subset]
        out = self._template(tuple(columns)).take(customer, axis=0)
        for j, c in enumerate(columns):
            if c in overrides:
                out[:, j] = overrides[c]
            elif c in self.request:
                values = self.request[c]
                out[:, j] = values if subset is None else values.take(subset)
        return out

    def _template(self, columns: tuple[str, ...]) -> np.ndarray:
        """[customers, columns]: each customer's own features in their model positions, NaN in
        the others (request features and overrides are written per row afterwards). Remembered
        per column list (one row per customer, small): a grid is scored one channel at a time
        with the same columns."""
        if columns not in self._templates:
            values = self.customers.values
            out = np.full((len(values), len(columns)), np.nan)
            for j, c in enumerate(columns):
                if c in self._columns and c not in self.request:
                    out[:, j] = values[:, self._columns[c]]
            self._templates[columns] = out
        return self._templates[columns]

    def frame(self, positions: np.ndarray | None = None) -> pd.DataFrame:
        """The rows (or some of them) as one wide frame: customer features then request features."""
        pos = np.arange(len(self)) if positions is None else np.asarray(positions)
        cust = self.customers.take(self.customer_of_row[pos]).frame()
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
        candidates, start = _request_rows(self.candidates.customers, self.index, self.slots_us, self.calendar,
                                          params, code)  # fmt: skip
        return replace(self, candidates=candidates, start=start, params=params)

    def for_model(self, meta: dict[str, Any]) -> CandidateGrid:
        """The grid as the model with this manifest `meta` must see it (its estimated constants)."""
        return self.with_params(RequestParams.from_meta(meta))

    @property
    def rows(self) -> pd.DataFrame:
        """All candidate rows as one wide frame (slow for big grids; scoring uses `candidates`)."""
        return self.candidates.frame()

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


def window_us(window_start: pd.Series | pd.Timestamp | np.ndarray | Any, n: int) -> np.ndarray:
    """[n] window starts as UTC microseconds, from one time for all or one per row (times, or
    integers already in UTC microseconds)."""
    if isinstance(window_start, np.ndarray) and window_start.dtype.kind in "iu":
        return window_start.astype(np.int64)
    if np.ndim(window_start) == 0:
        one = pd.Timestamp(window_start)
        one = one.tz_localize("UTC") if one.tzinfo is None else one.tz_convert("UTC")
        return np.full(n, one.value // 1000, dtype=np.int64)
    return (
        pd.to_datetime(pd.Series(window_start), utc=True)
        .astype("datetime64[us, UTC]")
        .astype("int64")
        .to_numpy()
    )


def _grid_calendar(slots: np.ndarray, tz: np.ndarray) -> dict[str, np.ndarray]:
    """Local calendar of every [customer, slot]. Rows sharing a window start and a zone share
    its calendar: each distinct (zone, start) is computed once, all new ones in one vectorised
    call, and remembered (the service's requests mostly start at the same next full hour)."""
    n, hours = slots.shape
    zones = [DEFAULT_TZ if z is None or z != z else str(z) for z in tz]
    keys = list(zip(zones, slots[:, 0].tolist(), [hours] * n, strict=True))
    distinct = list(dict.fromkeys(keys))
    new = [k for k in distinct if k not in _CALENDARS]
    if new:
        if len(_CALENDARS) + len(new) > CALENDAR_CACHE:
            _CALENDARS.clear()
        starts = np.array([k[1] for k in new], dtype=np.int64)
        flat = (starts[:, None] + np.arange(hours, dtype=np.int64)[None, :] * US_PER_HOUR).ravel()
        computed = calendar_arrays(flat, np.repeat(np.array([k[0] for k in new], dtype=object), hours))
        for i, k in enumerate(new):
            _CALENDARS[k] = {f: v[i * hours : (i + 1) * hours] for f, v in computed.items()}
    if not n:
        return {f: np.zeros((0, hours), dtype=np.int64) for f in CALENDAR_FIELDS}
    where = {k: i for i, k in enumerate(distinct)}
    pick = np.fromiter((where[k] for k in keys), dtype=np.int64, count=n)
    return {f: np.stack([_CALENDARS[k][f] for k in distinct])[pick] for f in CALENDAR_FIELDS}


#: (zone, window start in UTC microseconds, hours) -> that window's local calendar
_CALENDARS: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}
CALENDAR_CACHE = 50_000  # windows remembered (a few MB); cleared when full


def consent_matrix(
    customer: pd.DataFrame | CustomerColumns, channels: tuple[str, ...] = CHANNELS
) -> np.ndarray:
    """[rows, channels]: True only where the customer's consent is known and given."""
    cols = customer if isinstance(customer, CustomerColumns) else CustomerColumns(customer)
    if not channels:
        return np.zeros((len(cols), 0), dtype=bool)
    return np.column_stack([np.nan_to_num(cols.get(fc.consent(ch)), nan=0.0) > 0 for ch in channels])


def frequency_ok(customer: pd.DataFrame | CustomerColumns, max_contacts_7d: int | None) -> np.ndarray:
    """[rows] True while the customer's contacts of the last 7 days stay below the cap. A cap
    without its column is an error: a renamed column must never mean "no cap"."""
    cols = customer if isinstance(customer, CustomerColumns) else CustomerColumns(customer)
    if max_contacts_7d is None:
        return np.ones(len(cols), dtype=bool)
    if fc.CONTACTS_7D not in cols:
        raise ValueError(
            f"the frequency cap needs the feature column {fc.CONTACTS_7D!r}, which the features lack"
        )
    return np.nan_to_num(cols.get(fc.CONTACTS_7D), nan=0.0) < max_contacts_7d


def candidate_grid(
    customer: pd.DataFrame | CustomerBlock,
    window_start: pd.Series | pd.Timestamp,
    hours: int,
    channels: tuple[str, ...] = CHANNELS,
    allowed_hours: dict[str, tuple[int, int]] | None = None,
    max_contacts_7d: int | None = None,
    params: RequestParams | None = None,
) -> CandidateGrid:
    """Expand each customer row into its allowed channels x `hours` hourly slots from its window
    start (rounded up to the hour). `customer` holds snapshot features (nulls for cold start),
    as a frame or as the block the online read returns.

    `max_contacts_7d` is the frequency cap: a customer contacted that often in the last 7 days
    gets no candidate at all (only `none` remains). `params`: the constants of the request
    features, those of the model that will score the grid (`RequestParams.from_meta`)."""
    n = len(customer)
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    if not channels:
        raise ValueError("channels: at least one candidate channel is needed")
    block = customer if isinstance(customer, CustomerBlock) else CustomerBlock.from_frame(customer)
    slots = slot_grid(window_us(window_start, n), hours)
    tz = block.text.get(fc.TIMEZONE, np.full(n, None))
    cal = _grid_calendar(slots, tz)
    local_hour = cal["hour"]
    quiet_ok = quiet_hours_ok(local_hour, allowed_hours, tuple(channels))
    cols = CustomerColumns(block)
    consent = consent_matrix(cols, channels)
    under_cap = frequency_ok(cols, max_contacts_7d)
    index = np.flatnonzero(consent[:, :, None] & quiet_ok & under_cap[:, None, None])
    code = np.array([CHANNELS.index(c) for c in channels], dtype=np.int64)
    params = params or RequestParams()
    candidates, start = _request_rows(block, index, slots, cal, params, code)
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
    block: CustomerBlock,
    index: np.ndarray,
    slots: np.ndarray,
    cal: dict[str, np.ndarray],
    params: RequestParams,
    code: np.ndarray,
) -> tuple[CandidateRows, CandidateRows]:
    """The candidates' request features (`code`: the grid's channel indices) and the
    window-start rows (channel features blanked)."""
    n, hours = slots.shape
    cols = CustomerColumns(block)
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
    return CandidateRows(block, cust, req), CandidateRows(block, whole, first)
