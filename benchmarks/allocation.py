"""Campaign allocation under a plan, measured: the Lagrangian method against HiGHS's exact
optimum (and "greedy then cut at capacity") on the same instances, then its time and peak memory
up to a million customers, each size in its own process.

Instances are the demo model's real options: the champion scores the demo bank's customers over a
72-hour window (timed and reported separately: candidate scoring), the options are reduced to the
plan's columns, and larger campaigns resample those customers (with +-20% noise on each gain so
no two are alike). Limits scale with the campaign: per 20,000 customers 15 calls an hour in
Moscow office hours on weekdays, 200 SMS a day and a budget of 300. Needs `make demo` first.

    .venv/bin/python benchmarks/allocation.py [--exact 2000 20000] [--scale 100000 1000000]
        [--family demo|synthetic]
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
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PER_20K = {"call_per_hour": 15, "sms_per_day": 200, "budget": 300.0}


def plan_for(n: int):
    from optichannel.campaign_plan import CampaignPlan

    k = n / 20_000
    return CampaignPlan.model_validate(
        {
            "name": f"bench-{n}",
            "budget": PER_20K["budget"] * k,
            "capacity": {
                "call": {
                    "per_hour": max(1, round(PER_20K["call_per_hour"] * k)),
                    "timezone": "Europe/Moscow",
                    "hours": [9, 18],
                    "weekdays": [0, 1, 2, 3, 4],
                },
                "sms": {"per_day": max(1, round(PER_20K["sms_per_day"] * k))},
            },
        }
    )


def real_options(out: Path) -> dict:
    """Score the demo bank through the decision path once; save the per-customer options."""
    from decision.engine import Engine
    from features.offline_read import features_at
    from features.store import snapshot_span
    from optichannel.capacity import plan_layout
    from optichannel.hour_slots import slot_grid
    from optichannel.settings import get_settings
    from serving.plan_allocation import collect
    from serving.runtime import StartupError, load_model

    settings = get_settings()
    try:
        model, version = load_model(settings)
    except StartupError as exc:
        raise SystemExit(f"error: {exc} (`make demo` leaves a model and a store to measure)") from None
    ids = pd.read_parquet(settings.validated_dir / "customers.parquet")["customer_id"].astype(str)
    start = (pd.Timestamp(snapshot_span(settings)[1]) + pd.Timedelta(hours=7)).ceil("h")
    plan = plan_for(20_000)
    engine = Engine.of(model, settings)
    engine = engine.with_rules(engine.rules.for_plan(plan))
    slots = slot_grid(np.array([start.value // 1000]), 72)[0]
    layout = plan_layout(plan, engine.econ, slots)
    feats = features_at(settings.features_dir, ids, start)
    began = time.perf_counter()
    frames = (feats.iloc[i : i + 500].reset_index(drop=True) for i in range(0, len(feats), 500))
    opts = collect(engine, frames, start, 72, layout)
    seconds = time.perf_counter() - began
    np.save(out, opts.joined("gain"))
    return {"customers": len(ids), "seconds": seconds, "version": version, "start": str(start),
            "columns": layout.columns, "resources": len(layout.resources)}  # fmt: skip


def instance(gains: np.ndarray, n: int, seed: int):
    """n customers resampled from the real ones, each gain jittered by up to +-20%."""

    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(gains), size=n)
    gain = np.empty((n, gains.shape[1]))
    for lo in range(0, n, 100_000):  # bounded temporaries at a million
        hi = min(n, lo + 100_000)
        gain[lo:hi] = gains[pick[lo:hi]] * rng.uniform(0.8, 1.2, size=(hi - lo, gains.shape[1]))
    layout = _layout(n)
    return layout.problem(gain)


def synthetic(n: int, seed: int):
    """n customers with independent values per channel and hour (harder for the dual than the
    resampled ones): P(conversion) ~ Beta(1, 60) with a daily rhythm, calls six times stronger,
    80% of options allowed, no-contact value from Beta(1, 80); the unit tests' generator."""
    from optichannel.economics import Economics

    rng = np.random.default_rng(seed)
    layout, econ = _layout(n), Economics()
    gain = np.empty((n, layout.columns))
    for lo in range(0, n, 20_000):
        k = min(20_000, n - lo)
        p = rng.beta(1, 60, size=(k, 5, 72)) * (1 + np.sin(np.arange(72) / 4))[None, None, :]
        p[:, 3] *= 6
        contact = econ.value_per_conversion * p - econ.channel_costs()
        allowed = (rng.random((k, 5, 72)) < 0.8) & layout.open_slot[None]
        gain[lo : lo + k] = layout.reduce(
            contact, allowed, econ.value_per_conversion * rng.beta(1, 80, size=k)
        )[0]
    return layout.problem(gain)


