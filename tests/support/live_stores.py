"""The production profile's stores for tests: a fresh PostgreSQL database and a Redis client on
the local servers, or a skip that says which server is missing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database, dropped afterwards."""
    import psycopg

    from serving.log_database import engine

    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (the production profile's decision log)")
    name = f"optichannel_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE DATABASE {name}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        engine(url).dispose()
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


def redis_or_skip() -> object:
    """A client of the local Redis (db 0), or a skip."""
    import redis

    client = redis.Redis(socket_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (the production profile's shared counters)")
    client.set("optichannel:generation", "tests", nx=True)  # built counters (serving.generation)
    return client
