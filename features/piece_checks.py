"""Check a feed's pieces in worker processes (`validate_workers`), results back in read order.

Validation is column-wise pandas work on one core per piece; a million customers' feeds are
hundreds of pieces. So pieces are checked in worker processes while the parent reads the next piece and writes
finished ones in order. Workers are forked where the platform can (spawn would re-run a user's
script that calls validation without a `__main__` guard); they only run pandas and Arrow, whose
thread pools are re-made after a fork, and no DuckDB connection is open when they start.
A piece travels as Arrow (cheap to pickle) and becomes pandas in the worker; what a table's checks
share (contract, reference keys: a million customer ids) is sent once per worker, not per piece.
At most `workers` pieces are in flight, so peak memory stays a few pieces, not the feed.
With one worker, or a feed of one piece, pieces are checked in this process: same function.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.contract_checks import REASON_COLUMN, ROW_COLUMN, TableReport, validate_table
from features.feed_io import Piece
from features.validated_io import accepted_table, quarantine_table
from optichannel.contracts import Contract


@dataclass(frozen=True)
class TableChecks:
    """What every piece of one table is checked against."""

    contract: Contract
    source: Path
    schema: pa.Schema  # the feed's own (quarantined rows keep their values as read)
    as_of: pd.Timestamp
    refs: Mapping[str, pd.Index]
    keep_keys: bool
    default_tz: str | None = None  # given to rows without a known zone
    rejected: Mapping[str, pd.Series] = field(default_factory=dict)  # referenced quarantined keys -> why


@dataclass(frozen=True)
class CheckedPiece:
    """One piece's outcome, ready to append: accepted and quarantined rows as Arrow."""

    rows: int
    accepted: pa.Table
    quarantined: pa.Table | None
    report: TableReport
    keys: pd.Series | None
    rejected: pd.Series | None = None  # with `keys`: the quarantined rows' keys -> reasons


def check_piece(
    checks: TableChecks, piece: Piece, offset: int, repeats: dict[str, np.ndarray] | None
) -> CheckedPiece:
    """Validate one piece (rows `offset`.. of the table) and shape its output for writing."""
    result = validate_table(piece.frame, checks.contract, source=checks.source, as_of=checks.as_of,
                            ref_keys=checks.refs, repeats=repeats, row_offset=offset,
                            default_tz=checks.default_tz, ref_rejected=checks.rejected)  # fmt: skip
    bad = None
    if len(result.quarantined):
        at = result.quarantined[ROW_COLUMN].to_numpy()
        bad = quarantine_table(piece.rows(at - offset, checks.schema), result.quarantined[REASON_COLUMN], at)
    keys = result.accepted[checks.contract.key] if checks.keep_keys else None
    good = accepted_table(result.accepted, checks.contract)
    rejected = result.rejected if checks.keep_keys else None
    return CheckedPiece(len(piece), good, bad, result.report, keys, rejected)


_WORKER_CHECKS: TableChecks | None = None  # set once in each worker process


def _init_worker(checks: TableChecks) -> None:
    global _WORKER_CHECKS
    _WORKER_CHECKS = checks


def _check_in_worker(piece: Piece, offset: int, repeats: dict[str, np.ndarray] | None) -> CheckedPiece:
    assert _WORKER_CHECKS is not None, "worker started without its table's checks"
    return check_piece(_WORKER_CHECKS, piece, offset, repeats)


Task = tuple[Piece, int, "dict[str, np.ndarray] | None"]


def check_pieces(checks: TableChecks, tasks: Iterable[Task], workers: int) -> Iterator[CheckedPiece]:
    """Checked pieces in the order of `tasks` ((piece, offset, repeats)), on `workers` processes."""
    if workers <= 1:
        for piece, offset, repeats in tasks:
            yield check_piece(checks, piece, offset, repeats)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(checks,))
    pending: deque[Future[CheckedPiece]] = deque()
    try:
        for piece, offset, repeats in tasks:
            pending.append(pool.submit(_check_in_worker, piece, offset, repeats))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
