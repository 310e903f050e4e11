"""Exploration over (channel, hour): the propensities it returns are the probabilities it draws
with, checked by hand on a tiny case and by frequency over many draws."""

from __future__ import annotations

import numpy as np
import pytest

from decision.choice import Choice, explore
from optichannel.channels import NO_CONTACT


def _case(n: int) -> tuple[Choice, np.ndarray]:
    """Channel 0 at slots 0 and 1, channel 1 at slot 2; greedy: channel 0 at slot 1."""
    allowed = np.zeros((n, 5, 3), dtype=bool)
    allowed[:, 0, [0, 1]] = True
    allowed[:, 1, 2] = True
    greedy = Choice(np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64), np.full(n, 2.0))
    return greedy, allowed


def test_hand_worked_propensities_match_the_draws() -> None:
    n, eps = 200_000, 0.2
    greedy, allowed = _case(n)
    picked = explore(greedy, allowed, np.ones(n, dtype=bool), eps, np.random.default_rng(5))
    # four options (two hours of channel 0, one of channel 1, none): eps / 4 each, plus 1 - eps on greedy
    expected = {(0, 1): 0.85, (0, 0): 0.05, (1, 2): 0.05, (NO_CONTACT, 0): 0.05}
    expected_channel = {0: 0.2 * 2 / 4 + 0.8, 1: 0.05, NO_CONTACT: 0.05}
    keys = list(zip(picked.choice.channel.tolist(), picked.choice.slot.tolist(), strict=True))
    for key, p in expected.items():
        rows = np.array([k == key for k in keys])
        assert rows.mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))
        np.testing.assert_allclose(picked.propensity[rows], p)
        np.testing.assert_allclose(picked.channel_propensity[rows], expected_channel[key[0]])
    assert picked.explored[np.array([k != (0, 1) for k in keys])].all()


def test_no_exploration_is_greedy_with_propensity_one() -> None:
    greedy, allowed = _case(50)
    picked = explore(greedy, allowed, np.zeros(50, dtype=bool), 0.0, np.random.default_rng(1))
    assert (picked.choice.channel == 0).all() and (picked.choice.slot == 1).all()
    assert (
        (picked.propensity == 1).all()
        and (picked.channel_propensity == 1).all()
        and not picked.explored.any()
    )
