"""Off-policy estimates recover what the target policy earns when actually run."""

from __future__ import annotations

import numpy as np
import pytest

from optichannel.channels import NO_CONTACT
from optichannel.off_policy import (
    bootstrap_means,
    cluster_dr,
    doubly_robust,
    evaluate,
    hour_window_match,
    ips,
    snips,
)

N, ACTIONS, CONTEXTS = 20_000, 6, 5


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray]:
    """A uniformly random logging policy, and the target policy also run on-policy."""
    rng = np.random.default_rng(42)
    mu = rng.uniform(0.02, 0.25, size=(CONTEXTS, ACTIONS))  # true conversion per context and action
    x = rng.integers(0, CONTEXTS, N)
    logged = rng.integers(0, ACTIONS, N)
    target = (mu.argmax(axis=1)[x] + x) % ACTIONS  # some fixed, not-best policy
    on_policy = rng.random(N) < mu[x, target]
    return {
        "mu": mu,
        "x": x,
        "logged": logged,
        "target": target,
        "reward": (rng.random(N) < mu[x, logged]).astype(float),
        "propensity": np.full(N, 1 / ACTIONS),
        "target_prob": (logged == target).astype(float),
        "on_policy_mean": np.array(on_policy.mean()),
    }


def test_ips_and_snips_contain_the_on_policy_mean(world) -> None:
    truth = float(world["on_policy_mean"])
    for estimator in (ips, snips):
        est = estimator(world["reward"], world["propensity"], world["target_prob"], n_boot=400, seed=1)
        assert est.lo <= truth <= est.hi, (est, truth)
        assert est.lo < est.value < est.hi
        # ignoring the propensity (weights = target_prob) would estimate truth / 6: far outside
        assert est.hi - est.lo < 0.05
    assert ips(
        world["reward"], world["propensity"], world["target_prob"], n_boot=50
    ).effective_n == pytest.approx(world["target_prob"].sum())


def test_doubly_robust_with_a_good_model_is_tighter(world) -> None:
    mu, x = world["mu"], world["x"]
    q_logged, q_target = mu[x, world["logged"]], mu[x, world["target"]]
    table = evaluate(
        world["reward"], world["propensity"], world["target_prob"], q_logged, q_target, n_boot=300, seed=2
    )
    assert list(table.index) == ["IPS", "SNIPS", "DR"]
    truth = float(world["on_policy_mean"])
    dr = table.loc["DR"]
    assert dr["lo"] <= truth <= dr["hi"]
    # with the true reward model DR only keeps the outcome noise, so it can never be wider than IPS
    assert 0 < dr["hi"] - dr["lo"] < table.loc["IPS", "hi"] - table.loc["IPS", "lo"]
    assert abs(dr["value"] - world["mu"][x, world["target"]].mean()) < 0.01


def test_doubly_robust_survives_a_wrong_model(world) -> None:
    """With correct propensities, a biased reward model is corrected by the IPS residual term."""
    x = world["x"]
    wrong = np.full(N, 0.5)
    est = doubly_robust(
        world["reward"], world["propensity"], world["target_prob"], wrong, wrong, n_boot=300, seed=3
    )
    assert est.lo <= float(world["on_policy_mean"]) <= est.hi
    assert abs(est.value - world["mu"][x, world["target"]].mean()) < 0.03


def test_bootstrap_is_reproducible_by_seed(world) -> None:
    args = (world["reward"][:3000], world["propensity"][:3000], world["target_prob"][:3000])
    a, b = snips(*args, n_boot=200, seed=5), snips(*args, n_boot=200, seed=5)
    c = snips(*args, n_boot=200, seed=6)
    assert (a.lo, a.hi) == (b.lo, b.hi)
    assert (a.lo, a.hi) != (c.lo, c.hi)


