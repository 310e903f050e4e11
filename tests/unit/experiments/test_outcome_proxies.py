"""`experiment learn`'s outcome-proxy guard: a column that alone predicts the outcome far better than
any other (spend in the test window when learning conversions) is dropped from defaulted features,
kept with a loud warning when named, and taking every column by default is said."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.learn_cli import guard_proxies
from experiments.outcome_proxies import PROXY_SCORE, outcome_proxies, proxy_score
from simulator.ab_table import simulate_ab_table
from tests.unit.experiments.test_targeting import _app

runner = CliRunner()


def _with_spend(n: int, seed: int) -> pd.DataFrame:
    """A randomised table (no true effect) plus spend during the test: some for every buyer, a
    little noise for the rest, alike in every arm, so the leakage guard cannot see it."""
    table = simulate_ab_table(n, "none", seed=seed).table.drop(columns=["visit"])
    rng = np.random.default_rng(seed)
    buyer = table["converted"].to_numpy() > 0
    table["spend_in_test"] = np.where(buyer, rng.lognormal(3.0, 0.5, n), rng.exponential(2.0, n))
    return table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _with_spend(6000, seed=4)


def _covariates(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in ("customer_id", "arm", "converted")]


def test_scores_rank_a_perfect_proxy_at_one_and_noise_near_zero() -> None:
    rng = np.random.default_rng(0)
    y = pd.Series(rng.random(5000) < 0.1).astype(int)
    assert proxy_score(y * 10.0 + 1.0, y, binary=True) == pytest.approx(1.0)
    assert proxy_score(pd.Series(rng.normal(size=5000)), y, binary=True) < 0.05
    timestamps = pd.Series(pd.to_datetime(np.where(y > 0, "2026-03-02", None)))  # empty unless converted
    assert proxy_score(timestamps, y, binary=True) == pytest.approx(1.0)
    spend = pd.Series(rng.normal(size=5000))
    assert proxy_score(spend, spend * 2 + 1, binary=False) == pytest.approx(1.0)


def test_the_proxy_stands_out_and_real_covariates_do_not(table: pd.DataFrame) -> None:
    proxies, scores = outcome_proxies(table, "converted", _covariates(table), binary=True)
    assert list(proxies) == ["spend_in_test"] and proxies["spend_in_test"] > 0.9
    assert scores.drop("spend_in_test").max() < PROXY_SCORE / 2
    # several columns all strong: none stands out, nothing is dropped
    twins = table.assign(spend_copy=table["spend_in_test"] * 1.1)
    assert outcome_proxies(twins, "converted", ["spend_in_test", "spend_copy"], binary=True)[0] == {}


def test_guard_drops_a_defaulted_proxy_and_keeps_a_named_one(table: pd.DataFrame) -> None:
    features = _covariates(table)
    said: list[str] = []
    kept, warnings = guard_proxies(table, "converted", True, features, False, said.append)
    assert "spend_in_test" not in kept and len(kept) == len(features) - 1
    assert warnings == said and len(said) == 2
    assert said[0].startswith(f"no --features: all {len(features)} other columns are taken as covariates")
    assert said[1].startswith("column 'spend_in_test' alone predicts the outcome far better than any other")
    assert said[1].endswith("dropped from the features (name it in --features to keep it)")
    kept, warnings = guard_proxies(table, "converted", True, ["x0", "spend_in_test"], True, said.append)
    assert kept == ["x0", "spend_in_test"] and len(warnings) == 1 and "KEPT because --features" in warnings[0]


@pytest.mark.slow
def test_learn_drops_the_proxy_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "ab.parquet"
    _with_spend(2000, seed=5).to_parquet(data, index=False)
    args = ["learn", "--data", str(data), "--arm", "arm", "--outcome", "converted", "--control", "none"]
    result = runner.invoke(
        _app(), [*args, "--seed", "0", "--out", str(tmp_path / "out"), "--no-mlflow", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "warning: no --features: all 13 other columns are taken as covariates" in result.output
    assert "warning: column 'spend_in_test' alone predicts the outcome far better" in result.output
    policy = json.loads((tmp_path / "out" / "policy.json").read_text())
    assert "spend_in_test" not in policy["features"] and "x0" in policy["features"]
