"""Training for real on a small simulated bank: Feast historical retrieval, Optuna with nested
MLflow runs, the SQLite registry with aliases, the oracle evaluation, and promotion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decision.rules import Rules
from features import store as st
from optichannel.settings import Settings
from training import tracking
from training.config import Evaluation, SearchSpace, Split, TrainConfig
from training.dataset import training_frame
from training.train import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DAY = pd.Timedelta(days=1)
FAST = TrainConfig(
    trials=2,
    split=Split(valid_days=14, test_days=14),
    search=SearchSpace(max_rounds=400, early_stopping=30),
    evaluation=Evaluation(customers=400, times=2, window_hours=48),
)


@pytest.fixture(scope="module")
def trained(champion: dict, small_world: Path) -> dict:
    """Two runs on one registry: the session's sound champion, then a crippled challenger."""
    settings, root = champion["settings"], champion["reports"].parent
    crippled = FAST.model_copy(
        update={
            "trials": 1,
            "search": SearchSpace(learning_rate=(0.001, 0.0011), max_rounds=10, early_stopping=5),
        }
    )
    second = run(settings, crippled, small_world, root / "reports2", progress=False, log=lambda m: None)
    first, reports = champion["result"], champion["reports"]
    return {"settings": settings, "first": first, "second": second, "reports": reports}


def test_training_frame_is_point_in_time(local_store: Settings) -> None:
    """No leakage: a contact's features count only contacts before the snapshot preceding it."""
    cfg = TrainConfig()
    tf = training_frame(st.open_store(local_store), local_store.validated_dir, cfg.labels, cfg.split)
    contacts = pd.read_parquet(local_store.validated_dir / "contacts.parquet")
    sent = contacts[contacts.channel != "none"]
    rows = tf.frame.sample(300, random_state=3)
    for row in rows.itertuples():
        snap = row.sent_at.floor("D")
        mine = sent[(sent.customer_id == row.customer_id) & (sent.sent_at < snap)]
        assert row.cnt_contacts_7d == (mine.sent_at >= snap - 7 * DAY).sum()
    # labels: censored windows are unknown (NaN), never counted as failures
    late = tf.frame["sent_at"] > tf.feed_end - pd.Timedelta(days=cfg.labels.conversion_days)
    assert tf.frame.loc[late, "converted"].isna().all() and tf.frame.loc[~late, "converted"].notna().all()
    assert set(tf.frame["split"]) == {"train", "valid", "test"}
    assert tf.frame.groupby("split")["sent_at"].min().is_monotonic_increasing or (
        tf.frame.loc[tf.frame.split == "train", "sent_at"].max()
        < tf.frame.loc[tf.frame.split == "valid", "sent_at"].min()
    )


def test_first_model_is_registered_evaluated_and_promoted(trained: dict) -> None:
    import mlflow

    first = trained["first"]
    client = tracking.setup(trained["settings"])
    assert first.promotion.promoted
    assert tracking.alias_version(client, tracking.CHAMPION) == first.version
    table = first.table
    assert table.loc["oracle", "capture_response"] == pytest.approx(1.0)
    assert table.loc["random", "capture_response"] == pytest.approx(0.0)
    # the model clearly beats business as usual and the e-mail blast on the truth
    assert table.loc["model", "capture_response"] > 0.3
    assert table.loc["model", "net_value"] > table.loc["business_rules", "net_value"]
    assert table.loc["model", "net_value"] > table.loc["always_email", "net_value"]
    assert first.metrics["ece_response"] < 0.05
    report = json.loads((trained["reports"] / "evaluation.json").read_text())
    assert set(report["policies"]) >= {"oracle", "model", "random", "business_rules", "heuristic",
                                       "always_email", "never_contact"}  # fmt: skip
    logged = report["logged_value"]
    assert set(logged) >= {"model_s", "model_t", "model_m", "heuristic", "always_email", "never_contact",
                           "business_as_usual"}  # fmt: skip
    assert all("true_value" in row and row["lo"] <= row["estimate"] <= row["hi"] for row in logged.values())
    # the learner is the best by the logged-data estimate, whatever the truth says
    models = {k: v["estimate"] for k, v in logged.items() if k.startswith("model_")}
    assert report["uplift_learner"] == max(models, key=models.get).removeprefix("model_")
    assert report["promotion"]["promoted"] and not report["baseline_wins"]
    run = mlflow.get_run(first.run_id)
    assert {"data_fingerprint", "code_version", "feature_service"} <= set(run.data.tags)
    nested = mlflow.search_runs(filter_string=f"tags.mlflow.parentRunId = '{first.run_id}'")
    assert len(nested) == 2 * FAST.trials  # the response study, then the conversion study


def test_the_oracle_only_adds_the_truth_column(trained: dict, small_world: Path) -> None:
    """Estimates, and so every choice made on them, are the same with and without the oracle."""
    from optichannel.pyfunc_model import load_bundle
    from training import policy_value

    settings = trained["settings"]
    tracking.setup(settings)
    model = load_bundle(f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}")
    store = st.open_store(settings)
    tf = training_frame(store, settings.validated_dir, FAST.labels, FAST.split)
    tables = []
    for oracle in (None, policy_value.load_oracle(small_world)):
        ctx = policy_value.prepare(store, tf, FAST.evaluation, Rules(FAST.economics), oracle)
        tables.append(policy_value.estimate(ctx, policy_value.choices(ctx, {"model": model}), model)[0])
    blind, judged = tables
    assert "true_value" not in blind and "true_value" in judged
    pd.testing.assert_frame_equal(blind, judged.drop(columns="true_value"))


