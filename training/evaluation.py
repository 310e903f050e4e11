"""Honest evaluation against the simulator's truth: every policy chooses on the same decision
points after the training period, and the oracle says what each choice is truly worth.

Two objectives: `response` (the best allowed contact by P(response)) and `value`
(value x P(conversion) - cost, no contact allowed). Oracle capture puts each policy on a
0 (random) to 1 (oracle) scale; calibration compares predicted with true probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from decision import baselines as policies
from decision.choice import Choice
from decision.engine import Engine
from decision.grid import CandidateGrid, candidate_grid
from decision.rules import Rules
from decision.scoring import Scored
from features.request_params import RequestParams
from features.store import historical_features
from features.store_definitions import JOIN_KEY, TIMESTAMP
from optichannel import feature_columns as fc
from optichannel.economics import Economics
from optichannel.localtime import local_day_start
from optichannel.model_bundle import NextBestChannelModel
from simulator.oracle import Oracle
from training.config import Evaluation

if TYPE_CHECKING:
    from feast import FeatureStore


def decision_points(
    customers: pd.Series, test_from: pd.Timestamp, end: pd.Timestamp, cfg: Evaluation, seed: int
) -> pd.DataFrame:
    """`cfg.times` decision times spread over the test weeks, `cfg.customers` customers at each."""
    rng = np.random.default_rng(seed)
    last = end - pd.Timedelta(hours=cfg.window_hours)
    times = pd.date_range(test_from, max(last, test_from), periods=cfg.times).floor("h")
    ids = customers.drop_duplicates().to_numpy()
    frames = [
        pd.DataFrame(
            {JOIN_KEY: rng.choice(ids, size=min(cfg.customers, len(ids)), replace=False), TIMESTAMP: t}
        )
        for t in times
    ]
    return pd.concat(frames, ignore_index=True)


def _true_value(truth: dict[str, np.ndarray], choice: Choice, econ: Economics) -> dict[str, np.ndarray]:
    incremental = choice.take(truth["p_conversion"], truth["p_none"]) - truth["p_none"]
    return {
        "p_response": choice.take(truth["p_response"], 0.0),
        "incremental": incremental,
        "net_value": econ.value_per_conversion * incremental - econ.contact_cost(choice.channel),
        "contacted": choice.contacted.astype(float),
    }


def random_expectation(truth: dict[str, np.ndarray], econ: Economics) -> dict[str, float]:
    """Exact expected outcome of picking uniformly among each customer's allowed contacts."""
    allowed = truth["allowed"]
    count = allowed.sum(axis=(1, 2))
    has = count > 0
    cost = econ.channel_costs()
    incr = truth["p_conversion"] - truth["p_none"][:, None, None]
    net = econ.value_per_conversion * incr - cost

    def mean_allowed(values: np.ndarray) -> np.ndarray:
        return np.where(has, (values * allowed).sum(axis=(1, 2)) / np.maximum(count, 1), 0.0)

    return {
        "p_response": float(mean_allowed(truth["p_response"]).mean()),
        "incremental": float(mean_allowed(incr).mean()),
        "net_value": float(mean_allowed(net).mean()),
        "contacted": float(has.mean()),
    }


def expected_calibration_error(pred: np.ndarray, true: np.ndarray, bins: int) -> float:
    """Mean |predicted - true| over equal-count bins of the prediction, weighted by bin size."""
    order = np.argsort(pred, kind="stable")
    parts = np.array_split(order, bins)
    return float(sum(len(p) * abs(pred[p].mean() - true[p].mean()) for p in parts if len(p)) / len(pred))


@dataclass
class Context:
    """Everything about the decision points that does not depend on the model: computed once,
    then every model (S and T learners, challenger and champion) is judged on the same ground."""

    points: pd.DataFrame
    features: pd.DataFrame
    grid: CandidateGrid
    truth: dict[str, np.ndarray]
    allowed: np.ndarray
    fixed: dict[str, Choice]
    cfg: Evaluation
    rules: Rules

    @property
    def econ(self) -> Economics:
        return self.rules.econ


def prepare(
    store: FeatureStore,
    world_dir: Path,
    points: pd.DataFrame,
    cfg: Evaluation,
    rules: Rules,
    params: RequestParams | None = None,
) -> Context:
    """Point-in-time features, the candidate grid under the deployment's `rules` (request
    features under `params`, those of the models to judge), the oracle's truth and the fixed
    policies' choices."""
    oracle = Oracle.load(world_dir)
    feats = historical_features(store, points)
    grid = candidate_grid(feats, points[TIMESTAMP], cfg.window_hours, rules, params=params)
    truth = oracle.grid(points[JOIN_KEY].to_numpy(), points[TIMESTAMP], cfg.window_hours)
    allowed = grid.allowed
    truth["allowed"] = truth["allowed"] & allowed
    affluent = oracle.lat.affluent[oracle.positions(points[JOIN_KEY].to_numpy())]
    fixed = {
        "business_rules": policies.business_rules(affluent, grid.consent, grid.local_hour, allowed),
        "heuristic": policies.heuristic(feats, grid.local_hour, allowed),
        "always_email": policies.always_email(grid.local_hour, allowed),
        "never_contact": policies.never_contact(len(points)),
    }
    return Context(points, feats, grid, truth, allowed, fixed, cfg, rules)


