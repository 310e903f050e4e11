"""The decision engine behind `/predict` and `/predict_batch`, on arrays from end to end:
feature block -> request overrides -> candidate grid -> model scores -> the kernel's decide
and exploration -> one answer per request.

Vectorised per group of requests that share a window length and purpose, so a batch costs
one feature read and one LightGBM pass per group, not per customer. The batch scorer reaches
the same `features.candidates` + `optichannel.model_policy` path through `decide_block`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from features.candidates import CandidateGrid, candidate_grid, window_us
from features.customer_block import CustomerBlock
from features.request_params import RequestParams
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, NO_CONTACT
from optichannel.decision import best_option
from optichannel.economics import Economics
from optichannel.model_bundle import NextBestChannelModel
from optichannel.model_policy import Picked, Scored, decide, explore, score_grid
from serving.answers import Group, answer
from serving.campaign_limits import CampaignLimits, Gate, UnknownCampaign
from serving.handed_out import HandedOut
from serving.schemas import PredictRequest, PredictResponse

#: customer ids -> their features as one block (see features.feast_sqlite.read.OnlineReader.read_block)
FeatureReader = Callable[[list[str]], CustomerBlock]
_US = 1_000_000


def next_full_hour(now: datetime | None = None) -> datetime:
    """The default window start: the next full hour (UTC)."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


@dataclass(frozen=True)
class Decided:
    """One group's grid, scores and picks: what answers and the batch scorer read."""

    grid: CandidateGrid
    scored: Scored
    contact: np.ndarray  # [n, channels, slots] net value of each contact
    none: np.ndarray  # [n] value of no contact
    picked: Picked
    allowed: np.ndarray  # [n, channels, slots] what the decision could take (a campaign's limits too)
    priced: np.ndarray  # [n, channels, slots] contact value net of the campaign's dual prices
    gate: Gate | None = None  # the campaign's limits, when the requests named one


def decide_block(
    model: NextBestChannelModel,
    block: CustomerBlock,
    window_start: np.ndarray,
    hours: int,
    econ: Economics,
    *,
    cap: int | None,
    may_skip: np.ndarray,
    allowed_hours: dict[str, tuple[int, int]] | None = None,
    epsilon: float = 0.0,
    rng: np.random.Generator | None = None,
    gate: Callable[[np.ndarray], Gate] | None = None,
) -> Decided:
    """The one decision path: candidate grid of `block` (requests applied) -> scores -> the
    kernel's value argmax (`none` only where `may_skip`) -> epsilon-greedy exploration. `gate`
    (slots -> a campaign's limits): only hours with room, each contact paying its dual price."""
    grid = candidate_grid(block, window_start, hours, CHANNELS, allowed_hours, max_contacts_7d=cap,
                          params=RequestParams.from_meta(model.meta))  # fmt: skip
    scored = score_grid(model, grid)
    contact, none = scored.values(econ)
    limits = gate(grid.slots_us) if gate is not None else None
    allowed = grid.allowed if limits is None else grid.allowed & limits.room
    price = None if limits is None else limits.price
    greedy = decide(scored, allowed, "value", econ, may_skip, price)
    priced = contact if price is None else contact - price
    picked = explore(greedy, allowed, may_skip, epsilon, rng or np.random.default_rng(0))
    return Decided(grid, scored, contact, none, picked, allowed, priced, limits)


def decide_frame(
    model: NextBestChannelModel,
    feats: pd.DataFrame,
    start: pd.Timestamp,
    hours: int,
    econ: Economics,
    allowed_hours: dict[str, tuple[int, int]] | None = None,
) -> tuple[CustomerBlock, np.ndarray, Decided]:
    """An offline chunk (campaign snapshots at one window start, cold start included) through
    `decide_block`, `none` allowed: (the block, which customers the store knew, the decisions)."""
    block = CustomerBlock.from_frame(feats)
    known = block.known()
    block = with_prior(block, model.meta.get("population") or {}, ~known)
    n = len(block)
    decided = decide_block(model, block, window_us(start, n), hours, econ, cap=econ.max_contacts_7d,
                           may_skip=np.ones(n, dtype=bool), allowed_hours=allowed_hours)  # fmt: skip
    return block, known, decided


