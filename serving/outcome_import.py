"""`optichannel outcomes import FILE`: a CRM's outcome export into the outcome store, in pieces.

Each piece of the file is checked and stored in one transaction together with the import's
progress marker (the file's SHA-256 and the rows done), so a crash at any point loses nothing and
a re-run of the same file resumes after the last stored piece: no row is applied twice, and a file
imported before is recognised and left alone. `not_sent` reports release the handed-out contacts
they concern, so the frequency cap stops counting them.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from serving.handed_out import HandedOut
from serving.outcome_store import OUTCOME_COLUMNS, connect, ingest

CHUNK_ROWS = 50_000
PROGRESS = (
    "INSERT INTO outcome_imports VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (fingerprint) DO UPDATE SET "
    "rows_done = excluded.rows_done, accepted = excluded.accepted, quarantined = excluded.quarantined"
)
IMPORTS = (
    "CREATE TABLE IF NOT EXISTS outcome_imports (fingerprint TEXT PRIMARY KEY, path TEXT, rows_done INTEGER,"
    " accepted INTEGER, quarantined INTEGER, started_at TEXT, finished_at TEXT)"
)


@dataclass
class ImportResult:
    """Counts of one import (read = accepted + quarantined), and whether it resumed or was a repeat."""

    path: Path
    read: int
    accepted: int
    quarantined: int
    released: int
    resumed_at: int = 0
    already: str | None = None  # when the file was imported before: when


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes (a directory of Parquet parts: of every part in order)."""
    digest = hashlib.sha256()
    for part in sorted(path.rglob("*.parquet")) if path.is_dir() else [path]:
        with part.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file in pieces of `rows`, values as text (the store parses and checks them)."""
    if path.is_dir() or path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.dataset as ds

        for batch in ds.dataset(path, format="parquet").to_batches(batch_size=rows):
            yield batch.to_pandas()
    elif path.suffix.lower() == ".csv":
        yield from pd.read_csv(path, chunksize=rows, dtype=str, keep_default_na=False, na_values=[""])
    else:
        raise ValueError(f"outcomes must be Parquet or CSV, got {path}")


def _progress(con: sqlite3.Connection, key: str) -> tuple | None:
    con.execute(IMPORTS)
    return con.execute(
        "SELECT rows_done, accepted, quarantined, finished_at FROM outcome_imports WHERE fingerprint = ?",
        (key,),
    ).fetchone()


def import_file(
    path: Path,
    log_path: Path,
    handed_out: HandedOut | None = None,
    rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import `path` into the outcome store at `log_path` (resuming or skipping as recorded)."""
    if not path.exists():
        raise FileNotFoundError(f"outcomes file not found: {path}")
    key = fingerprint(path)
    con = connect(log_path)
    try:
        done = _progress(con, key)
        if done is not None and done[3] is not None:
            return ImportResult(path, done[0], done[1], done[2], 0, done[0], already=done[3])
        start, accepted, quarantined = (done[0], done[1], done[2]) if done else (0, 0, 0)
        resumed, released, position = start, 0, 0
        now = datetime.now(UTC).isoformat()
        for piece in chunks(path, rows):
            first, position = position, position + len(piece)
            if position <= start:
                continue  # stored by an earlier, interrupted run
            extra_columns = [c for c in piece.columns if c not in OUTCOME_COLUMNS]
            piece = piece.drop(columns=extra_columns)
            marker = _marker(key, str(path), position, accepted, quarantined, now)
            result = ingest(con, piece, f"import:{path.name}", first + 1, marker)
            accepted += result.accepted
            quarantined += len(result.quarantined)
            if handed_out is not None and len(result.not_sent):
                handed_out.remove(
                    list(zip(result.not_sent["customer_id"], result.not_sent["decision_id"], strict=True))
                )
                released += len(result.not_sent)
            if on_chunk is not None:
                on_chunk(position)
        con.execute(
            "UPDATE outcome_imports SET finished_at = ?, rows_done = ? WHERE fingerprint = ?",
            (datetime.now(UTC).isoformat(), position, key),
        )
        if done is None and position == 0:  # an empty file: recorded so a repeat is recognised
            con.execute(
                "INSERT OR IGNORE INTO outcome_imports VALUES (?, ?, 0, 0, 0, ?, ?)",
                (key, str(path), now, now),
            )
    finally:
        con.close()
    return ImportResult(path, position, accepted, quarantined, released, resumed)


def _marker(
    key: str, path: str, position: int, accepted: int, quarantined: int, now: str
) -> Callable[[int, int], tuple[str, tuple]]:
    """The progress statement, completed with the piece's own counts inside its transaction."""

    def statement(piece_accepted: int, piece_quarantined: int) -> tuple[str, tuple]:
        counts = (position, accepted + piece_accepted, quarantined + piece_quarantined)
        return PROGRESS, (key, path, *counts, now)

    return statement