def choices(ctx: Context, model: NextBestChannelModel) -> tuple[dict[str, dict[str, Choice]], Scored]:
    """Every policy's choice per objective on the decision points, and the model's scores: the
    model through the decision engine under the deployment's rules, the oracle as the same
    engine choosing by the truth, then the fixed policies."""
    engine = Engine(model, ctx.rules)
    scored = engine.score(ctx.grid)
    truth = ctx.truth
    oracle = Scored(truth["p_response"], truth["p_conversion"], truth["p_none"])  # the engine on the truth
    within = truth["allowed"]  # the true consents (the grid's rules hold already)
    return {
        "oracle": {o: engine.choose(ctx.grid, oracle, o, within=within) for o in ("response", "value")},
        "model": {o: engine.choose(ctx.grid, scored, o, within=within) for o in ("response", "value")},
        **{name: {"response": c, "value": c} for name, c in ctx.fixed.items()},
    }, scored


def evaluate(ctx: Context, model: NextBestChannelModel) -> tuple[pd.DataFrame, dict[str, float]]:
    """Policy table (policy x metrics, captures included) and the model's calibration errors."""
    truth, allowed, econ = ctx.truth, ctx.allowed, ctx.econ
    picks, scored = choices(ctx, model)
    rand = random_expectation(truth, econ)
    table = {"random": rand | {"response_choice_p_response": rand["p_response"]}}
    for name, by_obj in picks.items():
        resp = _true_value(truth, by_obj["response"], econ)
        val = _true_value(truth, by_obj["value"], econ)
        table[name] = {
            "response_choice_p_response": float(resp["p_response"].mean()),
            "p_response": float(val["p_response"].mean()),
            "incremental": float(val["incremental"].mean()),
            "net_value": float(val["net_value"].mean()),
            "contacted": float(val["contacted"].mean()),
        }
    frame = pd.DataFrame(table).T
    o, r = frame.loc["oracle"], frame.loc["random"]
    frame["capture_response"] = (frame["response_choice_p_response"] - r["response_choice_p_response"]) / (
        o["response_choice_p_response"] - r["response_choice_p_response"]
    )
    frame["capture_value"] = (frame["net_value"] - r["net_value"]) / (o["net_value"] - r["net_value"])
    frame["incremental_per_1000"] = 1000 * frame["incremental"]
    bins = ctx.cfg.calibration_bins
    calibration = {
        "ece_response": expected_calibration_error(
            scored.p_response[allowed], truth["p_response"][allowed], bins
        ),
        "ece_conversion": expected_calibration_error(
            scored.p_conversion[allowed], truth["p_conversion"][allowed], bins
        ),
        "ece_none": expected_calibration_error(scored.p_none, truth["p_none"], bins),
        "decisions": float(len(ctx.points)),
    }
    return frame.drop(columns=["incremental"]), calibration


def campaign_day_points(store: FeatureStore, points: pd.DataFrame, cfg: Evaluation) -> pd.DataFrame:
    """The deployment's kind of decision: the customers and days of `points` (`decision_points`),
    each decided at the local start of that day's campaign window (`cfg.campaign_hours`), for that
    day only. A 72-hour window lets a policy pick the day (payday, a trip); a campaign day does not."""
    day = points.assign(**{TIMESTAMP: pd.to_datetime(points[TIMESTAMP], utc=True).dt.floor("D")})
    tz = historical_features(store, day)[fc.TIMEZONE]
    start = local_day_start(day[TIMESTAMP], tz.to_numpy(), cfg.campaign_hours[0])
    return pd.DataFrame({JOIN_KEY: points[JOIN_KEY].to_numpy(), TIMESTAMP: start.to_numpy()})


def campaign_day_table(
    store: FeatureStore,
    world_dir: Path,
    points: pd.DataFrame,
    cfg: Evaluation,
    rules: Rules,
    params: RequestParams | None,
    model: NextBestChannelModel,
) -> pd.DataFrame:
    """`evaluate`'s policy table on the campaign days of `points` (`campaign_day_points`)."""
    hours = cfg.campaign_hours[1] - cfg.campaign_hours[0]
    day_cfg = cfg.model_copy(update={"window_hours": hours})
    day_points = campaign_day_points(store, points, cfg)
    return evaluate(prepare(store, world_dir, day_points, day_cfg, rules, params), model)[0]
