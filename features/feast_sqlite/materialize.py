"""Our materialize: each customer's latest snapshot into the online store, fast.

SQLite (the default profile): the whole online store is rebuilt in a new file next to
the live one, without a journal (nothing can be lost: until the swap, the new file is
scratch), then swapped in with one atomic rename. Readers see the old snapshot of every
view or the new one, never a mix; a write lock on the live file holds off other writers
meanwhile. Tables of other views in the file are copied over unchanged. A reader holding
an open connection keeps the old file until it reopens (`OnlineReader` checks each read;
Feast's own SQLite store keeps its connection for the life of the process).

Other online stores (Redis) get the same prepared frames through Feast's public
`write_to_online_store`. Either way the materialized interval is recorded in the registry,
as Feast's own materialize does.

Memory follows `materialize_chunk_customers`, not the bank: the latest snapshots are read and
encoded a chunk of customers at a time (DuckDB inside its memory limit), and SQLite sorts for
the indexes in temporary files, not in memory (at 300,000 customers that sort alone held 0.55 GB).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.duckdb_limits import connect as bounded_session
from features.feast_sqlite import fast_path
from features.feast_sqlite.write import EntityKeys, Staged, insert_view, stage
from features.store_definitions import JOIN_KEY, TIMESTAMP, VIEWS, snapshot_path
from optichannel.settings import get_settings

if TYPE_CHECKING:
    from feast import FeatureStore, FeatureView

CACHE_KIB = 65_536  # page cache of the rebuild; more bought nothing measurable
PAGE_SIZE = 16_384  # a quarter of the write calls of SQLite's default 4 KiB: -15% at 100k customers


def latest_snapshots(
    features_dir: Path, family: str, end: datetime, chunk: int | None = None
) -> Iterator[pd.DataFrame]:
    """Each customer's newest snapshot row at or before `end`, in chunks of `chunk` customers
    (default `materialize_chunk_customers`: memory follows the chunk, not the bank).

    First the newest time per customer from two columns, then only rows from the oldest
    of those on: snapshots are sorted by time, so older row groups are never read. Customers
    come in the order of Feast's entity keys (an id's length in bytes, then its bytes), so each chunk
    appends to the online table's primary key.
    """
    settings = get_settings()
    chunk = chunk or settings.materialize_chunk_customers
    vectors = max(1, chunk // 2048)  # DuckDB hands out rows in vectors of 2,048
    path = snapshot_path(features_dir, family).as_posix()
    with bounded_session(settings) as con:  # inside the batch steps' memory limit
        (since,) = con.execute(
            f"SELECT MIN(t) FROM (SELECT MAX({TIMESTAMP}) AS t FROM read_parquet('{path}') "
            f"WHERE {TIMESTAMP} <= ? GROUP BY {JOIN_KEY})",
            [end],
        ).fetchone()
        result = con.execute(
            f"""SELECT * FROM read_parquet('{path}') WHERE {TIMESTAMP} BETWEEN ? AND ?
            QUALIFY row_number() OVER (PARTITION BY {JOIN_KEY} ORDER BY {TIMESTAMP} DESC) = 1
            ORDER BY strlen({JOIN_KEY}), {JOIN_KEY}""",
            [since, end],
        )
        frame = result.fetch_df_chunk(vectors)
        yield from _pieces(frame, chunk) or [frame]  # an empty view still gets its (empty) table
        while not (frame := result.fetch_df_chunk(vectors)).empty:
            yield from _pieces(frame, chunk)


def _pieces(frame: pd.DataFrame, rows: int) -> list[pd.DataFrame]:
    return [frame.iloc[start : start + rows] for start in range(0, len(frame), rows)]


def _schema(live: sqlite3.Connection) -> dict[str, list[str]]:
    """DDL per table of the live file: CREATE TABLE first, then its indexes."""
    rows = live.execute(
        "SELECT type, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC"
    ).fetchall()
    odd = [name for kind, name, sql in rows if kind not in ("table", "index") or "VIRTUAL" in sql.upper()]
    if odd:
        raise RuntimeError(
            f"the online store holds {', '.join(sorted(set(odd)))}, which a rebuild cannot copy: "
            "use `optichannel features materialize --stock`"
        )
    schema: dict[str, list[str]] = {}
    for _, table, sql in rows:
        schema.setdefault(table, []).append(sql)
    return schema


def rebuild_sqlite(path: Path, views: Iterable[Staged]) -> dict[str, int]:
    """Swap in a new online file whose tables for `views` hold exactly the staged rows and
    whose other tables are copies; returns cells written per table.

    `views` may be a generator: SQLite inserts one view on a writer thread (sqlite3 releases
    the GIL) while the next one is encoded."""
    path = Path(path)
    scratch = path.with_name(f".{path.name}.rebuild")
    live = sqlite3.connect(path, isolation_level=None)
    try:
        live.execute("BEGIN IMMEDIATE")  # no other writer (nor materialize) until the swap
    except sqlite3.OperationalError as err:
        live.close()
        raise RuntimeError(f"{path} is being written by another process ({err}): try again later") from err
    scratch.unlink(missing_ok=True)  # left by a crashed run: ours now, under the lock
    new = sqlite3.connect(scratch, isolation_level=None, check_same_thread=False)
    try:
        schema = _schema(live)
        for pragma in (f"page_size = {PAGE_SIZE}", "journal_mode = OFF", "synchronous = OFF",
                       "temp_store = FILE", f"cache_size = -{CACHE_KIB}"):  # fmt: skip
            new.execute(f"PRAGMA {pragma}")
        new.execute("ATTACH ? AS live", (str(path),))
        new.execute("BEGIN")
        written: dict[str, int] = {}
        with ThreadPoolExecutor(max_workers=1) as writer:
            job = None
            for staged in views:
                if staged.table not in schema:
                    raise RuntimeError(
                        f"online table {staged.table} does not exist: run `optichannel features apply` first"
                    )
                if job is not None:  # the previous chunk is in: an error stops us here
                    table, rows = job
                    written[table] = written.get(table, 0) + rows.result()
                job = staged.table, writer.submit(insert_view, new, staged, schema[staged.table])
            if job is not None:
                written[job[0]] = written.get(job[0], 0) + job[1].result()
        for table, ddl in schema.items():
            if table not in written:
                new.execute(ddl[0])
                new.execute(f'INSERT INTO main."{table}" SELECT * FROM live."{table}"')
                for sql in ddl[1:]:
                    new.execute(sql)
        new.execute("COMMIT")
        new.execute("DETACH live")
        new.close()
        os.replace(scratch, path)
    except BaseException:
        new.close()
        scratch.unlink(missing_ok=True)
        raise
    finally:
        live.close()  # ends the write lock: after the swap it guards the old file
    return written


def materialize_fast(
    store: FeatureStore, features_dir: Path, start: datetime, end: datetime
) -> dict[str, int]:
    """Latest snapshot per customer at or before `end` of every view into the online store,
    recording [start, end] as materialized; returns customers written per view."""
    from feast.infra.online_stores.helpers import compute_table_id

    config = store.config
    views = [store.get_feature_view(name) for name, _ in VIEWS.values()]
    family = {name: fam for fam, (name, _) in VIEWS.items()}
    views.sort(key=lambda v: len(v.features))  # the smallest first: the writer starts soonest
    rows: dict[str, int] = {}

    def chunks() -> Iterator[tuple[FeatureView, pd.DataFrame, bool, bool]]:
        """(view, chunk of customers, first chunk?, last chunk?), one view after the other."""
        for view in views:
            frames = latest_snapshots(features_dir, family[view.name], end)
            frame, first = next(frames), True
            rows[view.name] = len(frame)
            for following in frames:
                yield view, frame, first, False
                frame, first = following, False
                rows[view.name] += len(frame)
            yield view, frame, first, True

    if fast_path(store):
        keys = EntityKeys(config.entity_key_serialization_version)
        versioned = config.registry.enable_online_feature_view_versioning
        staged = (stage(f, v, compute_table_id(config.project, v, versioned), keys, first, last)
                  for v, f, first, last in chunks())  # fmt: skip
        rebuild_sqlite(Path(config.online_store.path), staged)
    else:
        for view, frame, _, _ in chunks():
            store.write_to_online_store(view.name, frame)
    for view in views:
        store.registry.apply_materialization(view, store.project, start, end, commit=False)
    store.registry.commit()
    return rows
