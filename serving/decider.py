"""The decision engine behind `/predict` and `/predict_batch`: features -> candidate grid ->
model scores -> the kernel's constrained argmax -> one explained answer per request.

Vectorised per group of requests that share a window length and purpose, so a batch costs
one feature read and one LightGBM call per group, not per customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from features.candidates import numeric_matrix
from features.store_definitions import JOIN_KEY
from optichannel.channels import CHANNELS
from optichannel.decision import best_option
from optichannel.economics import Economics
from optichannel.model_bundle import NextBestChannelModel
from serving.answers import Group, answer
from serving.schemas import PredictRequest

#: (customer ids) -> (features with `customer_id` first, newest snapshot time per row)
FeatureReader = Callable[[list[str]], tuple[pd.DataFrame, pd.Series]]
CONSENT = [f"prf_consent_{c}" for c in CHANNELS]


def next_full_hour(now: datetime | None = None) -> datetime:
    """The default window start: the next full hour (UTC)."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@dataclass
class Decider:
    """Holds the model and the feature reader; `decide` answers a list of requests."""

    model: NextBestChannelModel
    read: FeatureReader
    model_name: str
    model_version: str
    epsilon: float = 0.0
    seed: int | None = None
    allowed_hours: dict[str, tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {self.epsilon}")
        self.econ = Economics.from_meta(self.model.meta)
        self.prior = {k: float(v) for k, v in (self.model.meta.get("population") or {}).items()}
        self.rng = np.random.default_rng(self.seed)

    def decide(self, requests: Sequence[PredictRequest], now: datetime | None = None) -> list[dict[str, Any]]:
        """One answer dict (the PredictResponse fields) per request, in request order."""
        if not requests:
            return []
        feats, as_of = self.read([r.customer_id for r in requests])
        known = known_rows(feats)
        frame = self._complete(feats, requests, known)
        starts = [r.window_start or next_full_hour(now) for r in requests]
        out: list[dict[str, Any] | None] = [None] * len(requests)
        groups: dict[tuple[int, str], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.window_hours, r.purpose), []).append(i)
        for (hours, purpose), idx in groups.items():
            rows = np.asarray(idx)
            group = Group.build(
                self.model,
                frame.iloc[rows].reset_index(drop=True),
                [requests[i] for i in rows],
                pd.Series([starts[i] for i in rows]),
                hours,
                cap=self.econ.max_contacts_7d if purpose == "marketing" else None,
                allowed_hours=self.allowed_hours,
            )
            contact, none = group.scored.values(self.econ)
            greedy = _choose(contact, group.allowed, none, [requests[i] for i in rows])
            for j, i in enumerate(rows):
                out[i] = answer(
                    group, j, contact, none, greedy[j], self._explore(group, j, contact, greedy[j]),
                    econ=self.econ, known=bool(known[i]), as_of=as_of.iloc[i],
                    model=(self.model_name, self.model_version), decision_id=uuid.uuid4().hex,
                )  # fmt: skip
        return [o for o in out if o is not None]

    def _complete(
        self, feats: pd.DataFrame, requests: Sequence[PredictRequest], known: np.ndarray
    ) -> pd.DataFrame:
        """Cold start gets the population prior; the request's consents, zone and purpose apply."""
        frame = apply_prior(feats, self.prior, ~known)
        unknown = ~known
        for i, req in enumerate(requests):
            if req.timezone and (unknown[i] or pd.isna(frame.at[i, "prf_tz"])):
                frame.at[i, "prf_tz"] = req.timezone
            for ch, given in (req.consent or {}).items():
                frame.at[i, f"prf_consent_{ch}"] = float(given)
            if req.purpose == "service":  # service messages need no marketing consent
                frame.loc[i, CONSENT] = 1.0
            if req.channels is not None:
                for ch in set(CHANNELS) - set(req.channels):
                    frame.at[i, f"prf_consent_{ch}"] = 0.0
        return frame

    def _explore(
        self, group: Group, j: int, contact: np.ndarray, greedy: tuple[int, int]
    ) -> tuple[int, int, float]:
        """(channel, slot, propensity): with probability epsilon, a uniformly random option among
        each allowed channel's best slot and `none`; the propensity is exact either way."""
        options = group.options(j, contact)
        if group.requests[j].allow_no_contact or not options:
            options.append((-1, 0))
        share = self.epsilon / len(options)
        if self.epsilon > 0 and self.rng.random() < self.epsilon:
            pick = options[int(self.rng.integers(len(options)))]
        else:
            pick = greedy
        prob = share + (1.0 - self.epsilon) * (pick == greedy)
        return pick[0], pick[1], float(prob)


def known_rows(feats: pd.DataFrame) -> np.ndarray:
    """A customer is known when the store returned any feature for them (else: cold start)."""
    values = numeric_matrix(feats.drop(columns=[JOIN_KEY, "prf_tz", "prf_region"], errors="ignore"))
    return ~np.isnan(values).all(axis=1) if values.shape[1] else np.zeros(len(feats), dtype=bool)


def apply_prior(feats: pd.DataFrame, prior: dict[str, float], unknown: np.ndarray) -> pd.DataFrame:
    """A copy where unknown customers carry the population prior (the training medians the model
    was shipped with) and every consent column exists."""
    frame = feats.reset_index(drop=True).copy()
    if unknown.any():
        for col, value in prior.items():
            if col in frame:
                frame.loc[unknown, col] = value
    if "prf_tz" not in frame:
        frame["prf_tz"] = None
    for col in CONSENT:  # missing or null consent counts as not given (see consent_matrix)
        if col not in frame:
            frame[col] = 0.0
    return frame


def _choose(
    contact: np.ndarray, allowed: np.ndarray, none: np.ndarray, requests: Sequence[PredictRequest]
) -> list[tuple[int, int]]:
    """The greedy choice per row: `none` competes only where the request allows it."""
    may_skip = np.array([r.allow_no_contact for r in requests])
    with_none = best_option(contact, allowed, none)
    without = best_option(contact, allowed, None)
    channel = np.where(may_skip, with_none.channel, without.channel)
    slot = np.where(may_skip, with_none.slot, without.slot)
    return list(zip(channel.tolist(), slot.tolist(), strict=True))
