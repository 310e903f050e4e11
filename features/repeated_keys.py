"""Ids repeated anywhere in a feed too large for memory.

Validation checks a big feed piece by piece, but "duplicate txn_id" is a property of the whole
table: the first occurrence is accepted and every later one quarantined, even when they sit in
different parts. So before the pieces are checked, the id column alone is read (coerced exactly as
validation coerces it) into a Parquet file of (value, row position), and one DuckDB query, inside
its memory limit and spilling to disk, lists the positions whose value occurred at an earlier
position. The ids of a 30M-row feed never have to fit in memory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.coercion import arrow_type, coerce
from features.duckdb_limits import connect
from features.feed_io import Feed, Piece, iter_pieces
from optichannel.contracts import Column
from optichannel.settings import Settings, get_settings


def repeated_rows(
    feed: Feed, column: Column, piece_rows: int, settings: Settings | None = None
) -> np.ndarray:
    """Sorted positions (in read order) of rows whose `column` value appeared in an earlier row;
    rows without a readable value never count."""
    if column.name not in feed.schema.names:
        return np.empty(0, dtype=np.int64)
    settings = settings or get_settings()
    settings.spill_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.spill_dir, prefix="ids-") as tmp:
        path = Path(tmp) / "ids.parquet"
        schema = pa.schema([("v", arrow_type(column)), ("row", pa.int64())])
        offset = 0
        with pq.ParquetWriter(path, schema) as writer:
            for piece in iter_pieces(feed, piece_rows, [column.name]):
                values, kept = _readable(piece, column, schema.field("v").type)
                writer.write_table(pa.table([values, pa.array(kept + offset)], schema=schema))
                offset += len(piece)
        con = connect(settings, keep_order=False)
        try:
            found = con.execute(
                f"""WITH ids AS (SELECT v, row FROM read_parquet('{path.as_posix()}')),
                    firsts AS (SELECT v, MIN(row) AS first FROM ids GROUP BY v HAVING COUNT(*) > 1)
                SELECT ids.row FROM ids JOIN firsts USING (v) WHERE ids.row > firsts.first
                ORDER BY ids.row"""
            ).fetchnumpy()["row"]
        finally:
            con.close()
    return np.asarray(found, dtype=np.int64)


def _readable(piece: Piece, column: Column, kind: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """The piece's readable values of `column` and their positions, coerced as validation does.

    Text ids already clean (no surrounding whitespace, no empty strings: what `coerce` returns
    unchanged) are taken straight from Arrow, skipping pandas; anything else goes through
    `coerce` itself."""
    table = piece.table
    if (
        column.kind == "str"
        and table is not None
        and pa.types.is_string(table.schema.field(column.name).type)
    ):
        text = table.column(column.name)
        trimmed = pc.utf8_trim_whitespace(text)
        if not pc.any(pc.not_equal(trimmed, text)).as_py() and not pc.any(pc.equal(text, "")).as_py():
            valid = pc.is_valid(text)
            kept = np.flatnonzero(valid.to_numpy(zero_copy_only=False))
            return pc.filter(text, valid).combine_chunks().cast(kind), kept
    coerced = coerce(piece.frame[column.name], column.kind)
    kept = np.flatnonzero(coerced.valid)
    return pa.array(coerced.values.iloc[kept], type=kind, from_pandas=True), kept


def piece_mask(repeated: np.ndarray, offset: int, rows: int) -> np.ndarray:
    """`repeated` (sorted positions) as a row mask of the piece at `offset` with `rows` rows."""
    lo, hi = np.searchsorted(repeated, [offset, offset + rows])
    mask = np.zeros(rows, dtype=bool)
    mask[repeated[lo:hi] - offset] = True
    return mask
