"""Live counters of what a campaign has booked (contacts per centre hour and day, spend), shared
by every worker: SQLite beside the decision log in the local profile, Redis in production, so
replicas behind a load balancer never book the same last place twice.

`book` is all-or-nothing over the resources one contact uses: either every counter stays within
its limit and all are incremented, or nothing changes. `release` with a `once` key (a counter-style
key naming the campaign and decision) gives back at most once per key: a `not_sent` retried after
a crash frees its places one time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from serving.counters_lost import GENERATION_KEY, CountersLost
from serving.shared_stores import LocalSQLite, redis_client

#: one booking: (counter key, amount, limit)
Item = tuple[str, float, float]
KEY_PREFIX = "optichannel:capacity:"
#: counters outlive any decision window (at most 168 hours) and then expire in Redis
TTL_SECONDS = 9 * 24 * 3600


class CapacityCounter(Protocol):
    def used(self, keys: list[str]) -> list[float]: ...

    def book(self, items: list[Item]) -> bool: ...

    def release(self, items: list[tuple[str, float]], once: str | None = None) -> bool: ...

    def restore(self, totals: dict[str, float]) -> None: ...


class SQLiteCounter:
    """Counters in one SQLite file; `BEGIN IMMEDIATE` serialises bookings across processes."""

    def __init__(self, path: Path) -> None:
        self.db = LocalSQLite(path)
        self._connect = self.db.connect
        self._connect().execute(
            "CREATE TABLE IF NOT EXISTS capacity (key TEXT PRIMARY KEY, used REAL NOT NULL)"
        )
        self._connect().execute("CREATE TABLE IF NOT EXISTS released (key TEXT PRIMARY KEY)")

    def used(self, keys: list[str]) -> list[float]:
        if not keys:
            return []
        con = self._connect()
        marks = ",".join("?" * len(keys))
        rows = dict(con.execute(f"SELECT key, used FROM capacity WHERE key IN ({marks})", keys).fetchall())
        return [float(rows.get(k, 0.0)) for k in keys]

    def book(self, items: list[Item]) -> bool:
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            now = self.used([k for k, _, _ in items])
            if any(u + amount > limit + 1e-9 for u, (_, amount, limit) in zip(now, items, strict=True)):
                con.execute("ROLLBACK")
                return False
            con.executemany(
                "INSERT INTO capacity (key, used) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET used = used + excluded.used",
                [(k, amount) for k, amount, _ in items],
            )
            con.execute("COMMIT")
            return True
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def restore(self, totals: dict[str, float]) -> None:
        """Set counters to rebuilt totals (`optichannel counters rebuild`)."""
        self._connect().executemany(
            "INSERT INTO capacity (key, used) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET used = excluded.used",
            list(totals.items()),
        )

    def release(self, items: list[tuple[str, float]], once: str | None = None) -> bool:
        """Give back (key, amount) bookings, never below 0 (a counter may have been reset since);
        with `once`, only the first time for that key (False after)."""
        con = self._connect()
        con.execute("BEGIN IMMEDIATE")
        try:
            mark = "INSERT OR IGNORE INTO released (key) VALUES (?)"
            if once is not None and not con.execute(mark, (once,)).rowcount:
                con.execute("ROLLBACK")
                return False
            back = [(amount, k) for k, amount in items]
            con.executemany("UPDATE capacity SET used = MAX(0, used - ?) WHERE key = ?", back)
            con.execute("COMMIT")
            return True
        except BaseException:
            con.execute("ROLLBACK")
            raise


_BOOK = """
local n = #KEYS - 1  -- the last key is the counters' generation
if redis.call('EXISTS', KEYS[#KEYS]) == 0 then return -1 end  -- counters lost: book nothing
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[i]) > tonumber(ARGV[n + i]) + 1e-9 then return 0 end
end
for i = 1, n do
  redis.call('INCRBYFLOAT', KEYS[i], ARGV[i])
  redis.call('EXPIRE', KEYS[i], ARGV[2 * n + 1])
end
return 1
"""


_RELEASE = """
local n = #KEYS
if ARGV[#ARGV] ~= '' then  -- a once key: the last KEYS entry, set only by the first release
  n = n - 1
  if not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'EX', ARGV[#ARGV]) then return 0 end
end
for i = 1, n do
  local used = redis.call('GET', KEYS[i])
  if used then
    local left = math.max(0, tonumber(used) - tonumber(ARGV[i]))
    redis.call('SET', KEYS[i], tostring(left), 'KEEPTTL')
  end
end
return 1
"""


class RedisCounter:
    """Counters in Redis; one Lua script checks and increments atomically for all replicas."""

    def __init__(self, url: str) -> None:
        self.client = redis_client(url)
        self._book = self.client.register_script(_BOOK)
        self._release = self.client.register_script(_RELEASE)

    def used(self, keys: list[str]) -> list[float]:
        if not keys:
            return []
        return [float(v or 0.0) for v in self.client.mget(keys)]

    def book(self, items: list[Item]) -> bool:
        keys = [k for k, _, _ in items] + [GENERATION_KEY]
        args = [*(a for _, a, _ in items), *(limit for _, _, limit in items), TTL_SECONDS]
        done = self._book(keys=keys, args=args)
        if done == -1:
            raise CountersLost
        return bool(done)

    def restore(self, totals: dict[str, float]) -> None:
        """Set counters to rebuilt totals (`optichannel counters rebuild`)."""
        pipe = self.client.pipeline()
        for key, used in totals.items():
            pipe.set(key, repr(float(used)), ex=TTL_SECONDS)
        pipe.execute()

    def release(self, items: list[tuple[str, float]], once: str | None = None) -> bool:
        keys = [k for k, _ in items] + ([] if once is None else [once])
        args = [*(a for _, a in items), "" if once is None else TTL_SECONDS]
        return bool(self._release(keys=keys, args=args)) if keys else True


def open_counter(profile: str, redis_url: str, path: Path) -> CapacityCounter:
    """Redis in the production profile, SQLite at `path` otherwise."""
    return RedisCounter(redis_url) if profile == "production" else SQLiteCounter(path)
