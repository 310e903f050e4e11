"""The logging policy's propensities are the probabilities its draws actually follow."""

from __future__ import annotations

import numpy as np
import pytest

from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS, NO_CONTACT
from simulator.logging_policy import action_distribution, decode, draw, window_hours
from simulator.population import make_latent
from simulator.truth import LatentArrays
from simulator.world import LoggingPolicy, WorldConfig


@pytest.fixture(scope="module")
def lat() -> LatentArrays:
    return LatentArrays(make_latent(WorldConfig(customers=400, seed=3)))


@pytest.mark.parametrize("kind", ["newsletter", "promo"])
def test_distribution_is_a_distribution_over_allowed_actions(lat: LatentArrays, kind: str) -> None:
    policy = LoggingPolicy()
    cust = np.arange(len(lat))
    probs, _, allowed = action_distribution(lat, cust, kind, policy)
    assert np.allclose(probs.sum(axis=1), 1.0)
    assert (probs >= 0).all()
    assert (probs[:, :-1][~allowed] == 0).all()  # `none` is the last option
    ch, hour = decode(np.arange(probs.shape[1]), policy)
    for k, name in enumerate(CHANNELS):
        cols = np.nonzero(ch == k)[0]
        lo, hi = DEFAULT_ALLOWED_HOURS[name]
        quiet = cols[(hour[cols] < lo) | (hour[cols] >= hi)]
        assert (probs[:, quiet] == 0).all(), name
        assert (probs[~lat.consent[:, k]][:, cols] == 0).all(), name


def test_draw_frequencies_match_logged_propensities(lat: LatentArrays) -> None:
    policy = LoggingPolicy(exploration=0.3, holdout=0.1)
    cust = np.repeat(np.arange(40), 2000)
    rng = np.random.default_rng(0)
    action, propensity, channel_p, arm = draw(lat, cust, "promo", policy, rng)
    probs, _, _ = action_distribution(lat, cust, "promo", policy)
    assert np.allclose(propensity, probs[np.arange(len(cust)), action])
    # the channel propensity is the observed share of the drawn channel at any hour (none: of none)
    ch, _ = decode(action, policy)
    for c in (NO_CONTACT, 0, 1, 2, 3, 4):
        for k in (0, 7, 39):
            rows = (cust == k) & (ch == c)
            if rows.any():
                assert np.allclose(channel_p[rows], channel_p[rows][0])
                share, p = rows.sum() / 2000, channel_p[rows][0]
                assert abs(share - p) < 4 * np.sqrt(p / 2000) + 0.002
    counts = np.zeros((40, probs.shape[1]))
    np.add.at(counts, (cust, action), 1)
    expected = probs[::2000] * 2000
    se = np.sqrt(expected * (1 - probs[::2000])) + 1
    assert (np.abs(counts - expected) < 5 * se).all()
    assert set(np.unique(arm)) == {"bau", "explore", "holdout"}
    assert (ch[arm == "holdout"] == NO_CONTACT).all()


def test_window_and_shares_validated() -> None:
    with pytest.raises(ValueError, match="exploration \\+ holdout"):
        LoggingPolicy(exploration=0.8, holdout=0.3)
    assert list(window_hours(LoggingPolicy())) == list(range(8, 22))
