"""Adaptive micro-batching: concurrent `/predict` calls merged into one vectorised decision.

While one batch is being decided (in a worker thread, so the event loop keeps accepting
requests), every request that arrives waits for the next one; a batch takes all that are
waiting, up to `max_batch`. A lone request is decided at once, so batching costs nothing at low
load; `max_wait_s` optionally holds a lone request a little for company (the wait is bounded).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class TimedOut(TimeoutError):
    """A caller's items were not decided within its timeout; they never will be, or are undone."""


class MicroBatcher(Generic[T, R]):
    """`await submit(items)` returns `run(items)`'s results, computed together with other callers'."""

    def __init__(
        self,
        run: Callable[[list[T]], list[R]],
        max_batch: int = 64,
        max_wait_s: float = 0.0,
        settle: Callable[[list[T], list[R], list[bool]], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run, self.max_batch, self.max_wait_s = run, max_batch, max_wait_s
        self.settle = settle  # (items, results, delivered per item): keep what was answered, undo the rest
        self._pending: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decide")
        self.batches = 0  # how many merged calls of `run` so far (for tests and metrics)

    async def submit(self, items: list[T], timeout: float | None = None) -> list[R]:
        """`run(items)`'s results; TimedOut after `timeout` seconds, and then the items are either
        never run or `settle` is told they were not delivered (decided on the future itself, so a
        result is either delivered or undone, never both)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._serve())
        future: asyncio.Future[list[R]] = loop.create_future()
        self._pending.append((items, future))
        assert self._wake is not None
        self._wake.set()
        timer = None if timeout is None else loop.call_later(timeout, _expire, future, timeout)
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()

    async def _serve(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if self.max_wait_s > 0 and len(self._pending) == 1:
                    await asyncio.sleep(self.max_wait_s)  # a lone request waits a bounded time for company
                batch, size = [], 0
                while self._pending and (not batch or size + len(self._pending[0][0]) <= self.max_batch):
                    items, future = self._pending.pop(0)
                    batch.append((items, future))
                    size += len(items)
                await self._decide(loop, batch)

    async def _decide(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[list[T], asyncio.Future]]
    ) -> None:
        batch = [(items, future) for items, future in batch if not future.done()]  # timed out: never run
        if not batch:
            return
        merged = [item for items, _ in batch for item in items]
        self.batches += 1
        try:
            results = await loop.run_in_executor(self._pool, self.run, merged)
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0][1], exc)
                return
            # one caller's bad request must not fail the others: decide each alone
            for items, future in batch:
                if future.done():
                    continue
                try:
                    results = await loop.run_in_executor(self._pool, self.run, items)
                except Exception as exc:
                    _fail(future, exc)
                    continue
                await self._deliver(loop, [(items, future)], results)
            return
        await self._deliver(loop, batch, results)

    async def _deliver(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[list[T], asyncio.Future]], results: list[R]
    ) -> None:
        """Hand each caller its results; a caller that gave up meanwhile (its request timed out)
        gets nothing, and `settle` is told, so what its decisions did can be undone."""
        start, delivered = 0, []
        for items, future in batch:
            delivered += [_done(future, results[start : start + len(items)])] * len(items)
            start += len(items)
        if self.settle is not None:
            merged = [item for items, _ in batch for item in items]
            await loop.run_in_executor(self._pool, self.settle, merged, results, delivered)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _done(future: asyncio.Future, value: object) -> bool:
    """Set the result unless the caller gave up; whether it was delivered."""
    if future.done():
        return False
    future.set_result(value)
    return True


def _expire(future: asyncio.Future, timeout: float) -> None:
    if not future.done():
        future.set_exception(TimedOut(f"not decided within {timeout:g} s"))


def _fail(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
