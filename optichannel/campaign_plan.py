"""A campaign plan: the real limits one campaign runs under, read from a YAML file.

Budget, per-campaign economics (no retraining), channel capacities in the contact centre's own
time zone and office hours, and customer-local allowed hours per channel. In the kernel because
the batch scorer, the simulated A/B test and the service all honour the same plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from optichannel.channels import DEFAULT_ALLOWED_HOURS, Channel
from optichannel.economics import Economics
from optichannel.localtime import is_valid_tz

Hour = Annotated[int, Field(ge=0, le=24)]


class PlanError(ValueError):
    """A plan file that cannot be used: the message names the file and the field."""


def _hours(value: tuple[int, int], what: str) -> tuple[int, int]:
    if not value[0] < value[1]:
        raise ValueError(f"{what} must be [start, end) with start < end, got {list(value)}")
    return value


class Capacity(BaseModel):
    """How many contacts of one channel the campaign may book: per hour and/or per day of the
    centre's calendar, and in total; only inside its office hours on its working weekdays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_hour: int | None = Field(None, ge=0, description="contacts per clock hour (centre time)")
    per_day: int | None = Field(None, ge=0, description="contacts per calendar day (centre time)")
    total: int | None = Field(None, ge=0, description="contacts over the whole campaign")
    timezone: str = Field("UTC", description="the centre's IANA time zone")
    hours: tuple[Hour, Hour] = Field((0, 24), description="office hours [start, end), centre time")
    weekdays: tuple[int, ...] = Field(tuple(range(7)), description="working days, Monday = 0")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if not is_valid_tz(value):
            raise ValueError(f"unknown IANA time zone {value!r}")
        return value

    @field_validator("hours")
    @classmethod
    def _office(cls, value: tuple[int, int]) -> tuple[int, int]:
        return _hours(value, "hours")

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [d for d in value if not 0 <= d <= 6]
        if bad or not value:
            raise ValueError(f"weekdays must be a non-empty list of 0 (Monday) .. 6, got {list(value)}")
        return tuple(sorted(set(value)))

    @property
    def limited(self) -> bool:
        """True when some count limit applies (office hours alone limit when, not how many)."""
        return any(v is not None for v in (self.per_hour, self.per_day, self.total))


class EconomicsOverride(BaseModel):
    """What a conversion is worth and what each channel costs in this campaign."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value_per_conversion: float | None = Field(None, gt=0)
    cost: dict[Channel, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    max_contacts_7d: int | None = Field(None, ge=1, description="frequency cap for this campaign")


class CampaignPlan(BaseModel):
    """One campaign's limits. Every field is optional: an empty plan changes nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("campaign", min_length=1, description="what `/predict` calls it (`campaign`)")
    budget: float | None = Field(None, ge=0, description="total outreach cost, currency units")
    economics: EconomicsOverride = Field(default_factory=EconomicsOverride)
    capacity: dict[Channel, Capacity] = Field(default_factory=dict)
    quiet_hours: dict[Channel, tuple[Hour, Hour]] = Field(
        default_factory=dict, description="allowed customer-local hours [start, end) per channel"
    )
    prices: dict[
        Literal["email", "sms", "push", "call", "messenger", "budget"], Annotated[float, Field(ge=0)]
    ] = Field(
        default_factory=dict,
        description="dual prices for online decisions: per contact of a channel, and per currency "
        "unit of budget (`optichannel score --plan` writes them)",
    )

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        for ch, span in value.items():
            _hours(span, f"quiet_hours.{ch}")
        return value

    @model_validator(mode="after")
    def _something_to_book(self) -> CampaignPlan:
        for ch, cap in self.capacity.items():
            if not set(range(*cap.hours)) or not cap.weekdays:
                raise ValueError(f"capacity.{ch}: no office hour left to book")
        return self

    @property
    def constrained(self) -> bool:
        """True when the campaign must be allocated jointly (a budget or a count limit)."""
        return self.budget is not None or any(c.limited for c in self.capacity.values())

    def apply_economics(self, base: Economics) -> Economics:
        """The model's training economics with this campaign's overrides."""
        over = self.economics
        return base.model_copy(
            update={
                "value_per_conversion": over.value_per_conversion or base.value_per_conversion,
                "cost": {**base.cost, **over.cost},
                "max_contacts_7d": over.max_contacts_7d or base.max_contacts_7d,
            }
        )

    def scaled(self, share: float) -> CampaignPlan:
        """This plan's limits for a `share` of its customers (an A/B arm), counts rounded down, so
        arms of equal shares get equal limits."""

        def part(value: int | None) -> int | None:
            return None if value is None else int(value * share)

        capacity = {
            ch: c.model_copy(
                update={"per_hour": part(c.per_hour), "per_day": part(c.per_day), "total": part(c.total)}
            )
            for ch, c in self.capacity.items()
        }
        budget = None if self.budget is None else self.budget * share
        return self.model_copy(update={"capacity": capacity, "budget": budget})

    def allowed_hours(self, base: dict[str, tuple[int, int]] | None = None) -> dict[str, tuple[int, int]]:
        """Customer-local allowed hours per channel: the deployment's, then this plan's."""
        return {**(base or DEFAULT_ALLOWED_HOURS), **self.quiet_hours}


def save_plan(plan: CampaignPlan, path: Path) -> Path:
    """Write a plan as YAML that `load_plan` reads back to the same plan."""
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plan.model_dump(mode="json", exclude_none=True), sort_keys=False))
    return path


def load_plan(path: Path | str) -> CampaignPlan:
    """Read and validate a plan file; any problem is one `PlanError` line naming file and field."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise PlanError(f"campaign plan not found: {path}")
    try:
        raw: Any = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise PlanError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise PlanError(f"{path}: a plan is a mapping of fields (budget, economics, capacity, quiet_hours)")
    raw.setdefault("name", path.stem)
    try:
        return CampaignPlan.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "plan"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PlanError(f"{path}: {where}: {first['msg']}{more}") from None
