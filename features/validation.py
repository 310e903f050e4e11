"""Enforce the feed contracts on whole feeds, in bounded memory.

Nothing is dropped silently: every row read is either accepted (typed, in the contract's column
order) or quarantined with its raw values and every reason it failed, and the report shows that
the counts reconcile. The rules themselves live in `features.contract_checks`.

A feed may be far larger than memory (a million customers' transactions), so each table is read
in pieces of `validate_piece_rows` rows (Parquet parts, CSV in blocks); each piece is checked, its
accepted rows appended to `<table>.parquet` and its rejected ones to `quarantine/<table>.parquet`.
Ids repeated across pieces are found first, by one pass over the ids alone
(`features.repeated_keys`), so the result is exactly that of checking the table at once: the first
occurrence accepted, every later one quarantined. Pieces can be checked in worker processes
(`features.piece_checks`, `validate_workers`, default 1) and are written in read order. Peak
memory follows the piece size and the workers; only the accepted customer ids (which the other
feeds reference) are held whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract_checks import (
    REASON_COLUMN,
    ROW_COLUMN,
    TableReport,
    TableResult,
    parse_as_of,
    validate_table,
)
from features.event_usage import READ_EVENT_TYPES, event_type_counts
from features.feed_io import Feed, FeedError, iter_pieces, open_feed
from features.piece_checks import TableChecks, Task, check_pieces
from features.repeated_keys import piece_mask, repeated_rows
from features.validated_io import (
    PartWriter,
    accepted_path,
    quarantine_path,
    read_accepted_keys,
    write_report,
)
from optichannel.contracts import CONTRACTS, Contract
from optichannel.localtime import is_valid_tz
from optichannel.progress import progress_bar
from optichannel.settings import Settings, get_settings

__all__ = [
    "REASON_COLUMN",
    "ROW_COLUMN",
    "TableReport",
    "TableResult",
    "parse_as_of",
    "validate_feed",
    "validate_feeds",
    "validate_table",
]


def validate_feeds(
    src_dir: str | Path,
    out_dir: str | Path,
    as_of: str | datetime | pd.Timestamp | None = None,
    tables: Sequence[str] | None = None,
    progress: bool = True,
    settings: Settings | None = None,
    default_tz: str | None = None,
    notes: Mapping[str, object] | None = None,
) -> dict[str, TableReport]:
    """Validate the feeds in `src_dir` (customers first, for references) and write the results.

    Writes `out_dir/<table>.parquet` (accepted), `out_dir/quarantine/<table>.parquet` (only
    when rows were quarantined; a stale one is removed) and `out_dir/report.json`. A customer
    without a known time zone is kept with `default_tz` (default: the feed's most common zone), as
    its history is usable; the report counts it. Rows of a quarantined customer say why it was.
    `notes` (e.g. what a feed mapping set aside) are added to the report as they are.
    """
    settings = settings or get_settings()
    src, out = Path(src_dir), Path(out_dir)
    when = parse_as_of(as_of)
    names = _select_tables(tables)
    out.mkdir(parents=True, exist_ok=True)
    keys: dict[str, pd.Index] = {}
    rejected: dict[str, pd.Series] = {}
    reports: dict[str, TableReport] = {}
    zone: str | None = None
    with progress_bar(enabled=progress) as bar:
        for name in names:
            contract = CONTRACTS[name]
            feed = open_feed(src, name)
            task = bar.add_task(f"validating {name}", total=feed.rows)
            refs = _reference_keys(contract, keys, out)
            key = f"{name}.{contract.key}"
            keep = key in _referenced()  # only referenced keys are kept: ids of 30M rows are not
            if any(c.kind == "tz" for c in contract.columns):
                zone = default_tz or common_zone(feed, settings.validate_piece_rows)
            checks = TableChecks(contract, feed.path, feed.schema, when, refs, keep, zone, rejected)
            report, accepted_keys, rejected_keys = validate_feed(
                feed, checks, out, settings, advance=lambda n, t=task: bar.advance(t, n)
            )
            reports[name] = report
            if accepted_keys is not None:
                keys[key] = accepted_keys
            if rejected_keys is not None:
                rejected[key] = rejected_keys
    payload = {
        "source": str(src),
        "as_of": when.isoformat(),
        "assumed_tz": zone,
        "tables": {name: report.as_dict() for name, report in reports.items()},
        **(notes or {}),
    }
    if "events" in reports:  # allowed types no feature reads: said, not silently ignored
        counts = event_type_counts(out)
        payload["events_read_by_no_feature"] = {k: n for k, n in counts.items() if k not in READ_EVENT_TYPES}
    write_report(payload, out)
    return reports


def common_zone(feed: Feed, rows: int) -> str:
    """The most common known time zone of a customers feed (UTC when it names none): the one a
    customer without a zone most likely lives in."""
    if "tz" not in feed.schema.names:
        return "UTC"
    counts: Counter[str] = Counter()
    for piece in iter_pieces(feed, rows, ["tz"]):
        counts.update(piece.frame["tz"].dropna().astype(str).str.strip().value_counts().to_dict())
    for zone, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):  # ties: by name, repeatably
        if is_valid_tz(zone):
            return zone
    return "UTC"


def validate_feed(
    feed: Feed,
    checks: TableChecks,
    out: Path,
    settings: Settings,
    advance: Callable[[int], object] = lambda n: None,
) -> tuple[TableReport, pd.Index | None, pd.Series | None]:
    """Check one feed piece by piece and write its accepted and quarantined rows; the report,
    and with `checks.keep_keys` the accepted keys and the quarantined keys with their reasons."""
    contract = checks.contract
    missing = [c.name for c in contract.columns if c.required and c.name not in feed.schema.names]
    if missing:
        raise FeedError(
            f"{feed.path}: table {contract.table!r} lacks required column(s) {', '.join(missing)}"
        )
    rows = settings.validate_piece_rows
    repeated = None  # one piece: duplicates are found within it
    if not _one_piece(feed, rows):
        repeated = {c.name: repeated_rows(feed, c, rows, settings) for c in contract.columns if c.unique}
    accepted = PartWriter(accepted_path(out, contract.table))
    quarantined = PartWriter(quarantine_path(out, contract.table))
    counts: Counter[str] = Counter()
    key_parts: list[pd.Series] = []
    rejected_parts: list[pd.Series] = []
    repaired: Counter[str] = Counter()
    first: TableReport | None = None
    workers = 1 if repeated is None else settings.validate_workers
    offset = 0
    try:
        for done in check_pieces(checks, _tasks(feed, rows, repeated), workers):
            accepted.write(done.accepted)
            if done.quarantined is not None:
                quarantined.write(done.quarantined)
            counts.update(done.report.rule_counts)
            repaired.update(done.report.repaired)
            first = first or done.report
            if done.keys is not None:
                key_parts.append(done.keys)
            if done.rejected is not None:
                rejected_parts.append(done.rejected)
            offset += done.rows
            advance(done.rows)
        accepted_file, quarantine_file = accepted.close(), quarantined.close()
    except BaseException:
        accepted.abort()
        quarantined.abort()
        raise
    assert first is not None  # iter_pieces yields at least one piece
    report = replace(
        first,
        source=str(feed.path),
        rows_read=offset,
        accepted=accepted.rows,
        quarantined=quarantined.rows,
        reconciled=offset == accepted.rows + quarantined.rows,
        rule_counts=dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
        repaired=dict(sorted(repaired.items(), key=lambda kv: (-kv[1], kv[0]))),
        accepted_path=str(accepted_file),
        quarantine_path=None if quarantine_file is None else str(quarantine_file),
    )
    if not checks.keep_keys:
        return report, None, None
    rejected = pd.concat(rejected_parts) if rejected_parts else pd.Series(dtype=object)
    return report, pd.Index(pd.concat(key_parts, ignore_index=True)), rejected


def _tasks(feed: Feed, rows: int, repeated: dict[str, np.ndarray] | None) -> Iterator[Task]:
    """Each piece with its position in the table and its rows' already-seen ids."""
    offset = 0
    for piece in iter_pieces(feed, rows):
        n = len(piece)
        seen = None if repeated is None else {c: piece_mask(r, offset, n) for c, r in repeated.items()}
        yield piece, offset, seen
        offset += n


def _one_piece(feed: Feed, rows: int) -> bool:
    """Whether the feed fits in one piece (a CSV's length is unknown until read)."""
    if feed.rows is not None:
        return feed.rows <= rows
    with closing(iter_pieces(feed, rows + 1, feed.schema.names[:1])) as pieces:
        return len(next(pieces).frame) <= rows


def _referenced() -> set[str]:
    """Targets ("table.column") of any contract's references."""
    return {c.references for ct in CONTRACTS.values() for c in ct.columns if c.references is not None}


def _select_tables(tables: Sequence[str] | None) -> list[str]:
    """Requested tables in contract order (customers first); unknown names are an error."""
    if tables is None:
        return list(CONTRACTS)
    unknown = sorted(set(tables) - set(CONTRACTS))
    if unknown:
        raise FeedError(f"unknown table(s) {', '.join(unknown)}; known: {', '.join(CONTRACTS)}")
    return [name for name in CONTRACTS if name in tables]


def _reference_keys(contract: Contract, keys: dict[str, pd.Index], out: Path) -> dict[str, pd.Index]:
    """Accepted keys of referenced tables: from this run, else from a previous run's output."""
    refs: dict[str, pd.Index] = {}
    for column in contract.columns:
        ref = column.references
        if ref is None or ref in refs:
            continue
        if ref not in keys:
            table, key = ref.split(".")
            previous = read_accepted_keys(out, table, key)
            if previous is None:
                raise FeedError(
                    f"{contract.table}.{column.name} references {ref}: validate {table} first "
                    f"(not in this run and not in {out})"
                )
            keys[ref] = previous
        refs[ref] = keys[ref]
    return refs
