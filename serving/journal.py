"""A worker's local journal of answered decisions not yet in the decision log: a killed worker (or
one stopped while PostgreSQL was down) lost the rows queued in memory. Every answer is appended
to the worker's own journal file before it is queued; the file is emptied when everything queued
has been written. A journal whose owner is gone (its lock is free) is replayed into the log by the
next worker that starts, then deleted: the insert ignores ids already logged, so replaying twice
is harmless.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Journal:
    """This process's journal file in `directory`, held under an exclusive lock while it lives."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._fd = os.open(self.path, os.O_CREAT | os.O_RDWR | os.O_APPEND, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Append rows (one write: a kill leaves whole lines or a torn last one, skipped on replay)."""
        if rows:
            os.write(self._fd, "".join(json.dumps(list(r), default=_plain) + "\n" for r in rows).encode())

    def clear(self) -> None:
        """Everything journaled is in the log."""
        os.ftruncate(self._fd, 0)

    def close(self, remove: bool) -> None:
        if remove:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers."""
    return value.item() if hasattr(value, "item") else str(value)


def orphans(directory: Path, mine: Path | None = None) -> Iterator[tuple[Path, list[tuple[Any, ...]], int]]:
    """(file, its rows, its locked descriptor) of journals whose owner is gone."""
    for path in sorted(directory.glob("*.jsonl")) if directory.exists() else []:
        if path == mine:
            continue
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live worker's
            os.close(fd)
            continue
        rows = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                rows.append(tuple(json.loads(line)))
            except json.JSONDecodeError:
                continue  # a line torn by the kill: never acknowledged to the log either
        yield path, rows, fd


def replay(directory: Path, insert: Callable[[list[tuple[Any, ...]]], None], mine: Path | None = None) -> int:
    """Write every orphaned journal's rows into the log (`insert`), then delete it; how many rows."""
    done = 0
    for path, rows, fd in orphans(directory, mine):
        try:
            if rows:
                insert(rows)
            path.unlink(missing_ok=True)
            done += len(rows)
        finally:
            os.close(fd)
    if done:
        log.warning("decision log: replayed %d decisions journaled by a worker that stopped early", done)
    return done
