"""`optichannel outcomes import FILE`: a CRM's outcome export into the outcome store, in pieces.

Each piece of the file is checked and stored in one transaction together with the import's
progress marker (the file's SHA-256 and the rows done), so a crash at any point loses nothing and
a re-run of the same file resumes after the last stored piece: no row is applied twice, and a file
imported before is recognised and left alone. `not_sent` reports release the handed-out contacts
they concern, so the frequency cap stops counting them, and what they booked on a campaign's
counters, exactly once: the release is queued with the piece and drained after it (and again at the
end of any run), so a crash between the two leaves it pending, never lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Executable, case, select, update

from serving.campaign_limits import CampaignLimits
from serving.handed_out import HandedOut
from serving.log_database import IMPORTS, engine, insert
from serving.outcomes import releases
from serving.outcomes.store import OUTCOME_COLUMNS, ingest, release

CHUNK_ROWS = 50_000


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


def _progress(target: Path | str, key: str) -> dict | None:
    with engine(target).connect() as con:
        row = con.execute(select(IMPORTS).where(IMPORTS.c.fingerprint == key)).mappings().first()
    return None if row is None else dict(row)


def import_file(
    path: Path,
    target: Path | str,
    handed_out: HandedOut | None = None,
    rows: int = CHUNK_ROWS,
    on_chunk: Callable[[int], None] | None = None,
    limits: CampaignLimits | None = None,
) -> ImportResult:
    """Import `path` into the outcome store of `target` (the decision log's file or URL),
    resuming or skipping as recorded."""
    if not path.exists():
        raise FileNotFoundError(f"outcomes file not found: {path}")
    key = fingerprint(path)
    done = _progress(target, key)
    if done is not None and done["finished_at"] is not None:
        freed = releases.drain(target, handed_out, limits)  # what a crash after its last piece left
        return ImportResult(path, done["rows_done"], done["accepted"], done["quarantined"], freed,
                            done["rows_done"], already=done["finished_at"])  # fmt: skip
    start = 0 if done is None else done["rows_done"]
    released, position = 0, 0
    now = datetime.now(UTC).isoformat()
    for piece in chunks(path, rows):
        first, position = position, position + len(piece)
        if position <= start:
            continue  # stored by an earlier, interrupted run
        piece = piece.drop(columns=[c for c in piece.columns if c not in OUTCOME_COLUMNS])
        marker = _marker(target, key, str(path), position, now)
        result = ingest(
            target, piece, f"import:{path.name}", first + 1, marker, _stored_by_others(key, first)
        )
        released += release(result, handed_out, limits)
        if on_chunk is not None:
            on_chunk(position)
    finished = datetime.now(UTC).isoformat()
    with engine(target).begin() as con:
        if position <= start:  # an empty file, or nothing left: the marker row may not exist yet
            con.execute(_marker(target, key, str(path), position, now)(0, 0))
        con.execute(update(IMPORTS).where(IMPORTS.c.fingerprint == key).values(finished_at=finished))
    released += releases.drain(target, handed_out, limits)  # pending since a crash after the last piece
    totals = _progress(target, key) or {}  # every piece counted once, whichever run stored it
    return ImportResult(path, position, totals.get("accepted", 0), totals.get("quarantined", 0), released,
                        start)  # fmt: skip


def _stored_by_others(key: str, first: int) -> Callable[[Connection], int]:
    """How many leading rows of the piece starting at row `first` another run of the same file
    stored meanwhile (read under the outcome lock): two imports at once apply each row once."""

    def leading(con: Connection) -> int:
        done = con.execute(select(IMPORTS.c.rows_done).where(IMPORTS.c.fingerprint == key)).scalar()
        return max(0, int(done or 0) - first)

    return leading


def _marker(
    target: Path | str, key: str, path: str, position: int, now: str
) -> Callable[[int, int], Executable]:
    """The progress statement, completed with the piece's own counts inside its transaction; counts
    add up in the store, so concurrent runs of one file total each piece once."""
    dialect = engine(target).dialect.name

    def statement(piece_accepted: int, piece_quarantined: int) -> Executable:
        counts = {"rows_done": position, "accepted": piece_accepted, "quarantined": piece_quarantined}
        row = insert(IMPORTS, dialect).values(fingerprint=key, path=path, started_at=now, **counts)
        return row.on_conflict_do_update(
            index_elements=["fingerprint"],
            set_={
                "rows_done": case((IMPORTS.c.rows_done > position, IMPORTS.c.rows_done), else_=position),
                "accepted": IMPORTS.c.accepted + piece_accepted,
                "quarantined": IMPORTS.c.quarantined + piece_quarantined,
            },
        )

    return statement
