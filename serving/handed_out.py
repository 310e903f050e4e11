"""Marketing contacts the service has handed out, kept until the feeds catch up: the frequency
cap counts them on top of the last snapshot's contacts, so a customer asked about ten times today
is capped on the fifth marketing decision, not on tomorrow's snapshot. SQLite beside the decision
log in the local profile, Redis (one sorted set per customer) in production, shared by replicas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from serving.counters_lost import GENERATION_KEY, CountersLost
from serving.shared_stores import LocalSQLite, redis_client

KEY_PREFIX = "optichannel:handed-out:"
KEEP_SECONDS = 15 * 24 * 3600  # a week of cap plus the longest window, then forgotten
#: "no cap": more contacts than any window holds
UNCAPPED = 1_000_000


@dataclass(frozen=True)
class Claim:
    """One contact to hand out if the customer's count in [lo, hi) is still below `room`."""

    customer_id: str
    send_at: int  # epoch seconds
    decision_id: str
    lo: int
    hi: int
    room: int


class HandedOut(Protocol):
    def add(self, rows: Sequence[tuple[str, int, str]]) -> None: ...

    def times(self, ids: Sequence[str], lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]: ...

    def remove(self, rows: Sequence[tuple[str, str]]) -> None: ...

    def claim(self, claims: Sequence[Claim]) -> list[bool]: ...


class SQLiteHandedOut:
    """(decision id, customer, send time) rows in one SQLite file shared by the local workers."""

    def __init__(self, path: Path) -> None:
        self.db = LocalSQLite(path)
        self._connect = self.db.connect
        con = self._connect()
        con.execute(
            "CREATE TABLE IF NOT EXISTS handed_out "
            "(decision_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, send_at INTEGER NOT NULL)"
        )
        con.execute("CREATE INDEX IF NOT EXISTS handed_out_customer ON handed_out (customer_id, send_at)")

    def add(self, rows: Sequence[tuple[str, int, str]]) -> None:
        """Record (customer id, send time in epoch seconds, decision id); a repeated id counts once."""
        if rows:
            self._connect().executemany(
                "INSERT OR IGNORE INTO handed_out (customer_id, send_at, decision_id) VALUES (?, ?, ?)", rows
            )

    def claim(self, claims: Sequence[Claim]) -> list[bool]:
        """Hand out each contact whose customer still has room (in order, one transaction that
        `BEGIN IMMEDIATE` serialises across processes); which were handed out."""
        if not claims:
            return []
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            got = []
            for c in claims:
                (n,) = con.execute(
                    "SELECT COUNT(*) FROM handed_out WHERE customer_id = ? AND send_at >= ? AND send_at < ?",
                    (c.customer_id, c.lo, c.hi),
                ).fetchone()
                if n < c.room:
                    con.execute("INSERT OR IGNORE INTO handed_out (customer_id, send_at, decision_id) "
                                "VALUES (?, ?, ?)", (c.customer_id, c.send_at, c.decision_id))  # fmt: skip
                got.append(n < c.room)
            con.execute("COMMIT")
            return got
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def remove(self, rows: Sequence[tuple[str, str]]) -> None:
        """Forget (customer id, decision id) contacts the CRM reported `not_sent`."""
        if rows:
            self._connect().executemany(
                "DELETE FROM handed_out WHERE decision_id = ?", [(d,) for _, d in rows]
            )

    def times(self, ids: Sequence[str], lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
        """Per customer, the send times (epoch seconds, sorted) handed out with lo <= time < hi."""
        if not len(ids):
            return []
        unique = sorted(set(ids))
        marks = ",".join("?" * len(unique))
        rows = self._connect().execute(
            f"SELECT customer_id, send_at FROM handed_out WHERE customer_id IN ({marks}) AND send_at >= ?",
            [*unique, int(np.min(lo))],
        )
        seen: dict[str, list[int]] = {}
        for cid, at in rows:
            seen.setdefault(cid, []).append(at)
        out = []
        for i, cid in enumerate(ids):
            mine = np.sort(np.asarray(seen.get(cid, ()), dtype=np.int64))
            out.append(mine[(mine >= lo[i]) & (mine < hi[i])])
        return out

    def count(self, ids: Sequence[str], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """[n] contacts handed out to each customer with lo <= send time < hi (epoch seconds)."""
        return np.array([len(t) for t in self.times(ids, lo, hi)], dtype=np.int64)


_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end  -- counters lost: book nothing
if redis.call('ZCOUNT', KEYS[1], ARGV[1], '(' .. ARGV[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
"""


class RedisHandedOut:
    """One sorted set per customer (send time as score), expiring after `KEEP_SECONDS`."""

    def __init__(self, client: object) -> None:
        self.client = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, claims: Sequence[Claim]) -> list[bool]:
        """Each claim one Lua script (count and add atomically), pipelined in one round trip."""
        if not claims:
            return []
        import redis

        try:
            got = self._claims(claims).execute()
        except redis.exceptions.NoScriptError:  # Redis restarted between loading the script and the call
            got = self._claims(claims).execute()
        if -1 in got:
            raise CountersLost
        return [bool(r) for r in got]

    def _claims(self, claims: Sequence[Claim]) -> Any:
        """One pipeline of claim scripts (the pipeline loads the script if Redis lacks it)."""
        pipe = self.client.pipeline()
        for c in claims:
            args = [c.lo, c.hi, c.room, c.send_at, c.decision_id, KEEP_SECONDS]
            self._claim(keys=[KEY_PREFIX + c.customer_id, GENERATION_KEY], args=args, client=pipe)
        return pipe

    def add(self, rows: Sequence[tuple[str, int, str]]) -> None:
        pipe = self.client.pipeline()
        for cid, at, decision in rows:
            pipe.zadd(KEY_PREFIX + cid, {decision: at})
            pipe.expire(KEY_PREFIX + cid, KEEP_SECONDS)
        pipe.execute()

    def remove(self, rows: Sequence[tuple[str, str]]) -> None:
        pipe = self.client.pipeline()
        for cid, decision in rows:
            pipe.zrem(KEY_PREFIX + cid, decision)
        pipe.execute()

    def times(self, ids: Sequence[str], lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
        pipe = self.client.pipeline()
        for cid, a, b in zip(ids, lo, hi, strict=True):
            pipe.zrangebyscore(KEY_PREFIX + cid, int(a), f"({int(b)}", withscores=True)
        return [np.array([score for _, score in found], dtype=np.int64) for found in pipe.execute()]

    def count(self, ids: Sequence[str], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        return np.array([len(t) for t in self.times(ids, lo, hi)], dtype=np.int64)


def open_handed_out(profile: str, redis_url: str, path: Path) -> HandedOut:
    """Redis in the production profile, SQLite at `path` otherwise."""
    if profile == "production":
        return RedisHandedOut(redis_client(redis_url))
    return SQLiteHandedOut(path)
