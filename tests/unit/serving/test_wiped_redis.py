"""Redis restarted without its data (issue 37, finding 5), for real: a private redis-server without
persistence, stopped and started empty. The service must not book on the empty counters (a capped
customer would get more contacts, a centre's hour double its capacity): 503 and not ready until
`optichannel counters rebuild` restores them from the decision log; then the cap holds again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.in_process import private_redis, service_client
from support.tiny import customer_block, tiny_model

import serving.health
from decision.engine import Engine
from optichannel.settings import Settings
from serving.capacity_counter import RedisCounter
from serving.counters_lost import CountersLost
from serving.decider import Decider, next_full_hour
from serving.decision_log import DecisionLog, read_log
from serving.generation import intact, rebuild
from serving.handed_out import RedisHandedOut
from serving.runtime import Runtime, check_generation
from serving.shared_stores import redis_client

CAP = 4
#: the contacts must be recent: the counters remember 15 days
ASK = {"customer_id": "C1", "window_start": next_full_hour().isoformat(), "window_hours": 48}


def _wait_logged(target: Path, n: int) -> None:
    for _ in range(100):
        if target.exists() and len(read_log(target)) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{n} decisions never reached the log")


def test_a_wiped_redis_refuses_to_book_until_counters_are_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.health, "RETRY_AFTER", 1)
    settings = Settings(data_dir=tmp_path)
    with private_redis(tmp_path / "redis") as redis:
        handed_out = RedisHandedOut(redis_client(redis.url, timeout=1))
        decider = Decider(Engine(tiny_model()), lambda ids: customer_block(ids), "tiny", "1")
        decider.handed_out = handed_out
        check_generation(decider, settings)  # a first start: nothing to rebuild, the key is written
        assert intact(handed_out.client)
        made = Runtime(decider, DecisionLog(settings.decision_log).start(), "1", settings)
        with service_client(lambda: made, monkeypatch) as client:
            channels = [
                client.post("/predict", json=ASK).json()["decision"]["channel"] for _ in range(CAP + 1)
            ]
            assert sum(c != "none" for c in channels) == CAP and channels[-1] == "none"  # the cap holds
            _wait_logged(settings.decision_log, CAP + 1)

            redis.stop()
            redis.start(wipe=True)  # back, without its data
            refused = client.post("/predict", json=ASK)
            assert refused.status_code == 503, refused.text  # before: 200 and a fifth contact
            assert "counters rebuild" in refused.json()["error"]
            assert client.get("/readyz").status_code == 503

            done = rebuild(handed_out.client, settings.decision_log, handed_out, None)
            assert done["handed_out"] == CAP
            time.sleep(1.1)
            assert client.get("/readyz").status_code == 200
            again = client.post("/predict", json=ASK)
            assert again.status_code == 200 and again.json()["decision"]["channel"] == "none"


def test_a_campaign_counter_without_its_generation_books_nothing(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as redis:
        counter = RedisCounter(redis.url)
        with pytest.raises(CountersLost):
            counter.book([("optichannel:capacity:c:hour", 1.0, 3.0)])
        assert counter.used(["optichannel:capacity:c:hour"]) == [0.0]
        counter.client.set("optichannel:generation", "built")
        assert counter.book([("optichannel:capacity:c:hour", 1.0, 3.0)])
