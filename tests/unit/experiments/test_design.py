"""Sample size: the computed n really gives the promised power; bad inputs name the argument."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.analysis import compare_proportions
from experiments.design import power_at, sample_size

SIMULATIONS = 2000


def _simulated_power(n_t: int, n_c: int, p_t: float, p_c: float, alpha: float, seed: int) -> float:
    """Share of simulated experiments whose test (the one the analysis uses) rejects at `alpha`."""
    rng = np.random.default_rng(seed)
    conv_t = rng.binomial(n_t, p_t, SIMULATIONS)
    conv_c = rng.binomial(n_c, p_c, SIMULATIONS)
    p_values = compare_proportions(conv_t, np.full(SIMULATIONS, n_t), conv_c, np.full(SIMULATIONS, n_c))[
        "p_value"
    ]
    return float(np.mean(p_values < alpha))


def test_two_arms_power_matches_simulation() -> None:
    design = sample_size(0.05, 0.01, {"model": 0.5, "bau": 0.5}, "bau")
    n = design.n_per_arm
    assert n["model"] == n["bau"] and design.total_n == 2 * n["bau"]
    # Monte Carlo SE of a power near 0.8 over 2,000 runs is 0.009; +-0.03 is over 3 SE, while
    # forgetting the factor 2 of a two-sided test or using n for both arms together misses by > 0.1
    power = _simulated_power(n["model"], n["bau"], 0.06, 0.05, design.corrected_alpha, seed=1)
    assert power == pytest.approx(0.8, abs=0.03)


def test_unequal_allocation_and_bonferroni_power_matches_simulation() -> None:
    shares = {"model": 0.45, "bau": 0.45, "holdout": 0.10}
    design = sample_size(0.03, -0.008, shares, "bau", alpha=0.05, power=0.8)
    assert design.corrected_alpha == pytest.approx(0.025) and design.comparisons == 2
    n = design.n_per_arm
    assert n["holdout"] / n["bau"] == pytest.approx(0.10 / 0.45, rel=1e-3)
    # the small holdout is the binding comparison: exactly the target power there, more for the model
    holdout = _simulated_power(n["holdout"], n["bau"], 0.022, 0.03, design.corrected_alpha, seed=2)
    model = _simulated_power(n["model"], n["bau"], 0.022, 0.03, design.corrected_alpha, seed=3)
    assert holdout == pytest.approx(0.8, abs=0.03)
    assert model > 0.95


def test_power_at_the_designed_size_is_the_target() -> None:
    design = sample_size(0.04, 0.005, {"model": 0.7, "bau": 0.3}, "bau", power=0.9)
    powers = power_at(design.n_per_arm, 0.04, 0.005, "bau")
    assert powers["model"] == pytest.approx(0.9, abs=0.002)
    half = {arm: n // 2 for arm, n in design.n_per_arm.items()}
    assert power_at(half, 0.04, 0.005, "bau")["model"] < 0.7


def test_more_comparisons_need_more_customers() -> None:
    two = sample_size(0.03, 0.006, {"model": 0.5, "bau": 0.5}, "bau")
    three = sample_size(0.03, 0.006, {"model": 1 / 3, "random": 1 / 3, "bau": 1 / 3}, "bau")
    assert three.n_per_arm["bau"] > two.n_per_arm["bau"]
    assert list(three.table().index) == ["model", "random", "bau"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"baseline_rate": 0.0}, "baseline_rate"),
        ({"baseline_rate": 1.2}, "baseline_rate"),
        ({"mde_abs": 0.0}, "mde_abs"),
        ({"baseline_rate": 0.95, "mde_abs": 0.1}, "mde_abs"),
        ({"mde_abs": -0.05}, "mde_abs"),
        ({"alpha": 0.0}, "alpha"),
        ({"power": 1.0}, "power"),
        ({"control": "champion"}, "control"),
        ({"arms_shares": {"model": 0.5, "bau": 0.6}}, "arms"),
        ({"arms_shares": {"bau": 1.0}}, "arms_shares"),
        ({"arms_shares": {"model": 1.0, "bau": 0.0}}, "arms_shares"),
    ],
)
def test_bad_inputs_name_the_argument(kwargs: dict, argument: str) -> None:
    args = {
        "baseline_rate": 0.03,
        "mde_abs": 0.005,
        "arms_shares": {"model": 0.5, "bau": 0.5},
        "control": "bau",
    }
    with pytest.raises(ValueError, match=argument):
        sample_size(**(args | kwargs))
