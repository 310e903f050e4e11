"""Fail closed, say why (issue 37, finding 9): Redis stopped for real, a decision store that refuses
connections. The service answers 503 with a Retry-After (never 500), `/readyz` turns not ready,
both recover when the dependency is back, and `serve` refuses to start in one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import typer
from support.in_process import free_port, private_redis, service_client
from support.tiny import START, customer_block, tiny_model
from typer.testing import CliRunner

import serving.health
from decision.engine import Engine
from optichannel.settings import Settings, get_settings
from serving import cli
from serving.decider import Decider
from serving.decision_log import DecisionLog
from serving.handed_out import RedisHandedOut
from serving.runtime import Runtime, check_generation
from serving.shared_stores import redis_client

ASK = {"customer_id": "C1", "window_start": START.isoformat(), "window_hours": 24}


def _runtime(settings: Settings, redis_url: str) -> Runtime:
    decider = Decider(Engine(tiny_model()), lambda ids: customer_block(ids), "tiny", "1")
    decider.handed_out = RedisHandedOut(redis_client(redis_url, timeout=1))
    check_generation(decider, settings)  # a first start: the counters' generation is written
    return Runtime(decider, DecisionLog(settings.decision_log).start(), "1", settings)


def test_redis_down_is_a_503_with_retry_after_and_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.health, "RETRY_AFTER", 1)
    settings = Settings(data_dir=tmp_path)
    with (
        private_redis(tmp_path / "redis", append_only=True) as redis,  # persistent, as the docs require
        service_client(lambda: _runtime(settings, redis.url), monkeypatch) as client,
    ):
        assert client.post("/predict", json=ASK).status_code == 200
        assert client.get("/readyz").status_code == 200
        redis.stop()
        down = client.post("/predict", json=ASK)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "1" and "Redis" in down.json()["error"]
        assert client.post("/predict_batch", json={"requests": [ASK]}).status_code == 503
        assert client.get("/readyz").status_code == 503
        redis.start()
        time.sleep(1.1)  # the worker's memory of the outage lapses
        assert client.get("/readyz").status_code == 200
        assert client.post("/predict", json=ASK).status_code == 200


def test_decision_store_down_is_a_503_on_outcomes_and_not_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/optichannel"  # refuses connections
    local = Settings(data_dir=tmp_path)
    with private_redis(tmp_path / "redis") as redis:

        def runtime() -> Runtime:
            made = _runtime(local, redis.url)
            made.settings = local.model_copy(update={"profile": "production", "decision_log_url": dead})
            return made

        with service_client(runtime, monkeypatch) as client:
            report = {"outcomes": [{"decision_id": "d1", "event": "sent", "at": START.isoformat()}]}
            down = client.post("/outcomes", json=report)
            assert down.status_code == 503, down.text
            assert "retry-after" in down.headers and "decision store" in down.json()["error"]
            assert client.get("/readyz").status_code == 503


def test_a_failing_decision_log_refuses_to_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(data_dir=tmp_path)
    with private_redis(tmp_path / "redis") as redis:
        made = _runtime(settings, redis.url)
        with service_client(lambda: made, monkeypatch) as client:
            made.log.failing = True  # what the writer sets after a failed write
            refused = client.post("/predict", json=ASK)
            assert refused.status_code == 503 and "decision log" in refused.json()["error"]
            assert client.get("/readyz").status_code == 503


@pytest.mark.parametrize("dead", ["redis", "postgres"])
def test_serve_refuses_unreachable_production_stores_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dead: str
) -> None:
    port = free_port()
    monkeypatch.setenv("OPTICHANNEL_PROFILE", "production")
    monkeypatch.setenv("OPTICHANNEL_API_TOKEN", "s3cret")
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPTICHANNEL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    if dead == "redis":
        monkeypatch.setenv("OPTICHANNEL_REDIS_URL", f"127.0.0.1:{port},db=0")
    else:
        from support.live_stores import redis_or_skip

        redis_or_skip()
        monkeypatch.setenv(
            "OPTICHANNEL_DECISION_LOG_URL", f"postgresql+psycopg://postgres@127.0.0.1:{port}/x"
        )
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    app = typer.Typer()
    cli.register(app)
    try:
        done = CliRunner().invoke(app, ["serve"])
    finally:
        get_settings.cache_clear()
    lines = done.output.strip().splitlines()
    assert done.exit_code == 1 and len(lines) == 1, done.output
    assert lines[0].startswith("error:") and ("Redis" if dead == "redis" else "decision log") in lines[0]


def test_a_report_waits_a_bounded_time_for_the_outcome_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection lost mid-report can leave the outcome lock held: the next report fails within
    the lock timeout (a 503 in the service), never hangs into BentoML's 504."""
    import pandas as pd
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError
    from support.live_stores import fresh_postgres

    import serving.log_database
    from serving.log_database import engine
    from serving.outcomes.store import ingest

    monkeypatch.setattr(serving.log_database, "LOCK_TIMEOUT_S", 1)
    with fresh_postgres() as url, engine(url).connect() as holder:
        holder.execute(text("BEGIN"))
        holder.execute(text("LOCK TABLE outcomes IN SHARE ROW EXCLUSIVE MODE"))
        began = time.monotonic()
        with pytest.raises(OperationalError) as raised:
            ingest(
                url, pd.DataFrame({"decision_id": ["d1"], "event": ["sent"], "at": [START.isoformat()]}), "t"
            )
        assert time.monotonic() - began < 5
        assert serving.health.down_reason(raised.value) is not None  # the service answers 503
        holder.execute(text("ROLLBACK"))
