"""Find and read one raw feed table, whatever shape the sender chose.

A table arrives as one Parquet file, a directory of Parquet parts (e.g. the simulator's
partitioned output) or a CSV export. Everything that stops us from reading it at all is a
`FeedError` naming the file, so the command line can say what to fix in one line.
"""

from __future__ import annotations

from pathlib import Path

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
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
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
    """All parts as one table in file-name order; hive-style `key=value` folders become columns.

    The schema is unified over every part, so a part whose column happens to be all null
    (or int where others are float) does not break the read.
    """
    files = part_files(directory)
    if not files:
        raise FeedError(f"{directory}: directory holds no parquet part files")
    paths = [str(f) for f in files]
    options = {"format": "parquet", "partitioning": "hive", "partition_base_dir": str(directory)}
    inferred = ds.dataset(paths, **options)
    schema = pa.unify_schemas(
        [inferred.schema, *(pq.read_schema(f) for f in files)], promote_options="permissive"
    )
    return ds.dataset(paths, schema=schema, **options).to_table().to_pandas(date_as_object=False)
