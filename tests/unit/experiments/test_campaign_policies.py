"""Pieces of the simulated campaign that need no world: arms, the random policy's exact truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from decision.baselines import random_allowed
from experiments.campaign import _random_rate, age_band, check_arms


def test_random_policy_truth_is_the_mean_over_allowed_options() -> None:
    rng = np.random.default_rng(3)
    n, k, h = 6, 5, 4
    truth = {"p_conversion": rng.random((n, k, h)), "p_none": rng.random(n)}
    allowed = rng.random((n, k, h)) < 0.3
    allowed[0] = False  # nothing allowed: no contact
    exact = _random_rate(truth, allowed)
    draws = np.zeros(n)
    for _ in range(4000):
        c = random_allowed(allowed, rng)
        rows = np.arange(n)
        picked = truth["p_conversion"][rows, np.where(c.contacted, c.channel, 0), c.slot]
        draws += np.where(c.contacted, picked, truth["p_none"])
    assert exact[0] == truth["p_none"][0]
    assert np.allclose(draws / 4000, exact, atol=0.02)


def test_arms_must_be_known_policies_with_the_control() -> None:
    assert check_arms({"model": 0.5, "bau": 0.5}) == {"model": 0.5, "bau": 0.5}
    with pytest.raises(ValueError, match="unknown policy magic"):
        check_arms({"model": 0.5, "magic": 0.5})
    with pytest.raises(ValueError, match="control arm 'bau' is not among"):
        check_arms({"model": 0.5, "holdout": 0.5})
    with pytest.raises(ValueError, match="sum to 1"):
        check_arms({"model": 0.5, "bau": 0.4})


def test_age_bands() -> None:
    at = pd.Timestamp("2026-05-01", tz="UTC")
    bands = age_band(pd.Series([2000, 1991, 1971, 1960, None]), at)
    assert bands.tolist() == ["under 35", "35-54", "55+", "55+", "unknown"]
