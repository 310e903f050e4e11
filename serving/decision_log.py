"""The decision log: every answer the service gives, appended to SQLite by a background thread
so that writing never slows or fails an answer. Experiments join it with the outcomes the CRM
reports back (`decision_id`, chosen action, propensity, model version, features' as-of time).

A failed write is never silent: it is counted (`failures`, exported as a metric by the
service) and logged with the error, and the rows stay queued for the next attempt.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from serving.schemas import PredictResponse

log = logging.getLogger(__name__)

COLUMNS = (
    "decision_id", "logged_at", "customer_id", "channel", "send_at", "p_response", "p_conversion",
    "p_no_contact", "expected_value", "propensity", "explored", "fallback", "purpose", "window_start",
    "window_hours", "model_name", "model_version", "features_as_of", "campaign", "channel_propensity",
)  # fmt: skip
TABLE = "decisions"
RETRY_SECONDS = 2.0


def create_table(con: sqlite3.Connection) -> None:
    """The decisions table, with columns added since an older log was created (kept, not rebuilt)."""
    cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'decision_id' else ''}" for c in COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({cols})")
    have = {row[1] for row in con.execute(f"PRAGMA table_info({TABLE})")}
    for column in COLUMNS:
        if column not in have:
            con.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column}")


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
    """Append-only SQLite log written off the request path."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.failures = 0
        self.written = 0
        self._queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[Any, ...]] = []

    def start(self) -> DecisionLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.path) as con:
            con.execute("PRAGMA journal_mode=WAL")
            create_table(con)
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()
        return self

    def append(self, rows: Iterable[tuple[Any, ...]]) -> None:
        """Queue rows; returns at once."""
        self._queue.put(list(rows))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        con: sqlite3.Connection | None = None
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
                if con is None:  # WAL + NORMAL: an app crash loses nothing; only a power cut may
                    con = sqlite3.connect(self.path, timeout=5)
                    con.execute("PRAGMA synchronous=NORMAL")
                marks = ",".join("?" * len(COLUMNS))
                with con:
                    con.executemany(
                        f"INSERT OR IGNORE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({marks})",
                        self._pending,
                    )
                self.written += len(self._pending)
                self._pending = []
            except sqlite3.Error as exc:
                self.failures += 1
                log.error(
                    "decision log: could not write %d rows to %s: %s", len(self._pending), self.path, exc
                )
                con = None
                if item is None:  # closing: give up after one failed final attempt, loudly
                    log.error("decision log: %d decisions were not logged", len(self._pending))
                    break
        if con is not None:
            con.close()


def read_log(path: Path) -> pd.DataFrame:
    """The logged decisions as a frame (times parsed), for analysis and tests."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        frame = pd.read_sql(f"SELECT * FROM {TABLE}", con)
    for col in ("logged_at", "send_at", "window_start", "features_as_of"):
        frame[col] = pd.to_datetime(frame[col], utc=True, format="ISO8601")
    return frame
