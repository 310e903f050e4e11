"""Scale: wall time and peak memory of every batch stage at growing bank sizes.

    .venv/bin/python benchmarks/scale.py [--customers 100000 300000 1000000] [--days 90]
        [--stages simulate validate build materialize frame score] [--work DIR] [--json PATH]
        [--snapshots decisions|daily]

Each stage runs in its own process of the real `optichannel` command (the training frame, which
has no command of its own, in a small Python child calling `training.dataset.training_frame`), so
its figures are its own: peak memory is the resident memory of the stage's whole process tree
(workers included), sampled every 0.1 s from /proc, and never below the largest single process's
`ru_maxrss` from `wait4`. The growth factor between sizes (time and peak memory against
customers) is the point: bounded stages keep peak memory flat while time grows with the world.

Stages read the previous stage's output in `<work>/<customers>x<days>/` (OPTICHANNEL_DATA_DIR), so a
subset can run on an earlier run's `--work`. A stage whose input is missing, or that needs what
the machine lacks (the score needs a champion model: `make demo` or `optichannel train`), says so
and is skipped. The machine is shared: "others" is how many cores other processes took meanwhile.
The feature build writes decision-day snapshots by default (features/snapshot_grid.py: what the
training frame, materialize and a score of the newest day read, exactly); `--snapshots daily`
measures the daily grid.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("optichannel"))
STAGES = ("simulate", "validate", "build", "materialize", "frame", "score")
LABELS = {"build": "features build", "frame": "training frame"}
FRAME_CHILD = """
import sys
from features.store import open_store
from optichannel.settings import get_settings
from training.config import TrainConfig
from training.dataset import training_frame
settings, cfg = get_settings(), TrainConfig()
try:
    tf = training_frame(open_store(settings), settings.validated_dir, cfg.labels, cfg.split)
except (FileNotFoundError, ValueError) as exc:
    sys.exit(f"error: {exc}")
print(f"training frame: {len(tf.frame):,} rows x {tf.frame.shape[1]} columns")
"""
#: (customers, days) -> per-stage (seconds, MB) aims of issue 18, and the whole-path aim
TARGETS = {(100_000, 60): {"validate": (120, 2048), "build": (120, 2048)}}
PATH_TARGET = {(1_000_000, 90): (("simulate", "validate", "build", "materialize"), 1800, 6144)}


@dataclass
class Run:
    """One stage at one size: what it cost, or why it did not run."""

    customers: int
    days: int
    stage: str
    status: str = "ok"  # ok | failed: ... | skipped: ...
    seconds: float = float("nan")
    peak_mb: float = float("nan")
    cpu_s: float = float("nan")
    others: float = float("nan")  # cores other processes used meanwhile
    said: str = ""  # the command's last line of output


def tree_rss_kb(pid: int) -> int:
    """Resident memory of `pid` and all its descendants (kB; 0 once it is gone)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def measure(cmd: list[str], env: dict[str, str], log: Path) -> tuple[int, float, float, float, float]:
    """(exit code, wall s, peak MB of the process tree, child CPU s, other processes' cores)."""
    peak = [0]
    done = threading.Event()
    busy0, began = busy_seconds(), time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_rss_kb(proc.pid))
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, busy_seconds() - busy0 - cpu) / seconds
    return proc.returncode, seconds, max(peak[0], usage.ru_maxrss) / 1024, cpu, others


def last_line(log: Path, error: bool = False) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    if error:
        lines = [ln for ln in lines if ln.startswith("error:")] or lines
    return lines[-1][:160] if lines else ""


def score_inputs(data: Path) -> tuple[list[str] | None, str]:
    """The score stage's extra arguments (customer list, window start), or None and why not."""
    import duckdb

    uri = os.environ.get("OPTICHANNEL_MLFLOW_TRACKING_URI")
    default_db = ROOT / "mlflow" / "mlflow.db"
    if uri is None and not default_db.exists():
        return None, f"no champion model: no MLflow store at {default_db} (run `make demo` first)"
    profile, snaps = data / "validated" / "customers.parquet", data / "features" / "transactions.parquet"
    ids = data / "score_customers.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT customer_id FROM '{profile}') TO '{ids}' (FORMAT PARQUET)")
        (newest,) = con.execute(f"SELECT MAX(event_timestamp) FROM '{snaps}'").fetchone()
    at = f"{newest:%Y-%m-%d}T08:00"
    return ["--customers", str(ids), "--out", str(data / "decisions.parquet"), "--at", at], ""


def plan_stage(stage: str, n: int, days: int, data: Path) -> tuple[list[list[str]] | None, str]:
    """(commands: untimed set-up first, the timed one last), or None and why it cannot run."""
    world, validated, features = data / "world", data / "validated", data / "features"
    needs: dict[str, tuple[Path, str]] = {
        "validate": (world / "customers.parquet", "simulate"),
        "build": (validated / "report.json", "validate"),
        "materialize": (features / "_build.json", "build"),
        "frame": (features / "_build.json", "build"),
        "score": (features / "_build.json", "build"),
    }
    if stage in needs and not needs[stage][0].exists():
        return None, f"needs the {LABELS.get(needs[stage][1], needs[stage][1])} output ({needs[stage][0]})"
    apply = [CLI, "features", "apply"]
    commands: dict[str, Callable[[], list[list[str]]]] = {
        "simulate": lambda: [[CLI, "simulate", "-n", str(n), "-d", str(days), "-o", str(world), "-q"]],
        "validate": lambda: [[CLI, "validate", str(world), "--out", str(validated), "--quiet"]],
        "build": lambda: [[CLI, "features", "build", "--full", "--quiet"]],
        "materialize": lambda: [apply, [CLI, "features", "materialize"]],
        "frame": lambda: [apply, [sys.executable, "-c", FRAME_CHILD]],
    }
    if stage == "score":
        extra, why = score_inputs(data)
        return (None, why) if extra is None else ([[CLI, "score", *extra, "--quiet"]], "")
    return commands[stage](), ""


