"""The service's decisions: requests in, answers out. Reads the customers' features, applies
the point-in-time rule (stale views read as missing), counts what was handed out since the
snapshots, turns each request into what it narrows (`asks_of`), and decides through the one
engine (`decision.engine.Engine`) per group of requests that share a window length and campaign,
so a batch costs one feature read and one LightGBM pass per group, not per customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from decision.engine import Decided, Engine, with_prior
from decision.rules import Asks
from features.customer_block import CustomerBlock
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, NO_CONTACT
from optichannel.model_bundle import NextBestChannelModel
from serving.answers import Group, answer
from serving.campaign_limits import CampaignLimits, Gate, UnknownCampaign
from serving.handed_out import UNCAPPED, Claim, HandedOut
from serving.schemas import PredictRequest, PredictResponse

#: customer ids -> their features as one block (see features.feast_sqlite.read.OnlineReader.read_block)
FeatureReader = Callable[[list[str]], CustomerBlock]
_US = 1_000_000
#: decisions of one request before a lost cap place is an error (each loss is another's contact)
CLAIM_TRIES = 8


def next_full_hour(now: datetime | None = None) -> datetime:
    """The default window start: the next full hour (UTC)."""
    now = now or datetime.now(UTC)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def asks_of(requests: Sequence[PredictRequest]) -> Asks:
    """What the requests narrow: the channels they list, the CRM's own consents, service messages
    (no marketing consent needed, no cap) and whether `none` may be answered. None of it is a
    model input: an option's probabilities do not depend on what else was asked for."""
    n = len(requests)
    requested = np.ones((n, len(CHANNELS)), dtype=bool)
    consent = np.full((n, len(CHANNELS)), np.nan)
    for i, req in enumerate(requests):
        if req.channels is not None:
            requested[i] = [ch in req.channels for ch in CHANNELS]
        if req.consent:
            for ch, given in req.consent.items():
                consent[i, CHANNELS.index(ch)] = float(given)
    service = np.array([r.purpose == "service" for r in requests], dtype=bool)
    may_skip = np.array([r.allow_no_contact for r in requests], dtype=bool)
    return Asks(requested, consent, service, may_skip)


def request_zones(block: CustomerBlock, requests: Sequence[PredictRequest], unknown: np.ndarray) -> None:
    """The request's time zone where the store has none (unknown customers), in place: the
    zone places the window's hours, it is not a model input."""
    zone = block.text.setdefault(fc.TIMEZONE, np.full(len(block), None, dtype=object))
    for i, req in enumerate(requests):
        if req.timezone and (unknown[i] or zone[i] is None):
            zone[i] = req.timezone


def count_handed_out(
    block: CustomerBlock, requests: Sequence[PredictRequest], start_s: np.ndarray, store: HandedOut
) -> CustomerBlock:
    """Contacts between snapshots: marketing contacts handed out after the contacts snapshot a row
    was read from join the frequency cap's count (from 7 days before its window to the window's
    end; in place) and the fatigue and last-contact features (the returned block carries their send
    times). The feeds will hold them tomorrow; the cap and the customer's tiredness are today's."""
    j = block.index[fc.CONTACTS_7D]
    since, week, end = cap_window(block, requests, start_s)
    times = store.times([str(i) for i in block.ids], since, end)
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


def cap_window(
    block: CustomerBlock, requests: Sequence[PredictRequest], start_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(since, week, end) per row in epoch seconds: handed-out contacts after `since` (the contacts
    snapshot) are not in the features yet; those in [week, end) join the cap's count."""
    j = block.index[fc.CONTACTS_7D]
    views = block.views
    since = (
        views.stamps[:, views.column_view[j]]
        if views is not None and views.column_view[j] >= 0
        else block.as_of
    )
    hours = np.array([r.window_hours for r in requests], dtype=np.int64)
    return since, np.maximum(start_s - 7 * 86_400, since), start_s + hours * 3600


def _turns(ids: Sequence[str]) -> list[int]:
    """How many earlier entries share each id (0 for a first occurrence)."""
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, -1) + 1
        out.append(seen[i])
    return out