def test_bad_propensities_are_counted_in_the_error() -> None:
    reward, target = np.ones(100), np.ones(100)
    propensity = np.full(100, 0.5)
    propensity[[3, 7]] = 0.0
    propensity[9] = np.nan
    with pytest.raises(ValueError, match="propensity must be > 0 and not missing; 3 of 100 rows"):
        ips(reward, propensity, target)
    with pytest.raises(ValueError, match="target_prob must be in \\[0, 1\\]; 1 of 100"):
        snips(reward, np.full(100, 0.5), np.r_[np.ones(99), 1.5])
    with pytest.raises(ValueError, match="propensity has 99 rows, expected 100"):
        ips(reward, np.full(99, 0.5), target)
    with pytest.raises(ValueError, match="q_target"):
        doubly_robust(reward, np.full(100, 0.5), target, np.zeros(100), np.full(100, np.nan))


def _clustered(seed: int) -> dict[str, np.ndarray]:
    """Channels (clusters) x hours: the logging policy favours channel 0 and draws hours
    uniformly; the target picks a channel per context and the best hour within it."""
    rng = np.random.default_rng(seed)
    n, channels, hours = 40_000, 3, 8
    x = rng.integers(0, 4, n)
    base = rng.uniform(0.05, 0.2, size=(4, channels))
    hour_effect = np.linspace(-0.04, 0.04, hours)
    mu = np.clip(base[:, :, None] + hour_effect[None, None, :], 0.0, 1.0)  # [contexts, channels, hours]
    p_channel = np.array([0.6, 0.25, 0.15])
    logged_ch = rng.choice(channels, size=n, p=p_channel)
    logged_h = rng.integers(0, hours, n)
    reward = (rng.random(n) < mu[x, logged_ch, logged_h]).astype(float)
    target_ch = (x + 1) % channels
    true_value = mu[x, target_ch, hours - 1].mean()
    return {"x": x, "mu": mu, "p": p_channel[logged_ch], "logged_ch": logged_ch, "logged_h": logged_h,
            "reward": reward, "target_ch": target_ch, "hours": np.array(hours),
            "true": np.array(true_value)}  # fmt: skip


def test_cluster_dr_is_unbiased_when_the_model_ranks_hours_right_but_misses_channel_levels() -> None:
    w = _clustered(3)
    x, h = w["x"], int(w["hours"])
    # a reward model with the right hour differences but every channel level off by a constant
    q = w["mu"] + np.array([0.05, 0.04, 0.06])[None, :, None]
    direct = q[x, w["target_ch"], h - 1]
    residual = w["reward"] - q[x, w["logged_ch"], w["logged_h"]]
    match = w["target_ch"] == w["logged_ch"]
    terms = cluster_dr(direct, match, w["p"], residual)
    assert abs(terms.mean() - float(w["true"])) < 0.006
    assert abs(direct.mean() - float(w["true"])) > 0.02  # the model alone is clearly off
    # channel-level IPS without the model's hour ranking misses the hour the target picks
    ips_channel = (match / w["p"] * w["reward"]).sum() / (match / w["p"]).sum()
    assert float(w["true"]) - ips_channel > 0.02


