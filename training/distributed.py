"""LightGBM trained with `lightgbm.dask`, for data and fits that outgrow one machine.

`models.fit(..., client=...)` sends a final fit here (`optichannel train` does so when
`OPTICHANNEL_DASK_SCHEDULER` is set): the same model (same parameters, features, weights)
trained data-parallel across Dask workers, early-stopped like the local path. It returns a
plain `lgb.Booster`, so NextBestChannelModel, saving and serving do not know which path
trained it. `dask_client` opens what the setting names: nothing, an in-process two-worker
`LocalCluster` (`local`, for trying and tests) or a real scheduler.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from optichannel.model_bundle import feature_matrix
from training.config import TrainConfig
from training.lgb_params import BASE_PARAMS, DEFAULT_PARAMS, weights

if TYPE_CHECKING:
    import distributed

#: `OPTICHANNEL_DASK_SCHEDULER` value for an in-process cluster of two threaded workers
LOCAL = "local"
CONNECT_TIMEOUT = "10s"
# lgb.train settings the sklearn estimator takes elsewhere (rounds, threads, seed) or that a
# distributed fit cannot honour (early stopping; emulated afterwards by `best_round`).
_ROUNDS = ("num_boost_round", "max_rounds", "num_iterations", "n_iter", "num_rounds", "num_trees")
_DROP = ("num_threads", "n_jobs", "nthread", "seed", "random_state", "early_stopping_round",
         "early_stopping_rounds", "early_stopping", "n_estimators")  # fmt: skip


def sklearn_params(params: dict[str, Any], cfg: TrainConfig) -> dict[str, Any]:
    """`fit()`'s parameters spelled for the sklearn estimator."""
    full = {**BASE_PARAMS, **DEFAULT_PARAMS, **params}
    rounds = [full.pop(k) for k in _ROUNDS if k in full]
    for key in _DROP:
        full.pop(key, None)
    return {**full, "n_estimators": int(rounds[0]) if rounds else cfg.search.max_rounds,
            "random_state": cfg.seed}  # fmt: skip


def backend_tag(address: str | None) -> str:
    """The MLflow tag value saying which path trained a run's models."""
    return "local" if address is None else f"dask:{address}"


@contextmanager
def dask_client(address: str | None) -> Iterator[distributed.Client | None]:
    """The Dask client `address` asks for (None: no Dask), closed (with its cluster) on exit."""
    if address is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if address == LOCAL:
        # Threads, not processes: LightGBM's network state is per thread, workers start in well under a
        # second instead of re-importing sklearn/scipy (~10 s each), and no `__main__` guard is needed.
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"cannot reach the Dask scheduler at {address} (OPTICHANNEL_DASK_SCHEDULER): {exc}"
        ) from None
    with client:
        yield client


def best_round(booster: lgb.Booster, valid: lgb.Dataset, patience: int) -> int:
    """The round `lgb.early_stopping(patience)` would keep: the first lowest weighted log loss on the
    whole validation set, stopping once it has not improved for `patience` rounds.

    Computed here from the finished booster, one tree at a time, because `lightgbm.dask`'s
    `evals_result_` only scores the validation share of the worker that returned the model."""
    x, y = np.asarray(valid.data, dtype=float), np.asarray(valid.label, dtype=float)
    w = None if valid.weight is None else np.asarray(valid.weight, dtype=float)
    raw, best, best_loss = np.zeros(len(y)), 0, np.inf
    for i in range(booster.num_trees()):
        raw += booster.predict(x, raw_score=True, start_iteration=i, num_iteration=1)
        # log(1 + e^-z) for positives, log(1 + e^z) for negatives: LightGBM's binary_logloss
        loss = np.average(np.logaddexp(0.0, np.where(y > 0, -raw, raw)), weights=w)
        if loss < best_loss:
            best, best_loss = i + 1, loss
        elif i + 1 - best >= patience:
            break
    return best


def fit_dask(
    train: lgb.Dataset,
    valid: lgb.Dataset | None,
    params: dict[str, Any],
    cfg: TrainConfig,
    client: distributed.Client,
) -> lgb.Booster:
    """`models.fit` on Dask workers: up to `max_rounds`, then cut at `best_round` on `valid`."""
    columns = list(train.feature_name)
    booster = _train(
        client, np.asarray(train.data, dtype=float), np.asarray(train.label), train.weight,
        columns, train.categorical_feature, params, cfg,
    )  # fmt: skip
    if valid is None or len(np.asarray(valid.label)) == 0:
        return booster
    best = best_round(booster, valid, cfg.search.early_stopping)
    out = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    out.best_iteration = best  # as `lgb.train` leaves it after early stopping
    return out


def fit_response_dask(
    frame: pd.DataFrame,
    columns: list[str],
    label: str,
    params: dict[str, Any],
    cfg: TrainConfig,
    client: distributed.Client | None = None,
    partitions: int = 2,
) -> lgb.Booster:
    """A booster trained data-parallel on Dask workers (a local 2-worker cluster without `client`),
    for all rounds (no validation set: what `benchmarks/training.py` times)."""
    with dask_client(LOCAL if client is None else None) as local:
        return _train(
            client or local, feature_matrix(frame, columns), frame[label].to_numpy(), weights(frame, cfg),
            columns, [c for c in ("req_channel", "action") if c in columns], params, cfg, partitions,
        )  # fmt: skip


def _train(
    client: distributed.Client,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    columns: list[str],
    categorical: Any,
    params: dict[str, Any],
    cfg: TrainConfig,
    partitions: int | None = None,
) -> lgb.Booster:
    """Scatter the rows in contiguous parts over the workers and train on them (all rounds)."""
    import dask.array as da
    from lightgbm.dask import DaskLGBMClassifier

    workers = sorted(client.nthreads())
    bounds = np.linspace(0, len(x), (partitions or len(workers)) + 1).astype(int)
    slices = [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]

    def spread(values: np.ndarray) -> da.Array:
        # Part i of features, label and weight goes to the same worker, so each trains on its share
        # without moving data (and nothing large travels through the task graph).
        futures = [client.scatter(values[s], workers=[workers[i % len(workers)]])
                   for i, s in enumerate(slices)]  # fmt: skip
        return da.concatenate([
            da.from_delayed(f, shape=values[s].shape, dtype=values.dtype)
            for f, s in zip(futures, slices, strict=True)
        ])  # fmt: skip

    model = DaskLGBMClassifier(client=client, **sklearn_params(params, cfg))
    with warnings.catch_warnings():  # n_jobs is always in get_params(); Dask sets threads per worker
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        model.fit(
            spread(x), spread(y), sample_weight=spread(np.asarray(w)) if w is not None else None,
            feature_name=columns, categorical_feature=categorical,
        )  # fmt: skip
    return model.booster_
