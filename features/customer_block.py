"""Customers' features as one float block: what the online read builds, the candidate grid
consumes and the decision overrides in place, so a request never round-trips through pandas.

Text features (time zone, region) ride beside the block; in `values` they are NaN, as every
non-number is for the models.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from features.store_definitions import JOIN_KEY
from optichannel.feature_columns import TEXT_COLUMNS

SMALL_FRAME = 200  # rows up to which one object array beats a pandas call per column (measured)


@dataclass(frozen=True)
class ViewStamps:
    """When each feature view's values of each row were computed and how long they stay valid:
    the online half of the point-in-time rule `features.offline_read.features_at` applies."""

    ttl_s: np.ndarray  # [views] seconds a view's values stay valid; 0 = forever (the profile)
    column_view: np.ndarray  # [columns] the view of each block column (-1: none)
    stamps: np.ndarray  # [n, views] epoch seconds of each row's snapshot per view; 0 = none

    def take(self, rows: np.ndarray) -> ViewStamps:
        return replace(self, stamps=self.stamps[rows])


@dataclass(frozen=True)
class CustomerBlock:
    """[customers, features] floats plus the text features and the as-of time of each row."""

    ids: np.ndarray  # [n] customer ids (str objects)
    columns: tuple[str, ...]  # feature names in `values` column order (text ones included, NaN)
    values: np.ndarray  # [n, k] float64
    text: dict[str, np.ndarray]  # text feature -> [n] objects (None when unknown)
    as_of: np.ndarray  # [n] int64 epoch seconds of the newest snapshot read; 0 = none
    views: ViewStamps | None = None  # per-view stamps and TTLs (the online store's reads)
    #: [n, m] epoch seconds of contacts given since the contacts snapshot (NaN padded): the
    #: service's handed-out decisions, which the feeds will only hold tomorrow
    recent: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.columns)}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, as_of: pd.Series | None = None) -> CustomerBlock:
        """A block from a feature frame with `customer_id` (offline reads, training, tests)."""
        frame = frame.reset_index(drop=True)
        ids = (
            frame[JOIN_KEY].astype(str).to_numpy(dtype=object) if JOIN_KEY in frame else np.arange(len(frame))
        )
        feats = frame.drop(columns=[JOIN_KEY], errors="ignore")
        text = {c: feats[c].to_numpy(dtype=object) for c in TEXT_COLUMNS if c in feats}
        stamps = np.zeros(len(frame), dtype=np.int64)
        if as_of is not None:
            known = pd.to_datetime(pd.Series(as_of).reset_index(drop=True), utc=True)
            stamps = np.where(known.notna(), known.astype("int64") // 10**9, 0).astype(np.int64)
        return cls(ids, tuple(feats.columns), numeric_matrix(feats), text, stamps)

    def frame(self) -> pd.DataFrame:
        """`customer_id`, the text features, then the float ones (the online read's frame)."""
        floats = [c for c in self.columns if c not in self.text]
        idx = self.index
        float_part = pd.DataFrame(self.values[:, [idx[c] for c in floats]], columns=floats)
        other = pd.DataFrame({JOIN_KEY: self.ids, **self.text})
        return pd.concat([other, float_part], axis=1)[[JOIN_KEY, *self.columns]]

    def as_of_series(self) -> pd.Series:
        """The as-of times as a UTC Series (NaT where nothing was read)."""
        # whole seconds stay integers: pandas' float route (NaN for "none") can overflow on rounding
        seconds = pd.Series(np.asarray(self.as_of, dtype=np.int64))
        return pd.to_datetime(seconds, unit="s", utc=True).where(seconds > 0)

    def known(self) -> np.ndarray:
        """[n] True where the store returned any numeric feature (else: cold start)."""
        if not self.values.shape[1]:
            return np.zeros(len(self), dtype=bool)
        return ~np.isnan(self.values).all(axis=1)

    def take(self, rows: np.ndarray) -> CustomerBlock:
        rows = np.asarray(rows)
        return replace(
            self,
            ids=self.ids[rows],
            values=self.values[rows],
            text={k: v[rows] for k, v in self.text.items()},
            as_of=self.as_of[rows],
            views=None if self.views is None else self.views.take(rows),
            recent=None if self.recent is None else self.recent[rows],
        )

    def copy(self) -> CustomerBlock:
        """A copy whose values and text may be changed in place (request overrides)."""
        return replace(self, values=self.values.copy(), text={k: v.copy() for k, v in self.text.items()})

    def expire(self, at_s: np.ndarray) -> tuple[CustomerBlock, np.ndarray, np.ndarray]:
        """(block, stale [n], age in hours [n]) at decision times `at_s` (epoch seconds): a view whose
        snapshot is older than its TTL at that time reads as missing, as Feast's point-in-time rule
        and `optichannel score` read it. A known row is stale where any time-limited view has no
        snapshot within its TTL (expired, or none at all): the rule `offline_read.stale_rows`
        applies offline. The age is that of the newest time-limited view (NaN without one).
        Without stamps (an offline read): itself, all fresh."""
        n = len(self)
        if self.views is None or not len(self.views.ttl_s):
            return self, np.zeros(n, dtype=bool), np.full(n, np.nan)
        v = self.views
        limited = v.ttl_s > 0
        read = v.stamps > 0
        at = np.asarray(at_s, dtype=np.int64)[:, None]
        expired = read & limited[None, :] & (at - v.stamps > v.ttl_s[None, :])
        newest = np.where(read[:, limited], v.stamps[:, limited], 0).max(axis=1, initial=0)
        age = np.where(newest > 0, (np.asarray(at_s) - newest) / 3600.0, np.nan)
        known = read.any(axis=1)
        stale = (expired | (~read & limited[None, :] & known[:, None])).any(axis=1)
        if not expired.any():
            return self, stale, age
        out = self.copy()
        for view in np.flatnonzero(expired.any(axis=0)):
            rows = np.flatnonzero(expired[:, view])
            out.values[np.ix_(rows, np.flatnonzero(v.column_view == view))] = np.nan
        return out, stale, age

    def column(self, name: str) -> np.ndarray:
        """A text column's objects or a float column's values; KeyError naming it otherwise."""
        if name in self.text:
            return self.text[name]
        try:
            return self.values[:, self.index[name]]
        except KeyError:
            raise KeyError(f"feature column {name!r} is not in the block") from None


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
