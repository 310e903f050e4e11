"""The decision's cost over its floor, in process, for two checkouts in alternation: a refactor of
the decision path must not make `decide` slower relative to what it cannot avoid (one stock Feast
online read plus LightGBM on the same 72-hour candidate rows; `serving.floor`).

Each checkout is measured on its own demo store and champion (run `make demo` in each), with its
own code first on the path; runs alternate so the machine's drift falls on both alike.

    .venv/bin/python benchmarks/decide_vs_floor.py --before ../before [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: measured inside each checkout: its own serving benchmark's `floor` on its own store
PROBE = r"""
import importlib.util, json, os, sys
root = sys.argv[1]
os.chdir(root)
sys.path[:0] = [root]
spec = importlib.util.spec_from_file_location("bench_serving", f"{root}/benchmarks/serving.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
import numpy as np, pandas as pd
from features.feast_sqlite.read import OnlineReader
from features.store import open_store, snapshot_span
from optichannel.settings import get_settings
from serving.runtime import load_model
settings = get_settings()
model, _ = load_model(settings)
store = open_store(settings)
ids = pd.read_parquet(settings.validated_dir / "customers.parquet")["customer_id"].astype(str).tolist()
sample = [str(x) for x in np.random.default_rng(0).choice(ids, size=300)]
start = pd.Timestamp(snapshot_span(settings)[1]) + pd.Timedelta(hours=7)
f = bench.floor(model, store, OnlineReader(store), sample, start, 200)
p50 = lambda v: float(np.percentile(np.asarray(v) * 1000, 50))
floor = [a + b for a, b in zip(f["feast_read"], f["lightgbm"])]
print(json.dumps({"floor": p50(floor), "decide": p50(f["decide"]), "lightgbm": p50(f["lightgbm"])}))
"""


def measure(checkout: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, "-c", PROBE, str(checkout)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr[-2000:]
        raise SystemExit(f"error: measuring {checkout} failed (run `make demo` there first):\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for k in range(args.rounds):
        for name, checkout in (("before", args.before.resolve()), ("after", ROOT)):
            r = measure(checkout)
            runs[name].append(r)
            print(f"round {k + 1} {name:>6}: floor p50 {r['floor']:.2f} ms, decide p50 {r['decide']:.2f} ms, "
                  f"decide/floor {r['decide'] / r['floor']:.3f}", flush=True)  # fmt: skip
    ratio = {n: statistics.median(r["decide"] / r["floor"] for r in rs) for n, rs in runs.items()}
    change = ratio["after"] / ratio["before"] - 1
    print(f"median decide/floor: before {ratio['before']:.3f}, after {ratio['after']:.3f} ({change:+.1%}; "
          "target: within 5%)" + ("" if abs(change) <= 0.05 else "  <-- OUTSIDE THE 5% TARGET"))  # fmt: skip
    from results_file import write_result

    write_result("decide_vs_floor", {
        "median decide/floor, before": ratio["before"], "median decide/floor, after": ratio["after"],
        "change": change, "rounds": args.rounds,
    }, notes=f"before = {args.before}; each checkout on its own demo store and champion")  # fmt: skip


if __name__ == "__main__":
    main()
