"""The stores a service's workers (and replicas) share: a local SQLite file, or Redis in the
production profile. One place opens them, so every counter connects the same way."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis


class LocalSQLite:
    """One SQLite file shared by the local workers: a connection per thread (sqlite3 objects stay
    in their thread), WAL so readers never wait for the writer, autocommit unless a transaction
    is begun explicitly."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()

    def connect(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            self._local.con = con
        return con


def redis_client(url: str, timeout: float = 5) -> redis.Redis:
    """A client for Feast's connection string `host:port,db=0[,password=...]`; a paused or
    unreachable server fails within `timeout` seconds (a 503), never holds a request to its 504."""
    import redis

    host, _, rest = url.partition(",")
    name, _, port = host.partition(":")
    options = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
    return redis.Redis(
        host=name or "127.0.0.1",
        port=int(port or 6379),
        db=int(options.get("db", 0)),
        password=options.get("password"),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
    )
