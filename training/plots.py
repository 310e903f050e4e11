"""Plots logged with every training run: calibration (against the truth when the world is
simulated, against observed outcomes otherwise) and the response model's feature importance."""

from __future__ import annotations

import numpy as np
import pandas as pd

from decision.engine import Engine
from optichannel.model_bundle import NextBestChannelModel
from training.dataset import TrainingFrame
from training.evaluation import Context

TOP_FEATURES = 25


def _binned(pred: np.ndarray, true: np.ndarray, bins: int = 15) -> tuple[np.ndarray, np.ndarray]:
    parts = np.array_split(np.argsort(pred, kind="stable"), bins)
    return np.array([pred[p].mean() for p in parts if len(p)]), np.array(
        [true[p].mean() for p in parts if len(p)]
    )


def log_plots(model: NextBestChannelModel, tf: TrainingFrame, ctx: Context | None) -> None:
    """Log `plots/calibration.png` and `plots/feature_importance.png` to the active MLflow run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow

    if ctx is not None:
        scored = Engine(model, ctx.rules).score(ctx.grid)
        pred, true = scored.p_response[ctx.allowed], ctx.truth["p_response"][ctx.allowed]
        against = "true P(response) (oracle)"
    else:
        test = tf.part("test", "responded")
        pred, true = model.p_response(test), test["responded"].to_numpy(dtype=float)
        against = "observed response rate (test weeks)"
    x, y = _binned(pred, true)
    fig, ax = plt.subplots(figsize=(5, 5))
    top = max(x.max(), y.max()) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="perfect")
    ax.plot(x, y, marker="o", label="model")
    ax.set(xlabel="predicted P(response)", ylabel=against, title="Calibration of the response model")
    ax.legend()
    mlflow.log_figure(fig, "plots/calibration.png")
    plt.close(fig)

    gain = pd.Series(model.response.feature_importance("gain"), index=model.response.feature_name())
    gain = gain.sort_values().tail(TOP_FEATURES)
    fig, ax = plt.subplots(figsize=(6, 7))
    ax.barh(gain.index, gain.to_numpy())
    ax.set(xlabel="total gain", title="Response model: top features")
    fig.tight_layout()
    mlflow.log_figure(fig, "plots/feature_importance.png")
    plt.close(fig)
