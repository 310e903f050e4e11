"""Shared fixtures: small simulated worlds, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

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
