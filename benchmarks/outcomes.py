"""Outcome ingestion, measured: `outcomes import` of 100,000 reported rows against the floor.

Builds a decision log of 100,000 decisions, writes an outcome export with one row per decision
(sent, delivered, responded, converted, not_sent; 2% broken: unknown ids, bad times, unknown
events, repeats), then times the import (every check, quarantine, progress marker, one
transaction per 50,000 rows) next to the floor measured in the same run: reading the same file
and inserting its rows into an empty SQLite table with no checks at all. Target: under 30 s.

    .venv/bin/python benchmarks/outcomes.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_SECONDS = 30.0


def decision_log(path: Path, n: int) -> None:
    """n decisions d0..d{n-1} for customers c0.. (the columns the outcome checks read)."""
    from serving.log_database import DECISIONS, engine

    start = pd.Timestamp("2026-03-02 09:00", tz="UTC").isoformat()
    rows = [{"decision_id": f"d{i}", "customer_id": f"c{i}", "logged_at": start, "window_start": start,
             "channel": "email"} for i in range(n)]  # fmt: skip
    with engine(path).begin() as con:
        con.execute(DECISIONS.insert(), rows)


def outcome_file(path: Path, n: int, seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    events = rng.choice(
        ["sent", "delivered", "responded", "converted", "not_sent"], n, p=[0.5, 0.2, 0.15, 0.1, 0.05]
    )
    ids = np.array([f"d{i}" for i in range(n)], dtype=object)
    at = (
        pd.Timestamp("2026-03-02 12:00", tz="UTC") + pd.to_timedelta(rng.integers(0, 48, n), unit="h")
    ).astype(str)
    frame = pd.DataFrame(
        {
            "decision_id": ids,
            "event": events,
            "at": at,
            "value": np.where(events == "converted", 99.0, np.nan),
        }
    )
    broken = rng.choice(n, n // 50, replace=False)
    kinds = np.arange(len(broken)) % 4
    frame.loc[broken[kinds == 0], "decision_id"] = "unknown"
    frame.loc[broken[kinds == 1], "at"] = "yesterday"
    frame.loc[broken[kinds == 2], "event"] = "opened"
    frame.loc[broken[kinds == 3], "decision_id"] = frame["decision_id"].iloc[0]  # a repeat of row 1's key
    frame.loc[broken[kinds == 3], "event"] = frame["event"].iloc[0]
    frame.to_parquet(path, index=False)


def floor_seconds(source: Path, folder: Path) -> float:
    began = time.perf_counter()
    rows = pd.read_parquet(source)
    con = sqlite3.connect(folder / "floor.sqlite")
    con.execute("CREATE TABLE t (decision_id TEXT, event TEXT, at TEXT, value REAL)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows.itertuples(index=False))
    con.commit()
    con.close()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    from serving.outcomes.import_file import import_file

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        log, source = folder / "decisions.sqlite", folder / "outcomes.parquet"
        decision_log(log, args.rows)
        outcome_file(source, args.rows)
        floor = floor_seconds(source, folder)
        began = time.perf_counter()
        result = import_file(source, log)
        seconds = time.perf_counter() - began
        print(
            f"{result.read:,} rows read = {result.accepted:,} accepted + {result.quarantined:,} quarantined"
        )
        ratio = seconds / floor
        print(f"import {seconds:.2f} s; floor (read + unchecked insert) {floor:.2f} s; ratio {ratio:.1f}")
        verdict = "ok" if seconds < TARGET_SECONDS else "MISSED"
        target = f"target < {TARGET_SECONDS:.0f} s for {args.rows:,} rows"
        print(f"{args.rows / seconds:,.0f} rows/s; {target}: {verdict}")
    from results_file import write_result

    figures = {
        "rows read": result.read,
        "accepted": result.accepted,
        "quarantined": result.quarantined,
        "import (s)": seconds,
        "floor: read + unchecked insert (s)": floor,
        "against the floor": ratio,
        "rows/s": args.rows / seconds,
    }
    write_result("outcomes", figures)


if __name__ == "__main__":
    main()
