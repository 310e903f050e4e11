"""Campaign-sized offline reads: every customer's features as of one time, straight from the
snapshot Parquet with DuckDB.

Feast's `get_historical_features` is the reference (point in time, each view's TTL) and stays
the path for training frames, where every row has its own time. A campaign asks for one time
for all customers, and Feast spends most of such a call compiling its generic join. This read
applies the same rule — per view, the newest snapshot at or before the time and, where the view
has a TTL, not older than it — and a test proves it returns exactly what Feast returns.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from features.store_definitions import JOIN_KEY, TIMESTAMP, VIEWS, snapshot_path

_ROW = "__optichannel_row"


def features_at(features_dir: Path, customer_ids: pd.Series, at: pd.Timestamp) -> pd.DataFrame:
    """One row per id, in order (`customer_id` first): each view's newest snapshot at or before
    `at` within the view's TTL; nulls where there is none (unknown customer or stale view)."""
    at = pd.Timestamp(at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    entity = pd.DataFrame({JOIN_KEY: pd.Series(customer_ids).astype(str).to_numpy(),
                           _ROW: np.arange(len(customer_ids))})  # fmt: skip
    parts = [entity[[JOIN_KEY]]]
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("entity", entity)
        for family, (_, ttl) in VIEWS.items():
            path = snapshot_path(features_dir, family)
            if not path.exists():
                raise FileNotFoundError(f"{path} is missing: run `optichannel features build` first")
            since = at - ttl if ttl is not None else pd.Timestamp("1900-01-01", tz="UTC")
            query = f"""
                WITH latest AS (
                    SELECT * FROM read_parquet('{path.as_posix()}')
                    WHERE {TIMESTAMP} <= $at AND {TIMESTAMP} >= $since
                    QUALIFY row_number() OVER (PARTITION BY {JOIN_KEY} ORDER BY {TIMESTAMP} DESC) = 1
                )
                SELECT latest.* EXCLUDE ({JOIN_KEY}, {TIMESTAMP})
                FROM entity LEFT JOIN latest USING ({JOIN_KEY})
                ORDER BY entity.{_ROW}"""
            params = {"at": at.to_pydatetime(), "since": since.to_pydatetime()}
            parts.append(con.execute(query, params).df())
    return pd.concat(parts, axis=1)


def stale_rows(feats: pd.DataFrame) -> np.ndarray:
    """[n] True where every time-limited feature is missing: the views were past their TTL at the
    window start (`features_at` read them as null), so only the profile decided."""
    dynamic = [c for c in feats.columns if c.startswith(("txn_", "bhv_", "cnt_"))]
    return feats[dynamic].isna().all(axis=1).to_numpy() if dynamic else np.zeros(len(feats), dtype=bool)
