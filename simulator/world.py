"""The world config: everything that shapes a simulated bank, validated and documented.

One YAML (or the defaults) fully determines a world together with its seed, so the
config is saved with the truth and logged with every training run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from optichannel.channels import CHANNELS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: (IANA zone, region, share): a bank spread over Russia's zones plus a few expats (DST zones included)
DEFAULT_ZONES: tuple[tuple[str, str, float], ...] = (
    ("Europe/Moscow", "Central", 0.44),
    ("Europe/Kaliningrad", "Kaliningrad", 0.03),
    ("Europe/Samara", "Volga", 0.06),
    ("Asia/Yekaterinburg", "Urals", 0.12),
    ("Asia/Omsk", "Siberia", 0.03),
    ("Asia/Novosibirsk", "Siberia", 0.08),
    ("Asia/Krasnoyarsk", "Siberia", 0.06),
    ("Asia/Irkutsk", "Siberia", 0.04),
    ("Asia/Vladivostok", "Far East", 0.05),
    ("Europe/Berlin", "Abroad", 0.05),
    ("Asia/Dubai", "Abroad", 0.02),
    ("Asia/Bangkok", "Abroad", 0.02),
)


class ResponseEffects(_Strict):
    """Ground-truth response: logit = intercept + affinity + responsiveness + rhythm + context - fatigue."""

    intercept: dict[str, float] = Field(
        default_factory=lambda: {"email": -3.7, "sms": -3.1, "push": -3.0, "call": -1.15, "messenger": -1.75},
        description="per-channel logit intercept; sets the average response rate of each channel",
    )
    rhythm_weight: float = Field(2.4, description="logit gain from contact landing in an active hour")
    wait_decay: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.9, "sms": 0.7, "push": 0.45, "call": 0.0, "messenger": 0.75},
        description="per hour a message waits for the customer to wake up, its chance decays by this factor",
    )
    payday_lift: float = Field(0.8, description="logit lift of call and push on payday and the day after")
    travel_lift: float = Field(1.0, description="logit lift of e-mail within travel_days after an air ticket")
    travel_days: int = Field(14, ge=1)
    fatigue_weight: float = Field(0.5, description="logit penalty per recent contact, times sensitivity")
    fatigue_tau_days: float = Field(3.0, gt=0, description="recent contacts decay with this time constant")
    affinity_sd: float = Field(0.7, ge=0, description="individual spread of channel affinities (logit)")
    responsiveness_sd: float = Field(0.5, ge=0)


class ConversionEffects(_Strict):
    """Conversion within 7 days: baseline without contact, lift through a response, annoyance."""

    baseline_logit_mean: float = Field(-3.9, description="mean logit of the no-contact conversion (~2%)")
    baseline_logit_sd: float = Field(0.5, ge=0)
    given_response_mean: float = Field(0.22, gt=0, lt=1, description="mean P(convert | responded)")
    channel_multiplier: dict[str, float] = Field(
        default_factory=lambda: {"email": 1.0, "sms": 0.9, "push": 0.8, "call": 1.4, "messenger": 1.0}
    )
    annoyance: float = Field(0.12, ge=0, le=1, description="baseline loss per contact, times sensitivity")
    window_days: int = Field(7, ge=1)


class LoggingPolicy(_Strict):
    """Business as usual plus exploration and a no-contact holdout, every choice with its propensity."""

    exploration: float = Field(0.2, ge=0, le=1, description="share of decisions drawn uniformly")
    holdout: float = Field(0.05, ge=0, le=1, description="share of decisions held out with no contact")
    window_hours: tuple[int, int] = Field((8, 22), description="local hours of a campaign day [start, end)")
    affluent_quantile: float = Field(0.85, ge=0, le=1, description="income above this gets calls")
    campaign_weekdays: dict[str, int] = Field(
        default_factory=lambda: {"newsletter": 1, "promo": 3},
        description="campaign name -> local weekday (0=Monday) it runs each week",
    )

    @model_validator(mode="after")
    def _shares(self) -> LoggingPolicy:
        if self.exploration + self.holdout > 1:
            raise ValueError("exploration + holdout must not exceed 1")
        return self


class Drift(_Strict):
    """Customers whose channel preferences change on one day (a new phone, a new job): their
    channel affinities rotate, so their best channel moves. Off by default."""

    share: float = Field(0.0, ge=0, le=1, description="share of customers whose preferences move once")
    first_day: int = Field(0, ge=0, description="first day (counted from the start) a move may happen on")
    last_day: int | None = Field(
        None, ge=1, description="moves happen before this day (default: the world's last day)"
    )


class WorldConfig(_Strict):
    """Size, dates, seed and effect sizes of one simulated bank."""

    customers: int = Field(2000, ge=1, description="number of customers")
    start: dt.date = Field(dt.date(2026, 1, 5), description="first simulated day (local calendar)")
    days: int = Field(120, ge=7, description="number of simulated days")
    seed: int = Field(7, description="same seed, same bytes")
    chunk_size: int = Field(20_000, ge=100, description="customers per generation chunk (part of the seed)")
    new_customer_share: float = Field(0.06, ge=0, le=1, description="share signing up during the period")
    zones: tuple[tuple[str, str, float], ...] = DEFAULT_ZONES
    consent_rates: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.86, "sms": 0.55, "push": 0.75, "call": 0.4, "messenger": 0.35},
        description="share consenting per channel (push: share of app users)",
    )
    currency: str = "RUB"
    response: ResponseEffects = Field(default_factory=ResponseEffects)
    conversion: ConversionEffects = Field(default_factory=ConversionEffects)
    logging_policy: LoggingPolicy = Field(default_factory=LoggingPolicy)
    drift: Drift = Field(default_factory=Drift)

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        total = sum(share for _, _, share in self.zones)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"zone shares must sum to 1, got {total:.4f}")
        for name in ("consent_rates",):
            missing = set(CHANNELS) - set(getattr(self, name))
            if missing:
                raise ValueError(f"{name} misses channels: {sorted(missing)}")
        for name in ("intercept", "wait_decay"):
            missing = set(CHANNELS) - set(getattr(self.response, name))
            if missing:
                raise ValueError(f"response.{name} misses channels: {sorted(missing)}")
        return self

    @property
    def end(self) -> dt.date:
        """First day after the simulated period."""
        return self.start + dt.timedelta(days=self.days)

    @property
    def start_us(self) -> int:
        """UTC midnight of the first day, in microseconds (when a drift day starts counting)."""
        return int((self.start - dt.date(1970, 1, 1)).days) * 86_400_000_000

    def to_yaml(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False))

    @classmethod
    def from_yaml(cls, path: Path) -> WorldConfig:
        """Load and validate; errors name the file and the offending field."""
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"cannot read world config {path}: {exc}") from exc
        try:
            return cls.model_validate(raw)
        except Exception as exc:
            raise ValueError(f"invalid world config {path}:\n{exc}") from exc
