"""The frequency cap under concurrency: workers deciding for one customer at the same moment (each
with its own connection to the shared store) never hand out more contacts than the cap allows,
and the contacts that lost the race are decided again instead of being answered."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from support.live_stores import redis_or_skip
from support.tiny import START, customer_block, tiny_model

from decision.engine import Engine
from features.customer_block import CustomerBlock
from optichannel import feature_columns as fc
from serving.decider import Decider
from serving.handed_out import KEY_PREFIX, RedisHandedOut, SQLiteHandedOut
from serving.schemas import PredictRequest

WORKERS = 12
CAP = 4  # Economics' default max_contacts_7d


def _store(kind: str, tmp_path: Path) -> object:
    if kind == "sqlite":
        return SQLiteHandedOut(tmp_path / "handed_out.sqlite")
    return RedisHandedOut(redis_or_skip())


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_parallel_requests_for_one_customer_never_pass_the_cap(tmp_path: Path, kind: str) -> None:
    model = tiny_model()
    assert Engine(model).rules.cap == CAP
    everyone_read = threading.Barrier(WORKERS)
    first = threading.local()

    def read(ids: list[str]) -> CustomerBlock:
        if not getattr(first, "done", False):  # every worker reads before any hands out: the race
            first.done = True
            everyone_read.wait(timeout=30)
        return customer_block(ids, **{fc.CONTACTS_7D: 1.0})  # one contact already in the snapshot

    me = f"C-{uuid.uuid4().hex[:8]}"  # fresh keys: Redis outlives the test
    ask = PredictRequest(customer_id=me, window_start=START, window_hours=24)

    def worker(_: int) -> str:
        decider = Decider(Engine(model), read, "tiny", "1", handed_out=_store(kind, tmp_path))
        return decider.decide([ask])[0].decision.channel

    with ThreadPoolExecutor(WORKERS) as pool:
        channels = list(pool.map(worker, range(WORKERS)))
    store = _store(kind, tmp_path)
    lo, hi = np.array([int(START.timestamp()) - 7 * 86_400]), np.array([int(START.timestamp()) + 86_400])
    handed_out = int(store.count([me], lo, hi)[0])
    if kind == "redis":
        store.client.delete(KEY_PREFIX + me)
    assert handed_out == CAP - 1  # the snapshot's one contact and three handed out
    assert sum(c != "none" for c in channels) == CAP - 1 and channels.count("none") == WORKERS - CAP + 1
