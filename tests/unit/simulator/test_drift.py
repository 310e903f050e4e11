"""Preference drift: off by default (the same world as before), and where it is on, the moved
customers' best channel changes on their drift day in the truth the oracle reports."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optichannel.channels import CHANNELS
from simulator.population import make_latent
from simulator.truth import US_PER_DAY, LatentArrays
from simulator.world import Drift, WorldConfig


def test_no_drift_is_the_world_it_always_was() -> None:
    plain = make_latent(WorldConfig(customers=300, seed=5))
    off = make_latent(WorldConfig(customers=300, seed=5, drift=Drift(share=0.0)))
    pd.testing.assert_frame_equal(plain, off)
    assert "drift_day" not in plain
    assert LatentArrays(plain).drifted(np.arange(3), np.zeros(3, dtype=np.int64), 0) is None


def test_drift_moves_the_best_channel_of_its_share_within_its_days() -> None:
    cfg = WorldConfig(customers=2000, seed=5, days=60, drift=Drift(share=0.25, first_day=20, last_day=40))
    latent = make_latent(cfg)
    moved = latent["drift_day"].to_numpy() >= 0
    assert 0.21 < moved.mean() < 0.29
    assert latent.loc[moved, "drift_day"].between(20, 39).all()
    before = latent[[f"aff_{c}" for c in CHANNELS]].to_numpy()
    after = latent[[f"aff2_{c}" for c in CHANNELS]].to_numpy()
    assert (before[moved].argmax(axis=1) != after[moved].argmax(axis=1)).all()
    np.testing.assert_array_equal(before[~moved], after[~moved])
    # the same traits otherwise: drift draws from a stream of its own
    plain = make_latent(WorldConfig(customers=2000, seed=5, days=60))
    pd.testing.assert_frame_equal(latent[plain.columns], plain)


def test_the_truth_switches_affinities_on_the_drift_day() -> None:
    cfg = WorldConfig(customers=500, seed=5, days=60, drift=Drift(share=0.5, first_day=10, last_day=11))
    lat = LatentArrays(make_latent(cfg))
    who = np.flatnonzero(lat.drift_day >= 0)[:3]
    day_before = np.full(3, cfg.start_us + 9 * US_PER_DAY)
    day_after = np.full(3, cfg.start_us + 10 * US_PER_DAY)
    assert not lat.drifted(who, day_before, cfg.start_us).any()
    assert lat.drifted(who, day_after, cfg.start_us).all()
    stayed = np.flatnonzero(lat.drift_day < 0)[:3]
    assert not lat.drifted(stayed, day_after, cfg.start_us).any()
