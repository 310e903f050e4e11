"""A tuned configuration replaces the defaults only when it is better beyond noise."""

from __future__ import annotations

import numpy as np

from training.tuning import beats, row_log_loss


def test_a_clear_improvement_beats_the_reference_and_noise_does_not() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(5000) < 0.1).astype(float)
    truth = np.where(y == 1, 0.3, 0.08)
    reference = row_log_loss(y, np.full(5000, 0.1))  # knows nothing
    informed = row_log_loss(y, truth)  # knows the signal
    jittered = row_log_loss(y, np.clip(0.1 + rng.normal(0, 0.002, 5000), 0.01, 0.99))
    assert beats(informed, reference)
    assert not beats(jittered, reference)  # a tiny random difference is not an improvement
    assert not beats(reference, informed)


def test_row_log_loss_is_the_bernoulli_loss() -> None:
    assert np.allclose(row_log_loss(np.array([1.0, 0.0]), np.array([0.8, 0.8])), [-np.log(0.8), -np.log(0.2)])
