"""The service's request and answer, as pydantic models: they validate input (a 4xx naming
the field for anything malformed) and generate the OpenAPI schema a CRM developer reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from optichannel.channels import Action, Channel

ChannelName = Channel  # the one channel list (optichannel.channels), as the API names it
ActionName = Action
MAX_WINDOW_HOURS = 168
MAX_BATCH = 1000
#: the window starts a decision may be asked for (what the log, the feeds and pandas can hold)
EARLIEST, LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
MAX_OUTCOMES = 10_000
#: characters no id may hold: C0 controls (NUL among them, which PostgreSQL refuses) and DEL
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain_id(value: str, name: str) -> str:
    """`value` when it is a usable id: not blank, no control character (one-line reason otherwise)."""
    found = CONTROL.search(value)
    if found:
        raise ValueError(f"{name} has a control character ({found.group()!r} at position {found.start()})")
    if not value.strip():
        raise ValueError(f"{name} is blank")
    return value


class PredictRequest(BaseModel):
    """One outreach the CRM is about to make: whom, which channels it could use, when."""

    model_config = ConfigDict(extra="forbid")

    customer_id: str = Field(..., min_length=1, max_length=128, description="the CRM's customer id")
    channels: list[ChannelName] | None = Field(
        None, min_length=1, description="candidate channels (default: all five)"
    )
    window_start: datetime | None = Field(
        None, description="earliest send time, ISO 8601 with offset (default: the next full hour, UTC)"
    )
    window_hours: int = Field(72, ge=1, le=MAX_WINDOW_HOURS, description="hours the send may wait")
    purpose: Literal["marketing", "service"] = Field(
        "marketing", description="marketing needs the channel's consent and respects the frequency cap"
    )
    allow_no_contact: StrictBool = Field(True, description="may the answer be `none` when no contact pays?")
    explain: StrictBool = Field(False, description="include the top drivers of the decision")
    curve: StrictBool = Field(
        False, description="include each channel's expected value over the window's hours"
    )
    timezone: str | None = Field(
        None, description="IANA zone, used when the store does not know the customer (cold start)"
    )
    consent: dict[ChannelName, StrictBool] | None = Field(
        None, description="consents the CRM knows; override the store's per channel"
    )
    campaign: str | None = Field(
        None,
        max_length=128,
        description="a campaign plan the service was started with: its economics and limits",
    )

    @field_validator("customer_id")
    @classmethod
    def _plain(cls, value: str) -> str:
        return plain_id(value, "customer_id")

    @field_validator("window_hours", mode="before")
    @classmethod
    def _whole_hours(cls, value: object) -> object:
        if isinstance(value, bool | str | float):  # JSON true is not 1 hour, "72" not a number
            raise ValueError(f"window_hours must be a JSON integer of hours, got {value!r}")
        return value

    @field_validator("window_start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("window_start needs a UTC offset, e.g. 2026-11-24T18:00:00Z")
        if value is not None and not EARLIEST <= value < LATEST:
            raise ValueError(
                f"window_start must be between {EARLIEST:%Y} and {LATEST:%Y}, got {value:%Y-%m-%d}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value


class Option(BaseModel):
    """A channel at its best slot (or `none`), with what the model expects of it."""

    channel: ActionName
    send_at: datetime | None = Field(None, description="UTC send time (null for none)")
    send_at_local: str | None = Field(None, description="the same moment in the customer's local time")
    p_response: float | None = Field(None, description="P(response within 72 h)")
    p_conversion: float = Field(..., description="P(conversion within 7 days) under this action")
    expected_value: float = Field(..., description="value x P(conversion) - channel cost")


class Exclusion(BaseModel):
    channel: ChannelName
    reason: Literal["not requested", "no consent", "frequency cap", "quiet hours", "office hours", "capacity"]


class Driver(BaseModel):
    """One model input behind the decision: its raw name and value, and the same in words."""

    feature: str
    value: float | None
    contribution: float = Field(..., description="log-odds contribution to P(conversion) of the choice")
    label: str = Field(..., description="what the driver means in words, e.g. 'salary day tomorrow'")
    direction: Literal["for", "against"] = Field(
        ..., description="for: it raises P(conversion) of the choice; against: it lowers it"
    )


class PredictResponse(BaseModel):
    """The decision and everything needed to trust, log and later evaluate it."""

    decision_id: str
    customer_id: str
    decision: Option
    explanation: str = Field(..., description="the decision in one sentence")
    uplift: float = Field(
        ..., description="P(conversion) of the decision minus P(conversion) without contact"
    )
    no_contact: Option
    ranking: list[Option] = Field(..., description="every allowed channel at its best slot, best first")
    excluded: list[Exclusion]
    drivers: list[Driver] | None = None
    curve: dict[str, list[float | None]] | None = Field(
        None, description="per channel, expected value for each hour of the window (null if not allowed)"
    )
    window_start: datetime
    window_hours: int
    timezone: str
    fallback: bool = Field(..., description="true when the customer is unknown to the store (cold start)")
    propensity: float = Field(..., description="probability this policy picks this decision (exploration)")
    channel_propensity: float = Field(
        1.0, description="probability this policy picks this channel at any hour (or no contact)"
    )
    explored: bool
    model_name: str
    model_version: str
    features_as_of: datetime | None
    stale: bool = Field(
        False,
        description="true when the customer's time-limited features are past their time-to-live at the "
        "window start: the decision ignored them (as `optichannel score` does); refresh the store",
    )
    features_age_hours: float | None = Field(
        None, description="hours from the newest time-limited features to the window start"
    )


class BatchRequest(BaseModel):
    requests: list[PredictRequest] = Field(..., min_length=1, max_length=MAX_BATCH)


class OutcomeReport(BaseModel):
    """What happened to one decision. Fields are loose on purpose: a malformed row is quarantined
    with its reason (and counted) instead of failing the whole report."""

    model_config = ConfigDict(extra="ignore")

    decision_id: str | None = Field(None, description="the `decision_id` of the answer")
    event: str | None = Field(None, description="sent, not_sent, delivered, responded or converted")
    at: str | None = Field(None, description="when it happened, ISO 8601 with offset")
    value: float | str | None = Field(None, description="optional amount (e.g. a conversion's value)")


class OutcomesRequest(BaseModel):
    outcomes: list[OutcomeReport] = Field(..., min_length=1, max_length=MAX_OUTCOMES)


class RejectedOutcome(BaseModel):
    row: int = Field(..., description="1-based position in the request")
    decision_id: str | None
    event: str | None
    reason: str


class OutcomesResponse(BaseModel):
    """Counts reconcile: read = accepted + len(quarantined)."""

    read: int
    accepted: int
    quarantined: list[RejectedOutcome]
    released: int = Field(..., description="not_sent reports that took a contact off the frequency cap")
