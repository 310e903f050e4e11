"""Promotion: a challenger becomes champion only if it beats the champion on held-out policy
value without worse calibration. The rule is a pure function so it is tested on its own;
applying it moves the registry alias and records the numbers behind the decision.
"""

from __future__ import annotations

import math
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
class Promotion:
    promoted: bool
    reason: str
    challenger: dict[str, float]
    champion: dict[str, float] | None = field(default=None)


def decide(challenger: dict[str, float], champion: dict[str, float] | None) -> Promotion:
    """Promote when there is no champion, or the challenger's policy value is higher and none of
    its calibration errors is worse by more than ECE_TOLERANCE."""
    if champion is None:
        return Promotion(True, "no champion yet: the first model becomes champion", challenger)
    value_c, value_h = challenger[VALUE_METRIC], champion[VALUE_METRIC]
    if not (math.isfinite(value_c) and value_c > value_h):
        return Promotion(
            False,
            f"policy value {value_c:.4f} does not beat the champion's {value_h:.4f}",
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
        True, f"policy value {value_c:.4f} beats the champion's {value_h:.4f} at no worse calibration",
        challenger, champion,
    )  # fmt: skip


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
