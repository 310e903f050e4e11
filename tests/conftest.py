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
