"""LightGBM fitting for the response model and the conversion meta-learners (S and T).

S-learner: one booster with the action (none included) as a feature. T-learner: one
booster per action. Mediated: conversion through the response. Which one wins is decided
on the logged decisions' estimated value (`training.policy_value`), not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.request_features import CHANNEL_SPECIFIC
from optichannel.channels import ACTIONS, NO_CONTACT
from optichannel.model_bundle import IGNORED, NextBestChannelModel, feature_matrix, responded_booster
from training.config import TrainConfig
from training.dataset import TrainingFrame
from training.distributed import fit_dask
from training.lgb_params import BASE_PARAMS, CONVERSION_PARAMS, DEFAULT_PARAMS, weights

if TYPE_CHECKING:
    import distributed

NONE_CODE = NO_CONTACT
#: the response's direction in features where any bank's customers agree on it (more awake at the
#: hour, more responsive on the channel, less tired: likelier to respond); the trees then spend
#: their data on everything else. On the 20,000-customer benchmark world (seed 8, two bagging
#: seeds) response capture rose 0.864 -> 0.870-0.875 and value capture 0.849-0.852 -> 0.860-0.863.
MONOTONE: dict[str, int] = {
    "req_activity_at_hour": 1,
    "req_activity_next_3h": 1,
    "req_reach": 1,
    "req_channel_response_rate": 1,
    "req_fatigue": -1,
}


def response_params(columns: list[str], cfg: TrainConfig) -> dict[str, Any]:
    """The parameters every response fit adds to its own: the MONOTONE constraints when asked."""
    if not cfg.monotone:
        return {}
    return {"monotone_constraints": [MONOTONE.get(c, 0) for c in columns]}


def dataset(frame: pd.DataFrame, columns: list[str], label: str, w: np.ndarray | None) -> lgb.Dataset:
    return lgb.Dataset(
        feature_matrix(frame, columns), label=frame[label].to_numpy(), weight=w, feature_name=columns,
        categorical_feature=[c for c in ("req_channel", "action") if c in columns],
        free_raw_data=False, params={"feature_pre_filter": False, "verbosity": -1},
    )  # fmt: skip


def fit(
    train: lgb.Dataset,
    valid: lgb.Dataset | None,
    params: dict[str, Any],
    cfg: TrainConfig,
    callbacks: list[Callable[..., None]] | None = None,
    client: distributed.Client | None = None,
) -> lgb.Booster:
    """Boost until the validation loss stops improving (or `max_rounds` without validation).

    The one entry point of every fit: with a Dask `client` the same fit runs on its workers
    (`training.distributed.fit_dask`, early stopping emulated), otherwise in this process."""
    if client is not None:
        if callbacks:
            raise ValueError("callbacks (e.g. Optuna pruning) need the local fit; pass no Dask client")
        return fit_dask(train, valid, params, cfg, client)
    full = {**BASE_PARAMS, **DEFAULT_PARAMS, **params, "seed": cfg.seed, "num_threads": cfg.threads}
    cbs = list(callbacks or [])
    if valid is not None:
        cbs.append(lgb.early_stopping(cfg.search.early_stopping, verbose=False))
    return lgb.train(
        full, train, num_boost_round=cfg.search.max_rounds,
        valid_sets=[valid] if valid is not None else None, callbacks=cbs,
    )  # fmt: skip


def fit_response(
    tf: TrainingFrame, params: dict[str, Any], cfg: TrainConfig, client: distributed.Client | None = None
) -> lgb.Booster:
    train, valid = tf.part("train", "responded"), tf.part("valid", "responded")
    cols = tf.response_features
    return fit(
        dataset(train, cols, "responded", weights(train, cfg)),
        dataset(valid, cols, "responded", None),
        {**params, **response_params(cols, cfg)},
        cfg,
        client=client,
    )


def fit_conversion(
    tf: TrainingFrame,
    learner: str,
    params: dict[str, Any],
    cfg: TrainConfig,
    client: distributed.Client | None = None,
) -> dict[str, lgb.Booster]:
    """The conversion booster(s) of one meta-learner, early-stopped on the validation weeks."""
    train, valid = tf.part("train", "converted"), tf.part("valid", "converted")
    cols = tf.conversion_features
    params = {**CONVERSION_PARAMS, **params}
    if learner == "s":
        return {
            "all": fit(
                dataset(train, cols, "converted", weights(train, cfg)),
                dataset(valid, cols, "converted", None),
                params,
                cfg,
                client=client,
            )
        }
    if learner == "m":
        return fit_mediated(train, valid, cols, params, cfg, client)
    if learner != "t":
        raise ValueError(f"unknown meta-learner {learner!r}; expected 's', 't' or 'm'")
    boosters = {}
    for code, name in enumerate(ACTIONS):
        tr, va = train[train["action"] == code], valid[valid["action"] == code]
        if tr["converted"].nunique() < 2:
            raise ValueError(f"T-learner: action {name!r} has no conversions (or only) in training data")
        boosters[name] = fit(
            dataset(tr, cols, "converted", weights(tr, cfg)),
            dataset(va, cols, "converted", None) if va["converted"].nunique() == 2 else None,
            {**params, "min_child_samples": max(params.get("min_child_samples", 100), 50)},
            cfg,
            client=client,
        )
    return boosters


def fit_mediated(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    cols: list[str],
    params: dict[str, Any],
    cfg: TrainConfig,
    client: distributed.Client | None = None,
) -> dict[str, lgb.Booster]:
    """The conversion boosters of the mediated learner (`model_bundle.IGNORED`, then one per
    channel after a response, `model_bundle.responded_booster`). A channel whose responses never
    (or always) converted in the training weeks, as on a small bank's rare channel, borrows the
    booster of every channel's responses (the channel is one of its inputs)."""
    groups = {IGNORED: lambda f: (f["responded"] == 0.0) | (f["action"] == NONE_CODE)}
    for code in range(len(ACTIONS)):
        if code != NONE_CODE:
            groups[responded_booster(code)] = lambda f, c=code: (f["responded"] == 1.0) & (f["action"] == c)
    pooled = lambda f: (f["responded"] == 1.0) & (f["action"] != NONE_CODE)  # noqa: E731
    boosters = {}
    for name, rows in groups.items():
        tr, va = train[rows(train)], valid[rows(valid)]
        if name != IGNORED and tr["converted"].nunique() < 2:
            tr, va = train[pooled(train)], valid[pooled(valid)]
        if tr["converted"].nunique() < 2:
            raise ValueError(f"mediated learner: no conversions (or only) for {name} in the training weeks")
        boosters[name] = fit(
            dataset(tr, cols, "converted", weights(tr, cfg)),
            dataset(va, cols, "converted", None) if va["converted"].nunique() == 2 else None,
            params,
            cfg,
            client=client,
        )
    return boosters


def bundle(
    tf: TrainingFrame,
    response: lgb.Booster,
    conversion: dict[str, lgb.Booster],
    learner: str,
    meta: dict[str, Any],
) -> NextBestChannelModel:
    return NextBestChannelModel(
        response=response,
        conversion=conversion,
        learner=learner,
        response_features=tf.response_features,
        conversion_features=tf.conversion_features,
        none_blank=list(CHANNEL_SPECIFIC),
        meta=meta,
    )
