"""Concurrent calls are merged into fewer decisions, each caller gets its own answers back,
and one caller's bad request fails only that caller."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from serving.batcher import MicroBatcher


def test_concurrent_calls_share_batches_and_get_their_own_results() -> None:
    calls: list[list[int]] = []

    def run(items: list[int]) -> list[int]:
        calls.append(list(items))
        time.sleep(0.01)  # a decision takes time: others queue up meanwhile
        return [x * 10 for x in items]

    batcher = MicroBatcher(run, max_batch=8)

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(20)))

    results = asyncio.run(main())
    assert results == [[i * 10, (i + 100) * 10] for i in range(20)]
    assert sorted(x for c in calls for x in c) == sorted([*range(20), *range(100, 120)])
    assert len(calls) < 20 and max(len(c) for c in calls) <= 8  # merged, never above the bound
    batcher.close()


def test_a_lone_request_is_decided_at_once() -> None:
    batcher = MicroBatcher(lambda items: items, max_batch=64)

    async def main() -> float:
        t = time.perf_counter()
        await batcher.submit([1])
        return time.perf_counter() - t

    assert asyncio.run(main()) < 0.05
    batcher.close()


def test_one_bad_request_fails_only_its_caller() -> None:
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        gate.wait(1)
        if -1 in items:
            raise ValueError("bad zone in request -1")
        return items

    batcher = MicroBatcher(run, max_batch=64)

    async def main() -> list[object]:
        tasks = [asyncio.ensure_future(batcher.submit([i])) for i in (1, -1, 2, 3)]
        await asyncio.sleep(0.02)
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == [1] and results[2] == [2] and results[3] == [3]
    assert isinstance(results[1], ValueError) and "-1" in str(results[1])
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(lambda items: items, max_batch=0)
    batcher.close()
