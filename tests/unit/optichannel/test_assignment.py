"""Arm assignment: stable, on the planned shares, independent across experiments, salt reshuffles."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from optichannel.assignment import assign_arms, check_shares, hash_uniform, parse_arms

ARMS = {"model": 0.45, "bau": 0.45, "holdout": 0.10}
IDS = np.arange(100_000)


@pytest.fixture(scope="module")
def arms_a() -> np.ndarray:
    return assign_arms(IDS, "exp-a", ARMS)


def test_same_customer_same_arm_across_calls_and_orders(arms_a: np.ndarray) -> None:
    again = assign_arms(IDS, "exp-a", ARMS)
    assert np.array_equal(arms_a, again)
    perm = np.random.default_rng(0).permutation(len(IDS))[:5000]
    assert np.array_equal(assign_arms(IDS[perm], "exp-a", ARMS), arms_a[perm])


def test_hash_is_blake2b_of_experiment_salt_and_id() -> None:
    digest = hashlib.blake2b(b"exp-a:pepper:C42", digest_size=8).digest()
    expected = (int.from_bytes(digest, "big") >> 11) / 2**53
    assert hash_uniform(["C42"], "exp-a", "pepper")[0] == expected
    assert hash_uniform([42], "exp-a")[0] == hash_uniform(["42"], "exp-a")[0]


def test_shares_within_binomial_tolerance(arms_a: np.ndarray) -> None:
    n = len(IDS)
    for arm, share in ARMS.items():
        count = int((arms_a == arm).sum())
        sd = np.sqrt(n * share * (1 - share))
        assert abs(count - n * share) < 4 * sd, (arm, count)


def test_independent_across_experiments(arms_a: np.ndarray) -> None:
    arms_b = assign_arms(IDS, "exp-b", ARMS)
    names = list(ARMS)
    table = np.array([[np.sum((arms_a == a) & (arms_b == b)) for b in names] for a in names])
    # an experiment name left out of the hash would put everybody on the diagonal: p ~ 0
    assert chi2_contingency(table).pvalue > 0.001


def test_changed_salt_reshuffles(arms_a: np.ndarray) -> None:
    salted = assign_arms(IDS, "exp-a", ARMS, salt="v2")
    same = float(np.mean(salted == arms_a))
    # independent draws agree with probability sum(share^2) = 0.415
    expected = sum(s * s for s in ARMS.values())
    assert abs(same - expected) < 0.01


def test_zero_share_arm_gets_nobody() -> None:
    arms = assign_arms(IDS[:20_000], "exp-z", {"a": 0.5, "never": 0.0, "b": 0.5, "last": 0.0})
    assert set(np.unique(arms)) == {"a", "b"}


def test_shares_must_sum_to_one_and_error_names_them() -> None:
    with pytest.raises(ValueError, match=r"model=0\.5, bau=0\.4"):
        assign_arms(IDS[:10], "exp", {"model": 0.5, "bau": 0.4})
    with pytest.raises(ValueError, match="bad: bau"):
        check_shares({"model": 1.2, "bau": -0.2})
    with pytest.raises(ValueError, match="experiment"):
        assign_arms(IDS[:10], "", ARMS)


def test_parse_arms() -> None:
    assert parse_arms("model=0.45, bau=0.45,holdout=0.1") == ARMS
    with pytest.raises(ValueError, match="name=share"):
        parse_arms("model:0.5,bau=0.5")
    with pytest.raises(ValueError, match="not a number"):
        parse_arms("model=half,bau=0.5")
    with pytest.raises(ValueError, match="twice"):
        parse_arms("a=0.5,a=0.5")
