"""Feature store speed: our materialize vs Feast's stock materialize, and online reads
for 1 and 100 customers vs the floor (a direct read of the same rows from the same
SQLite online store, values decoded), all in one run on the same simulated bank.

    .venv/bin/python benchmarks/feature_store.py [--customers 100000] [--days 35] [--reads 300]

The world is simulated, validated and featurised first (timed too); the store lives in a
temporary directory.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _timed(label: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    began = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - began
    print(f"  {label:<42} {seconds:8.1f} s")
    return out, seconds


def _latencies(fn, batches: list[list[str]]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for batch in batches[:5]:
        fn(batch)
    times = []
    for batch in batches:
        began = time.perf_counter()
        fn(batch)
        times.append(time.perf_counter() - began)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()

    from features.build import build_features
    from features.feast_sqlite.read import OnlineReader
    from features.store import apply, materialize, open_store
    from features.store_definitions import JOIN_KEY
    from features.validation import validate_feeds
    from optichannel.settings import Settings
    from simulator.generate import generate_world
    from simulator.world import WorldConfig

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), show_progress=False)
        print(f"preparing a simulated bank: {args.customers:,} customers x {args.days} days")
        world = WorldConfig(customers=args.customers, days=args.days)
        _timed("simulate", generate_world, world, settings.world_dir, workers=2)
        _timed("validate", validate_feeds, settings.world_dir, settings.validated_dir, progress=False)
        _timed(
            "features build", build_features, settings.validated_dir, settings.features_dir, progress=False
        )
        _timed("feast apply", apply, settings)

        print("materialize (latest snapshot per customer into SQLite)")
        _, stock = _timed("Feast stock materialize", materialize, settings, stock=True)
        _, fast = _timed("optichannel materialize", materialize, settings)
        store = open_store(settings)
        views = [store.get_feature_view(p.name) for p in store.get_feature_service("next_best_channel_v1")
                 .feature_view_projections]  # fmt: skip
        n_features = sum(len(v.features) for v in views)
        print(f"  {args.customers:,} customers x {n_features} features; speed-up {stock / fast:.1f}x")
        figures: dict = {
            "materialize: Feast stock": {"seconds": stock},
            "materialize: optichannel": {"seconds": fast},
        }

        reader = OnlineReader(store)
        service = reader.service
        ids = pd.read_parquet(settings.features_dir / "profile.parquet", columns=[JOIN_KEY])[
            JOIN_KEY
        ].tolist()
        rng = np.random.default_rng(0)
        con = sqlite3.connect(store.config.online_store.path)

        def floor(batch: list[str]) -> None:
            from feast.protos.feast.types.Value_pb2 import Value

            keys = list(dict.fromkeys(reader.keys(pd.Series(batch))))
            marks = ",".join("?" * len(keys))
            for table in reader.tables:
                query = f'SELECT entity_key, feature_name, value, event_ts FROM "{table}" '
                query += f"WHERE entity_key IN ({marks})"
                for _, _, blob, _ in con.execute(query, keys):
                    Value.FromString(blob)

        def feast(batch: list[str]) -> None:
            store.get_online_features(features=service, entity_rows=[{JOIN_KEY: c} for c in batch]).to_dict()

        print(f"online reads ({args.reads} requests each; ms)     p50      p99   p50 vs floor")
        for size in (1, 100):
            batches = [list(rng.choice(ids, size)) for _ in range(args.reads)]
            base = _latencies(floor, batches)
            paths = (
                ("floor: direct SQLite read + decode", floor),
                ("Feast get_online_features", feast),
                ("optichannel OnlineReader.read", reader.read),
                ("  .read_block (what serving reads)", reader.read_block),
            )
            for name, fn in paths:
                p50, p99 = base if fn is floor else _latencies(fn, batches)
                print(f"  {size:>3} customer(s) {name:<35} {p50:7.2f}  {p99:7.2f}   {p50 / base[0]:5.2f}x")
                figures[f"read {size} customer(s): {name.strip()}"] = {
                    "p50 ms": p50,
                    "p99 ms": p99,
                    "p50 vs floor": p50 / base[0],
                }
    from results_file import write_result

    notes = f"{args.customers:,} customers x {args.days} days, {n_features} features; {args.reads} reads each"
    write_result("feature_store", figures, notes=notes)


if __name__ == "__main__":
    main()
