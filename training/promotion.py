"""Promotion: a challenger becomes champion only if it beats the best simple policy and the
champion on policy value estimated from held-out logged decisions, at no worse calibration.
The rule is a pure function so it is tested on its own; applying it moves the registry alias
and records the numbers behind the decision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from training.tracking import CHAMPION, MODEL_NAME

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: how much worse a challenger's calibration error may be and still count as "not worse"
ECE_TOLERANCE = 0.002
#: metrics compared: the policy value to beat (higher is better), calibration (lower is better)
VALUE_METRIC = "policy_value"
CALIBRATION_METRICS = ("ece_response", "ece_conversion")


@dataclass(frozen=True)
class Rival:
    """A policy the challenger must beat: its estimated value and the paired difference
    (challenger minus rival: point, lower, upper of the 95% interval)."""

    name: str
    value: float
    diff: tuple[float, float, float]

    def words(self) -> str:
        d, lo, hi = self.diff
        sure = "" if lo > 0 or hi < 0 else ", not yet beyond noise"
        return f"{d:+.4f} per decision vs {self.name} (95% CI {lo:+.4f} to {hi:+.4f}{sure})"


@dataclass(frozen=True)
class Promotion:
    promoted: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None = field(default=None)


def rival_of(
    estimates: dict[str, float],
    effective_n: dict[str, float],
    diff: Callable[[str], tuple[float, float, float]],
    few: float,
) -> tuple[Rival, str | None]:
    """The simple policy the challenger must beat (the best by estimate), and a note when one
    estimated above the challenger was set aside: a baseline estimated on fewer than `few`
    effective decisions (a handful of heavily weighted ones) blocks promotion only if it beats the
    challenger beyond noise; otherwise it is named in the note, never dropped silently."""

    def set_aside(name: str) -> bool:
        d, _, hi = diff(name)
        return effective_n[name] < few and d < 0 <= hi

    ordered = sorted(estimates, key=estimates.__getitem__, reverse=True)
    chosen = next((name for name in ordered if not set_aside(name)), ordered[0])
    notes = []
    for name in ordered[: ordered.index(chosen)]:
        d, lo, hi = diff(name)
        notes.append(f"{name} is estimated at {estimates[name]:.4f} per decision, above the model, on only "
                     f"{effective_n[name]:,.0f} effective decisions and within noise ({d:+.4f}, 95% CI "
                     f"{lo:+.4f} to {hi:+.4f}): too few to block promotion; read it as rough")  # fmt: skip
    return Rival(chosen, estimates[chosen], diff(chosen)), "; ".join(notes) or None


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    baseline: Rival | None = None,
    versus_champion: Rival | None = None,
) -> Promotion:
    """Promote when the challenger's estimated policy value beats the best simple policy's and
    the champion's (if any), and none of its calibration errors is worse than the champion's by
    more than ECE_TOLERANCE. A challenger that loses to a simple policy is never promoted."""
    value_c = challenger[VALUE_METRIC]
    if not math.isfinite(value_c):
        return Promotion(False, f"policy value {value_c} is not a number", challenger, champion)
    if baseline is not None and not value_c > baseline.value:
        return Promotion(
            False,
            f"the simple policy {baseline.name} is estimated to be worth more than the model: "
            f"{baseline.value:.4f} vs {value_c:.4f} per decision ({baseline.words()})",
            challenger,
            champion,
        )
    beats = f"; beats the best simple policy: {baseline.words()}" if baseline is not None else ""
    if champion is None:
        return Promotion(True, f"no champion yet: the first model becomes champion{beats}", challenger)
    value_h = champion[VALUE_METRIC]
    vs = f" ({versus_champion.words()})" if versus_champion is not None else ""
    if not value_c > value_h:
        return Promotion(
            False,
            f"policy value {value_c:.4f} does not beat the champion's {value_h:.4f}{vs}",
            challenger,
            champion,
        )
    for name in CALIBRATION_METRICS:
        if name in challenger and name in champion and challenger[name] > champion[name] + ECE_TOLERANCE:
            return Promotion(
                False,
                f"{name} {challenger[name]:.4f} is worse than the champion's {champion[name]:.4f} "
                f"(tolerance {ECE_TOLERANCE})",
                challenger,
                champion,
            )
    return Promotion(
        True,
        f"policy value {value_c:.4f} beats the champion's {value_h:.4f}{vs} at no worse calibration{beats}",
        challenger,
        champion,
    )


def apply(client: MlflowClient, decision: Promotion, version: str, run_id: str) -> None:
    """Move the `champion` alias when promoted; log the decision and its numbers either way."""
    import mlflow

    if decision.promoted:
        client.set_registered_model_alias(MODEL_NAME, CHAMPION, version)
    payload: dict[str, Any] = {
        "promoted": decision.promoted,
        "reason": decision.reason,
        "challenger_version": version,
        "challenger": decision.challenger,
        "champion": decision.champion,
    }
    client.set_model_version_tag(MODEL_NAME, version, "promotion", decision.reason)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_dict(payload, "promotion.json")
        mlflow.set_tag("promoted", str(decision.promoted).lower())
