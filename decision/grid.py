"""The candidate grid of a decision: every channel x hourly slot of each customer's window, the
rules' masks over it (`decision.rules`) and the model input rows of the allowed candidates.

Only allowed candidates get a row, so nothing is scored that could never be chosen; `index`
maps rows into the flat [customers, channels, slots] grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from decision.rules import Asks, Rules, consent_matrix, frequency_ok, requested_matrix
from features.candidates import CandidateRows, grid_calendar, request_rows, window_us
from features.customer_block import CustomerBlock
from features.request_features import CustomerColumns
from features.request_params import RequestParams
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS
from optichannel.hour_slots import quiet_hours_ok, slot_grid

_CODES = np.arange(len(CHANNELS), dtype=np.int64)


@dataclass(frozen=True)
class CandidateGrid:
    """Request-feature rows of the allowed (customer, channel, slot) candidates, and the masks
    of each rule, so an answer can say which rule excluded a channel."""

    candidates: CandidateRows  # customer features + request features of allowed candidates
    start: CandidateRows  # one row per customer at the window start, channel features blanked
    index: np.ndarray  # flat position of each row in [n, channels, hours]
    slots_us: np.ndarray  # [n, hours] UTC slot starts in microseconds
    local_hour: np.ndarray  # [n, hours]
    consent: np.ndarray  # [n, channels] consent given (or not needed: a service message)
    quiet_ok: np.ndarray  # [n, channels, hours] outside quiet hours
    under_cap: np.ndarray  # [n] below the frequency cap
    requested: np.ndarray  # [n, channels] channels the request lists
    office: np.ndarray | None = None  # [n, channels, hours] inside a plan's office hours
    params: RequestParams = field(default_factory=RequestParams)  # the request features' constants
    calendar: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # [n, hours] local calendar

    def with_params(self, params: RequestParams) -> CandidateGrid:
        """The same grid with request features computed under other constants (a model trained
        with other estimates than the grid's); itself when they are the same."""
        if params == self.params:
            return self
        candidates, start = request_rows(self.candidates.customers, self.index, self.slots_us, self.calendar,
                                         params, _CODES)  # fmt: skip
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
        return self.slots_us.shape[0], len(CHANNELS), self.slots_us.shape[1]

    @property
    def allowed(self) -> np.ndarray:
        """[n, channels, hours] every rule at once."""
        return _allowed(self.consent, self.requested, self.quiet_ok, self.under_cap, self.office)

    def position(self, row: int, channel: int, slot: int) -> int:
        """Index into `candidates` of one allowed (customer row, channel, slot)."""
        flat = (row * len(CHANNELS) + channel) * self.slots_us.shape[1] + slot
        pos = int(np.searchsorted(self.index, flat))
        if pos >= len(self.index) or self.index[pos] != flat:
            raise KeyError(f"candidate ({row}, {channel}, {slot}) is not allowed")
        return pos

    def spread(self, values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Per-row values back into the [n, channels, hours] grid (`fill` where not allowed)."""
        out = np.full(int(np.prod(self.shape)), fill, dtype=float)
        out[self.index] = values
        return out.reshape(self.shape)


def _allowed(
    consent: np.ndarray,
    requested: np.ndarray,
    quiet_ok: np.ndarray,
    under_cap: np.ndarray,
    office: np.ndarray | None,
) -> np.ndarray:
    """[n, channels, hours] where every rule allows the option."""
    out = (consent & requested)[:, :, None] & quiet_ok & under_cap[:, None, None]
    return out if office is None else out & office


def candidate_grid(
    customer: pd.DataFrame | CustomerBlock,
    window_start: pd.Series | pd.Timestamp | np.ndarray,
    hours: int,
    rules: Rules | None = None,
    asks: Asks | None = None,
    params: RequestParams | None = None,
) -> CandidateGrid:
    """Expand each customer row into every channel x `hours` hourly slots from its window start
    (rounded up to the hour), under `rules` (defaults: the default quiet hours and economics)
    narrowed by the requests' `asks`. `customer` holds snapshot features (nulls for cold start),
    as a frame or as the block the online read returns. `params`: the constants of the request
    features, those of the model that will score the grid (`RequestParams.from_meta`)."""
    n = len(customer)
    if hours < 1:
        raise ValueError(f"hours must be at least 1, got {hours}")
    rules = rules or Rules()
    block = customer if isinstance(customer, CustomerBlock) else CustomerBlock.from_frame(customer)
    slots = slot_grid(window_us(window_start, n), hours)
    tz = block.text.get(fc.TIMEZONE, np.full(n, None))
    cal = grid_calendar(slots, tz)
    local_hour = cal["hour"]
    quiet_ok = quiet_hours_ok(local_hour, dict(rules.quiet_hours))
    cols = CustomerColumns(block)
    consent = consent_matrix(cols, asks)
    under_cap = frequency_ok(cols, rules.cap, asks)
    requested = requested_matrix(n, asks)
    office = rules.office_open(slots)
    index = np.flatnonzero(_allowed(consent, requested, quiet_ok, under_cap, office))
    params = params or RequestParams()
    candidates, start = request_rows(block, index, slots, cal, params, _CODES)
    return CandidateGrid(candidates=candidates, start=start, index=index, slots_us=slots,
                         local_hour=local_hour, consent=consent, quiet_ok=quiet_ok, under_cap=under_cap,
                         requested=requested, office=office, params=params, calendar=cal)  # fmt: skip
