"""The MLflow pyfunc face of the model bundle, so the registry holds one servable model
(response and conversion together) with a signature, and any MLflow tool can score it.

Separate from `model_bundle` because importing MLflow costs seconds; only training and
serving import this module.
"""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from optichannel.model_bundle import ACTION, NextBestChannelModel

BUNDLE_ARTIFACT = "bundle"


class BundlePyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc predict: candidate rows (features + `action`) -> p_response, p_conversion."""

    bundle: NextBestChannelModel | None = None

    def load_context(self, context: Any) -> None:
        self.bundle = NextBestChannelModel.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        if self.bundle is None:
            raise RuntimeError("the model bundle was not loaded (load_context was not called)")
        action = model_input[ACTION].to_numpy(dtype=np.int64)
        return pd.DataFrame(
            {
                "p_response": self.bundle.p_response(model_input),
                "p_conversion": self.bundle.p_conversion(model_input, action),
            },
            index=model_input.index,
        )


def load_bundle(model_uri: str) -> NextBestChannelModel:
    """The bundle behind a registered model URI such as `models:/optichannel-nbc@champion`."""
    model = mlflow.pyfunc.load_model(model_uri)
    wrapper = model.unwrap_python_model()
    if not isinstance(wrapper, BundlePyfunc) or wrapper.bundle is None:
        raise TypeError(f"{model_uri} is not an optichannel next-best-channel model")
    return wrapper.bundle
