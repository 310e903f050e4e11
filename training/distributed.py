"""The response model trained with `lightgbm.dask`, for data that outgrows one machine.

`fit()` trains on one process; this trains the same model (same parameters, same features,
same weights) data-parallel across Dask workers. With no client it starts a two-worker
`LocalCluster` (useful for tests and benchmarks); point `client` at a real cluster and the
same code scales past one machine. It returns a plain `lgb.Booster`, so NextBestChannelModel,
saving and serving do not know which path trained it.
"""

from __future__ import annotations

import itertools
import warnings
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from optichannel.model_bundle import feature_matrix
from training.config import TrainConfig
from training.models import BASE_PARAMS, DEFAULT_PARAMS, weights

if TYPE_CHECKING:
    import distributed

# lgb.train settings the sklearn estimator takes elsewhere (rounds, threads, seed) or that need a
# validation set this path does not have (early stopping).
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


def fit_response_dask(
    frame: pd.DataFrame,
    columns: list[str],
    label: str,
    params: dict[str, Any],
    cfg: TrainConfig,
    client: distributed.Client | None = None,
    partitions: int = 2,
) -> lgb.Booster:
    """A booster trained data-parallel on Dask workers (a local 2-worker cluster without `client`)."""
    import dask.array as da
    from distributed import Client, LocalCluster
    from lightgbm.dask import DaskLGBMClassifier

    cluster = None
    if client is None:
        # Threads, not processes: LightGBM's network state is per thread, the workers start in well under
        # a second instead of re-importing sklearn/scipy (~10 s each here), and callers need no
        # `if __name__ == "__main__"` guard. A real cluster passes its own client.
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        client = Client(cluster)
    try:
        x = feature_matrix(frame, columns)
        y = frame[label].to_numpy()
        w = weights(frame, cfg)
        bounds = np.linspace(0, len(frame), partitions + 1).astype(int)
        slices = [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]

        workers = sorted(client.nthreads())

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
                spread(x), spread(y), sample_weight=spread(w) if w is not None else None,
                feature_name=columns,
                categorical_feature=[c for c in ("req_channel", "action") if c in columns],
            )  # fmt: skip
        return model.booster_
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
