"""LightGBM's fixed settings and the training weights: shared by the local fit
(`training.models`), the Dask fit (`training.distributed`) and tuning, so both fits boost with
the very same parameters and neither module needs the other's internals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.config import TrainConfig

BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "binary_logloss",
    "verbosity": -1,
    "feature_pre_filter": False,  # one Dataset serves every Optuna trial
    "deterministic": True,
    "force_row_wise": True,
}
#: the S and T conversion learners are not tuned (the mediated one is); a faster rate keeps them quick
CONVERSION_PARAMS: dict[str, Any] = {"learning_rate": 0.1, "num_leaves": 15, "min_child_samples": 200}
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
}


def weights(frame: pd.DataFrame, cfg: TrainConfig) -> np.ndarray | None:
    """Inverse-propensity weights (clipped, mean 1) when the config asks for them."""
    if cfg.weighting == "none" or "propensity" not in frame:
        return None
    p = frame["propensity"].to_numpy(dtype=float)
    w = np.clip(1.0 / np.where(np.isfinite(p) & (p > 0), p, 1.0), 1.0, cfg.ips_clip)
    return w / w.mean()
