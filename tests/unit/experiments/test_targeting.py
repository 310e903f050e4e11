"""`experiment learn`: a targeting policy learned from a randomised A/B table, judged held out.

Statistical checks run on simulated tables whose true outcome probabilities are known
(simulator.ab_table): with opposite effects of two arms on two halves of the customers the learned
policy must be recommended and capture most of the oracle's gain; with a constant effect it must
not be, and "always a" must be. Small things are checked against values worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments.covariate_balance import post_treatment_suspects
from experiments.export_analysis import parse_costs
from experiments.export_tables import load_export
from experiments.learn_cli import guard_leakage, learn
from experiments.outcome_values import Outcome
from experiments.targeting.learn import (
    DRLearner,
    dr_terms,
    fit_chosen,
    fold_ids,
    one_hot,
    prepare_features,
    select_learner,
)
from experiments.targeting.outputs import log_learn_run, write_outputs
from experiments.targeting.value import Judgement, Units, judge_policies, learn_targeting, split_test, verdict
from optichannel.settings import Settings
from optichannel.uplift_metrics import qini_summary
from simulator.ab_table import ABTable, simulate_ab_table

runner = CliRunner()
CONVERTED = Outcome("converted", "binary", "flag")


def _app() -> typer.Typer:
    """A stand-in for the `experiment` group with the command registered."""
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("learn")(learn)
    return app


@pytest.fixture
def app() -> typer.Typer:
    return _app()


def _features(sim: ABTable) -> list[str]:
    return [c for c in sim.table.columns if c not in ("customer_id", "arm", "converted", "visit")]


# --- statistics on simulated tables -------------------------------------------------------------


@pytest.fixture(scope="module")
def heterogeneous(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`learn` through the command line on 24,000 customers where a helps x0 > 0 and hurts the
    rest by 8 points, and b the opposite."""
    sim = simulate_ab_table(24_000, "heterogeneous", size=0.08, seed=3)
    root = tmp_path_factory.mktemp("learn")
    data = root / "ab.parquet"
    sim.table.to_parquet(data, index=False)
    args = ["learn", "--data", str(data), "--arm", "arm", "--outcome", "converted", "--control", "none"]
    result = runner.invoke(
        _app(), [*args, "--seed", "0", "--out", str(root / "out"), "--no-mlflow", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    policy = json.loads((root / "out" / "policy.json").read_text())
    scores = pd.read_parquet(root / "out" / "scores.parquet")
    return {"sim": sim, "output": result.output, "policy": policy, "scores": scores, "out": root / "out"}


@pytest.mark.slow
def test_heterogeneous_effects_make_the_learned_policy_recommended(heterogeneous: dict) -> None:
    policy = heterogeneous["policy"]
    assert policy["recommended"] == "learned"
    assert policy["learned_vs_best_arm"]["ci_low"] > 0
    assert policy["verdict"].startswith("Personalising beats sending everyone")
    assert "Personalising beats" in heterogeneous["output"]
    # the learned effects rank the held-out customers nearly as well as the true effects do
    # (a random score's Qini coefficient is about 0)
    sim, scores = heterogeneous["sim"], heterogeneous["scores"]
    test = (scores["split"] == "test").to_numpy()
    table, truth = sim.table[test], sim.truth[test]
    for arm in ("a", "b"):
        rows = table["arm"].isin([arm, "none"]).to_numpy()
        true_effect = (truth[arm] - truth["none"]).to_numpy()[rows]
        treated = (table["arm"] == arm).to_numpy()[rows].astype(int)
        best = qini_summary(table["converted"].to_numpy()[rows], true_effect, treated).qini_auc
        assert policy["qini"][arm] > 0.7 * best > 0.05, (arm, policy["qini"][arm], best)


@pytest.mark.slow
def test_learned_policy_captures_most_of_the_oracle_gain(heterogeneous: dict) -> None:
    sim, scores, policy = heterogeneous["sim"], heterogeneous["scores"], heterogeneous["policy"]
    test = (scores["split"] == "test").to_numpy()
    truth = sim.truth[test]
    oracle, best_single = float(truth.max(axis=1).mean()), float(truth.mean().max())
    learned = sim.policy_value(scores.loc[test, "best_arm"], test)
    # random and "always a" capture ~0 of the gap (8 points); a working learner ~95%
    assert (learned - best_single) / (oracle - best_single) >= 0.8
    # the held-out estimate of the learned policy sits near the oracle's true value
    assert abs(policy["policies"]["learned"]["value"] - oracle) < 0.025
    random_true = float(truth.mean(axis=1).mean())
    assert abs(policy["policies"]["random"]["value"] - random_true) < 0.02


@pytest.mark.slow
def test_outputs_cover_every_customer_and_skip_post_treatment_columns(heterogeneous: dict) -> None:
    scores, policy, out = heterogeneous["scores"], heterogeneous["policy"], heterogeneous["out"]
    assert len(scores) == 24_000 and scores["customer_id"].is_unique
    assert set(scores.columns) >= {"split", "arm", "effect_a", "effect_b", "pred_none", "pred_a", "best_arm"}
    assert (scores["split"] == "test").sum() == policy["n_test"] == 7_200
    np.testing.assert_allclose(scores["effect_a"], scores["pred_a"] - scores["pred_none"])
    # the leakage guard: `visit` is moved by the e-mails, so it is no default feature
    assert "visit" not in policy["features"] and "x0" in policy["features"]
    assert any("'visit'" in w and "dropped" in w for w in policy["warnings"])
    page = (out / "report.html").read_text()
    assert page.index(policy["verdict"].split(":")[0]) < page.index("<table")
    assert "http" not in page.replace('lang="en"', "")


@pytest.mark.slow
def test_constant_effect_recommends_the_best_single_arm() -> None:
    sim = simulate_ab_table(15_000, "constant", seed=5)
    export = load_export(sim.table, "converted", keep=_features(sim))
    result = learn_targeting(export.frame, export.outcome, _features(sim), "none", seed=0, n_boot=500)
    assert result.judgement.best_arm == "a"
    assert result.recommended == "always a"
    assert result.judgement.ci_low <= 0
    assert result.verdict.startswith("Personalising does not beat sending everyone a beyond noise")
    assert result.verdict.endswith("recommend always a.")
    # a constant effect leaves nothing to rank by: far from the heterogeneous world's Qini
    assert abs(result.qini["a"]) < 0.15


# --- small things worked out by hand ------------------------------------------------------------

# arms c (control, propensity 1/4) and t (3/4); outcome y; the reward model's mu_c, mu_t
ARM = np.array([0, 0, 1, 1])
Y = np.array([1.0, 0.0, 1.0, 0.0])
MU = np.array([[0.5, 0.6], [0.2, 0.4], [0.3, 0.7], [0.4, 0.5]])
P = np.array([0.25, 0.75])


def test_single_arm_values_equal_the_hand_worked_ips_and_dr_values() -> None:
    zero = np.zeros_like(MU)
    costs = np.zeros(2)
    # IPS (no reward model): always c = (1/0.25 + 0) / 4; always t = (1/0.75 + 0) / 4
    ips_c = dr_terms(one_hot(np.zeros(4, int), 2), ARM, Y, zero, P, 1.0, costs).mean()
    ips_t = dr_terms(one_hot(np.ones(4, int), 2), ARM, Y, zero, P, 1.0, costs).mean()
    assert ips_c == pytest.approx(1.0)
    assert ips_t == pytest.approx(1 / 3)
    # DR always c: 0.5 + 4(1-0.5), 0.2 + 4(0-0.2), 0.3, 0.4 -> 2.6 / 4
    judged = judge_policies(np.array([1, 0, 1, 0]), ARM, Y, MU, P, ["c", "t"], n_boot=200, seed=1)
    values = judged.policies["value"]
    assert values["always c"] == pytest.approx(0.65)
    # DR always t: 0.6, 0.4, 0.7 + (1-0.7)/0.75, 0.5 + (0-0.5)/0.75 -> (2.2 + 0.4 - 2/3) / 4
    assert values["always t"] == pytest.approx((2.2 + 0.4 - 2 / 3) / 4)
    # learned (t, c, t, c): 0.6, 0.2 + 4(0-0.2), 0.7 + (1-0.7)/0.75, 0.4 -> 1.5 / 4
    assert values["learned"] == pytest.approx(1.5 / 4)
    # random: half of each arm's prediction, residual weighted 0.5 / propensity
    random = [0.55 + 2 * 0.5, 0.3 + 2 * -0.2, 0.5 + 0.3 / 1.5, 0.45 - 0.5 / 1.5]
    assert values["random"] == pytest.approx(np.mean(random))
    assert judged.best_arm == "c"
    assert judged.difference == pytest.approx(1.5 / 4 - 0.65)
    assert (judged.policies["ci_low"] <= values).all() and (values <= judged.policies["ci_high"]).all()


def test_value_and_costs_enter_as_value_times_outcome_minus_cost() -> None:
    costs = np.array([0.0, 0.1])
    always_t = dr_terms(one_hot(np.ones(4, int), 2), ARM, Y, MU, P, 2.0, costs).mean()
    plain = dr_terms(one_hot(np.ones(4, int), 2), ARM, Y, MU, P, 1.0, np.zeros(2)).mean()
    assert always_t == pytest.approx(2 * plain - 0.1)


def test_verdict_wording() -> None:
    table = pd.DataFrame({"value": [0.1], "ci_low": [0.0], "ci_high": [0.2]}, index=["learned"])
    units = Units(Outcome("visit", "binary", "flag"))
    beat = Judgement(table, "Mens E-Mail", 0.0041, 0.0012, 0.0070, 0.95)
    assert verdict(beat, "No E-Mail", units) == (
        "Personalising beats sending everyone Mens E-Mail: +0.41 visits per 100 customers "
        "(95% CI +0.12 to +0.70)."
    )
    tie = Judgement(table, "No E-Mail", -0.0005, -0.0030, 0.0021, 0.95)
    text = verdict(tie, "No E-Mail", units)
    assert text.startswith(
        "Personalising does not beat sending everyone No E-Mail (the control) beyond noise "
        "(difference −0.05 visits per 100 customers, 95% CI −0.30 to +0.21): recommend always No E-Mail."
    )
    assert "No arm beats the control" in text


def test_split_and_folds_are_stratified_and_seeded() -> None:
    arm = np.repeat([0, 1, 2], [1000, 500, 100])
    held = split_test(arm, 0.3, seed=4)
    assert [int(held[arm == k].sum()) for k in range(3)] == [300, 150, 30]
    assert (held == split_test(arm, 0.3, seed=4)).all() and (held != split_test(arm, 0.3, seed=5)).any()
    fold = fold_ids(arm, 3, seed=0)
    assert np.bincount(fold[arm == 2]).tolist() == [34, 33, 33]


def test_features_become_what_lightgbm_takes() -> None:
    frame = pd.DataFrame(
        {"zip code": ["a", "b", None], "flag": [True, False, True], "n": [1, 2, 3], "cat": ["x", "y", "x"]}
    ).astype({"cat": "category"})
    prepared = prepare_features(frame)
    assert list(prepared.columns) == ["f0", "f1", "f2", "f3"]
    assert isinstance(prepared["f0"].dtype, pd.CategoricalDtype)
    assert prepared["f1"].tolist() == [1.0, 0.0, 1.0]
    assert prepared["f2"].dtype == np.float64


def test_dr_learner_recovers_a_known_effect() -> None:
    rng = np.random.default_rng(0)
    n = 6000
    X = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n)})
    arm = rng.integers(0, 2, size=n)
    effect = np.where(X["x"] > 0, 0.3, -0.3)
    y = 0.5 * X["z"].to_numpy() + effect * arm + rng.normal(scale=0.5, size=n)
    p = np.array([0.5, 0.5])
    pred = DRLearner(2, folds=2, seed=0).fit(X, arm, y, p).predict(X)
    # the refit of a chosen DR-learner reuses the selection's cross-fitted outcome models
    selection = select_learner(X, arm, y, p, 1.0, np.zeros(2), folds=2, candidates=("dr_learner",))
    assert selection.chosen == "dr_learner" and set(selection.oof) == {"t_learner", "dr_learner"}
    refit = fit_chosen(selection, X, arm, y, p, folds=2, seed=0).predict(X)
    for tau in (pred[:, 1] - pred[:, 0], refit[:, 1] - refit[:, 0]):
        assert np.corrcoef(tau, effect)[0, 1] > 0.8
        assert abs(tau[X["x"] > 0.5].mean() - 0.3) < 0.1


