"""The simulated deployment against its targets: does the loop beat the heuristic on the same
decisions, rise week over week, recover customers whose best channel moved, and estimate itself
honestly on its own logs? The heuristic is measured in the same run, on the very decision moments
the service decided (the truth judges; it chooses nothing).

    .venv/bin/python benchmarks/deployment.py                      # 8 weeks, 2,000 customers
    .venv/bin/python benchmarks/deployment.py --window-hours 14    # the campaign day only

Writes `benchmarks/results/deployment.json` (`deployment_<window>h.json` for another window) and the report
under `reports/deployment-benchmark/`.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]

#: the issue's targets, printed beside the figures
TARGET_MARGIN = 0.3
TARGET_EFFECTIVE = 2000
TARGET_RECOVERY_WEEKS = 3


def weekly_rows(decisions: pd.DataFrame, gap: pd.DataFrame) -> dict[str, dict[str, object]]:
    """One row per week: each arm's true value per decision, the heuristic and the oracle on the
    service's own decisions, and where the service's regret goes."""
    from pipeline.deployment.summary import weekly

    week = weekly(decisions)["value"].unstack("arm")
    rows: dict[str, dict[str, object]] = {}
    for w in week.index:
        g = gap.loc[w] if w in gap.index else pd.Series(dtype=float)
        rows[f"week {w}"] = {
            "service": week.loc[w].get("model"), "business as usual": week.loc[w].get("bau"),
            "holdout": week.loc[w].get("holdout"), "service (truth grid)": g.get("served"),
            "heuristic, same decisions": g.get("heuristic"), "oracle, same window": g.get("oracle"),
            "greedy − heuristic": g.get("greedy", float("nan")) - g.get("heuristic", float("nan")),
            "regret: contact / channel / hour": "{:.3f} / {:.3f} / {:.3f}".format(
                g.get("contact_loss", float("nan")), g.get("channel_loss", float("nan")),
                g.get("hour_loss", float("nan"))),
            "exploration cost": g.get("exploration_cost"),
        }  # fmt: skip
        rows[f"week {w}"] = {
            k: round(v, 3) if isinstance(v, float) else v for k, v in rows[f"week {w}"].items()
        }
    return rows


def targets(decisions: pd.DataFrame, ope: dict[str, float], minutes: float, weeks: int) -> list[str]:
    """The issue's targets, each met or NOT MET in words, from the decisions and the own-logs row."""
    from pipeline.deployment.drift import after_drift, recovery_weeks
    from pipeline.deployment.summary import closer_to_oracle, heuristic_margin, rise

    margin, rose, closer = heuristic_margin(decisions), rise(decisions), closer_to_oracle(decisions)
    recovery = recovery_weeks(after_drift(decisions))
    lines = []
    if margin:
        ok = margin["value"] >= TARGET_MARGIN and margin["lo"] > 0
        lines.append(f"weeks 5-8, service − heuristic on the same decisions: {margin['value']:+.3f} "
                     f"[{margin['lo']:+.3f}, {margin['hi']:+.3f}] (target ≥ +{TARGET_MARGIN}, "
                     f"interval above 0): {'met' if ok else 'NOT MET'}")  # fmt: skip
    for name, got in (("rise, weeks 5-8 minus 1-4 paired by customer", rose),
                      ("less regret to the oracle, weeks 5-8 against 1-4, paired", closer)):  # fmt: skip
        if got:
            met = "met" if got["lo"] > 0 else "NOT MET"
            lines.append(f"{name}: {got['value']:+.3f} [{got['lo']:+.3f}, {got['hi']:+.3f}]: {met}")
    if ope:
        covers = ope["lo"] <= ope.get("true_value", float("nan")) <= ope["hi"]
        met = "met" if covers and ope["effective_n"] >= TARGET_EFFECTIVE else "NOT MET"
        lines.append(f"own-logs estimate {ope['estimate']:.3f} [{ope['lo']:.3f}, {ope['hi']:.3f}] vs true "
                     f"{ope.get('true_value', float('nan')):.3f}, effective n {ope['effective_n']:,.0f}: "
                     f"{met}")  # fmt: skip
    met = "met" if recovery and recovery <= TARGET_RECOVERY_WEEKS else "NOT MET"
    lines.append(f"drifted customers back to 80% of the others' capture in week {recovery} after the move "
                 f"(target ≤ {TARGET_RECOVERY_WEEKS}): {met}")  # fmt: skip
    lines.append(f"{minutes:.1f} min for {weeks} weeks (target: under 30)")
    return lines


def main() -> None:
    import json

    from pipeline.deployment.gap import weekly_gap
    from pipeline.deployment.loop import DeploymentConfig, run_deployment
    from pipeline.deployment.report import write_report

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--window-hours", type=int, default=72, help="14: the campaign day only")
    parser.add_argument("--work", type=Path, default=Path("data/deployment-benchmark"))
    parser.add_argument("--rescore", action="store_true",
                        help="re-read the last run's report and decisions, not run again")  # fmt: skip
    args = parser.parse_args()
    suffix = "" if args.window_hours == 72 else f"_{args.window_hours}h"
    out = ROOT / "reports" / f"deployment-benchmark{suffix}"
    if args.rescore:
        decisions = pd.read_parquet(out / "decisions.parquet")
        payload = json.loads((out / "report.json").read_text())
        last = json.loads((ROOT / "benchmarks" / "results" / f"deployment{suffix}.json").read_text())
        minutes = float(re.search(r"([0-9.]+) min for", last["notes"]).group(1))  # type: ignore[union-attr]
    else:
        cfg = DeploymentConfig(customers=args.customers, days=7 * args.weeks, window_hours=args.window_hours,
                               work=args.work)  # fmt: skip
        began = time.perf_counter()
        dep = run_deployment(cfg, say=lambda line: print(line, flush=True))
        minutes = (time.perf_counter() - began) / 60
        payload, decisions = write_report(dep, out), dep.decisions
    ope = (payload["ope"] or {}).get("champion", {})
    lines = targets(decisions, ope, minutes, args.weeks)
    for line in [*payload["verdicts"], *lines]:
        print(line)
    figures = weekly_rows(decisions, weekly_gap(decisions))
    from benchmarks.results_file import write_result

    write_result(f"deployment{suffix}", figures, notes="; ".join(lines))


if __name__ == "__main__":
    main()
