"""Live campaign counters: all-or-nothing bookings that never pass a limit, in SQLite (local
profile, shared by processes) and in Redis (production profile, shared by replicas)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from serving.capacity_counter import KEY_PREFIX, RedisCounter, SQLiteCounter


def _exercise(counter: object, prefix: str) -> None:
    hour, day = f"{prefix}hour", f"{prefix}day"
    assert counter.book([(hour, 1, 2), (day, 1, 3)])
    assert counter.book([(hour, 1, 2), (day, 1, 3)])
    assert not counter.book([(hour, 1, 2), (day, 1, 3)])  # the hour is full: nothing booked
    assert counter.used([hour, day]) == [2.0, 2.0]
    assert counter.book([(f"{prefix}other", 1, 2), (day, 1, 3)])
    assert not counter.book([(f"{prefix}other", 1, 2), (day, 1, 3)])  # now the day is full
    assert counter.used([f"{prefix}other", day, f"{prefix}never"]) == [1.0, 3.0, 0.0]
    budget = f"{prefix}budget"
    assert counter.book([(budget, 2.5, 5.0)]) and counter.book([(budget, 2.5, 5.0)])
    assert not counter.book([(budget, 0.01, 5.0)])


def test_sqlite_books_all_or_nothing_within_limits(tmp_path: Path) -> None:
    _exercise(SQLiteCounter(tmp_path / "c.sqlite"), "t:")


GRAB = """
import sys
from pathlib import Path
from serving.capacity_counter import SQLiteCounter
counter = SQLiteCounter(Path(sys.argv[1]))
print(sum(counter.book([("race:hour", 1, 25)]) for _ in range(40)))
"""


def test_sqlite_processes_racing_for_the_last_places_never_overbook(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    SQLiteCounter(path)  # create the table first
    racers = [subprocess.Popen([sys.executable, "-c", GRAB, str(path)], stdout=subprocess.PIPE, text=True)
              for _ in range(3)]  # fmt: skip
    got = [int(p.communicate(timeout=120)[0].strip()) for p in racers]
    assert sum(got) == 25 and SQLiteCounter(path).used(["race:hour"]) == [25.0]


def test_redis_books_all_or_nothing_for_every_replica() -> None:
    import redis

    try:
        redis.Redis(socket_timeout=1).ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (the production profile's counters)")
    prefix = f"{KEY_PREFIX}test-{uuid.uuid4().hex}:"
    a, b = RedisCounter("127.0.0.1:6379,db=0"), RedisCounter("127.0.0.1:6379,db=0")
    try:
        _exercise(a, prefix)
        assert b.used([f"{prefix}hour"]) == [2.0]  # another replica sees the same counts
        assert 0 < a.client.ttl(f"{prefix}hour") <= 9 * 24 * 3600
    finally:
        keys = list(a.client.scan_iter(f"{prefix}*"))
        if keys:
            a.client.delete(*keys)