# --- the leakage guard and the command line's errors ---------------------------------------------


def test_leakage_guard_drops_a_post_treatment_column_unless_named() -> None:
    frame = simulate_ab_table(9000, "none", seed=1).table
    rng = np.random.default_rng(0)
    frame["spend"] = rng.exponential(np.where(frame["arm"] == "none", 1.0, 1.2))  # numeric, moved by arms
    frame["when"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 99, len(frame)), "D"
    )
    columns = ["x0", "region", "member", "tenure", "when", "visit", "spend"]
    assert list(post_treatment_suspects(frame, "arm", columns)) == ["visit", "spend"]
    said: list[str] = []
    kept, warnings = guard_leakage(frame, ["x0", "visit"], False, said.append)
    assert kept == ["x0"] and "dropped" in warnings[0] and said == warnings
    kept, warnings = guard_leakage(frame, ["x0", "visit"], True, said.append)
    assert kept == ["x0", "visit"] and "KEPT" in warnings[0]


def _tiny(tmp_path: Path) -> Path:
    sim = simulate_ab_table(600, "none", seed=2)
    path = tmp_path / "tiny.csv"
    sim.table.to_csv(path, index=False)
    return path


def test_unknown_cost_arm_is_one_error_line(app: typer.Typer, tmp_path: Path) -> None:
    args = ["learn", "--data", str(_tiny(tmp_path)), "--arm", "arm", "--outcome", "converted"]
    result = runner.invoke(app, [*args, "--control", "none", "--cost", "zzz=0.1", "--no-mlflow", "--quiet"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert lines == ["error: --cost names unknown arm 'zzz' (arms: a, b, none)"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--control", "nobody"], "error: control arm 'nobody' is not in the data"),
        (["--control", "none", "--cost", "a:0.1"], "error: --cost must look like ARM=VALUE"),
        (["--control", "none", "--features", "x0,nope"], "error: the data has no column 'nope'"),
        (["--control", "none", "--folds", "1"], "error: --folds must be at least 2"),
    ],
)
def test_bad_input_is_one_error_line(
    app: typer.Typer, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["learn", "--data", str(_tiny(tmp_path)), "--arm", "arm", "--outcome", "converted"]
    result = runner.invoke(app, [*args, *extra, "--no-mlflow", "--quiet"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(message), result.output
    assert "Traceback" not in result.output


def test_missing_table_is_one_error_line(app: typer.Typer, tmp_path: Path) -> None:
    args = ["learn", "--data", str(tmp_path / "nope.csv"), "--arm", "arm", "--outcome", "y", "--control", "c"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip() == f"error: data file not found: {tmp_path / 'nope.csv'}"


def test_parse_costs() -> None:
    assert parse_costs(["Mens E-Mail=0.1", "b = 2"]) == {"Mens E-Mail": 0.1, "b": 2.0}
    with pytest.raises(ValueError, match="twice"):
        parse_costs(["a=1", "a=2"])


@pytest.mark.slow
def test_learn_is_an_mlflow_run_with_its_files(tmp_path: Path) -> None:
    import mlflow

    sim = simulate_ab_table(2000, "heterogeneous", seed=1)
    features = ["x0", "x1", "region", "member"]
    export = load_export(sim.table, "converted", keep=features)
    result = learn_targeting(export.frame, export.outcome, features, "none", costs={"a": 0.01}, n_boot=200)
    paths = write_outputs(result, tmp_path / "out", "learn")
    settings = Settings(mlflow_tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", show_progress=False)
    run = mlflow.get_run(log_learn_run(settings, result, paths, tmp_path / "hillstrom.csv"))
    assert run.info.run_name == "learn-hillstrom"
    assert run.data.tags["kind"] == "targeting_learn"
    assert run.data.tags["recommended"] == result.recommended
    assert run.data.params["learner"] == result.learner and run.data.params["costs"] == "a=0.01"
    assert run.data.metrics["value_always_a"] == pytest.approx(
        result.judgement.policies.loc["always a", "value"]
    )
    assert "learned_minus_best_arm_ci_low" in run.data.metrics
    names = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "learn")}
    assert {"policy.json", "scores.parquet", "report.html"} <= names
