"""Who takes part in a simulated campaign and when: the customers known at the decision time,
and the latest decision time that leaves a full window of feeds to draw outcomes from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def feed_end(world_dir: Path) -> pd.Timestamp:
    """The newest moment in the world's feeds (transactions, events, contacts)."""
    import duckdb

    parts = [
        f"SELECT MAX({col}) AS t FROM read_parquet('{(Path(world_dir) / table).as_posix()}/**/*.parquet')"
        for table, col in (("transactions", "ts"), ("events", "ts"), ("contacts", "sent_at"))
        if (Path(world_dir) / table).exists()
    ]
    if not parts:
        raise FileNotFoundError(f"{world_dir} holds no simulated feeds: run `optichannel simulate` first")
    with duckdb.connect() as con:
        (end,) = con.execute(f"SELECT MAX(t) FROM ({' UNION ALL '.join(parts)})").fetchone()
    end = pd.Timestamp(end)
    return end.tz_convert("UTC") if end.tzinfo else end.tz_localize("UTC")


def default_time(world_dir: Path, window_hours: int) -> pd.Timestamp:
    """The latest whole hour that leaves a full decision window before the feeds end."""
    return (feed_end(world_dir) - pd.Timedelta(hours=window_hours)).floor("h")


def sample_customers(world_dir: Path, at: pd.Timestamp, n: int | None, seed: int) -> np.ndarray:
    """Up to `n` customers who had signed up by `at` (all of them when `n` is None), sorted."""
    path = Path(world_dir) / "customers.parquet"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `optichannel simulate` first")
    table = pd.read_parquet(path, columns=["customer_id", "signup_date"])
    known = table.loc[pd.to_datetime(table["signup_date"]) <= at.tz_localize(None), "customer_id"]
    ids = np.sort(known.drop_duplicates().astype(str).to_numpy())
    if len(ids) == 0:
        raise ValueError(f"no customer had signed up by {at}")
    if n is not None and n < len(ids):
        ids = np.sort(np.random.default_rng(seed).choice(ids, size=n, replace=False))
    return ids
