"""Where the champion's response capture falls short of the oracle's: the channel it picks, or the
hour within that channel. On a simulated world only (the oracle judges; it chooses nothing).

Same decision points, candidate grid and truth as `optichannel evaluate`. Prints the champion's
response capture, then two halfway policies on the same points: the champion's channel at the
oracle's best hour in it, and the oracle's channel at the champion's best hour in it. The loss to
the oracle splits into what the channel costs and what the hour within it costs.

    .venv/bin/python benchmarks/response_gap.py   # after `make demo`, ~1 min
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

# run as a script, this folder comes first on sys.path and benchmarks/training.py would hide
# the training package: put the repository root first instead
ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks")]


def best_slot(p: np.ndarray, allowed: np.ndarray, channel: np.ndarray) -> np.ndarray:
    """[rows] the allowed slot of `channel` where `p` is highest."""
    rows = np.arange(len(p))
    ch = np.clip(channel, 0, p.shape[1] - 1)
    return np.where(allowed[rows, ch], p[rows, ch], -np.inf).argmax(axis=1)


def main() -> None:
    from decision.choice import Choice
    from decision.engine import Engine
    from decision.rules import Rules
    from decision.scoring import Scored
    from features.request_params import RequestParams
    from features.store import open_store
    from features.store_definitions import JOIN_KEY
    from optichannel.pyfunc_model import load_bundle
    from optichannel.settings import get_settings
    from training import evaluation, tracking
    from training.config import TrainConfig
    from training.dataset import training_frame

    settings = get_settings()
    cfg = TrainConfig()
    tracking.setup(settings)
    try:
        model = load_bundle(f"models:/{tracking.MODEL_NAME}@champion")
    except Exception as exc:  # MLflow raises its own errors per backend: each means "no champion"
        raise SystemExit(f"error: no champion to judge ({exc}); run `make demo` first") from None
    store = open_store(settings)
    tf = training_frame(store, settings.validated_dir, cfg.labels, cfg.split)
    tf = replace(tf, request_params=RequestParams.from_meta(model.meta))
    test_from = tf.frame.loc[tf.frame["split"] == "test", "sent_at"].min()
    points = evaluation.decision_points(tf.frame[JOIN_KEY], test_from, tf.feed_end, cfg.evaluation, cfg.seed)
    rules = Rules.of(settings, cfg.economics)
    ctx = evaluation.prepare(store, settings.world_dir, points, cfg.evaluation, rules, tf.request_params)
    truth, allowed = ctx.truth["p_response"], ctx.allowed
    engine = Engine(model, ctx.rules)
    scored = engine.score(ctx.grid)
    mine = scored.p_response
    has = allowed.any(axis=(1, 2))

    def true_p(channel: np.ndarray, slot: np.ndarray) -> float:
        return float(Choice(channel, slot, np.zeros(len(channel))).take(truth, 0.0).mean())

    true_scores = Scored(truth, ctx.truth["p_conversion"], ctx.truth["p_none"])
    within = ctx.truth["allowed"]
    oracle = engine.choose(ctx.grid, true_scores, "response", within=within)
    model_pick = engine.choose(ctx.grid, scored, "response", within=within)
    random = evaluation.random_expectation(ctx.truth, ctx.econ)["p_response"]  # evaluation's 0 of capture
    best = true_p(oracle.channel, oracle.slot)

    def capture(value: float) -> float:
        return (value - random) / (best - random)

    got = true_p(model_pick.channel, model_pick.slot)
    right_hour = true_p(model_pick.channel, best_slot(truth, allowed, model_pick.channel))
    right_channel = true_p(oracle.channel, best_slot(mine, allowed, oracle.channel))
    same = float(np.mean(model_pick.channel[has] == oracle.channel[has]))
    print(f"{len(truth):,} decision points ({has.sum():,} with an allowed contact), 72-hour windows")
    print(f"  champion's response capture: {capture(got):.3f}")
    print(f"  its channel, the oracle's best hour in it: {capture(right_hour):.3f}")
    print(f"  the oracle's channel, its best hour in it: {capture(right_channel):.3f}")
    print(f"  same channel as the oracle: {same:.1%}")
    loss, channel_loss = best - got, best - right_hour
    print(f"  P(response) lost to the oracle: {loss:.4f} per decision; the channel {channel_loss:.4f} "
          f"({channel_loss / loss:.0%}), the hour within it {loss - channel_loss:.4f} "
          f"({(loss - channel_loss) / loss:.0%})")  # fmt: skip
    from benchmarks.results_file import write_result

    write_result("response_gap", {
        "decision points": len(truth), "response capture": capture(got),
        "its channel, the oracle's best hour": capture(right_hour),
        "the oracle's channel, its best hour": capture(right_channel), "same channel as the oracle": same,
        "P(response) lost per decision": loss, "of it, the channel": channel_loss,
    })  # fmt: skip


if __name__ == "__main__":
    main()
