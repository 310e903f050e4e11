"""Redis restarted between a claim pipeline's script check and its call (found by the soak): the
script cache is empty and EVALSHA fails with NoScriptError, which was a 500; the claim retries once
(the retry's pipeline loads the script again)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.client import Pipeline
from support.in_process import private_redis

from serving.counters_lost import GENERATION_KEY
from serving.handed_out import Claim, RedisHandedOut
from serving.shared_stores import redis_client


def test_a_claim_survives_redis_losing_its_scripts_mid_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with private_redis(tmp_path / "redis") as redis:
        store = RedisHandedOut(redis_client(redis.url))
        store.client.set(GENERATION_KEY, "built")
        load = Pipeline.load_scripts
        raced = []

        def load_then_restart(pipe: Pipeline) -> None:
            load(pipe)
            if not raced:  # the restart lands after the check, before EVALSHA
                raced.append(True)
                store.client.script_flush()  # a separate connection: now, not queued

        monkeypatch.setattr(Pipeline, "load_scripts", load_then_restart)
        assert store.claim([Claim("C1", 1000, "d1", 0, 2000, 4)]) == [True]  # before: NoScriptError
        assert raced
