"""LightGBM training speed on this machine: how long a response model takes at 1M and 5M
contacts, how fast the booster scores, how many Optuna trials fit in a minute, and what
the lightgbm.dask path costs against local training, all in one run.

    .venv/bin/python benchmarks/training.py [--rows 1000000 5000000] [--features 120] [--trials 5]
                                            [--rounds 50]
    .venv/bin/python benchmarks/training.py --quick      # 200k rows, 2 trials, 20 rounds: a smoke run

The contacts are synthetic but shaped like ours (float features with missing values, the
request channel as a categorical 0..4, a ~5% response rate with a logistic signal), so the
figures do not wait for a simulated bank. Training uses the project's `fit()` with its
defaults and `TrainConfig(threads=2)`, a fixed number of rounds and no early stopping.

50 rounds by default keeps the run to about 6 minutes on 2 quiet cores (200 rounds: about 13);
boosting time grows linearly with rounds, so the table's "boost s" scales to any budget.
The machine is shared: the "others" column says how many cores other processes took meanwhile,
and figures measured beside a busy neighbour are not this machine's speed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from training.config import TrainConfig

CHUNK = 250_000
PREDICT_ROWS = 250_000  # the rate hardly depends on the batch size past this


def contacts(n: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """float32 features (column 0: the request channel) and a ~5% label, built in chunks (flat memory)."""
    rng = np.random.default_rng(seed)
    rates = np.random.default_rng(0).uniform(0.0, 0.3, features - 1).astype(np.float32)
    coef = np.zeros(features - 1, dtype=np.float32)
    coef[:12] = np.random.default_rng(1).normal(0, 0.5, 12)
    x = np.empty((n, features), dtype=np.float32)
    score = np.empty(n, dtype=np.float32)
    for start in range(0, n, CHUNK):
        m = min(CHUNK, n - start)
        channel = rng.integers(0, 5, m)
        block = rng.standard_normal((m, features - 1), dtype=np.float32)
        score[start : start + m] = (np.nan_to_num(block[:, :12] * coef[:12]).sum(axis=1)
                                    + 0.4 * np.nan_to_num(block[:, 0] * block[:, 1])
                                    + np.array([0.0, -0.5, 0.6, -0.2, 0.3])[channel])  # fmt: skip
        block[rng.random(block.shape, dtype=np.float32) < rates] = np.nan
        x[start : start + m, 0], x[start : start + m, 1:] = channel, block
    lo, hi = -10.0, 5.0  # intercept for a 5% positive rate, by bisection on a sample
    sample = score[:: max(1, n // 200_000)]
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(1 / (1 + np.exp(-(mid + sample)))) < 0.05 else (lo, mid)
    y = (rng.random(n) < 1 / (1 + np.exp(-(lo + score)))).astype(np.int8)
    return x, y, ["req_channel", *(f"f{j:03d}" for j in range(1, features))]


def as_dataset(x: np.ndarray, y: np.ndarray, columns: list[str]) -> lgb.Dataset:
    """`training.models.dataset()` from a float32 matrix (dataset() builds float64: 4.8 GB at 5M x 120)."""
    return lgb.Dataset(
        x, label=y, feature_name=columns, categorical_feature=["req_channel"], free_raw_data=False,
        params={"feature_pre_filter": False, "verbosity": -1},
    )  # fmt: skip


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds used so far by the whole machine and by this process (Linux)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except OSError:
        return float("nan"), 0.0
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    own = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


OTHERS: list[float] = []  # cores used by other processes during each timed phase


def timed(fn, *args: Any, **kwargs: Any) -> tuple[Any, float]:  # type: ignore[no-untyped-def]
    """Result and wall seconds; notes how busy the rest of the machine was meanwhile (a shared box
    makes LightGBM's OpenMP threads wait for each other, so a busy neighbour skews every figure)."""
    (busy, own), began = cpu_seconds(), time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - began
    busy_after, own_after = cpu_seconds()
    OTHERS.append(max(0.0, (busy_after - busy) - (own_after - own)) / seconds)
    return out, seconds


def train(
    x: np.ndarray, y: np.ndarray, columns: list[str], cfg: TrainConfig
) -> tuple[lgb.Booster, float, float]:
    """Booster, binning seconds, boosting seconds."""
    from training.models import fit

    data = as_dataset(x, y, columns)
    _, binning = timed(data.construct)
    booster, boosting = timed(fit, data, None, {}, cfg)
    return booster, binning, boosting


def optuna_rate(
    x: np.ndarray, y: np.ndarray, columns: list[str], trials: int, seed: int
) -> tuple[float, str]:
    """Trials per minute with the project's search space, pruner and a 100-round budget (no MLflow)."""
    import optuna

    from training.config import SearchSpace, TrainConfig
    from training.models import fit
    from training.tuning import REPORT_EVERY, _pruning_callback, suggest

    cut = int(len(y) * 0.8)  # the validation rows come after the training rows, as in the time split
    dtrain = as_dataset(x[:cut], y[:cut], columns)
    dvalid = as_dataset(x[cut:], y[cut:], columns)
    dtrain.construct()  # binned before the clock starts: in tune_response only the first trial pays for it
    cfg = TrainConfig(threads=2, seed=seed, search=SearchSpace(max_rounds=100))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, trials)),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=3 * REPORT_EVERY),
    )

    def objective(trial: optuna.Trial) -> float:
        booster = fit(dtrain, dvalid, suggest(trial, cfg.search), cfg, callbacks=[_pruning_callback(trial)])
        return float(booster.best_score["valid_0"]["binary_logloss"])

    _, seconds = timed(study.optimize, objective, n_trials=trials)
    states = pd.Series([t.state.name.lower() for t in study.trials]).value_counts()
    return trials / seconds * 60, ", ".join(f"{v} {k}" for k, v in states.items())


