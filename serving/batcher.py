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


class MicroBatcher(Generic[T, R]):
    """`await submit(items)` returns `run(items)`'s results, computed together with other callers'."""

    def __init__(
        self, run: Callable[[list[T]], list[R]], max_batch: int = 64, max_wait_s: float = 0.0
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.run, self.max_batch, self.max_wait_s = run, max_batch, max_wait_s
        self._pending: list[tuple[list[T], asyncio.Future[list[R]]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="decide")
        self.batches = 0  # how many merged calls of `run` so far (for tests and metrics)

    async def submit(self, items: list[T]) -> list[R]:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._serve())
        future: asyncio.Future[list[R]] = loop.create_future()
        self._pending.append((items, future))
        assert self._wake is not None
        self._wake.set()
        return await future

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
                try:
                    _done(future, await loop.run_in_executor(self._pool, self.run, items))
                except Exception as exc:
                    _fail(future, exc)
            return
        start = 0
        for items, future in batch:
            _done(future, results[start : start + len(items)])
            start += len(items)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def _done(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