_SHAPE: dict = {}


def _layout(n: int):
    """The plan's layout over the measured window with this size's limits."""
    from optichannel.capacity import plan_layout
    from optichannel.economics import Economics

    return plan_layout(plan_for(n), Economics.model_validate(_SHAPE["econ"]), _SHAPE["layout"])


def one_size(gains_path: Path, meta: dict, n: int, exact_too: bool) -> dict:
    """Everything for one campaign size, in this process (peak memory is its own)."""
    from optichannel.allocation import greedy_cut, unconstrained
    from optichannel.hour_slots import slot_grid
    from optichannel.lagrangian import lagrangian

    _SHAPE["layout"] = slot_grid(np.array([pd.Timestamp(meta["start"]).value // 1000]), 72)[0]
    _SHAPE["econ"] = meta["econ"]
    if meta.get("family") == "synthetic":
        problem = synthetic(n, seed=n)
    else:
        problem = instance(np.load(gains_path), n, seed=n)
    ours = lagrangian(problem)
    row = {
        "n": n,
        "lagrangian": ours.value,
        "seconds": ours.seconds,
        "rounds": ours.rounds,
        "bound": ours.bound,
        "feasible": problem.feasible(ours.column),
        "greedy": greedy_cut(problem).value,
        "unconstrained": unconstrained(problem).value,
    }
    if exact_too:
        from optichannel.exact_allocation import exact

        best = exact(problem, time_limit=900)
        row.update(exact=best.value, exact_seconds=best.seconds, exact_feasible=problem.feasible(best.column))
    row["peak_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return row


def run_child(gains: Path, meta: Path, n: int, exact_too: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n), "--gains", str(gains), "--meta", str(meta)]
    done = subprocess.run([*cmd, *(["--with-exact"] if exact_too else [])], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"size {n:,} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exact", type=int, nargs="*", default=[2000, 20_000])
    parser.add_argument("--scale", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--child", type=int)
    parser.add_argument("--gains")
    parser.add_argument("--meta")
    parser.add_argument("--with-exact", action="store_true")
    parser.add_argument(
        "--family",
        choices=["demo", "synthetic"],
        default="demo",
        help="demo: the champion's options on the demo bank, resampled; synthetic: independent random values",
    )
    args = parser.parse_args()
    if args.child:
        meta = json.loads(Path(args.meta).read_text())
        print(json.dumps(one_size(Path(args.gains), meta, args.child, args.with_exact)))
        return

    from optichannel.economics import Economics

    work = Path(tempfile.mkdtemp())
    gains = work / "gains.npy"
    if args.family == "synthetic":
        meta = {"family": "synthetic", "start": "2026-02-09T06:00:00+00:00", "econ": Economics().model_dump()}
        (work / "meta.json").write_text(json.dumps(meta))
        print("synthetic campaigns (independent random values; window Mon 2026-02-09 06:00 UTC + 72 h)")
    else:
        meta = real_options(gains)
        meta["econ"] = Economics().model_dump()
        (work / "meta.json").write_text(json.dumps(meta))
        _print_scoring(meta)
    figures = _compare(args, gains, work / "meta.json")
    from results_file import write_result

    scoring = meta.get("customers", 0) / meta["seconds"] if meta.get("seconds") else None
    notes = f"candidate scoring (excluded): {scoring:,.0f} customers/s" if scoring else None
    write_result("allocation" if args.family == "demo" else "allocation_synthetic", figures, notes=notes)


def _print_scoring(meta: dict) -> None:
    rate = meta["customers"] / meta["seconds"]
    print(f"model version {meta['version']}; window {meta['start']} + 72 h; {meta['columns']} plan columns, "
          f"{meta['resources']} limited resources at 20,000 customers")  # fmt: skip
    print(f"candidate scoring (excluded below): {meta['customers']:,} customers x 72 h x 5 channels in "
          f"{meta['seconds']:.1f} s = {rate:,.0f} customers/s "
          f"(1,000,000 would take {1e6 / rate / 60:.0f} min)")  # fmt: skip


def _compare(args: argparse.Namespace, gains: Path, meta: Path) -> dict:
    """The exact comparison, then the scale runs, each size in its own process; their figures."""
    figures: dict = {}
    print("\nagainst the exact optimum (HiGHS MIP), same instance, same limits")
    print(f"{'customers':>10} {'exact':>11} {'ours':>11} {'gap':>7} {'greedy+cut':>11} {'ours/greedy':>11} "
          f"{'t exact':>8} {'t ours':>7} {'speed-up':>8} feasible")  # fmt: skip
    for n in args.exact:
        r = run_child(gains, meta, n, exact_too=True)
        gap = (r["exact"] - r["lagrangian"]) / r["exact"]
        print(f"{n:>10,} {r['exact']:>11,.1f} {r['lagrangian']:>11,.1f} {gap:>7.3%} {r['greedy']:>11,.1f} "
              f"{r['lagrangian'] / r['greedy']:>11.3f} {r['exact_seconds']:>7.1f}s {r['seconds']:>6.1f}s "
              f"{r['exact_seconds'] / r['seconds']:>7.1f}x "
              f"{r['feasible'] and r['exact_feasible']}")  # fmt: skip
        figures[f"{n:,} (exact)"] = {
            "exact (HiGHS MIP)": r["exact"],
            "ours (Lagrangian)": r["lagrangian"],
            "gap": f"{gap:.3%}",
            "greedy then cut": r["greedy"],
            "ours / greedy": r["lagrangian"] / r["greedy"],
            "seconds exact": r["exact_seconds"],
            "seconds ours": r["seconds"],
            "feasible": r["feasible"] and r["exact_feasible"],
        }

    print("\nat scale (Lagrangian only; gap to its own dual bound, an upper bound on the optimum)")
    print(f"{'customers':>10} {'seconds':>8} {'rounds':>6} {'peak GB':>8} {'gap<=':>7} "
          f"{'lost to limits':>14} {'ours/greedy':>11} feasible")  # fmt: skip
    previous = None
    for n in args.scale:
        r = run_child(gains, meta, n, exact_too=False)
        gap = (r["bound"] - r["lagrangian"]) / r["bound"]
        lost = 1 - r["lagrangian"] / r["unconstrained"]
        grow = ""
        if previous is not None:
            times, sizes = r["seconds"] / previous["seconds"], n / previous["n"]
            grow = f"  ({times:.1f}x the time for {sizes:.0f}x the customers)"
        print(f"{n:>10,} {r['seconds']:>8.1f} {r['rounds']:>6} {r['peak_gb']:>8.2f} {gap:>7.4%} "
              f"{lost:>14.1%} {r['lagrangian'] / r['greedy']:>11.3f} {r['feasible']}{grow}")  # fmt: skip
        figures[f"{n:,} (scale)"] = {
            "ours (Lagrangian)": r["lagrangian"],
            "gap": f"<= {gap:.4%}",
            "ours / greedy": r["lagrangian"] / r["greedy"],
            "seconds ours": r["seconds"],
            "rounds": r["rounds"],
            "peak GB": r["peak_gb"],
            "lost to limits": f"{lost:.1%}",
            "feasible": r["feasible"],
        }
        previous = r
    return figures


if __name__ == "__main__":
    main()
