"""The registered model's input example holds no real customer's row (income, spend): one
made-up row of medians, so the registry can be shared without leaking the bank's data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.tiny import tiny_model

from training import tracking


def test_the_input_example_is_not_a_customer_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.models import Model

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    mlflow.set_experiment("input-example")  # not the experiment an earlier test left active
    model = tiny_model()
    rng = np.random.default_rng(5)
    rows = pd.DataFrame(rng.integers(0, 24, (5, len(model.conversion_features))).astype(float) + 0.123456,
                        columns=model.conversion_features)  # fmt: skip
    try:
        with mlflow.start_run():
            version = tracking.log_and_register(model, rows, tmp_path)
            uri = f"models:/{tracking.MODEL_NAME}/{version}"
            example = Model.load(uri).load_input_example(mlflow.artifacts.download_artifacts(uri))
    finally:
        mlflow.set_tracking_uri(None)
    assert len(example) == 1
    real = {tuple(r) for r in rows.to_numpy()}
    assert tuple(example.to_numpy()[0]) not in real
    np.testing.assert_allclose(example.to_numpy()[0], rows.median().to_numpy())