def run_stage(stage: str, n: int, days: int, data: Path) -> Run:
    run = Run(n, days, stage)
    cmds, why = plan_stage(stage, n, days, data)
    if cmds is None:
        run.status = f"skipped: {why}"
        return run
    env = os.environ | {"OPTICHANNEL_DATA_DIR": str(data), "OPTICHANNEL_SHOW_PROGRESS": "false"}
    env["COLUMNS"] = "200"  # rich wraps a pipe's output at 80 columns
    env.pop("OPTICHANNEL_FEATURES_DIR", None)
    log = data / f"{stage}.log"
    for setup in cmds[:-1]:
        if subprocess.run(setup, env=env, cwd=ROOT, capture_output=True, text=True).returncode:
            run.status = f"failed: set-up `{' '.join(setup[1:3])}`"
            return run
    code, run.seconds, run.peak_mb, run.cpu_s, run.others = measure(cmds[-1], env, log)
    run.said = last_line(log, error=code != 0)
    if code != 0:
        run.status = f"failed (exit {code}): {run.said}"
    return run


HEADER = f"  {'stage':<15} {'seconds':>8} {'peak MB':>8} {'cpu s':>7} {'others':>6}  last line or status"


def print_run(r: Run) -> None:
    tail = r.said if r.status == "ok" else r.status
    if r.seconds != r.seconds:  # NaN: it did not run
        print(f"  {LABELS.get(r.stage, r.stage):<15} {'-':>8} {'-':>8} {'-':>7} {'-':>6}  {tail}", flush=True)
        return
    print(f"  {LABELS.get(r.stage, r.stage):<15} {r.seconds:>8.1f} {r.peak_mb:>8.0f} {r.cpu_s:>7.1f} "
          f"{r.others:>6.2f}  {tail[:110]}", flush=True)  # fmt: skip


def print_growth(runs: list[Run], sizes: list[int]) -> None:
    """Time and peak-memory factors between consecutive sizes, next to the customers' factor."""
    ok = {(r.customers, r.stage): r for r in runs if r.status == "ok"}
    print("\ngrowth between sizes (time x / peak memory x, for customers x):")
    for small, big in itertools.pairwise(sizes):
        cells = [
            f"{LABELS.get(s, s)} {ok[big, s].seconds / ok[small, s].seconds:.2f}x / "
            f"{ok[big, s].peak_mb / ok[small, s].peak_mb:.2f}x"
            for s in STAGES
            if (small, s) in ok and (big, s) in ok
        ]
        print(f"  {small:,} -> {big:,} ({big / small:.1f}x): " + ("; ".join(cells) or "nothing to compare"))


def print_targets(runs: list[Run], days: int) -> None:
    ok = {(r.customers, r.stage): r for r in runs if r.status == "ok"}
    for (n, d), aims in TARGETS.items():
        for stage, (secs, mb) in aims.items():
            if d == days and (n, stage) in ok:
                r = ok[n, stage]
                met = r.seconds < secs and r.peak_mb < mb
                print(f"aim {n:,} x {d} days {LABELS.get(stage, stage)} < {secs} s and < {mb} MB: "
                      f"{r.seconds:.0f} s, {r.peak_mb:.0f} MB -> {'met' if met else 'NOT met'}")  # fmt: skip
    for (n, d), (stages, secs, mb) in PATH_TARGET.items():
        if d == days and all((n, s) in ok for s in stages):
            total = sum(ok[n, s].seconds for s in stages)
            peak = max(ok[n, s].peak_mb for s in stages)
            met = total < secs and peak < mb
            print(f"aim {n:,} x {d} days {' + '.join(stages)} < {secs // 60} min, every stage < {mb} MB: "
                  f"{total / 60:.1f} min, peak {peak:.0f} MB -> {'met' if met else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--work", type=Path, help="keep every size's data here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--snapshots", choices=("daily", "decisions"), default="decisions",
                        help="the feature build's snapshot days (OPTICHANNEL_FEATURE_SNAPSHOTS)")  # fmt: skip
    args = parser.parse_args()
    os.environ["OPTICHANNEL_FEATURE_SNAPSHOTS"] = args.snapshots  # every stage's process reads it
    stages = [s for s in STAGES if s in args.stages]
    sizes = sorted(args.customers)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        work = args.work or Path(tmp)
        for n in sizes:
            data = (work / f"{n}x{args.days}").resolve()
            data.mkdir(parents=True, exist_ok=True)
            print(f"\n{n:,} customers x {args.days} days, {args.snapshots} snapshots ({data})\n{HEADER}",
                  flush=True)  # fmt: skip
            for stage in stages:
                runs.append(run_stage(stage, n, args.days, data))
                print_run(runs[-1])
    if len(sizes) > 1:
        print_growth(runs, sizes)
    print_targets(runs, args.days)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    from results_file import write_result

    figures = {
        f"{r.customers:,} x {r.days}: {LABELS.get(r.stage, r.stage)}": {
            "wall s": r.seconds,
            "peak MB": r.peak_mb,
            "CPU s": r.cpu_s,
            "others (cores)": r.others,
            "status": r.status,
        }
        for r in runs
    }
    write_result("scale", figures, notes=f"{args.snapshots} snapshots")


if __name__ == "__main__":
    main()
