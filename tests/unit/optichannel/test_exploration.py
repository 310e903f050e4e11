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


def test_weighted_exploration_draws_with_the_propensities_it_returns() -> None:
    """Half uniform, half a fixed weighting (0.7, 0.1, 0.1, 0.1 over the four options): each
    option's propensity is eps * (0.5 / 4 + 0.5 * weight) plus 1 - eps on the greedy one."""
    n, eps = 200_000, 0.2
    greedy, allowed = _case(n)
    # options in layout order: (0, 0), (0, 1), (0, 2) unavailable, ..., (1, 2), ..., none last
    w = np.zeros((n, 5 * 3 + 1))
    w[:, 0], w[:, 1], w[:, 5], w[:, -1] = 0.7, 0.1, 0.1, 0.1
    picked = explore(
        greedy, allowed, np.ones(n, dtype=bool), eps, np.random.default_rng(6), lambda _o: w, 0.5
    )
    q = {
        (0, 0): 0.5 / 4 + 0.35,
        (0, 1): 0.5 / 4 + 0.05,
        (1, 2): 0.5 / 4 + 0.05,
        (NO_CONTACT, 0): 0.5 / 4 + 0.05,
    }
    expected = {key: eps * p + (0.8 if key == (0, 1) else 0.0) for key, p in q.items()}
    assert sum(expected.values()) == pytest.approx(1.0)
    keys = list(zip(picked.choice.channel.tolist(), picked.choice.slot.tolist(), strict=True))
    for key, p in expected.items():
        rows = np.array([k == key for k in keys])
        assert rows.mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / n))
        np.testing.assert_allclose(picked.propensity[rows], p)
    channel0 = np.array([k[0] == 0 for k in keys])
    np.testing.assert_allclose(picked.channel_propensity[channel0], eps * (q[(0, 0)] + q[(0, 1)]) + 0.8)


def test_value_weighted_exploration_is_cheaper_and_wider_where_less_is_known() -> None:
    from decision.uncertainty import softmax_weights, temperature
    from features.customer_block import CustomerBlock
    from optichannel import feature_columns as fc
    from optichannel.channels import CHANNELS

    n = 2
    contact = np.zeros((n, 5, 3)) - np.inf
    contact[:, 0, :] = [4.0, 3.0, 1.0]
    contact[:, 1, :] = [2.0, 0.5, 0.0]
    none = np.array([1.0, 1.0])
    allowed = np.isfinite(contact)
    # customer 0 has 200 sends on every channel, customer 1 none: same rates
    cols = [c for ch in CHANNELS for c in (fc.response_rate(ch), fc.sends_90d(ch))]
    values = np.array([[0.2, 200.0] * 5, [0.2, 0.0] * 5])
    block = CustomerBlock(
        np.array(["a", "b"], dtype=object), tuple(cols), values, {}, np.zeros(2, dtype=np.int64)
    )
    heat = temperature(block, contact, none, allowed)
    assert heat[1] > 3 * heat[0] > 0
    options = np.concatenate([allowed.reshape(n, -1), np.ones((n, 1), dtype=bool)], axis=1)
    w = softmax_weights(contact, none, options, heat)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert (w[~options] == 0).all()
    assert w[0, 0] > 0.95 and 0.2 < w[1, 0] < 0.9  # the sure customer's draw stays on the best option
    flat = np.concatenate([contact.reshape(n, -1), none[:, None]], axis=1)
    cost = (w * (flat.max(axis=1, keepdims=True) - np.where(options, flat, 0))).sum(axis=1)
    uniform = options / options.sum(axis=1, keepdims=True)
    cost_uniform = (uniform * (flat.max(axis=1, keepdims=True) - np.where(options, flat, 0))).sum(axis=1)
    assert (cost < cost_uniform).all()