@dataclass(frozen=True)
class Prepared:
    """What a decision reads before it decides (`Decider.prepare`): features as of each window
    start, the window starts (UTC us), who the store knew, staleness, and the cap's window."""

    block: CustomerBlock
    starts: np.ndarray
    known: np.ndarray
    stale: np.ndarray
    age: np.ndarray
    snapshot: np.ndarray  # contacts in the last 7 days as the snapshot counted them
    week: np.ndarray
    end: np.ndarray


@dataclass
class Decider:
    """Holds the decision engine and the feature reader; `decide` answers a list of requests."""

    engine: Engine
    read: FeatureReader
    model_name: str
    model_version: str
    epsilon: float = 0.0
    seed: int | None = None
    limits: CampaignLimits | None = None  # the campaign plans the service was started with
    handed_out: HandedOut | None = None  # marketing contacts handed out since the snapshots

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon < 1.0:
            raise ValueError(f"epsilon must be in [0, 1), got {self.epsilon}")
        self.rng = np.random.default_rng(self.seed)
        self._engines: dict[str, Engine] = {}

    @property
    def model(self) -> NextBestChannelModel:
        return self.engine.model

    def decide(
        self, requests: Sequence[PredictRequest], now: datetime | None = None, tries: int = CLAIM_TRIES
    ) -> list[PredictResponse]:
        """One answer per request, in request order. A customer asked about twice in one batch is
        decided in turn, so the second request sees what the first handed out; a contact another
        worker took the cap's last place from meanwhile is decided again (up to `tries` times)."""
        if not requests:
            return []
        turns = _turns([r.customer_id for r in requests]) if self.handed_out is not None else [0]
        if max(turns) > 0:
            out: list[PredictResponse | None] = [None] * len(requests)
            for k in range(max(turns) + 1):
                idx = [i for i, t in enumerate(turns) if t == k]
                for i, a in zip(idx, self.decide([requests[i] for i in idx], now, tries), strict=True):
                    out[i] = a
            return [a for a in out if a is not None]
        ready = self.prepare(requests, now)
        block, starts, known, stale, age = ready.block, ready.starts, ready.known, ready.stale, ready.age
        caps = np.full(len(requests), np.inf)
        asks = asks_of(requests)
        out: list[PredictResponse | None] = [None] * len(requests)
        groups: dict[tuple[int, str | None], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.window_hours, r.campaign), []).append(i)
        for (hours, campaign), idx in groups.items():
            rows = np.asarray(idx)
            mine = [requests[i] for i in rows]
            part = block.take(rows)
            engine, gate = self._campaign(campaign)
            caps[rows] = np.inf if engine.rules.cap is None else engine.rules.cap
            decided = engine.decide(part, starts[rows], hours, asks=asks.take(rows), epsilon=self.epsilon,
                                    rng=self.rng, gate=gate)  # fmt: skip
            if campaign is not None:
                self._book(campaign, decided, asks.may_skip[rows])
            group = Group(self.model, decided, mine, part, stale[rows], age[rows])
            for j, i in enumerate(rows.tolist()):
                out[i] = answer(group, j, known=bool(known[i]), model=(self.model_name, self.model_version),
                                decision_id=uuid.uuid4().hex)  # fmt: skip
        answers = [o for o in out if o is not None]
        if self.handed_out is None:
            return answers
        room = np.minimum(np.ceil(caps - ready.snapshot), UNCAPPED).astype(np.int64)
        return self._hand_out(answers, requests, np.column_stack([ready.week, ready.end, room]), now, tries)

    def prepare(self, requests: Sequence[PredictRequest], now: datetime | None = None) -> Prepared:
        """The customers' features as this decision reads them: the store's row at each window start
        (a view past its TTL reads as missing), the population prior for customers it never saw,
        the zones the requests name and the contacts handed out since the snapshot. The deployment's
        judge reads the very same rows."""
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
        block = with_prior(block, self.engine.prior, ~known)
        request_zones(block, requests, ~known)
        snapshot = week = end = np.zeros(len(requests))
        if self.handed_out is not None:
            snapshot = np.nan_to_num(block.column(fc.CONTACTS_7D)).copy()
            _, week, end = cap_window(block, requests, starts // _US)
            block = count_handed_out(block, requests, starts // _US, self.handed_out)
        return Prepared(block, starts, known, stale, age, snapshot, week, end)

    def booking_clients(self) -> list[Any]:
        """The Redis clients the decisions book on (handed-out contacts, campaign counters), if any."""
        found = [getattr(self.handed_out, "client", None)]
        if self.limits is not None:
            found.append(getattr(self.limits.counter, "client", None))
        return [c for c in found if c is not None]

    def _hand_out(self, answers: list[PredictResponse], requests: Sequence[PredictRequest],
                  window: np.ndarray, now: datetime | None, tries: int) -> list[PredictResponse]:  # fmt: skip
        """Claim each marketing contact's place under the cap ([week, end, room] per row); a row
        that lost its place since the cap was read is unbooked and decided again."""
        asked = [i for i, (a, r) in enumerate(zip(answers, requests, strict=True))
                 if r.purpose == "marketing" and a.decision.send_at is not None]  # fmt: skip
        claims = [Claim(answers[i].customer_id, int(answers[i].decision.send_at.timestamp()),
                        answers[i].decision_id, *map(int, window[i])) for i in asked]  # fmt: skip
        lost = [i for i, got in zip(asked, self.handed_out.claim(claims), strict=True) if not got]
        if not lost:
            return answers
        self._unbook([answers[i] for i in lost], [requests[i] for i in lost])
        if tries <= 1:
            raise RuntimeError(f"frequency cap: {len(lost)} contacts lost their place {CLAIM_TRIES} times")
        for i, a in zip(lost, self.decide([requests[i] for i in lost], now, tries - 1), strict=True):
            answers[i] = a
        return answers

    def undo(self, answers: Sequence[PredictResponse], requests: Sequence[PredictRequest]) -> None:
        """Take back decisions no one received (their request timed out): the cap's places they
        claimed and what they booked on their campaigns."""
        pairs = zip(answers, requests, strict=True)
        claimed = [(a.customer_id, a.decision_id) for a, r in pairs
                   if r.purpose == "marketing" and a.decision.send_at is not None]  # fmt: skip
        if self.handed_out is not None and claimed:
            self.handed_out.remove(claimed)
        self._unbook(answers, requests)

    def _unbook(self, answers: Sequence[PredictResponse], requests: Sequence[PredictRequest]) -> None:
        """Give back what campaign contacts that lost their cap place booked."""
        for a, r in zip(answers, requests, strict=True):
            if self.limits is not None and r.campaign is not None and a.decision.send_at is not None:
                send_at_us = int(a.decision.send_at.timestamp()) * _US
                self.limits.release(r.campaign, send_at_us, CHANNELS.index(a.decision.channel))

    def check(self, requests: Sequence[PredictRequest]) -> None:
        """Raise UnknownCampaign (a 400 naming it) before a bad request joins a batch."""
        for name in {r.campaign for r in requests if r.campaign is not None}:
            self._campaign(name)

    def _campaign(self, name: str | None) -> tuple[Engine, Callable[[np.ndarray], Gate] | None]:
        """(the engine under the campaign's rules, its live limits); the deployment's own without one."""
        if name is None:
            return self.engine, None
        if self.limits is None:
            raise UnknownCampaign(
                f"campaign: unknown campaign {name!r} (this service was started without plans)"
            )
        limits = self.limits
        if name not in self._engines:
            self._engines[name] = self.engine.with_rules(self.engine.rules.for_plan(limits.plan(name)))
        return self._engines[name], lambda slots: limits.gate(name, slots)

    def _book(self, name: str, decided: Decided, may_skip: np.ndarray) -> None:
        """Book every contact on the live counters, in request order; a place that ran out since
        the gate was read is taken out and the row decides again (greedy, propensity 1)."""
        limits = self.limits
        if limits is None:
            return
        choice = decided.picked.choice
        for j in range(len(choice.channel)):
            while choice.channel[j] != NO_CONTACT:
                c, s = int(choice.channel[j]), int(choice.slot[j])
                if limits.book(name, decided.grid.slots_us[j], c, s):
                    break
                decided.retake(j, c, s, bool(may_skip[j]))
