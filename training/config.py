"""Run parameters of a training run: labels, time splits, LightGBM defaults, search space,
the decision's economics and the evaluation design. Validated from YAML (or defaults)
and logged to MLflow with the run, so every model says how it was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from optichannel.economics import Economics


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Labels(_Strict):
    """Outcomes count only inside their window; later contacts whose window runs past the feed's end
    are dropped from that label (their outcome is not known yet: censoring)."""

    response_hours: int = Field(72, ge=1, description="a response counts within this many hours")
    conversion_days: int = Field(7, ge=1, description="a conversion counts within this many days")


class Split(_Strict):
    """Time-based split: train on the past, validate on the next weeks, test on the last ones. A history
    shorter than the three together is split in their proportions (a month-long export still trains),
    down to `min_history_days`: below it too few weeks are left to judge a model on."""

    valid_days: int = Field(14, ge=1)
    test_days: int = Field(14, ge=1)
    min_train_days: int = Field(28, ge=7, description="days to train on when the history is long enough")
    min_history_days: int = Field(
        21,
        ge=3,
        description="a shorter history than the split is scaled in proportion down to this; less is refused",
    )

    def scaled(self, days: float) -> tuple[float, float] | None:
        """(validation, test) days for `days` of contacts: the configured ones when the history holds the
        whole split, in proportion down to `min_history_days`, None below it."""
        full = self.min_train_days + self.valid_days + self.test_days
        if days >= full:
            return float(self.valid_days), float(self.test_days)
        if days < self.min_history_days:
            return None
        return self.valid_days * days / full, self.test_days * days / full


class SearchSpace(_Strict):
    """Optuna search ranges for LightGBM (log-uniform where marked in the tuner)."""

    learning_rate: tuple[float, float] = (0.02, 0.2)
    num_leaves: tuple[int, int] = (15, 127)
    min_child_samples: tuple[int, int] = (20, 400)
    feature_fraction: tuple[float, float] = (0.5, 1.0)
    bagging_fraction: tuple[float, float] = (0.6, 1.0)
    lambda_l2: tuple[float, float] = (1e-3, 30.0)
    max_rounds: int = Field(600, ge=10)
    early_stopping: int = Field(40, ge=5)


class Evaluation(_Strict):
    """Decision points after the training period, scored by the oracle when the world is simulated."""

    customers: int = Field(2000, ge=10, description="customers sampled per decision time")
    times: int = Field(3, ge=1, description="decision times spread over the test period")
    window_hours: int = Field(72, ge=1, le=168)
    campaign_hours: tuple[int, int] = Field(
        (8, 22), description="local hours [start, end) of a campaign day: the options of a logged decision"
    )
    calibration_bins: int = Field(15, ge=2)
    hour_window: int | None = Field(
        None,
        ge=0,
        le=23,
        description="logged decisions within this many hours of a policy's slot (same channel) "
        "correct its estimated value (needs each contact's `propensity`); null: the whole channel "
        "(needs `channel_propensity`; the default until the window can narrow with the log's size: "
        "on small logs it is too noisy to gate promotion)",
    )


class TrainConfig(_Strict):
    """Everything that shapes one training run."""

    labels: Labels = Labels()
    split: Split = Split()
    search: SearchSpace = SearchSpace()
    economics: Economics = Economics()
    evaluation: Evaluation = Evaluation()
    trials: int = Field(20, ge=1, description="Optuna trials for the response model")
    conversion_trials: int | None = Field(
        None, ge=0, description="Optuna trials for the mediated conversion model (default: `trials`)"
    )
    uplift_learner: Literal["auto", "s", "t", "m"] = Field(
        "auto",
        description="conversion meta-learner; auto trains S, T and mediated and keeps the one with the "
        "highest value estimated from the logged decisions (never the oracle's pick)",
    )
    weighting: Literal["none", "ips"] = Field(
        "none", description="ips: weight rows by 1/propensity (clipped) to undo the logging policy"
    )
    ips_clip: float = Field(50.0, gt=1, description="largest inverse-propensity weight")
    monotone: bool = Field(
        True,
        description="the response model may only rise with the customer's activity and reach at the "
        "slot's hour and their response rate on the channel, and only fall with their fatigue",
    )
    seed: int = 7
    threads: int = Field(2, ge=1)

    @classmethod
    def from_yaml(cls, path: Path) -> TrainConfig:
        """Read a YAML file; unknown keys are an error naming them."""
        return cls.model_validate(yaml.safe_load(Path(path).read_text()) or {})

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