def with_prior(block: CustomerBlock, prior: dict[str, float], unknown: np.ndarray) -> CustomerBlock:
    """A copy where unknown customers carry the population prior (the training medians the model
    was shipped with); the copy may then be overridden in place."""
    out = block.copy()
    if unknown.any() and prior:
        for col, value in prior.items():
            j = out.index.get(col)
            if j is not None:
                out.values[unknown, j] = value
    return out


def apply_requests(block: CustomerBlock, requests: Sequence[PredictRequest], unknown: np.ndarray) -> None:
    """The request's overrides, in place: a time zone for unknown customers, the CRM's consents,
    service messages need no marketing consent, and channels not requested are out."""
    idx = block.index
    consent = [idx[fc.consent(c)] for c in CHANNELS]
    zone = block.text.setdefault(fc.TIMEZONE, np.full(len(block), None, dtype=object))
    for i, req in enumerate(requests):
        if req.timezone and (unknown[i] or zone[i] is None):
            zone[i] = req.timezone
        if req.consent:
            for ch, given in req.consent.items():
                block.values[i, idx[fc.consent(ch)]] = float(given)
        if req.purpose == "service":
            block.values[i, consent] = 1.0
        if req.channels is not None:
            for c, ch in enumerate(CHANNELS):
                if ch not in req.channels:
                    block.values[i, consent[c]] = 0.0


def count_handed_out(
    block: CustomerBlock, requests: Sequence[PredictRequest], start_s: np.ndarray, store: HandedOut
) -> CustomerBlock:
    """Contacts between snapshots: marketing contacts handed out after the contacts snapshot a row
    was read from join the frequency cap's count (from 7 days before its window to the window's
    end; in place) and the fatigue and last-contact features (the returned block carries their send
    times). The feeds will hold them tomorrow; the cap and the customer's tiredness are today's."""
    j = block.index[fc.CONTACTS_7D]
    views = block.views
    since = (
        views.stamps[:, views.column_view[j]]
        if views is not None and views.column_view[j] >= 0
        else block.as_of
    )
    hours = np.array([r.window_hours for r in requests], dtype=np.int64)
    end = start_s + hours * 3600
    times = store.times([str(i) for i in block.ids], since, end)
    week = np.maximum(start_s - 7 * 86_400, since)
    counts = np.array([int((t >= w).sum()) for t, w in zip(times, week, strict=True)], dtype=np.int64)
    more = counts > 0
    block.values[more, j] = np.nan_to_num(block.values[more, j]) + counts[more]
    width = max((len(t) for t in times), default=0)
    if not width:
        return block
    recent = np.full((len(times), width), np.nan)
    for i, t in enumerate(times):
        recent[i, : len(t)] = t
    return replace(block, recent=recent)


