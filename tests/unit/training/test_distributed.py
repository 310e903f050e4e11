"""The lightgbm.dask path trains the same model as `fit()`: same parameters, features and quality,
early-stopped at the same round; `optichannel train` reaches the cluster its setting names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from optichannel.model_bundle import feature_matrix
from optichannel.settings import Settings
from training import distributed, train
from training.config import SearchSpace, TrainConfig
from training.distributed import (
    LOCAL,
    backend_tag,
    best_round,
    dask_client,
    fit_response_dask,
    sklearn_params,
)
from training.lgb_params import BASE_PARAMS, DEFAULT_PARAMS
from training.models import dataset, fit

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


ES_CFG = TrainConfig(threads=2, search=SearchSpace(max_rounds=400, early_stopping=30))


def _parts(seed: int = 5) -> tuple[lgb.Dataset, lgb.Dataset, pd.DataFrame]:
    """Train, validation (as `models.dataset` builds them) and held-out rows of one synthetic world."""
    frame = _contacts(8000, seed)
    train, valid, held_out = frame.iloc[:5000], frame.iloc[5000:6500], frame.iloc[6500:]
    return dataset(train, COLUMNS, "responded", None), dataset(valid, COLUMNS, "responded", None), held_out


def test_best_round_is_where_lightgbm_early_stopping_stops() -> None:
    dtrain, dvalid, _ = _parts()
    stopped = fit(dtrain, dvalid, {}, ES_CFG)
    full = lgb.train({**BASE_PARAMS, **DEFAULT_PARAMS, "seed": ES_CFG.seed, "num_threads": 2}, dtrain,
                     num_boost_round=ES_CFG.search.max_rounds)  # fmt: skip
    assert stopped.best_iteration < ES_CFG.search.max_rounds  # early stopping did stop
    assert best_round(full, dvalid, ES_CFG.search.early_stopping) == stopped.best_iteration


def test_callbacks_need_the_local_fit() -> None:
    dtrain, dvalid, _ = _parts()
    with pytest.raises(ValueError, match="callbacks"):
        fit(dtrain, dvalid, {}, ES_CFG, callbacks=[lambda env: None], client=object())  # type: ignore[arg-type]


@pytest.mark.slow
def test_fit_on_a_dask_cluster_matches_the_local_early_stopped_model() -> None:
    dtrain, dvalid, held_out = _parts()
    local = fit(dtrain, dvalid, {}, ES_CFG)
    with dask_client(LOCAL) as client:
        assert client is not None and len(client.nthreads()) == 2
        remote = fit(dtrain, dvalid, {}, ES_CFG, client=client)

    x, y = feature_matrix(held_out, COLUMNS), held_out["responded"].to_numpy()
    auc_local, auc_remote = roc_auc_score(y, local.predict(x)), roc_auc_score(y, remote.predict(x))
    assert auc_local > 0.7 and abs(auc_remote - auc_local) < 0.03
    # cut at the emulated early-stopping round, not trained to max_rounds
    assert remote.num_trees() == remote.best_iteration < ES_CFG.search.max_rounds
    assert abs(remote.num_trees() - local.num_trees()) <= 10
    assert remote.feature_name() == COLUMNS


def test_dask_client_opens_and_closes_what_the_setting_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with dask_client(None) as none:
        assert none is None
    with dask_client(LOCAL) as client:
        assert client is not None and client.status == "running" and len(client.nthreads()) == 2
    assert client.status == "closed"
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", "1s")
    unreachable = pytest.raises(ConnectionError, match=r"tcp://127\.0\.0\.1:9 \(OPTICHANNEL_DASK_SCHEDULER\)")
    with unreachable, dask_client("tcp://127.0.0.1:9"):
        pass


def test_the_setting_and_the_backend_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTICHANNEL_DASK_SCHEDULER", "tcp://10.0.0.5:8786")
    address = Settings(_env_file=None).dask_scheduler  # type: ignore[call-arg]
    assert address == "tcp://10.0.0.5:8786" and backend_tag(address) == "dask:tcp://10.0.0.5:8786"
    monkeypatch.delenv("OPTICHANNEL_DASK_SCHEDULER")
    assert Settings(_env_file=None).dask_scheduler is None and backend_tag(None) == "local"  # type: ignore[call-arg]


def test_train_run_opens_the_configured_cluster_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """`train.run` reaches the cluster before any work, hands the client on, and closes it (the MLflow
    tag of a whole run is checked in tests/integration/test_training.py)."""
    seen: list[tuple[str, int] | None] = []

    def fake_run(*args: Any) -> None:
        client = args[-1]
        seen.append(None if client is None else (client.status, len(client.nthreads())))
        if client is not None:
            seen.append(client)

    monkeypatch.setattr(train, "_run", fake_run)
    train.run(Settings(dask_scheduler=LOCAL), ES_CFG, None, Path("unused"))
    assert seen[0] == ("running", 2) and seen[1].status == "closed"
    seen.clear()
    train.run(Settings(dask_scheduler=None), ES_CFG, None, Path("unused"))
    assert seen == [None]
