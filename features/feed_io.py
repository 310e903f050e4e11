"""Find and read one raw feed table, whatever shape the sender chose.

A table arrives as one Parquet file, a directory of Parquet parts (e.g. the simulator's
partitioned output) or a CSV export. Everything that stops us from reading it at all is a
`FeedError` naming the file, so the command line can say what to fix in one line.

A table can be far larger than memory: `open_feed` + `iter_pieces` read it in pieces of a
bounded number of rows, in the same order and with the same values as `read_table`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq


class FeedError(ValueError):
    """A feed that cannot be used at all: missing, unreadable, or lacking a required column."""


def locate_table(src_dir: str | Path, table: str) -> Path:
    """Path of `table` in `src_dir`: `<table>.parquet`, then `<table>/`, then `<table>.csv`."""
    root = Path(src_dir)
    if not root.is_dir():
        raise FeedError(f"{root}: feed directory does not exist")
    for candidate in (root / f"{table}.parquet", root / table, root / f"{table}.csv"):
        if candidate.exists():
            return candidate
    looked = f"{table}.parquet, {table}/, {table}.csv"
    raise FeedError(f"{root}: no feed for table {table!r} (looked for {looked})")


def read_table(src_dir: str | Path, table: str) -> tuple[pd.DataFrame, Path]:
    """The raw rows of `table` as read (CSV: every column as text) and the path they came from."""
    path = locate_table(src_dir, table)
    try:
        if path.is_dir():
            frame = _read_parts(path)
        elif path.suffix == ".csv":
            frame = pd.read_csv(path, **_CSV)
        else:
            frame = pq.read_table(path).to_pandas(date_as_object=False)
    except FeedError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise FeedError(f"{path}: cannot read table {table!r}: {exc}") from exc
    return frame, path


def part_files(directory: Path) -> list[Path]:
    """Parquet parts under `directory` in name order, skipping hidden and `_`-prefixed entries."""
    files = [
        f
        for f in directory.rglob("*.parquet")
        if f.is_file() and not any(p.startswith(("_", ".")) for p in f.relative_to(directory).parts)
    ]
    return sorted(files, key=lambda f: f.relative_to(directory).as_posix())


def _read_parts(directory: Path) -> pd.DataFrame:
    """All parts as one table in file-name order; hive-style `key=value` folders become columns."""
    return _parts_dataset(directory).to_table().to_pandas(date_as_object=False)


def _parts_dataset(directory: Path) -> ds.Dataset:
    """The parts as one dataset in file-name order, its schema unified over every part, so a
    part whose column happens to be all null (or int where others are float) does not break it."""
    files = part_files(directory)
    if not files:
        raise FeedError(f"{directory}: directory holds no parquet part files")
    paths = [str(f) for f in files]
    options = {"format": "parquet", "partitioning": "hive", "partition_base_dir": str(directory)}
    inferred = ds.dataset(paths, **options)
    schema = pa.unify_schemas(
        [inferred.schema, *(pq.read_schema(f) for f in files)], promote_options="permissive"
    )
    return ds.dataset(paths, schema=schema, **options)


_CSV = {"dtype": str, "keep_default_na": False, "na_values": [""], "encoding": "utf-8-sig"}


class Piece:
    """Consecutive rows of a table: as pandas reads them, and (Parquet) the same rows in Arrow.

    A Parquet piece's pandas frame is made on first use, so a piece can be sent to a worker
    process as Arrow (cheap to pickle) and converted there."""

    def __init__(self, frame: pd.DataFrame | None, table: pa.Table | None) -> None:
        if frame is None and table is None:
            raise ValueError("a piece needs its rows as a frame or an Arrow table")
        self.table = table
        self._frame = frame

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            assert self.table is not None
            self._frame = self.table.to_pandas(date_as_object=False)
        return self._frame

    def __len__(self) -> int:
        return self.table.num_rows if self.table is not None else len(self.frame)

    def rows(self, positions: np.ndarray, schema: pa.Schema) -> pa.Table:
        """The rows at `positions` with their values as read, in the feed's own schema."""
        if self.table is not None:
            return self.table.take(pa.array(positions, type=pa.int64()))
        return pa.Table.from_pandas(self.frame.iloc[positions], schema=schema, preserve_index=False)


@dataclass(frozen=True)
class Feed:
    """One table as found: where, its raw columns (CSV: all text) and rows (None: unknown)."""

    name: str
    path: Path
    schema: pa.Schema
    rows: int | None


def open_feed(src_dir: str | Path, table: str) -> Feed:
    """Locate `table` and read only its schema (and, for Parquet, its row count)."""
    return open_path(locate_table(src_dir, table), table)


def open_path(path: Path, table: str) -> Feed:
    """`table` at a known path (a `.csv` file, a Parquet file or a directory of parts)."""
    try:
        if path.suffix == ".csv" and path.is_file():
            header = pd.read_csv(path, nrows=0, **_CSV).columns
            schema = pa.schema([pa.field(str(c), pa.string()) for c in header])
            return Feed(table, path, schema, None)
        dataset = _dataset(path)
        return Feed(table, path, dataset.schema, dataset.count_rows())
    except FeedError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise FeedError(f"{path}: cannot read table {table!r}: {exc}") from exc


def iter_pieces(feed: Feed, rows: int, columns: Sequence[str] | None = None) -> Iterator[Piece]:
    """The table in pieces of `rows` rows (the last one shorter; one empty piece for an empty
    table), in `read_table`'s order; `columns` reads only those."""
    try:
        reader = _csv_pieces if feed.rows is None else _parquet_pieces
        yield from reader(feed, rows, columns)
    except FeedError:
        raise
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise FeedError(f"{feed.path}: cannot read table {feed.name!r}: {exc}") from exc


def _dataset(path: Path) -> ds.Dataset:
    return _parts_dataset(path) if path.is_dir() else ds.dataset(str(path), format="parquet")


def _parquet_pieces(feed: Feed, rows: int, columns: Sequence[str] | None) -> Iterator[Piece]:
    dataset = _dataset(feed.path)
    schema = dataset.schema if columns is None else pa.schema([dataset.schema.field(c) for c in columns])
    schema = schema.with_metadata(dataset.schema.metadata or {})  # pandas' dtypes as written
    batches = dataset.to_batches(
        columns=None if columns is None else list(columns),
        batch_size=rows,
        batch_readahead=1,
        fragment_readahead=1,
    )
    held: list[pa.RecordBatch] = []
    count = 0
    emitted = False
    for batch in batches:
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held, schema=schema)
            yield _arrow_piece(table.slice(0, rows))
            emitted = True
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count or not emitted:
        yield _arrow_piece(pa.Table.from_batches(held, schema=schema))


def _arrow_piece(table: pa.Table) -> Piece:
    return Piece(None, table)


def _csv_pieces(feed: Feed, rows: int, columns: Sequence[str] | None) -> Iterator[Piece]:
    usecols = None if columns is None else list(columns)
    emitted = False
    with pd.read_csv(feed.path, chunksize=rows, usecols=usecols, **_CSV) as reader:
        for chunk in reader:
            emitted = True
            yield Piece(chunk.reset_index(drop=True), None)
    if not emitted:
        names = feed.schema.names if columns is None else list(columns)
        yield Piece(pd.DataFrame({n: pd.Series(dtype=object) for n in names}), None)