def _peaked(seed: int) -> dict[str, np.ndarray]:
    """Channels x 14 hours: each context's response sits on a 3-hour plateau (its peak hours),
    low elsewhere; the plateau's last slot is closed (quiet hours) for everyone. The log takes a
    fixed business-as-usual slot 70% of the time and explores every open slot uniformly otherwise;
    the target picks each context's peak hour on channel 1."""
    rng = np.random.default_rng(seed)
    n, channels, hours = 60_000, 3, 14
    x = rng.integers(0, 5, n)
    peak = 2 + 2 * x[:, None] + np.zeros((1, hours), dtype=int)
    slot = np.arange(hours)[None, :]
    level = rng.uniform(0.05, 0.1, size=(5, channels))[x]  # [rows, channels]
    mu = level[:, :, None] + 0.25 * (np.abs(slot - peak) <= 1)[:, None, :]  # [rows, channels, hours]
    allowed = np.ones((n, channels, hours), dtype=bool)
    allowed[np.arange(n), :, peak[:, 0] + 1] = False
    flat = allowed.reshape(n, -1)
    p_action = 0.3 * flat / flat.sum(axis=1, keepdims=True)
    p_action[:, 0 * hours + 1] += 0.7  # business as usual: channel 0 at slot 1 (never a closed slot)
    pick = (rng.random((n, 1)) < p_action.cumsum(axis=1)).argmax(axis=1)
    logged_ch, logged_slot = pick // hours, pick % hours
    reward = (rng.random(n) < mu[np.arange(n), logged_ch, logged_slot]).astype(float)
    flat_model = mu.mean(axis=2, where=allowed)  # right level per channel, blind to the hour
    return {"n": np.array(n), "mu": mu, "allowed": allowed, "logged_ch": logged_ch,
            "logged_slot": logged_slot, "propensity": p_action[np.arange(n), pick], "reward": reward,
            "flat": flat_model, "target_slot": peak[:, 0]}  # fmt: skip


def test_hour_window_dr_recovers_the_peak_hour_that_a_channel_cluster_averages_away() -> None:
    w = _peaked(5)
    n = int(w["n"])
    rows, target_ch = np.arange(n), np.ones(n, dtype=int)
    true = w["mu"][rows, 1, w["target_slot"]].mean()
    direct = w["flat"][rows, 1]
    residual = w["reward"] - w["flat"][rows, w["logged_ch"]]
    match, size = hour_window_match(
        target_ch, w["target_slot"], w["logged_ch"], w["logged_slot"], w["allowed"], hours=1
    )
    window = cluster_dr(direct, match, size * w["propensity"], residual).mean()
    assert abs(window - true) < 0.01
    # the whole channel's logged outcomes: the flat model's error averaged over all hours
    channel_p = np.full(n, 0.3 / 3)  # exploration only (a third of the open slots): never BAU
    whole = cluster_dr(direct, w["logged_ch"] == 1, channel_p, residual).mean()
    assert true - whole > 0.1
    # the closed slot inside the window is not counted: two open slots, not three
    assert set(np.unique(size)) == {2.0}


def test_hour_window_match_counts_the_chosen_channel_near_the_slot_and_none_for_none() -> None:
    allowed = np.ones((4, 2, 6), dtype=bool)
    allowed[1, 0, 4] = False
    match, size = hour_window_match(
        np.array([0, 0, NO_CONTACT, 1]),
        np.array([2, 3, 0, 5]),
        np.array([0, 0, NO_CONTACT, 0]),
        np.array([4, 5, -1, 5]),
        allowed,
        2,
    )
    assert match.tolist() == [True, True, True, False]  # row 3: another channel
    assert size.tolist() == [5.0, 4.0, 1.0, 3.0]  # row 1: slots 1-5 but the closed 4; row 3: 3-5
    with pytest.raises(ValueError, match="hour window must be >= 0"):
        hour_window_match(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), np.ones((1, 1, 1), bool), -1)


def test_cluster_dr_refuses_a_matched_decision_without_propensity() -> None:
    with pytest.raises(ValueError, match="cluster_propensity must be > 0"):
        cluster_dr(np.zeros(2), np.array([True, False]), np.array([0.0, 0.5]), np.zeros(2))


def test_bootstrap_means_are_paired() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=5000)
    draws = bootstrap_means(np.column_stack([a, a + 1.0, rng.normal(size=5000)]), n_boot=300, seed=1)
    assert draws.shape == (300, 3)
    assert np.allclose(draws[:, 1] - draws[:, 0], 1.0)  # same resamples for every policy
    lo, hi = np.quantile(draws[:, 0], [0.025, 0.975])
    assert lo < a.mean() < hi and 0.04 < hi - lo < 0.07  # about 4 standard errors of 1/sqrt(5000)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_means(np.ones((3, 1)), n_boot=1)
