"""Simulator throughput and memory: rows per second and peak RSS for growing worlds.

Each size runs in its own process (so peak memory is its own). The baseline, measured
in the same run, is pyarrow writing the same number of rows of random data to Parquet:
the cost of the output alone. Usage:

    .venv/bin/python benchmarks/simulate.py [--sizes 20000 100000] [--days 180] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CHILD = """
import json, resource, sys, time
from pathlib import Path
from simulator.generate import generate_world
from simulator.world import WorldConfig
n, days, workers, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
t = time.perf_counter()
totals = generate_world(WorldConfig(customers=n, days=days), out, workers=workers)
seconds = time.perf_counter() - t
usage = resource.getrusage
peak = max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"seconds": seconds, "totals": totals, "peak_mb": peak / 1024}))
"""


def baseline_write(rows: int, out: Path) -> float:
    """Seconds for pyarrow to write `rows` rows of 8 random columns (the output's own cost)."""
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for i, lo in enumerate(range(0, rows, 2_000_000)):
        n = min(2_000_000, rows - lo)
        table = pa.table(
            {f"c{k}": rng.random(n) for k in range(6)} | {"s": pa.array(rng.integers(0, 10**6, n))}
        )
        pq.write_table(table, out / f"b{i}.parquet", compression="zstd")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(
        f"{'customers':>10} {'days':>5} {'rows':>12} {'seconds':>8} {'rows/s':>11} "
        f"{'peak MB':>8} {'vs write':>9}"
    )
    results = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(n), str(args.days), str(args.workers), tmp],
                capture_output=True,
                text=True,
                check=True,
            )
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            rows = sum(v for k, v in res["totals"].items() if k != "customers")
            base = baseline_write(rows, Path(tmp))
        results.append(res | {"rows": rows, "customers": n, "vs_write": res["seconds"] / base})
        print(
            f"{n:>10,} {args.days:>5} {rows:>12,} {res['seconds']:>8.1f} {rows / res['seconds']:>11,.0f}"
            f" {res['peak_mb']:>8.0f} {res['seconds'] / base:>8.1f}x"
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"world grew {last['rows'] / first['rows']:.1f}x in rows; peak memory grew "
            f"{last['peak_mb'] / first['peak_mb']:.2f}x (bounded by the chunk, not the world)"
        )
    print(f"self peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    from results_file import write_result

    figures = {
        f"{r['customers']:,} customers x {args.days} days": {
            "feed rows": r["rows"],
            "seconds": r["seconds"],
            "rows/s": r["rows"] / r["seconds"],
            "peak MB": r["peak_mb"],
            "against writing the rows": r["vs_write"],
        }
        for r in results
    }
    write_result("simulate", figures, notes=f"{args.workers} workers")


if __name__ == "__main__":
    main()
