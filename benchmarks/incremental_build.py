"""Feature build: a full rebuild against the daily incremental one, on the same bank.

    .venv/bin/python benchmarks/incremental_build.py [--customers 20000] [--days 365]

Simulates a bank, validates its feeds, builds the features from an extract taken the day
before the end (a full build, as on the first day), then times both ways of adding the last
day: an incremental build on top of that, and a full rebuild. Checks both give the same rows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()

    from features.build import build_features
    from features.validation import validate_feeds
    from simulator.extract import cut_feeds
    from simulator.generate import generate_world
    from simulator.world import WorldConfig

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"preparing a simulated bank: {args.customers:,} customers x {args.days} days")
        generate_world(WorldConfig(customers=args.customers, days=args.days), root / "world", workers=2)
        validate_feeds(root / "world", root / "validated", progress=False)
        end = pd.read_parquet(root / "validated" / "transactions.parquet", columns=["ts"]).ts.max()
        yesterday = cut_feeds(root / "validated", root / "yesterday", end.normalize())
        build_features(yesterday, root / "daily", progress=False)

        began = time.perf_counter()
        built = build_features(root / "validated", root / "daily", progress=False)
        incremental = time.perf_counter() - began
        began = time.perf_counter()
        build_features(root / "validated", root / "full", progress=False, full=True)
        full = time.perf_counter() - began
        assert built.incremental, built.reason
        same = all(
            pd.read_parquet(root / "daily" / name).equals(pd.read_parquet(root / "full" / name))
            for name in (f"{family}.parquet" for family in built.rows)
        )
        print(f"  full rebuild                      {full:8.1f} s")
        print(f"  incremental (+1 day)              {incremental:8.1f} s   ({built.reason})")
        print(f"  speed-up {full / incremental:.1f}x; identical rows: {same}; rows {built.rows}")
    from results_file import write_result

    figures = {
        "full rebuild (s)": full,
        "incremental, +1 day (s)": incremental,
        "speed-up": full / incremental,
        "identical rows": same,
    }
    write_result("incremental_build", figures, notes=f"{args.customers:,} customers x {args.days} days")


if __name__ == "__main__":
    main()
