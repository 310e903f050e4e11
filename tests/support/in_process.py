"""The real service's ASGI app in this process, on a runtime a test builds (the tiny model, its
own stores), and a private redis-server a test may stop: faults without a trained champion."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest

from serving.runtime import Runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own on a free port, started, stopped and restarted at will."""

    def __init__(self, workdir: Path, append_only: bool = False) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("no redis-server binary to start a private Redis")
        self.port = free_port()
        self.dir = workdir
        self.append_only = append_only
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.port},db=0"

    def start(self, wipe: bool = False) -> RedisServer:
        if wipe:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "yes" if self.append_only else "no"]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.exceptions.RedisError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@contextmanager
def private_redis(workdir: Path, append_only: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(workdir, append_only).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def service_client(
    make_runtime: Callable[[], Runtime], monkeypatch: pytest.MonkeyPatch, timeout: float | None = None
) -> Iterator[object]:
    """A starlette TestClient on `serving.service:NextBestChannel`, its runtime `make_runtime()`;
    `timeout`: BentoML's own timeout middleware around it, shorter than the service's 30 s."""
    from starlette.testclient import TestClient

    import serving.runtime

    monkeypatch.setattr(serving.runtime, "load_runtime", lambda _settings: make_runtime())
    app = _app()
    if timeout is not None:
        from bentoml._internal.server.http.traffic import TimeoutMiddleware

        app = TimeoutMiddleware(app, timeout)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@cache
def _app() -> object:
    """One ASGI app per process (its metrics register once); each client's start-up makes a new
    service instance, so each test gets its own runtime."""
    from serving.service import NextBestChannel

    return NextBestChannel.to_asgi()
