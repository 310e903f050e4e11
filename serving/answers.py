"""From scored candidate grids to the answers a CRM reads: the decision, the ranking of every
allowed channel at its best slot, why each other channel was excluded, and why this one won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features.candidates import CandidateGrid, candidate_grid
from features.request_params import RequestParams
from optichannel.channels import ACTIONS, CHANNELS, NONE
from optichannel.economics import Economics
from optichannel.model_bundle import NextBestChannelModel
from optichannel.model_policy import Scored, score_grid
from serving.schemas import PredictRequest

TOP_DRIVERS = 5


@dataclass
class Group:
    """Requests sharing a window length and purpose, scored together."""

    model: NextBestChannelModel
    grid: CandidateGrid
    allowed: np.ndarray  # [n, channels, hours]
    scored: Scored
    requests: list[PredictRequest]
    zones: list[str]

    @classmethod
    def build(
        cls,
        model: NextBestChannelModel,
        frame: pd.DataFrame,
        requests: list[PredictRequest],
        starts: pd.Series,
        hours: int,
        cap: int | None,
        allowed_hours: dict[str, tuple[int, int]] | None,
    ) -> Group:
        grid = candidate_grid(frame, starts, hours, CHANNELS, allowed_hours, max_contacts_7d=cap,
                              params=RequestParams.from_meta(model.meta))  # fmt: skip
        zones = frame["prf_tz"].where(frame["prf_tz"].notna(), "UTC").astype(str).tolist()
        return cls(model, grid, grid.allowed, score_grid(model, grid), requests, zones)

    def best_slot(self, j: int, contact: np.ndarray) -> np.ndarray:
        """[channels] best allowed slot of each channel for row j (0 where none is allowed)."""
        return np.where(self.allowed[j], contact[j], -np.inf).argmax(axis=1)

    def options(self, j: int, contact: np.ndarray) -> list[tuple[int, int]]:
        """Each allowed channel at its best slot."""
        slots = self.best_slot(j, contact)
        return [(c, int(slots[c])) for c in range(len(CHANNELS)) if self.allowed[j, c].any()]

    def exclusions(self, j: int) -> list[dict[str, str]]:
        """Why each channel without an allowed slot is out, the first reason that applies."""
        req, grid, out = self.requests[j], self.grid, []
        for c, name in enumerate(CHANNELS):
            if self.allowed[j, c].any():
                continue
            if req.channels is not None and name not in req.channels:
                reason = "not requested"
            elif not grid.consent[j, c]:
                reason = "no consent"
            elif not grid.under_cap[j]:
                reason = "frequency cap"
            else:
                reason = "quiet hours"
            out.append({"channel": name, "reason": reason})
        return out

    def when(self, j: int, slot: int) -> tuple[datetime, str]:
        """(UTC send time, the same moment as local ISO text) of a slot."""
        ts = pd.Timestamp(int(self.grid.slots_us[j, slot]), unit="us", tz="UTC")
        return ts.to_pydatetime(), ts.tz_convert(self.zones[j]).isoformat()

    def drivers(self, j: int, channel: int, slot: int) -> list[dict[str, Any]]:
        """Top contributions (log-odds) to P(conversion) of the chosen action."""
        if channel < 0:
            rows = self.grid.start.frame(np.array([j]))
            contrib = self.model.conversion_contributions(rows, np.array([ACTIONS.index(NONE)]), blank=True)
        else:
            rows = self.grid.candidates.frame(np.array([self.grid.position(j, channel, slot)]))
            contrib = self.model.conversion_contributions(rows, np.array([channel]))
        series = contrib.iloc[0].drop(labels=["bias"])
        top = series.abs().sort_values(ascending=False).index[:TOP_DRIVERS]
        values = rows.iloc[0]
        return [
            {"feature": f, "value": _num(values.get(f, channel if f == "action" else None)),
             "contribution": float(series[f])}
            for f in top
        ]  # fmt: skip


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def answer(
    group: Group,
    j: int,
    contact: np.ndarray,
    none: np.ndarray,
    greedy: tuple[int, int],
    picked: tuple[int, int, float],
    *,
    econ: Economics,
    known: bool,
    as_of: pd.Timestamp | None,
    model: tuple[str, str],
    decision_id: str,
) -> dict[str, Any]:
    """The PredictResponse fields for row j of a scored group."""
    req, sc = group.requests[j], group.scored
    channel, slot, propensity = picked

    def option(c: int, s: int) -> dict[str, Any]:
        send_at, local = group.when(j, s)
        return {"channel": CHANNELS[c], "send_at": send_at, "send_at_local": local,
                "p_response": float(sc.p_response[j, c, s]), "p_conversion": float(sc.p_conversion[j, c, s]),
                "expected_value": float(contact[j, c, s])}  # fmt: skip

    ranking = sorted((option(c, s) for c, s in group.options(j, contact)), key=lambda o: -o["expected_value"])
    no_contact = {"channel": NONE, "send_at": None, "send_at_local": None, "p_response": None,
                  "p_conversion": float(sc.p_none[j]), "expected_value": float(none[j])}  # fmt: skip
    decision = option(channel, slot) if channel >= 0 else no_contact
    excluded = group.exclusions(j)
    start, _ = group.when(j, 0)
    return {
        "decision_id": decision_id,
        "customer_id": req.customer_id,
        "decision": decision,
        "explanation": _sentence(
            decision, no_contact, ranking, excluded, group.zones[j], (channel, slot) != greedy
        ),
        "uplift": decision["p_conversion"] - no_contact["p_conversion"],
        "no_contact": no_contact,
        "ranking": ranking,
        "excluded": excluded,
        "drivers": group.drivers(j, channel, slot) if req.explain else None,
        "curve": _curve(group, j, contact) if req.curve else None,
        "window_start": start,
        "window_hours": group.grid.slots_us.shape[1],
        "timezone": group.zones[j],
        "fallback": not known,
        "propensity": propensity,
        "explored": (channel, slot) != greedy,
        "model_name": model[0],
        "model_version": model[1],
        "features_as_of": as_of.to_pydatetime() if known and as_of is not None and pd.notna(as_of) else None,
    }


def _curve(group: Group, j: int, contact: np.ndarray) -> dict[str, list[float | None]]:
    return {
        name: [float(v) if ok else None for v, ok in zip(contact[j, c], group.allowed[j, c], strict=True)]
        for c, name in enumerate(CHANNELS)
    }


def _sentence(
    decision: dict[str, Any],
    no_contact: dict[str, Any],
    ranking: list[dict[str, Any]],
    excluded: list[dict[str, str]],
    zone: str,
    explored: bool,
) -> str:
    """The decision in words: what, when (local), and the numbers that made it win."""
    rest = (
        ("; excluded: " + ", ".join(f"{e['channel']} ({e['reason']})" for e in excluded)) if excluded else ""
    )
    if decision["channel"] == NONE:
        if not ranking:
            return "no contact: no channel is allowed" + rest
        best = ranking[0]
        return (
            f"no contact: the best option, {best['channel']} at {best['send_at_local'][11:16]} local, "
            f"is worth "
            f"{best['expected_value']:.2f} against {no_contact['expected_value']:.2f} without contact" + rest
        )
    local = datetime.fromisoformat(decision["send_at_local"])
    lead = "exploration pick: " if explored else ""
    return (
        f"{lead}{decision['channel']} at {local:%H:%M} on {local:%a %d %b} ({zone}): expected value "
        f"{decision['expected_value']:.2f} against {no_contact['expected_value']:.2f} without contact; "
        f"P(conversion) {decision['p_conversion']:.1%} vs {no_contact['p_conversion']:.1%}, "
        f"P(response) {decision['p_response']:.1%}" + rest
    )
