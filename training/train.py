"""One training run, end to end: training frame from Feast, Optuna-tuned response model,
S, T and mediated conversion learners, chosen and gated by their value estimated from logged
decisions (the oracle, in simulation, only judges), registry, evaluation table, promotion.

Everything lands in one MLflow parent run: data fingerprint, config, feature service,
code version, world config, trials (nested runs), evaluation tables and plots.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from decision.rules import Rules
from features.request_params import META_KEY as REQUEST_PARAMS_KEY
from features.store import open_store
from features.store_definitions import FEATURE_SERVICE, JOIN_KEY
from optichannel.model_bundle import NextBestChannelModel
from optichannel.settings import Settings
from training import distributed, evaluation, models, plots, policy_value, promotion, tracking
from training.config import TrainConfig
from training.dataset import TrainingFrame, training_frame
from training.tuning import tune_mediated, tune_response

if TYPE_CHECKING:
    from distributed import Client

TRUTH = Path("truth") / "world.yaml"
#: the current champion's row in the logged-value table
CHAMPION_ROW = "champion"
ACTION = "action"


@dataclass
class TrainResult:
    run_id: str
    version: str
    learner: str
    table: pd.DataFrame | None
    verdict: Judgement
    metrics: dict[str, float]
    promotion: promotion.Promotion
    report: Path | None


def logged_calibration(model: NextBestChannelModel, tf: TrainingFrame) -> dict[str, float]:
    """Calibration on the newest (test) weeks of logged outcomes: what a bank can measure."""
    out = {}
    for label, name in (("responded", "ece_response"), ("converted", "ece_conversion")):
        rows = tf.part("test", label)
        if rows.empty:
            continue
        pred = model.p_response(rows) if label == "responded" else model.p_conversion(rows, rows[ACTION])
        out[name] = evaluation.expected_calibration_error(pred, rows[label].to_numpy(), 15)
    return out


def conversion_log_loss(model: NextBestChannelModel, tf: TrainingFrame) -> float:
    """Log loss of P(conversion | logged action) on the validation weeks: recorded for each
    learner, and what picks the reward model when there is no mediated one."""
    rows = tf.part("valid", "converted")
    pred = np.clip(model.p_conversion(rows, rows[ACTION]), 1e-6, 1 - 1e-6)
    return float(log_loss(rows["converted"].to_numpy(), pred, labels=[0, 1]))


def oracle_metrics(table: pd.DataFrame) -> dict[str, float]:
    row = table.loc["model"]
    return {
        "true_net_value": float(row["net_value"]),
        "capture_response": float(row["capture_response"]),
        "capture_value": float(row["capture_value"]),
    }


@dataclass
class Judgement:
    """The logged-data verdict on every policy, and what the choices were made on."""

    table: pd.DataFrame  # policy -> estimate, lo, hi, effective_n, matched, contacted[, true_value]
    draws: np.ndarray
    learner: str
    reward_model: str
    baseline: promotion.Rival
    versus_champion: promotion.Rival | None


def judge(
    ctx: policy_value.LoggedContext,
    candidates: dict[str, NextBestChannelModel],
    champion: NextBestChannelModel | None,
    tf: TrainingFrame,
) -> Judgement:
    """Estimate every candidate learner, the champion and the baselines on the same logged
    decisions; the best candidate by estimated value is the challenger."""
    losses = {name: conversion_log_loss(m, tf) for name, m in candidates.items()}
    # the mediated model learns the slot effects from responses: the least biased reward model
    reward = "m" if "m" in candidates else min(losses, key=losses.__getitem__)
    models = {f"model_{name}": m for name, m in candidates.items()}
    if champion is not None:
        models[CHAMPION_ROW] = champion
    table, draws = policy_value.estimate(ctx, policy_value.choices(ctx, models), candidates[reward])
    table["valid_conversion_log_loss"] = pd.Series({f"model_{n}": v for n, v in losses.items()})
    learner = max(candidates, key=lambda n: table.loc[f"model_{n}", "estimate"])
    chosen = f"model_{learner}"
    baselines = [p for p in table.index if not p.startswith("model_") and p != CHAMPION_ROW]
    rival, note = promotion.rival_of(
        {p: float(table.loc[p, "estimate"]) for p in baselines},
        {p: float(table.loc[p, "effective_n"]) for p in baselines},
        lambda p: policy_value.difference(table, draws, chosen, p), policy_value.FEW_EFFECTIVE,
    )  # fmt: skip
    if note:
        ctx.notes.append(note)
    versus = None
    if champion is not None:
        versus = promotion.Rival(CHAMPION_ROW, float(table.loc[CHAMPION_ROW, "estimate"]),
                                 policy_value.difference(table, draws, chosen, CHAMPION_ROW))  # fmt: skip
    return Judgement(table, draws, learner, reward, rival, versus)


def run(
    settings: Settings,
    cfg: TrainConfig,
    world_dir: Path | None,
    report_dir: Path,
    progress: bool = True,
    log: Any = print,
) -> TrainResult:
    """Train, register as `challenger`, judge on logged decisions (and the oracle in simulation),
    and promote if it beats the best simple policy and the champion. With `dask_scheduler` set, the
    final fits run on that Dask cluster (reached before any work starts); Optuna trials stay here."""
    with distributed.dask_client(settings.dask_scheduler) as dask:
        return _run(settings, cfg, world_dir, report_dir, progress, log, dask)


def _run(
    settings: Settings,
    cfg: TrainConfig,
    world_dir: Path | None,
    report_dir: Path,
    progress: bool,
    log: Any,
    dask: Client | None,
) -> TrainResult:
    """`run` with its Dask client (None: every fit in this process)."""
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
                         "code_version": tracking.code_version(), "feed_end": str(tf.feed_end),
                         "training_backend": distributed.backend_tag(settings.dask_scheduler)})  # fmt: skip
        mlflow.log_params({"trials": cfg.trials, "weighting": cfg.weighting, "rows": len(tf.frame),
                           "customer_features": len(tf.customer_features), "seed": cfg.seed})  # fmt: skip
        mlflow.log_text(cfg.to_yaml(), "config/train.yaml")
        if has_truth:
            mlflow.log_artifact(str(Path(world_dir) / TRUTH), "config")
        mlflow.log_dict(tf.request_params.to_meta(), "config/request_params.json")
        log(f"request constants estimated from the training weeks: {tf.request_params.to_meta()}")
        log(f"tuning the response model: {cfg.trials} Optuna trials")
        params, study = tune_response(tf, cfg, cfg.trials, progress)
        mlflow.log_params({f"best_{k}": v for k, v in params.items()})
        mlflow.set_tag("response_trial", study.user_attrs["chosen_trial"])
        log(f"fitting the response model ({distributed.backend_tag(settings.dask_scheduler)})")
        response = models.fit_response(tf, params, cfg, dask)
        conversion_trials = cfg.trials if cfg.conversion_trials is None else cfg.conversion_trials
        log(f"tuning the mediated conversion model: {conversion_trials} Optuna trials")
        conversion_params, study = tune_mediated(tf, response, cfg, conversion_trials, progress)
        mlflow.set_tag("conversion_trial", study.user_attrs.get("chosen_trial", "none"))
        mlflow.log_params({f"best_conversion_{k}": v for k, v in conversion_params.items()})
        log("fitting the S, T and mediated conversion learners")
        learners = ["s", "t", "m"] if cfg.uplift_learner == "auto" else [cfg.uplift_learner]
        meta = {
            "fingerprint": tf.fingerprint,
            "feature_service": FEATURE_SERVICE,
            "economics": cfg.economics.model_dump(mode="json"),
            "population": population_prior(tf),
            REQUEST_PARAMS_KEY: tf.request_params.to_meta(),
        }
        candidates = {}
        for name in learners:
            try:
                tuned = conversion_params if name == "m" else {}
                candidates[name] = models.bundle(
                    tf, response, models.fit_conversion(tf, name, tuned, cfg, dask), name, meta
                )
            except ValueError as exc:  # e.g. a T-learner action without conversions in a small world
                if len(learners) == 1:
                    raise
                log(f"skipping the {name}-learner: {exc}")
        oracle = policy_value.load_oracle(world_dir)
        log("estimating every policy's value on the test weeks' logged decisions (doubly robust)")
        rules = Rules.of(settings, cfg.economics)  # what the model will be served under
        lctx = policy_value.prepare(store, tf, cfg.evaluation, rules, oracle)
        champion = load_champion(client)
        verdict = judge(lctx, candidates, champion, tf)
        learner, model = verdict.learner, candidates[verdict.learner]
        metrics = {"policy_value": float(verdict.table.loc[f"model_{learner}", "estimate"]),
                   **logged_calibration(model, tf)}  # fmt: skip
        champion_metrics = None
        if champion is not None:
            champion_metrics = {"policy_value": float(verdict.table.loc[CHAMPION_ROW, "estimate"]),
                                **logged_calibration(champion, tf)}  # fmt: skip
        table, ctx = None, None
        if oracle is None:
            log("no simulator truth: the logged-data estimates stand alone, as on any bank's own feeds")
        else:
            log("judging against the simulator's oracle (reported, never chosen on)")
            test_from = tf.frame.loc[tf.frame["split"] == "test", "sent_at"].min()
            points = evaluation.decision_points(
                tf.frame[JOIN_KEY], test_from, tf.feed_end, cfg.evaluation, cfg.seed
            )
            ctx = evaluation.prepare(store, Path(world_dir), points, cfg.evaluation, rules,
                                     tf.request_params)  # fmt: skip
            truths = {name: oracle_metrics(evaluation.evaluate(ctx, b)[0]) for name, b in candidates.items()}
            table = evaluation.evaluate(ctx, model)[0]
            day = evaluation.campaign_day_table(store, Path(world_dir), points, cfg.evaluation, rules,
                                                tf.request_params, model)  # fmt: skip
            table = table.join(day[["net_value", "capture_value"]].add_suffix("_campaign_day"))
            metrics |= truths[learner] | {
                "capture_value_campaign_day": float(day.loc["model", "capture_value"])
            }
            for name, values in truths.items():
                for key, value in values.items():
                    verdict.table.loc[f"model_{name}", key] = value
        mlflow.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
        mlflow.set_tags({"uplift_learner": learner, "reward_model": verdict.reward_model})
        mlflow.log_table(verdict.table.reset_index(), "evaluation/logged_value.json")
        log(f"registering the {learner}-learner bundle in the MLflow registry")
        example = tf.part("valid", "responded").head(5)[model.conversion_features]
        version = tracking.log_and_register(model, example, Path(tmp))
        plots.log_plots(model, tf, ctx)
        if table is not None:
            mlflow.log_table(table.reset_index(names="policy"), "evaluation/policies.json")
        decision = promotion.decide(metrics, champion_metrics, verdict.baseline, verdict.versus_champion)
        report = write_report(report_dir, verdict, table, metrics, version, decision, lctx.notes)
        mlflow.log_artifact(str(report), "evaluation")
    promotion.apply(client, decision, version, parent.info.run_id)
    return TrainResult(parent.info.run_id, version, learner, table, verdict, metrics, decision, report)


def population_prior(tf: TrainingFrame) -> dict[str, float]:
    """Median of each customer feature over the training weeks: what serving assumes about a
    customer it has never seen (cold start), so the model scores a typical customer, not a void."""
    train = tf.frame.loc[tf.frame["split"] == "train", tf.customer_features]
    medians = train.apply(pd.to_numeric, errors="coerce").median()
    return {k: float(v) for k, v in medians.items() if np.isfinite(v) and not k.startswith("prf_consent")}


def load_champion(client: Any) -> NextBestChannelModel | None:
    """The current champion, judged on exactly the same logged decisions as the challenger."""
    from optichannel.pyfunc_model import load_bundle

    if tracking.alias_version(client, tracking.CHAMPION) is None:
        return None
    return load_bundle(f"models:/{tracking.MODEL_NAME}@{tracking.CHAMPION}")


def write_report(
    report_dir: Path,
    verdict: Judgement,
    table: pd.DataFrame | None,
    metrics: dict[str, float],
    version: str,
    decision: promotion.Promotion,
    notes: list[str],
) -> Path:
    """`reports/evaluation.json`: every policy's value estimated from logged decisions (and, in
    simulation, its true value), the oracle's table, the chosen learner and the promotion."""
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / "evaluation.json"

    def records(frame: pd.DataFrame) -> dict[str, dict[str, float | str]]:
        return {str(p): {k: v if isinstance(v, str) else float(v) for k, v in row.items() if pd.notna(v)}
                for p, row in frame.iterrows()}  # fmt: skip

    payload = {
        "model_version": version,
        "uplift_learner": verdict.learner,
        "reward_model": verdict.reward_model,
        "logged_value": records(verdict.table),
        "best_baseline": {"policy": verdict.baseline.name, "difference": list(verdict.baseline.diff)},
        "baseline_wins": not metrics["policy_value"] > verdict.baseline.value,
        "promotion": {"promoted": decision.promoted, "reason": decision.reason},
        "notes": notes,
        "model": metrics,
        "policies": records(table) if table is not None else None,
    }
    path.write_text(json.dumps(payload, indent=2))
    return path
