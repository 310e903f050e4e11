"""Do the product's motivating patterns reach the decisions? The same customers decide twice, a
week apart on the same weekday, once on their payday (salary or advance day, read from the
truth) and once off it, and once in the days after an air-ticket purchase and once before it;
the shift in how often each channel is chosen is compared with the oracle's shift on the very
same windows. Simulated worlds only: the oracle judges, it never trains or chooses.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from decision.choice import Choice
from decision.engine import Engine
from decision.scoring import Scored
from features.store import historical_features
from features.store_definitions import JOIN_KEY, TIMESTAMP
from optichannel.channels import CHANNELS, NONE, action_names
from optichannel.localtime import local_day_start
from simulator.oracle import Oracle

if TYPE_CHECKING:
    from feast import FeatureStore

WEEK = pd.Timedelta(days=7)
HOURS = 24
FIRST_HOUR = 8


def _counts(channel: np.ndarray) -> pd.Series:
    names = action_names(channel)
    return pd.Series(names).value_counts().reindex([*CHANNELS, NONE], fill_value=0)


def choices(
    store: FeatureStore,
    oracle: Oracle,
    engine: Engine,
    ids: np.ndarray,
    at: pd.Series,
    hours: int = HOURS,
) -> tuple[pd.Series, pd.Series]:
    """(model's, oracle's) channel counts over `hours`-hour windows from 08:00 local of each day
    in `at` (`decide`)."""
    mine, best, _ = decide(store, oracle, engine, ids, at, hours)
    return _counts(mine.channel), _counts(best.channel)


def decide(
    store: FeatureStore, oracle: Oracle, engine: Engine, ids: np.ndarray, at: pd.Series, hours: int = HOURS
) -> tuple[Choice, Choice, np.ndarray]:
    """(the engine's choice, the engine's choice by the truth, slots [n, hours] UTC us) over
    windows from 08:00 local of each day in `at`, on the very same grid."""
    entity = pd.DataFrame({JOIN_KEY: ids, TIMESTAMP: at.to_numpy()})
    feats = historical_features(store, entity)
    start = local_day_start(pd.Series(at.to_numpy()), feats["prf_tz"], FIRST_HOUR)
    grid = engine.grid(feats, start, hours)
    truth = oracle.grid(ids, start, hours)
    mine = engine.choose(grid, engine.score(grid), within=truth["allowed"])
    best = engine.choose(grid, Scored(truth["p_response"], truth["p_conversion"], truth["p_none"]),
                         within=truth["allowed"])  # fmt: skip
    return mine, best, grid.slots_us


def payday_windows(oracle: Oracle, month_start: pd.Timestamp, customers: int, seed: int) -> tuple:
    """(ids, payday times, the same weekday a week later): each customer's salary day of a month."""
    rng = np.random.default_rng(seed)
    pos = rng.choice(len(oracle.lat), size=min(customers, len(oracle.lat)), replace=False)
    day = pd.to_timedelta(oracle.lat.salary_day[pos] - 1, unit="D")
    pay = pd.Series(month_start + day)
    return oracle.lat.customer_id[pos], pay, pay + WEEK


def travel_windows(oracle: Oracle, world_dir: Path, first: pd.Timestamp, last: pd.Timestamp) -> tuple:
    """(ids, two days after an air ticket, five days before it): each customer's first ticket
    between `first` and `last` that no other ticket preceded within the two weeks before."""
    tickets = pd.read_parquet(Path(world_dir) / "truth" / "air_tickets").sort_values("ts")
    tickets["ts"] = pd.to_datetime(tickets["ts"], utc=True)
    gap = tickets.groupby("customer_id")["ts"].diff()
    fresh = tickets[(gap.isna() | (gap > 3 * WEEK)) & (tickets["ts"] >= first) & (tickets["ts"] <= last)]
    fresh = fresh.drop_duplicates("customer_id")
    after = (fresh["ts"].dt.floor("D") + pd.Timedelta(days=2)).reset_index(drop=True)
    return fresh["customer_id"].to_numpy(), after, after - WEEK


def shifts(
    store: FeatureStore, oracle: Oracle, engine: Engine, world_dir: Path,
    month_start: pd.Timestamp, customers: int = 1500, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Per context (payday, travel) and channel: how many more customers each policy sends on
    that channel in the context than out of it (model_shift, oracle_shift) and the counts."""
    rows = []
    ids, pay, off = payday_windows(oracle, month_start, customers, seed)
    travel_ids, after, before = travel_windows(
        oracle, world_dir, month_start - 6 * WEEK, month_start + 6 * WEEK
    )
    for context, (who, inside, outside) in {
        "payday": (ids, pay, off),
        "travel": (travel_ids, after, before),
    }.items():
        model_in, oracle_in = choices(store, oracle, engine, who, inside)
        model_out, oracle_out = choices(store, oracle, engine, who, outside)
        for ch in [*CHANNELS, NONE]:
            rows.append({"context": context, "channel": ch, "customers": len(who),
                         "model_in": model_in[ch], "model_out": model_out[ch],
                         "oracle_in": oracle_in[ch], "oracle_out": oracle_out[ch]})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["model_shift"] = frame["model_in"] - frame["model_out"]
    frame["oracle_shift"] = frame["oracle_in"] - frame["oracle_out"]
    return frame.set_index(["context", "channel"])
