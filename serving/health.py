"""Fail closed, say why: when Redis or the decision store cannot be reached, the service answers
503 with a `Retry-After` (a CRM retries later; a 500 says "bug", a 504 hides that the work may
still happen) and `/readyz` turns not ready, so a load balancer sends the traffic elsewhere.

A worker that saw a dependency fail answers 503 at once for `RETRY_AFTER` seconds instead of
letting every queued request wait out its own socket timeout (which piled up into 504s).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from typing import TYPE_CHECKING, Any

from bentoml.exceptions import ServiceUnavailable

if TYPE_CHECKING:
    from serving.runtime import Runtime

log = logging.getLogger(__name__)

#: seconds a CRM should wait before retrying, and a worker answers 503 after a failure
RETRY_AFTER = 5
#: the reason of this worker's last outage, for the 503's body (one process, one service)
_last = {"reason": "a dependency is unreachable"}


class DependencyDown(ServiceUnavailable):
    """A dependency the answer needs is unreachable: 503, retry later."""


def down_reason(exc: BaseException) -> str | None:
    """Which dependency an error says is unreachable (one line), or None for any other error."""
    import redis
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

    from serving.counters_lost import LOST, CountersLost

    if isinstance(exc, CountersLost):
        return LOST
    first = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return f"Redis is unreachable ({first})"
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | sqlite3.OperationalError):
        return f"the decision store is unreachable ({first})"
    return None


def down(reason: str) -> DependencyDown:
    """The 503 for `reason`, which its response body will name."""
    _last["reason"] = reason
    return DependencyDown(reason)


class Breaker:
    """Remembers a dependency failure for `RETRY_AFTER` seconds: requests meanwhile fail fast."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = RETRY_AFTER if seconds is None else seconds
        self.reason: str | None = None
        self._until = 0.0
        self._lock = threading.Lock()

    def trip(self, reason: str) -> DependencyDown:
        """Record an outage; the error to raise (503)."""
        with self._lock:
            self.reason, self._until = reason, time.monotonic() + self.seconds
        log.warning("503: %s; answering 503 for %d s", reason, self.seconds)
        return down(reason)

    def check(self) -> None:
        """Raise DependencyDown while a recent outage is remembered."""
        if time.monotonic() < self._until and self.reason is not None:
            raise down(self.reason)


def not_ready(runtime: Runtime) -> str | None:
    """Why this worker should take no traffic (a dependency down, the decision log failing), or None."""
    if runtime.log.failing:
        return "the decision log cannot be written"
    from serving.counters_lost import LOST
    from serving.generation import intact

    try:
        for client in runtime.decider.booking_clients():
            if not intact(client):
                return LOST
        from sqlalchemy import text

        from serving.log_database import engine

        with engine(runtime.settings.decision_store).connect() as con:
            con.execute(text("SELECT 1"))
    except Exception as exc:  # every failure is a reason not to be ready
        return down_reason(exc) or f"health check failed ({type(exc).__name__})"
    return None


class RetryAfter:
    """ASGI middleware: a 503 carries `Retry-After` and says which dependency is down (BentoML's own
    body for a 5xx is "an unexpected error has occurred")."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def patched(message: dict) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 503:
                replaced = True
                body = json.dumps({"error": f"service unavailable: {_last['reason']}; retry later"}).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                headers += [(b"retry-after", str(RETRY_AFTER).encode()),
                            (b"content-length", str(len(body)).encode())]  # fmt: skip
                if not any(k.lower() == b"content-type" for k, _ in headers):
                    headers.append((b"content-type", b"application/json"))
                await send({**message, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if replaced:  # the original body of a replaced 503 is dropped
                return
            await send(message)

        await self.app(scope, receive, patched)
