"""Offline reads straight from the snapshot Parquet with DuckDB: every customer's features as of
one time (campaigns), and every row of a training frame at its own time.

Feast's `get_historical_features` is the reference (point in time, each view's TTL). A campaign
asks for one time for all customers, and Feast spends most of such a call compiling its generic
join. This read applies the same rule — per view, the newest snapshot at or before the time and,
where the view has a TTL, not older than it — and a test proves it returns exactly what Feast
returns. `point_in_time` does the same for training frames, where every row has its own time:
Feast's local offline store joins every row to its customer's snapshots within the TTL and
ranks them, in a DuckDB session without our memory limit; this is an ASOF join, in chunks of
rows, inside the batch memory limit (a 100,000-customer x 60-day training frame: 5.5 GB peak and
98 s against 9.9 GB and 127 s through Feast's, `benchmarks/scale.py --stages frame`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.duckdb_limits import connect as bounded_session
from features.snapshot_grid import check_reads
from features.store_definitions import JOIN_KEY, PREFIX, TIMESTAMP, VIEWS, feature_names, snapshot_path
from optichannel.settings import Settings

_ROW = "__optichannel_row"
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def features_at(features_dir: Path, customer_ids: pd.Series, at: pd.Timestamp) -> pd.DataFrame:
    """One row per id, in order (`customer_id` first): each view's newest snapshot at or before
    `at` within the view's TTL; nulls where there is none (unknown customer or stale view)."""
    at = pd.Timestamp(at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    ids = pd.Series(customer_ids).astype(str).to_numpy()
    entity = pd.DataFrame({JOIN_KEY: ids, TIMESTAMP: pd.Series(at, index=range(len(ids)))})
    check_reads(features_dir, entity)
    views = [ViewSource(snapshot_path(features_dir, family), VIEWS[family][1], tuple(names))
             for family, names in feature_names(features_dir).items()]  # fmt: skip
    return point_in_time(views, entity).drop(columns=TIMESTAMP)


def stale_rows(feats: pd.DataFrame) -> np.ndarray:
    """[n] True where a time-limited view had no snapshot within its TTL at the decision time
    (`features_at` read all its features as null), so the decision went without it: the one rule
    of "stale", which the online read applies too (`CustomerBlock.expire`). For known customers:
    callers mask out the unknown ones (cold start, every column null)."""
    out = np.zeros(len(feats), dtype=bool)
    for family, (_, ttl) in VIEWS.items():
        columns = [c for c in feats.columns if c.startswith(PREFIX[family])]
        if ttl is not None and columns:
            out |= feats[columns].isna().all(axis=1).to_numpy()
    return out


@dataclass(frozen=True)
class ViewSource:
    """One feature view as Feast's registry states it: its snapshot file, TTL and features."""

    path: Path
    ttl: timedelta | None
    features: tuple[str, ...]


def point_in_time(
    views: list[ViewSource], entity_df: pd.DataFrame, settings: Settings | None = None,
    chunk_rows: int = 250_000,
) -> pd.DataFrame:  # fmt: skip
    """Feast's point-in-time join for the local (file) offline store, in bounded memory: for each
    row of `entity_df` (customer_id, event_timestamp: UTC, ...), each view's newest snapshot at or
    before the row's time and, where the view has a TTL, not older than it; the entity's columns,
    then the views' features, in the input's row order.

    Rows are taken in time order `chunk_rows` at a time, and each chunk reads only the snapshots of
    its own days (the files are written in time order, so DuckDB skips the other row groups): a
    chunk's work does not grow with the history. A test proves the result equals Feast's.
    """
    times = entity_df[TIMESTAMP]
    in_order = times.is_monotonic_increasing  # training frames come in time order
    order = np.arange(len(times)) if in_order else np.argsort(times.to_numpy("int64"), kind="stable")
    parts: list[pa.Table] = []
    with bounded_session(settings, keep_order=True) as con:
        for lo in range(0, max(len(order), 1), chunk_rows):  # an empty frame: one empty chunk
            rows = order[lo : lo + chunk_rows]
            chunk = pd.DataFrame({JOIN_KEY: entity_df[JOIN_KEY].to_numpy()[rows],
                                  TIMESTAMP: times.iloc[rows].reset_index(drop=True),
                                  _ROW: np.arange(len(rows))})  # fmt: skip
            con.register("chunk", chunk)
            first, last = (times.iloc[rows[0]], times.iloc[rows[-1]]) if len(rows) else (_EPOCH, _EPOCH)
            tables = [con.sql(_asof(v), params=_span(v, first, last)).to_arrow_table() for v in views]
            con.unregister("chunk")
            columns = [c for t in tables for c in t.columns]
            parts.append(pa.table(columns, names=[n for t in tables for n in t.column_names]))
    feats = pa.concat_tables(parts)
    del parts
    if not in_order:
        back = np.empty(len(order), dtype=np.int64)
        back[order] = np.arange(len(order))  # from time order back to the input's
        feats = feats.take(pa.array(back))
    # one copy into pandas; the entity's columns go in front without copying the features again
    frame = feats.to_pandas()
    del feats
    for i, name in enumerate(entity_df.columns):
        frame.insert(i, name, entity_df[name].array)
    frame.index = entity_df.index
    return frame


def _asof(view: ViewSource) -> str:
    """One chunk's rows, in chunk order, with `view`'s features (nulls past its TTL)."""
    fresh = (
        "TRUE"
        if view.ttl is None
        else f"s.{TIMESTAMP} >= e.{TIMESTAMP} - INTERVAL '{int(view.ttl.total_seconds())} seconds'"
    )
    listed = ", ".join(f"CASE WHEN {fresh} THEN s.{f} END AS {f}" for f in view.features)
    return f"""
        SELECT {listed}
        FROM chunk e ASOF LEFT JOIN (
            SELECT {JOIN_KEY}, {TIMESTAMP}, {", ".join(view.features)}
            FROM read_parquet('{view.path.as_posix()}')
            WHERE {TIMESTAMP} <= $last AND {TIMESTAMP} >= $since
        ) s ON e.{JOIN_KEY} = s.{JOIN_KEY} AND e.{TIMESTAMP} >= s.{TIMESTAMP}
        ORDER BY e.{_ROW}"""


def _span(view: ViewSource, first: pd.Timestamp, last: pd.Timestamp) -> dict[str, object]:
    since = first - view.ttl if view.ttl is not None else pd.Timestamp("1900-01-01", tz="UTC")
    return {"last": last.to_pydatetime(), "since": since.to_pydatetime()}
