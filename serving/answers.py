"""From scored candidate grids to the answers a CRM reads: the decision, the ranking of every
allowed channel at its best slot, why each other channel was excluded, and why this one won.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from decision.engine import Decided
from features.customer_block import CustomerBlock
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, NO_CONTACT, NONE
from optichannel.model_bundle import NextBestChannelModel
from serving.explain import describe, finite, no_contact_reason
from serving.schemas import Driver, Exclusion, Option, PredictRequest, PredictResponse

TOP_DRIVERS = 5


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass
class Group:
    """Requests sharing a window length and purpose, decided together."""

    model: NextBestChannelModel
    decided: Decided
    requests: list[PredictRequest]
    block: CustomerBlock
    stale: np.ndarray  # [n] features past their TTL at the window start (decided without them)
    age_hours: np.ndarray  # [n] age of the newest time-limited features (NaN: none read)
    zones: list[str] = field(init=False)

    def __post_init__(self) -> None:
        tz = self.block.text.get(fc.TIMEZONE, np.full(len(self.block), None))
        self.zones = ["UTC" if z is None or z != z else str(z) for z in tz]

    def options(self, j: int) -> list[tuple[int, int]]:
        """Each allowed channel at its best slot for row j."""
        allowed, contact = self.decided.allowed[j], self.decided.contact[j]
        slots = np.where(allowed, contact, -np.inf).argmax(axis=1)
        has = allowed.any(axis=1)
        return [(c, int(slots[c])) for c in range(len(CHANNELS)) if has[c]]

    def exclusions(self, j: int) -> list[Exclusion]:
        """Why each channel without an allowed slot is out, the first rule that excludes it."""
        grid, out = self.decided.grid, []
        has = self.decided.allowed[j].any(axis=1)
        open_hours = grid.quiet_ok[j] if grid.office is None else grid.quiet_ok[j] & grid.office[j]
        for c, name in enumerate(CHANNELS):
            if has[c]:
                continue
            if not grid.requested[j, c]:
                reason = "not requested"
            elif not grid.consent[j, c]:
                reason = "no consent"
            elif not grid.under_cap[j]:
                reason = "frequency cap"
            elif not grid.quiet_ok[j, c].any():
                reason = "quiet hours"
            elif not open_hours[c].any():
                reason = "office hours"
            else:
                reason = "capacity"
            out.append(Exclusion.model_construct(channel=name, reason=reason))
        return out

    def when(self, j: int, slot: int) -> tuple[datetime, datetime]:
        """(UTC send time, the same moment in the customer's zone) of a slot."""
        utc = datetime.fromtimestamp(int(self.decided.grid.slots_us[j, slot]) / 1e6, UTC)
        return utc, utc.astimezone(_zone(self.zones[j]))

    def drivers(self, j: int, channel: int, slot: int) -> list[Driver]:
        """Top contributions (log-odds) to P(conversion) of the chosen action, in words too."""
        grid = self.decided.grid
        if channel == NO_CONTACT:
            rows = grid.start.frame(np.array([j]))
            contrib = self.model.conversion_contributions(rows, np.array([NO_CONTACT]), blank=True)
            hour = None
        else:
            rows = grid.candidates.frame(np.array([grid.position(j, channel, slot)]))
            contrib = self.model.conversion_contributions(rows, np.array([channel]))
            hour = int(grid.local_hour[j, slot])
        series = contrib.iloc[0].drop(labels=["bias"])
        top = series.abs().sort_values(ascending=False).index[:TOP_DRIVERS]
        values = rows.iloc[0]
        name = NONE if channel == NO_CONTACT else CHANNELS[channel]
        out = []
        for f in top:
            value, contribution = finite(values.get(f, channel if f == "action" else None)), float(series[f])
            label, direction = describe(f, value, contribution, name, hour)
            out.append(Driver.model_construct(feature=f, value=value, contribution=contribution, label=label,
                                              direction=direction))  # fmt: skip
        return out


def answer(group: Group, j: int, *, known: bool, model: tuple[str, str], decision_id: str) -> PredictResponse:
    """The answer for row j of a decided group, built straight into the response model."""
    req, d = group.requests[j], group.decided
    sc, picked = d.scored, d.picked
    channel, slot = int(picked.choice.channel[j]), int(picked.choice.slot[j])

    def option(c: int, s: int) -> Option:
        send_at, local = group.when(j, s)
        return Option.model_construct(
            channel=CHANNELS[c], send_at=send_at, send_at_local=local.isoformat(),
            p_response=float(sc.p_response[j, c, s]), p_conversion=float(sc.p_conversion[j, c, s]),
            expected_value=float(d.contact[j, c, s]),
        )  # fmt: skip

    ranking = sorted((option(c, s) for c, s in group.options(j)), key=lambda o: -o.expected_value)
    no_contact = Option.model_construct(
        channel=NONE, send_at=None, send_at_local=None, p_response=None,
        p_conversion=float(sc.p_none[j]), expected_value=float(d.none[j]),
    )  # fmt: skip
    decision = no_contact if channel == NO_CONTACT else option(channel, slot)
    excluded = group.exclusions(j)
    explored = bool(picked.explored[j])
    start, _ = group.when(j, 0)
    as_of = int(group.block.as_of[j])
    stale, age = bool(group.stale[j]), finite(group.age_hours[j])
    warning = (
        f"; STALE FEATURES: the newest are {age:.0f} h old, past their time-to-live, so this decision "
        "ignores them (profile and consents only) — refresh the store (`optichannel features materialize`)"
        if stale and age is not None
        else ""
    )
    return PredictResponse.model_construct(
        decision_id=decision_id,
        customer_id=req.customer_id,
        decision=decision,
        explanation=_sentence(decision, no_contact, ranking, excluded, group.zones[j], explored) + warning,
        uplift=decision.p_conversion - no_contact.p_conversion,
        no_contact=no_contact,
        ranking=ranking,
        excluded=excluded,
        # for `none` the reason is the value comparison in the explanation, not a feature
        drivers=(group.drivers(j, channel, slot) if channel != NO_CONTACT else []) if req.explain else None,
        curve=_curve(group, j) if req.curve else None,
        window_start=start,
        window_hours=d.grid.slots_us.shape[1],
        timezone=group.zones[j],
        fallback=not known,
        propensity=float(picked.propensity[j]),
        channel_propensity=float(picked.channel_propensity[j]),
        explored=explored,
        model_name=model[0],
        model_version=model[1],
        features_as_of=datetime.fromtimestamp(as_of, UTC) if known and as_of > 0 else None,
        stale=stale,
        features_age_hours=age if known else None,
    )


def _curve(group: Group, j: int) -> dict[str, list[float | None]]:
    contact, allowed = group.decided.contact[j], group.decided.allowed[j]
    return {
        name: [float(v) if ok else None for v, ok in zip(contact[c], allowed[c], strict=True)]
        for c, name in enumerate(CHANNELS)
    }


def _sentence(
    decision: Option,
    no_contact: Option,
    ranking: list[Option],
    excluded: list[Exclusion],
    zone: str,
    explored: bool,
) -> str:
    """The decision in words: what, when (local), and the numbers that made it win; for `none`,
    the value comparison that made leaving the customer alone win."""
    rest = ("; excluded: " + ", ".join(f"{e.channel} ({e.reason})" for e in excluded)) if excluded else ""
    if decision.channel == NONE:
        best = ranking[0] if ranking else None
        reason = no_contact_reason(
            best and best.channel, best and best.expected_value, no_contact.expected_value
        )
        when = f" (its best time: {best.send_at_local[11:16]} local)" if best and best.send_at_local else ""
        return reason + when + rest
    local = datetime.fromisoformat(decision.send_at_local or "")
    lead = "exploration pick: " if explored else ""
    return (
        f"{lead}{decision.channel} at {local:%H:%M} on {local:%a %d %b} ({zone}): expected value "
        f"{decision.expected_value:.2f} against {no_contact.expected_value:.2f} without contact; "
        f"P(conversion) {decision.p_conversion:.1%} vs {no_contact.p_conversion:.1%}, "
        f"P(response) {decision.p_response or 0.0:.1%}" + rest
    )
