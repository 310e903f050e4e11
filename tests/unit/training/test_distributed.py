"""The lightgbm.dask path trains the same model as `fit()`: same parameters, features and quality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from optichannel.model_bundle import feature_matrix
from training.config import SearchSpace, TrainConfig
from training.distributed import fit_response_dask, sklearn_params
from training.models import BASE_PARAMS, DEFAULT_PARAMS, dataset, fit

COLUMNS = ["f0", "f1", "f2", "f3", "f4", "req_channel"]
CFG = TrainConfig(threads=2, search=SearchSpace(max_rounds=100))


def _contacts(n: int = 4000, seed: int = 3) -> pd.DataFrame:
    """A known logistic signal in two features and one channel, with missing values like ours."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(x.shape) < 0.05] = np.nan
    channel = rng.integers(0, 5, n)
    logit = -1.0 + 1.5 * np.nan_to_num(x[:, 0]) - np.nan_to_num(x[:, 1]) + 0.7 * (channel == 2)
    frame = pd.DataFrame(x, columns=COLUMNS[:5]).assign(req_channel=channel)
    return frame.assign(responded=(rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int))


def test_params_are_fits_spelled_for_sklearn() -> None:
    out = sklearn_params({"num_boost_round": 250, "num_threads": 8, "seed": 1, "num_leaves": 63}, CFG)
    assert out["n_estimators"] == 250 and out["random_state"] == CFG.seed and out["num_leaves"] == 63
    assert "num_threads" not in out and "seed" not in out and "num_boost_round" not in out
    assert {k: out[k] for k in BASE_PARAMS} == BASE_PARAMS
    assert sklearn_params({}, CFG)["n_estimators"] == CFG.search.max_rounds
    assert sklearn_params({}, CFG)["bagging_fraction"] == DEFAULT_PARAMS["bagging_fraction"]


@pytest.mark.slow
def test_dask_booster_matches_local_training() -> None:
    frame = _contacts()
    train, held_out = frame.iloc[:3000], frame.iloc[3000:]
    dask_booster = fit_response_dask(train, COLUMNS, "responded", {}, CFG)
    local_booster = fit(dataset(train, COLUMNS, "responded", None), None, {}, CFG)

    x, y = feature_matrix(held_out, COLUMNS), held_out["responded"].to_numpy()
    auc_dask = roc_auc_score(y, dask_booster.predict(x))
    auc_local = roc_auc_score(y, local_booster.predict(x))
    assert auc_dask > 0.7 and auc_local > 0.7
    assert abs(auc_dask - auc_local) < 0.03
    assert dask_booster.feature_name() == COLUMNS
    assert dask_booster.num_trees() == local_booster.num_trees() == 100
