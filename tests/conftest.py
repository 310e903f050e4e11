"""Shared fixtures: small simulated worlds, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from optichannel.settings import Settings
from simulator.generate import generate_world
from simulator.world import WorldConfig

SMALL_WORLD = WorldConfig(customers=2000, days=120, seed=11)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2,000-customer x 120-day bank (about 2 s to generate)."""
    out = tmp_path_factory.mktemp("world")
    generate_world(SMALL_WORLD, out)
    return out


@pytest.fixture(scope="session")
def small_world_config() -> WorldConfig:
    """The config `small_world` was generated with."""
    return SMALL_WORLD


@pytest.fixture(scope="session")
def local_store(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """`small_world` validated, its features built, the Feast repo applied and materialized."""
    from features import store
    from features.build import build_features
    from features.validation import validate_feeds

    settings = Settings(data_dir=tmp_path_factory.mktemp("store"), show_progress=False)
    validate_feeds(small_world, settings.validated_dir, as_of="2030-01-01", progress=False)
    build_features(settings.validated_dir, settings.features_dir, progress=False)
    store.apply(settings)
    store.materialize(settings)
    return settings


@pytest.fixture(scope="session")
def champion(local_store: Settings, small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A quickly tuned model trained on `small_world`, registered and promoted to champion in a
    private MLflow store: `settings` (pointing at it), `result` (the TrainResult), `reports`."""
    from training.config import Evaluation, SearchSpace, Split, TrainConfig
    from training.train import run

    # few trials, but the default learning rates: a crippled model would not show the patterns
    fast = TrainConfig(
        trials=2,
        split=Split(valid_days=14, test_days=14),
        search=SearchSpace(max_rounds=400, early_stopping=30),
        evaluation=Evaluation(customers=400, times=2, window_hours=48),
    )
    root = tmp_path_factory.mktemp("mlflow")
    settings = local_store.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{root}/mlflow.db"})
    result = run(settings, fast, small_world, root / "reports", progress=False, log=lambda m: None)
    return {"settings": settings, "result": result, "reports": root / "reports", "config": fast}
