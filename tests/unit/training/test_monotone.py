"""The response model's direction constraints: named after real request features, and obeyed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.request_features import REQUEST_FEATURES
from training.config import TrainConfig
from training.models import MONOTONE, dataset, fit, response_params

COLUMNS = ["req_fatigue", "req_reach", "noise"]


def test_every_constrained_feature_is_a_request_feature() -> None:
    # a renamed request feature would silently lose its constraint
    assert set(MONOTONE) <= set(REQUEST_FEATURES)
    assert MONOTONE["req_fatigue"] == -1 and MONOTONE["req_reach"] == 1


def test_constraints_follow_the_columns_and_the_switch() -> None:
    assert response_params(COLUMNS, TrainConfig()) == {"monotone_constraints": [-1, 1, 0]}
    assert response_params(COLUMNS, TrainConfig(monotone=False)) == {}


def _wiggly_fit(cfg: TrainConfig) -> np.ndarray:
    """Fit a label that falls then rises with fatigue; predictions along a fatigue sweep."""
    rng = np.random.default_rng(3)
    n = 20_000
    frame = pd.DataFrame({c: rng.uniform(0, 4, n) for c in COLUMNS})
    logit = -2 + np.sin(3 * frame["req_fatigue"]) + 0.5 * frame["req_reach"]
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    params = {"learning_rate": 0.1, "min_child_samples": 50, **response_params(COLUMNS, cfg)}
    booster = fit(
        dataset(frame, COLUMNS, "y", None),
        None,
        params,
        cfg.model_copy(update={"search": cfg.search.model_copy(update={"max_rounds": 60})}),
    )
    sweep = np.column_stack([np.linspace(0, 4, 200), np.full(200, 2.0), np.full(200, 2.0)])
    return booster.predict(sweep)


def test_the_constrained_response_never_rises_with_fatigue() -> None:
    free = np.diff(_wiggly_fit(TrainConfig(monotone=False)))
    held = np.diff(_wiggly_fit(TrainConfig()))
    assert free.max() > 0.01  # unconstrained, the trees follow the wiggle up again
    assert held.max() <= 1e-12
