"""`experiment analyze` on a large export, measured against the floor of reading it.

Writes a simulated three-arm export (assignments with a segment column, outcomes in another
table: a 0/1 visit flag, a purchase timestamp and a spend amount), then times the whole command
path in process (read both files, join, quarantine checks, analysis, HTML report, JSON) for each
outcome kind, against the floor measured in the same run: reading the two Parquet files and one
pandas groupby of the outcome by arm. Target: under 30 s at 1,000,000 rows.

    .venv/bin/python benchmarks/experiment_analyze.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_SECONDS = 30.0


def write_export(rows: int, folder: Path, seed: int = 7) -> tuple[Path, Path]:
    """Assignments (customer_id, arm, assigned_at, region) and outcomes (visit, bought_at, spend)."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(rows) + 10_000_000
    arm = rng.choice(np.array(["control", "mens", "womens"]), rows)
    start = pd.Timestamp("2026-03-01", tz="UTC")
    region = rng.choice(np.array(["urban", "rural", "suburban"]), rows)
    assigned = pd.DataFrame({"customer_id": ids, "arm": arm, "assigned_at": start, "region": region})
    visit = rng.random(rows) < np.select([arm == "mens", arm == "womens"], [0.18, 0.15], 0.11)
    bought = visit & (rng.random(rows) < 0.08)
    hours = pd.to_timedelta(rng.integers(-48, 24 * 14, rows), unit="h")
    outcomes = pd.DataFrame({
        "customer_id": ids[::-1].copy(),
        "visit": visit[::-1].astype(np.int8),
        "bought_at": pd.Series(start + hours).where(bought)[::-1].to_numpy(),
        "spend": np.where(bought, rng.lognormal(4.5, 1.0, rows), 0.0)[::-1],
    })  # fmt: skip
    paths = folder / "assignments.parquet", folder / "outcomes.parquet"
    assigned.to_parquet(paths[0], index=False)
    outcomes.to_parquet(paths[1], index=False)
    return paths


def floor_seconds(assignments: Path, outcomes: Path, column: str) -> float:
    """Read both files and group one outcome by arm: what any analysis must at least do."""
    began = time.perf_counter()
    a, o = pd.read_parquet(assignments), pd.read_parquet(outcomes)
    merged = a.merge(o[["customer_id", column]], on="customer_id", how="left")
    merged.groupby("arm")[column].count()
    return time.perf_counter() - began


def analyze_seconds(assignments: Path, outcomes: Path, column: str, out: Path) -> tuple[float, str]:
    """The command's path in process: read, join, check, analyse, write the report and the JSON."""
    from experiments.export_analysis import analyze_export, write_outputs
    from experiments.export_tables import read_table

    began = time.perf_counter()
    result = analyze_export(
        read_table(assignments, "assignments"), "control", column,
        outcomes=read_table(outcomes, "outcomes"), segment="region",
    )  # fmt: skip
    write_outputs(result, out / f"{column}.html", f"benchmark: {column}")
    return time.perf_counter() - began, str(result.analysis.headline["text"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        paths = write_export(args.rows, folder)
        print(f"export of {args.rows:,} customers x 3 arms written in {time.perf_counter() - began:.1f} s")
        small = folder / "small"
        small.mkdir()
        began = time.perf_counter()
        analyze_seconds(*write_export(3_000, small), "visit", small)
        print(f"warm-up (imports, 3,000 rows): {time.perf_counter() - began:.1f} s")
        print(f"{'outcome':<10} {'kind':<10} {'analyze s':>10} {'floor s':>8} {'ratio':>6}  target")
        worst, figures = 0.0, {}
        for column, kind in (("visit", "flag"), ("bought_at", "timestamp"), ("spend", "number")):
            floor = floor_seconds(*paths, column)
            seconds, headline = analyze_seconds(*paths, column, folder)
            worst = max(worst, seconds)
            figures[f"{column} ({kind})"] = {"analyze s": seconds, "floor s": floor, "ratio": seconds / floor}
            verdict = "ok" if seconds < TARGET_SECONDS else "MISSED"
            print(f"{column:<10} {kind:<10} {seconds:>10.2f} {floor:>8.2f} {seconds / floor:>6.1f}  "
                  f"< {TARGET_SECONDS:.0f} s {verdict}")  # fmt: skip
            print(f"  {headline[:150]}...")
        print(f"slowest: {worst:.2f} s against the {TARGET_SECONDS:.0f} s target at {args.rows:,} rows")
    from results_file import write_result

    write_result("experiment_analyze", figures, notes=f"{args.rows:,} customers x 3 arms")


if __name__ == "__main__":
    main()
