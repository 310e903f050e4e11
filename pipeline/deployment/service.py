"""The service's side of a simulated deployment, in process but on the service's own path: the
champion's decider with its handed-out counters (and the bank's own rules on the same grid, for
the business-as-usual arm), the decision log, the outcome intake (the
checks of `POST /outcomes` and `outcomes import`, which also free `not_sent` contacts from the
cap) and the contacts export that feeds validation, features and training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from decision.baselines import business_rules
from decision.choice import Choice
from decision.grid import CandidateGrid
from features.customer_block import CustomerBlock
from optichannel.channels import NO_CONTACT, action_codes
from optichannel.settings import Settings
from serving.contacts_export import SETTLE_DAYS, contacts_feed
from serving.decider import asks_of
from serving.decision_log import record
from serving.outcomes.store import ingest, release
from serving.runtime import Runtime, open_runtime
from serving.schemas import PredictRequest

PURPOSE = "marketing"
#: requests decided per call (what one `/predict_batch` call may carry)
BATCH = 1000


@dataclass
class Answered:
    """The service's decisions for one campaign day, as arrays in request order."""

    decision_id: np.ndarray
    channel: np.ndarray  # action code, NO_CONTACT = none
    send_us: np.ndarray  # UTC microseconds (the window start for `none`)
    propensity: np.ndarray
    explored: np.ndarray
    stale: int
    fallback: int


class ServicePath:
    """Decides, logs, takes outcome reports and exports the history, like the running service."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime | None = None

    @property
    def version(self) -> str | None:
        return None if self.runtime is None else self.runtime.model_version

    def reload(self) -> str:
        """Start on the registry's current champion (what a rolling restart does); its version."""
        self.close()
        self.runtime = open_runtime(self.settings)
        return self.runtime.model_version

    def decide(self, ids: Sequence[str], starts: pd.Series, hours: int) -> Answered:
        """One marketing decision per customer for the window from its start, logged."""
        if self.runtime is None:
            raise RuntimeError("the service has no model loaded: call reload() first")
        requests = _requests(ids, starts, hours)
        answers = []
        for i in range(0, len(requests), BATCH):
            part = requests[i : i + BATCH]
            got = self.runtime.decider.decide(part)
            self.runtime.log.append(record(a, PURPOSE) for a in got)
            answers.extend(got)
        window = starts.astype("datetime64[us, UTC]").astype("int64").to_numpy()
        send = np.array([-1 if a.decision.send_at is None else int(a.decision.send_at.timestamp() * 1e6)
                         for a in answers], dtype=np.int64)  # fmt: skip
        return Answered(
            np.array([a.decision_id for a in answers], dtype=object),
            action_codes([a.decision.channel for a in answers]),
            np.where(send >= 0, send, window),
            np.array([a.propensity for a in answers], dtype=float),
            np.array([a.explored for a in answers], dtype=bool),
            sum(a.stale for a in answers),
            sum(a.fallback for a in answers),
        )

    def grid(self, ids: Sequence[str], starts: pd.Series, hours: int) -> tuple[CustomerBlock, CandidateGrid]:
        """(features, candidate grid) of each customer's window as the champion's decider would
        build them right now: the same read, staleness, prior, handed-out contacts, rules and asks."""
        if self.runtime is None:
            raise RuntimeError("the service has no model loaded: call reload() first")
        decider = self.runtime.decider
        requests = _requests(ids, starts, hours)
        ready = decider.prepare(requests)
        return ready.block, decider.engine.grid(ready.block, ready.starts, hours, asks_of(requests))

    def greedy(self, grid: CandidateGrid, ids: Sequence[str], starts: pd.Series, hours: int) -> Choice:
        """The champion's choice on `grid` without exploration (its value: the model's estimate),
        under the asks of the same requests."""
        if self.runtime is None:
            raise RuntimeError("the service has no model loaded: call reload() first")
        asks = asks_of(_requests(ids, starts, hours))
        return self.runtime.decider.engine.decide_grid(grid, asks=asks).choice

    @staticmethod
    def business_as_usual(
        grid: CandidateGrid, window: np.ndarray, kind: np.ndarray, affluent: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The bank's rules (`decision.baselines.business_rules`, per campaign `kind`) on the
        very grid the champion decides on (`grid`): the same features, the same rules (consent,
        quiet hours, the cap) and window. (action code, NO_CONTACT for none; send time in UTC us,
        the window start `window`, UTC us, for none)."""
        channel = np.full(len(window), NO_CONTACT, dtype=np.int64)
        slot = np.zeros(len(window), dtype=np.int64)
        for name in sorted(set(kind.tolist()) - {None}):
            rows = np.flatnonzero(kind == name)
            choice = business_rules(affluent[rows], grid.consent[rows], grid.local_hour[rows],
                                    grid.allowed[rows], name)  # fmt: skip
            channel[rows], slot[rows] = choice.channel, choice.slot
        send = grid.slots_us[np.arange(len(window)), slot]
        return channel, np.where(channel != NO_CONTACT, send, window)

    def flush(self) -> None:
        """Wait until every decision given so far is in the log (the writer runs off the path)."""
        if self.runtime is not None:
            self.runtime.log.close()
            self.runtime.log.start()

    def report(self, rows: pd.DataFrame, source: str) -> tuple[int, int, int]:
        """The CRM's outcome rows through the intake: (accepted, quarantined, released)."""
        if rows.empty:
            return 0, 0, 0
        result = ingest(self.settings.decision_store, rows, source)
        decider = None if self.runtime is None else self.runtime.decider
        freed = release(result, decider and decider.handed_out, decider and decider.limits)
        return result.accepted, len(result.quarantined), freed

    def export(self, path: Path, cut: pd.Timestamp) -> int:
        """The service's history before `cut` as a part of the contacts feed; rows written.
        Every decision sent before the cut is in it, its outcomes as reported so far (training
        censors what cannot be known yet)."""
        exported = contacts_feed(self.settings.decision_store, cut + pd.Timedelta(days=SETTLE_DAYS))
        rows = exported.contacts[pd.to_datetime(exported.contacts["sent_at"], utc=True) < cut]
        path.unlink(missing_ok=True)
        if len(rows):  # no part at all rather than an empty one with untyped columns
            path.parent.mkdir(parents=True, exist_ok=True)
            rows.to_parquet(path, index=False)
        return len(rows)

    def close(self) -> None:
        if self.runtime is not None:
            self.runtime.log.close()
            self.runtime = None


def _requests(ids: Sequence[str], starts: pd.Series, hours: int) -> list[PredictRequest]:
    """The CRM's marketing request for each customer's window, as the deployment sends them."""
    return [
        PredictRequest(
            customer_id=str(c), window_start=s.to_pydatetime(), window_hours=hours, purpose=PURPOSE
        )
        for c, s in zip(ids, starts, strict=True)
    ]
