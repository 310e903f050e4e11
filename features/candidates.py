"""The model input rows of a decision's candidates: each customer's features once, the request
features of every allowed (channel, slot), and the local calendar of each window. The grid
itself and the rules that allow a candidate live in the decision engine (`decision.grid`).

Layout: customers x channels x slots, flattened in C order (customer slowest, slot fastest),
so model outputs reshape straight into the [rows, channels, slots] arrays the decision takes.
"""

from __future__ import annotations

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
from optichannel.hour_slots import US_PER_HOUR


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


def grid_calendar(slots: np.ndarray, tz: np.ndarray) -> dict[str, np.ndarray]:
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


def request_rows(
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