def _turns(ids: Sequence[str]) -> list[int]:
    """How many earlier entries share each id (0 for a first occurrence)."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, -1) + 1
        out.append(seen[i])
    return out


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
    limits: CampaignLimits | None = None  # the campaign plans the service was started with
    handed_out: HandedOut | None = None  # marketing contacts handed out since the snapshots

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {self.epsilon}")
        self.econ = Economics.from_meta(self.model.meta)
        self.prior = {k: float(v) for k, v in (self.model.meta.get("population") or {}).items()}
        self.rng = np.random.default_rng(self.seed)

    def decide(
        self, requests: Sequence[PredictRequest], now: datetime | None = None
    ) -> list[PredictResponse]:
        """One answer per request, in request order. A customer asked about twice in one batch is
        decided in turn, so the second request sees what the first handed out."""
        if not requests:
            return []
        turns = _turns([r.customer_id for r in requests]) if self.handed_out is not None else [0]
        if max(turns) > 0:
            out: list[PredictResponse | None] = [None] * len(requests)
            for k in range(max(turns) + 1):
                idx = [i for i, t in enumerate(turns) if t == k]
                for i, a in zip(idx, self.decide([requests[i] for i in idx], now), strict=True):
                    out[i] = a
            return [a for a in out if a is not None]
        block = self.read([r.customer_id for r in requests])
        missing = [c for c in fc.DECISION_COLUMNS if c not in block.index]
        if missing:
            raise RuntimeError(f"the feature service lacks the decision's columns: {', '.join(missing)}")
        known = block.known()
        default = int(next_full_hour(now).timestamp()) * _US
        starts = np.array(
            [default if r.window_start is None else int(r.window_start.timestamp() * _US) for r in requests],
            dtype=np.int64,
        )
        # the point-in-time rule of `optichannel score`: a view past its TTL at the window start
        # reads as missing (the customer stays known: profile and consents hold), flagged stale
        block, stale, age = block.expire(starts // _US)
        block = with_prior(block, self.prior, ~known)
        apply_requests(block, requests, ~known)
        if self.handed_out is not None:
            block = count_handed_out(block, requests, starts // _US, self.handed_out)
        out: list[PredictResponse | None] = [None] * len(requests)
        groups: dict[tuple[int, str, str | None], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.window_hours, r.purpose, r.campaign), []).append(i)
        for (hours, purpose, campaign), idx in groups.items():
            rows = np.asarray(idx)
            mine = [requests[i] for i in rows]
            part = block.take(rows)
            econ, allowed_hours, gate = self._campaign(campaign)
            may_skip = np.array([r.allow_no_contact for r in mine])
            decided = decide_block(
                self.model, part, starts[rows], hours, econ,
                cap=econ.max_contacts_7d if purpose == "marketing" else None, may_skip=may_skip,
                allowed_hours=allowed_hours, epsilon=self.epsilon, rng=self.rng, gate=gate,
            )  # fmt: skip
            if campaign is not None:
                self._book(campaign, decided, may_skip)
            group = Group(self.model, decided, mine, part, stale[rows], age[rows])
            for j, i in enumerate(rows.tolist()):
                out[i] = answer(group, j, known=bool(known[i]), model=(self.model_name, self.model_version),
                                decision_id=uuid.uuid4().hex)  # fmt: skip
        answers = [o for o in out if o is not None]
        if self.handed_out is not None:
            self.handed_out.add([(a.customer_id, int(a.decision.send_at.timestamp()), a.decision_id)
                                 for a, r in zip(answers, requests, strict=True)
                                 if r.purpose == "marketing" and a.decision.send_at is not None])  # fmt: skip
        return answers

    def check(self, requests: Sequence[PredictRequest]) -> None:
        """Raise UnknownCampaign (a 400 naming it) before a bad request joins a batch."""
        for name in {r.campaign for r in requests if r.campaign is not None}:
            self._campaign(name)

    def _campaign(
        self, name: str | None
    ) -> tuple[Economics, dict[str, tuple[int, int]] | None, Callable[[np.ndarray], Gate] | None]:
        """(economics, quiet hours, limits) of a request's campaign; the model's own without one."""
        if name is None:
            return self.econ, self.allowed_hours, None
        if self.limits is None:
            raise UnknownCampaign(
                f"campaign: unknown campaign {name!r} (this service was started without plans)"
            )
        limits = self.limits
        return limits.economics(name), limits.allowed_hours(name), lambda slots: limits.gate(name, slots)

    def _book(self, name: str, decided: Decided, may_skip: np.ndarray) -> None:
        """Book every contact on the live counters, in request order; a place that ran out since
        the gate was read is taken out and the row decides again (greedy, propensity 1)."""
        limits = self.limits
        if limits is None:
            return
        choice, picked = decided.picked.choice, decided.picked
        for j in range(len(choice.channel)):
            while choice.channel[j] != NO_CONTACT:
                c, s = int(choice.channel[j]), int(choice.slot[j])
                if limits.book(name, decided.grid.slots_us[j], c, s):
                    break
                decided.allowed[j, c, s] = False
                one = slice(j, j + 1)
                again = best_option(
                    decided.priced[one], decided.allowed[one], decided.none[one], may_skip[one]
                )
                choice.channel[j], choice.slot[j], choice.value[j] = (
                    again.channel[0],
                    again.slot[0],
                    again.value[0],
                )
                picked.propensity[j], picked.channel_propensity[j], picked.explored[j] = 1.0, 1.0, False