def main() -> None:
    from results_file import write_result  # before this folder leaves sys.path (below)

    # This file shares its name with the `training` package, and a script's folder comes first on
    # sys.path: drop it so `import training` finds the package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from sklearn.metrics import roc_auc_score

    from training.config import SearchSpace, TrainConfig
    from training.distributed import fit_response_dask

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--features", type=int, default=120)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=50, help="boosting rounds of the timed trainings")
    parser.add_argument("--quick", action="store_true", help="200k rows, 2 trials, 20 rounds: a smoke run")
    args = parser.parse_args()
    rows, trials, rounds = ([200_000], 2, 20) if args.quick else (sorted(args.rows), args.trials, args.rounds)
    cfg = TrainConfig(threads=2, search=SearchSpace(max_rounds=rounds))
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; lightgbm {lgb.__version__}; "
          f"{args.features} features, {rounds} rounds, {cfg.threads} threads")  # fmt: skip
    x_test, y_test, _ = contacts(200_000, args.features, seed=99)

    table, lines = [], []
    for n in rows:
        (x, y, columns), gen = timed(contacts, n, args.features, seed=n)
        print(f"{n:,} rows generated in {gen:.0f} s: {x.nbytes / 1e9:.1f} GB, {y.mean():.1%} positive")
        mark = len(OTHERS)
        booster, binning, boosting = train(x, y, columns, cfg)
        m = min(n, PREDICT_ROWS)
        _, predicting = timed(booster.predict, x[:m], num_threads=cfg.threads)
        local = binning + boosting
        table.append((n, binning, boosting, local, n / local, m / predicting, max(OTHERS[mark:])))
        lines.append(f"train {n:,} rows, {rounds} rounds: {local:.1f} s = {n / local:,.0f} rows/s "
                     f"(boosting {n * rounds / boosting / 1e6:.2f}M row-rounds/s)")  # fmt: skip
        lines.append(f"predict with the {n:,}-row booster: {m / predicting:,.0f} rows/s ({m:,} rows)")
        if n == rows[0]:
            rate, states = optuna_rate(x, y, columns, trials, cfg.seed)
            lines.append(f"optuna on {n:,} rows (80/20, <=100 rounds, median pruner): {rate:.2f} trials/min "
                         f"({states}; others used {OTHERS[-1]:.2f} cores)")  # fmt: skip
            frame = pd.DataFrame(x, columns=columns, copy=False).assign(responded=y)
            dask_booster, dask_s = timed(fit_response_dask, frame, columns, "responded", {}, cfg)
            auc = [roc_auc_score(y_test, b.predict(x_test)) for b in (booster, dask_booster)]
            lines.append(f"dask 2 workers x 1 thread, {n:,} rows: {dask_s:.1f} s vs local {local:.1f} s = "
                         f"{dask_s / local:.2f}x (others used {OTHERS[-1]:.2f} cores); "
                         f"held-out AUC {auc[1]:.4f} vs local {auc[0]:.4f}")  # fmt: skip
            del frame, dask_booster
        del x, y, booster

    head = ("rows", "bin s", "boost s", "train s", "train rows/s", "pred rows/s", "others")
    print("\n{:>11} {:>7} {:>8} {:>8} {:>13} {:>12} {:>7}".format(*head))
    for n, binning, boosting, local, rate, predict_rate, others in table:
        print(f"{n:>11,} {binning:>7.1f} {boosting:>8.1f} {local:>8.1f} {rate:>13,.0f} {predict_rate:>12,.0f}"
              f" {others:>7.2f}")  # fmt: skip
    print(
        f"(others: cores used by other processes, worst timed phase; {np.nanmean(OTHERS):.2f} on average)\n"
    )
    print("\n".join(lines))
    figures = {
        f"{n:,} rows": {
            "bin s": binning,
            "boost s": boosting,
            "train s": local,
            "train rows/s": rate,
            "predict rows/s": predict_rate,
            "others (cores)": others,
        }
        for n, binning, boosting, local, rate, predict_rate, others in table
    }
    write_result("training", figures, notes="; ".join(lines))


if __name__ == "__main__":
    main()