def test_worse_challenger_is_not_promoted(trained: dict) -> None:
    first, second = trained["first"], trained["second"]
    client = tracking.setup(trained["settings"])
    assert not second.promotion.promoted
    assert "does not beat" in second.promotion.reason or "worse" in second.promotion.reason
    assert tracking.alias_version(client, tracking.CHAMPION) == first.version
    assert tracking.alias_version(client, tracking.CHALLENGER) == second.version
    tag = client.get_model_version(tracking.MODEL_NAME, second.version).tags["promotion"]
    assert tag == second.promotion.reason


def test_registered_model_scores_through_pyfunc(trained: dict) -> None:
    import mlflow

    from optichannel.pyfunc_model import load_bundle

    tracking.setup(trained["settings"])
    uri = f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}"
    model = mlflow.pyfunc.load_model(uri)
    assert model.metadata.signature is not None
    example = model.input_example
    out = model.predict(example)
    assert list(out.columns) == ["p_response", "p_conversion"]
    assert np.all((out.to_numpy() > 0) & (out.to_numpy() < 1))
    bundle = load_bundle(uri)
    assert np.allclose(bundle.p_response(example), out["p_response"].to_numpy())


def test_evaluate_command_judges_the_champion(
    trained: dict, small_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from optichannel.settings import get_settings
    from pipeline.cli import build_app

    settings = trained["settings"]
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OPTICHANNEL_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    config = tmp_path / "train.yaml"
    config.write_text(FAST.to_yaml())
    try:
        runner = CliRunner()
        args = ["evaluate", "--world", str(small_world), "--config", str(config)]
        result = runner.invoke(build_app(), args)
        assert result.exit_code == 0, result.output
        report = json.loads((tmp_path / "reports" / "evaluation.json").read_text())
        assert report["model_version"] == trained["first"].version
        assert report["policies"]["oracle"]["capture_response"] == pytest.approx(1.0)
        # first what a bank can measure: the logged-data estimate, the oracle only beside it
        assert "model_champion" in report["logged_value"] and "heuristic" in report["logged_value"]
        assert result.output.index("logged decisions") < result.output.index("judged by the oracle")
        missing = runner.invoke(build_app(), [*args, "--alias", "nobody"])
        assert missing.exit_code == 1 and "no model has the alias 'nobody'" in missing.output
    finally:
        get_settings.cache_clear()


def test_the_estimate_rests_on_more_decisions_the_wider_its_clusters(trained: dict) -> None:
    """Each logged action's propensity: the decisions within 3 hours of a policy's slot count
    (hour_window 3); hour_window 0: only exact matches; only the channel's propensity: the whole channel,
    said so. More decisions carry the estimate as the cluster widens. No propensity at all: a
    clear refusal."""
    from dataclasses import replace

    from optichannel.pyfunc_model import load_bundle
    from training import policy_value

    settings = trained["settings"]
    tracking.setup(settings)
    model = load_bundle(f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}")
    store = st.open_store(settings)
    tf = training_frame(store, settings.validated_dir, FAST.labels, FAST.split)
    window = FAST.evaluation.model_copy(update={"hour_window": 3})
    exact = FAST.evaluation.model_copy(update={"hour_window": 0})
    designs = {"window": (tf.frame, window), "exact": (tf.frame, exact),
               "channel": (tf.frame.drop(columns="propensity"), window)}  # fmt: skip
    n, notes = {}, {}
    for name, (frame, evaluation) in designs.items():
        ctx = policy_value.prepare(store, replace(tf, frame=frame), evaluation, Rules(FAST.economics))
        table = policy_value.estimate(ctx, policy_value.choices(ctx, {"model": model}), model)[0]
        n[name], notes[name] = table.loc["model", "effective_n"], " ".join(ctx.notes)
        assert ctx.window == {"window": 3, "exact": 0, "channel": None}[name]
    assert n["exact"] < n["window"] < n["channel"] and n["exact"] < n["channel"] / 5
    assert "exact" not in notes["window"] and "logged channel and hour count" in notes["exact"]
    assert "log `propensity` too" in notes["channel"]
    blind = replace(tf, frame=tf.frame.drop(columns=["channel_propensity", "propensity"]))
    with pytest.raises(ValueError, match="no propensity"):
        policy_value.prepare(store, blind, FAST.evaluation, Rules(FAST.economics))


def test_a_run_on_a_dask_cluster_says_so(trained: dict, small_world: Path, tmp_path: Path) -> None:
    """`OPTICHANNEL_DASK_SCHEDULER=local`: the final fits go through lightgbm.dask (a 2-worker
    in-process cluster) and the run is tagged with that backend; the default run says `local`.
    Its own MLflow store, so the session's champion stays what the other tests expect."""
    import mlflow

    assert mlflow.get_run(trained["first"].run_id).data.tags["training_backend"] == "local"
    settings = trained["settings"].model_copy(
        update={"dask_scheduler": "local", "mlflow_tracking_uri": f"sqlite:///{tmp_path}/mlflow.db"}
    )
    quick = FAST.model_copy(update={"trials": 1, "uplift_learner": "s",
                                    "search": SearchSpace(max_rounds=30, early_stopping=5)})  # fmt: skip
    try:
        result = run(settings, quick, small_world, tmp_path / "reports", progress=False, log=lambda m: None)
        assert mlflow.get_run(result.run_id).data.tags["training_backend"] == "dask:local"
        assert result.version and 0 < result.metrics["ece_response"] < 1
    finally:
        tracking.setup(trained["settings"])  # the session store again, its experiment active
