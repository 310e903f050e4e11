"""One training run, end to end: training frame from Feast, Optuna-tuned response model,
S and T conversion learners (the oracle picks), registry, evaluation table, promotion.

Everything lands in one MLflow parent run: data fingerprint, config, feature service,
code version, world config, trials (nested runs), evaluation tables and plots.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from features.store import open_store
from features.store_definitions import FEATURE_SERVICE, JOIN_KEY
from optichannel.model_bundle import NextBestChannelModel
from optichannel.settings import Settings
from training import evaluation, models, plots, promotion, tracking
from training.config import TrainConfig
from training.dataset import TrainingFrame, training_frame
from training.tuning import tune_response

TRUTH = Path("truth") / "world.yaml"


@dataclass
class TrainResult:
    run_id: str
    version: str
    learner: str
    table: pd.DataFrame | None
    metrics: dict[str, float]
    promotion: promotion.Promotion
    report: Path | None


def logged_metrics(model: NextBestChannelModel, tf: TrainingFrame) -> dict[str, float]:
    """Without a simulator's truth: quality on the newest (test) weeks of logged outcomes.
    policy_value is minus the response log loss there, so "higher is better" still holds."""
    test = tf.part("test", "responded")
    if test.empty or test["responded"].nunique() < 2:
        raise ValueError("the test weeks hold no responses (or only); cannot judge the model")
    pred = model.p_response(test)
    y = test["responded"].to_numpy()
    return {
        "policy_value": -float(log_loss(y, pred)),
        "ece_response": evaluation.expected_calibration_error(pred, y, 15),
    }


def oracle_metrics(table: pd.DataFrame, calibration: dict[str, float]) -> dict[str, float]:
    row = table.loc["model"]
    return {
        "policy_value": float(row["net_value"]),
        "capture_response": float(row["capture_response"]),
        "capture_value": float(row["capture_value"]),
        **{k: v for k, v in calibration.items() if k.startswith("ece")},
    }


def run(
    settings: Settings,
    cfg: TrainConfig,
    world_dir: Path | None,
    report_dir: Path,
    progress: bool = True,
    log: Any = print,
) -> TrainResult:
    """Train, register as `challenger`, evaluate, and promote if it beats the champion."""
    import time

    import mlflow

    began = time.perf_counter()
    outer_log = log

    def log(message: str) -> None:  # every step with the time since the run began
        outer_log(f"[{time.perf_counter() - began:5.0f} s] {message}")

    client = tracking.setup(settings)
    store = open_store(settings)
    log("building the training frame from the Feast feature service (point in time)")
    tf = training_frame(store, settings.validated_dir, cfg.labels, cfg.split)
    has_truth = world_dir is not None and (Path(world_dir) / TRUTH).exists()
    with (
        mlflow.start_run(run_name=f"train-{tf.fingerprint[:8]}") as parent,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.set_tags({"data_fingerprint": tf.fingerprint, "feature_service": FEATURE_SERVICE,
                         "code_version": tracking.code_version(), "feed_end": str(tf.feed_end)})  # fmt: skip
        mlflow.log_params({"trials": cfg.trials, "weighting": cfg.weighting, "rows": len(tf.frame),
                           "customer_features": len(tf.customer_features), "seed": cfg.seed})  # fmt: skip
        mlflow.log_text(cfg.to_yaml(), "config/train.yaml")
        if has_truth:
            mlflow.log_artifact(str(Path(world_dir) / TRUTH), "config")
        log(f"tuning the response model: {cfg.trials} Optuna trials")
        params, _ = tune_response(tf, cfg, cfg.trials, progress)
        mlflow.log_params({f"best_{k}": v for k, v in params.items()})
        log("fitting the response model and the S and T conversion learners")
        response = models.fit_response(tf, params, cfg)
        learners = ["s", "t"] if cfg.uplift_learner == "auto" else [cfg.uplift_learner]
        meta = {
            "fingerprint": tf.fingerprint,
            "feature_service": FEATURE_SERVICE,
            "economics": cfg.economics.model_dump(mode="json"),
            "population": population_prior(tf),
        }
        candidates = {}
        for name in learners:
            try:
                candidates[name] = models.bundle(
                    tf, response, models.fit_conversion(tf, name, {}, cfg), name, meta
                )
            except ValueError as exc:  # e.g. a T-learner action without conversions in a small world
                if len(learners) == 1:
                    raise
                log(f"skipping the {name}-learner: {exc}")
        table, ctx, metrics = None, None, {}
        if has_truth:
            log("evaluating against the simulator's oracle")
            test_from = tf.frame.loc[tf.frame["split"] == "test", "sent_at"].min()
            points = evaluation.decision_points(
                tf.frame[JOIN_KEY], test_from, tf.feed_end, cfg.evaluation, cfg.seed
            )
            ctx = evaluation.prepare(store, Path(world_dir), points, cfg.evaluation, cfg.economics)
            results = {name: evaluation.evaluate(ctx, b) for name, b in candidates.items()}
            scores = {name: oracle_metrics(*res) for name, res in results.items()}
            learner = max(scores, key=lambda n: scores[n]["policy_value"])
            table, metrics = results[learner][0], scores[learner]
            mlflow.log_dict({n: s for n, s in scores.items()}, "evaluation/learner_comparison.json")
        else:
            log("no simulator truth: judging on the newest weeks of logged outcomes")
            scores = {name: logged_metrics(b, tf) for name, b in candidates.items()}
            learner = max(scores, key=lambda n: scores[n]["policy_value"])
            metrics = scores[learner]
        model = candidates[learner]
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tag("uplift_learner", learner)
        log(f"registering the {learner}-learner bundle in the MLflow registry")
        example = tf.part("valid", "responded").head(5)[model.conversion_features]
        version = tracking.log_and_register(model, example, Path(tmp))
        plots.log_plots(model, tf, ctx)
        report = None
        if table is not None:
            mlflow.log_table(table.reset_index(names="policy"), "evaluation/policies.json")
            report = write_report(report_dir, table, metrics, scores, version, learner)
            mlflow.log_artifact(str(report), "evaluation")
    log("comparing with the current champion")
    champion_metrics = champion_scores(client, ctx, tf)
    decision = promotion.decide(metrics, champion_metrics)
    promotion.apply(client, decision, version, parent.info.run_id)
    return TrainResult(parent.info.run_id, version, learner, table, metrics, decision, report)


def population_prior(tf: TrainingFrame) -> dict[str, float]:
    """Median of each customer feature over the training weeks: what serving assumes about a
    customer it has never seen (cold start), so the model scores a typical customer, not a void."""
    train = tf.frame.loc[tf.frame["split"] == "train", tf.customer_features]
    medians = train.apply(pd.to_numeric, errors="coerce").median()
    return {k: float(v) for k, v in medians.items() if np.isfinite(v) and not k.startswith("prf_consent")}


def champion_scores(
    client: Any, ctx: evaluation.Context | None, tf: TrainingFrame
) -> dict[str, float] | None:
    """The current champion judged on exactly the same decision points (or logged weeks)."""
    from optichannel.pyfunc_model import load_bundle

    if tracking.alias_version(client, tracking.CHAMPION) is None:
        return None
    champion = load_bundle(f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}")
    if ctx is None:
        return logged_metrics(champion, tf)
    return oracle_metrics(*evaluation.evaluate(ctx, champion))


def write_report(
    report_dir: Path, table: pd.DataFrame, metrics: dict[str, float], scores: dict, version: str, learner: str
) -> Path:
    """`reports/evaluation.json`: policy -> metrics, plus calibration and the learner comparison."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "evaluation.json"
    payload = {
        "model_version": version,
        "uplift_learner": learner,
        "policies": {p: {k: float(v) for k, v in row.items()} for p, row in table.iterrows()},
        "model": metrics,
        "learners": scores,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
