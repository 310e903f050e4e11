"""The decision log: every answer the service gives, appended by a background thread so that
writing never slows or fails an answer (SQLite locally, PostgreSQL in production: see
`serving.log_database`). The outcomes the CRM reports back join it on `decision_id` (chosen
action, propensities, model version, features' as-of time).

A failed write is never silent: it is counted (`failures`, exported as a metric by the
service) and logged with the error, and the rows stay queued for the next attempt. A row the
database refuses for its content (PostgreSQL takes no NUL byte in text) must not hold back the
rows queued behind it: the batch is then written row by row, and each refused row is spilled to a
JSON-lines file beside the log with the database's reason (`refused`), never retried forever.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from serving.journal import Journal, replay
from serving.log_database import DECISIONS, describe, engine, insert

if TYPE_CHECKING:
    from serving.schemas import PredictResponse

log = logging.getLogger(__name__)

COLUMNS = tuple(c.name for c in DECISIONS.columns)
TABLE = DECISIONS.name
RETRY_SECONDS = 2.0
#: errors that are the row's fault, not the store's: retrying the row can never succeed
ROW_ERRORS = (DataError, IntegrityError)


def record(answer: PredictResponse, purpose: str, campaign: str | None = None) -> tuple[Any, ...]:
    """One log row of an answer (times as ISO text, UTC)."""
    d = answer.decision

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return (
        answer.decision_id, datetime.now(UTC).isoformat(), answer.customer_id, d.channel,
        iso(d.send_at), d.p_response, d.p_conversion, answer.no_contact.p_conversion,
        d.expected_value, answer.propensity, int(answer.explored), int(answer.fallback), purpose,
        iso(answer.window_start), answer.window_hours, answer.model_name, answer.model_version,
        iso(answer.features_as_of), campaign, answer.channel_propensity,
    )  # fmt: skip


class DecisionLog:
    """Append-only decision log written off the request path (`target`: a file or a database URL;
    `spill`: where rows the database refuses go, default `refused_decisions.jsonl` beside the
    local log)."""

    def __init__(self, target: Path | str, spill: Path | None = None) -> None:
        self.target = target
        self.spill = spill or _default_spill(target)
        self.failures = 0
        self.written = 0
        self.refused = 0
        self.failing = False  # the last write failed: the service answers 503 until one succeeds
        self._queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[Any, ...]] = []
        self.journal_dir = self.spill.parent / "journal"
        self._journal: Journal | None = None
        self.replayed = 0  # rows a stopped worker had journaled, written at start
        self._lock = threading.Lock()

    def start(self) -> DecisionLog:
        engine(self.target).dispose()  # tables in place before the first answer; the writer connects
        self._journal = Journal(self.journal_dir)
        self.replayed = replay(self.journal_dir, self._insert, mine=self._journal.path)
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()
        return self

    def append(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Journal and queue rows; returns at once (a local file append)."""
        batch = list(rows)
        with self._lock:
            if self._journal is not None:
                self._journal.add(batch)
            self._queue.put(batch)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer; what could not be written stays journaled
        for the next start to replay."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        with self._lock:  # the writer (if the join timed out) and request threads check it under the lock
            if self._journal is not None:
                self._journal.close(remove=not self._pending and self._queue.empty())
                self._journal = None

    def _settled(self) -> None:
        """After a write: when nothing is queued or pending, the journal holds nothing unwritten."""
        with self._lock:
            if self._journal is not None and not self._pending and self._queue.empty():
                self._journal.clear()

    def _insert(self, pending: list[tuple[Any, ...]]) -> None:
        made = engine(self.target)
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in pending]
        with made.begin() as con:  # an app crash loses nothing committed; SQLite in WAL mode
            con.execute(insert(DECISIONS, made.dialect.name).on_conflict_do_nothing(), rows)
        self.written += len(pending)

    def _write(self) -> None:
        if not self._pending:
            return
        try:
            self._insert(self._pending)
        except ROW_ERRORS:
            self._one_by_one()
        self._pending = []

    def _one_by_one(self) -> None:
        """Write the pending rows singly: a refused row is spilled, a store error stops (and keeps
        the rest queued)."""
        while self._pending:
            row = self._pending[0]
            try:
                self._insert([row])
            except ROW_ERRORS as exc:
                self._refuse(row, exc)
            self._pending.pop(0)

    def _refuse(self, row: tuple[Any, ...], exc: Exception) -> None:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        self.spill.parent.mkdir(parents=True, exist_ok=True)
        with self.spill.open("a", encoding="utf-8") as out:
            out.write(json.dumps({**dict(zip(COLUMNS, row, strict=True)), "refused": reason}) + "\n")
        self.refused += 1
        log.error("decision log: %s refused decision %r (%s); kept in %s", describe(self.target),
                  row[0], reason, self.spill)  # fmt: skip

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=RETRY_SECONDS if self._pending else None)
            except queue.Empty:
                item = []
            if item is None and not self._pending:
                break
            self._pending.extend(item or [])
            while not self._queue.empty():  # batch whatever else is waiting
                more = self._queue.get_nowait()
                if more is None:
                    self._queue.put(None)
                    break
                self._pending.extend(more)
            try:
                self._write()
                self.failing = False
                self._settled()
            except (SQLAlchemyError, OSError) as exc:
                engine(self.target).dispose()  # the next attempt opens the store afresh
                self.failing = True
                self.failures += 1
                log.error("decision log: could not write %d rows to %s: %s", len(self._pending),
                          describe(self.target), exc)  # fmt: skip
                if item is None:  # closing: give up after one failed final attempt, loudly
                    log.error("decision log: %d decisions were not logged", len(self._pending))
                    break


def _default_spill(target: Path | str) -> Path:
    if isinstance(target, Path) or "://" not in target:
        return Path(target).with_name("refused_decisions.jsonl")
    from optichannel.settings import get_settings

    return get_settings().decision_log.with_name("refused_decisions.jsonl")


def read_log(target: Path | str) -> pd.DataFrame:
    """The logged decisions as a frame (times parsed), for analysis and tests."""
    with engine(target).connect() as con:
        frame = pd.read_sql(select(DECISIONS), con)
    for col in ("logged_at", "send_at", "window_start", "features_as_of"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return frame
