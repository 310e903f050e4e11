"""`optichannel features build`: daily snapshot Parquet per feature family, via DuckDB.

Reads the validated feeds (never the simulator's truth), writes one Parquet file per
family with `customer_id`, `event_timestamp` (UTC, microseconds) and the features.

Incremental by default. A snapshot at day d reads only the LOOKBACK_DAYS days before it
(features/snapshot_sql.py), so a rebuild recomputes the snapshots from the previous
build's newest one (its last day may have been partial) and reads the feeds from
LOOKBACK_DAYS before that. It is exactly a full rebuild as long as nothing older changed: a
manifest (`_build.json`) keeps a fingerprint of the feed rows before the last data day and
of each family's SQL, and any difference (late or corrected rows, a changed time zone, new
code) means a full rebuild, with the reason given. Profiles (one row per customer) are always
rebuilt: they are small.

Bounded memory: DuckDB runs inside `duckdb_memory_limit`, spilling to `spill_dir`, and the daily
families are computed a bucket of customers at a time (features/build_buckets.py), so peak memory
follows `feature_bucket_rows`, not the size of the bank.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from features.build_buckets import Buckets, bucket_count
from features.day_parts import write_in_order
from features.duckdb_limits import connect as bounded_session
from features.snapshot_grid import Grid, write_grid
from features.snapshot_sql import DAILY_FAMILIES, FAMILIES, LOOKBACK_DAYS
from features.sql_dialect import DUCKDB
from features.window_arrays import Windowed
from optichannel.progress import progress_bar
from optichannel.settings import Settings, get_settings

TABLES = ("customers", "transactions", "events", "contacts")
#: what old snapshots read, by the time it is dated: a change to any of it before the
#: cut-off alters them (name: table, columns hashed, time column)
FINGERPRINTED = {
    "customers": ("customers", "customer_id, tz, signup_date", "signup_date"),
    "transactions": ("transactions", "transactions", "ts"),  # a table's name is its whole row
    "events": ("events", "events", "ts"),
    "contact sends": ("contacts", "customer_id, channel, sent_at, delivered", "sent_at"),
    "contact responses": ("contacts", "customer_id, channel, responded_at", "responded_at"),
}
MANIFEST = "_build.json"
DAILY = ("transactions", "behaviour", "contacts")  # the families with daily snapshots


def connect(validated: Path, settings: Settings | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB session in UTC, inside the memory limit, with the validated feeds as views."""
    con = bounded_session(settings)
    for name in TABLES:
        path = Path(validated) / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `optichannel validate` first")
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path.as_posix()}')")
    return con


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date]:
    """First and last UTC day with any transaction, event or contact."""
    first, last = con.execute(
        """SELECT MIN(d0), MAX(d1) FROM (
             SELECT MIN(ts)::DATE d0, MAX(ts)::DATE d1 FROM transactions UNION ALL
             SELECT MIN(ts)::DATE, MAX(ts)::DATE FROM events UNION ALL
             SELECT MIN(sent_at)::DATE, MAX(sent_at)::DATE FROM contacts)"""
    ).fetchall()[0]  # fetched to the end: the session is free for the next query of any kind
    if first is None:
        raise ValueError("the feeds hold no dated rows: nothing to build features from")
    return first, last


def fingerprint(con: duckdb.DuckDBPyConnection, before: dt.date) -> dict[str, str]:
    """Row count and order-free hash sum per feed over the rows dated before `before`."""
    out = {}
    for name, (table, columns, time) in FINGERPRINTED.items():
        count, total = con.execute(
            f"SELECT COUNT(*), SUM(hash({columns})) FROM {table} WHERE {time} < ?", [before]
        ).fetchone()
        out[name] = f"{count}:{total}"
    return out


def sql_digest(family: str) -> str:
    return hashlib.sha256(FAMILIES[family]().encode()).hexdigest()[:16]


def _query(
    con: duckdb.DuckDBPyConnection, family: str, params: dict[str, object], grid: Grid
) -> Callable[[], str]:
    """What makes `family`'s snapshot query over the current views: the daily families' windows
    computed in NumPy (features/window_arrays.py), the profile in SQL."""
    if family in DAILY_FAMILIES:
        return Windowed(con, DAILY_FAMILIES[family](DUCKDB), params, decision_days=grid == "decisions")
    return lambda: FAMILIES[family]().format(**params)


@dataclass
class Built:
    """What a build did: rows per family file, and whether (and why not) it was incremental."""

    rows: dict[str, int] = field(default_factory=dict)
    incremental: bool = False
    reason: str = ""  # why a full rebuild, or from which day the incremental one recomputed


def plan(
    con: duckdb.DuckDBPyConnection, out: Path, last_data_day: dt.date, grid: Grid
) -> tuple[dt.date | None, str]:
    """(first snapshot day to recompute, or None for a full rebuild; the reason)."""
    path = out / MANIFEST
    if not path.exists():
        return None, "no previous build"
    manifest = json.loads(path.read_text())
    if any(not (out / f"{f}.parquet").exists() for f in FAMILIES):
        return None, "a snapshot file of the previous build is missing"
    changed = [f for f in DAILY if manifest["sql"].get(f) != sql_digest(f)]
    if changed:
        return None, f"the feature SQL changed ({', '.join(changed)})"
    if manifest.get("snapshots", "daily") != grid:
        return None, f"the snapshot grid changed ({manifest.get('snapshots', 'daily')} to {grid})"
    resume = dt.date.fromisoformat(manifest["newest_snapshot"])
    cut = resume - dt.timedelta(days=1)  # the previous build's last data day, maybe partial then
    if last_data_day < cut:
        return None, f"the feeds end before the previous build's last data day ({cut})"
    differ = [t for t, v in fingerprint(con, cut).items() if manifest["fingerprint"].get(t) != v]
    if differ:
        return None, f"{', '.join(differ)} changed before {cut} (late or corrected rows)"
    if grid == "decisions":  # decisions logged late on that partial day need their snapshots too
        resume = cut
    return resume, f"recomputed snapshots from {resume}"


def build_features(
    validated: Path, out: Path, progress: bool = True, full: bool = False, settings: Settings | None = None,
    snapshots: Grid | None = None,
) -> Built:  # fmt: skip
    """Write `out/<family>.parquet` for every family, incrementally unless `full` or unsafe.

    Snapshots run from the first data day to the day after the last data day, so the newest
    snapshot covers everything for serving: every day, or only decision days and the newest
    (`snapshots`, default `Settings.feature_snapshots`; features/snapshot_grid.py).
    """
    settings = settings or get_settings()
    grid = snapshots or settings.feature_snapshots
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    con = connect(validated, settings)
    first_day, last_data_day = data_span(con)
    resume, reason = (None, "--full asked for") if full else plan(con, out, last_data_day, grid)
    (out / MANIFEST).unlink(missing_ok=True)  # until this build completes, the next one is full
    built = Built(incremental=resume is not None, reason=reason)
    last_day = last_data_day + dt.timedelta(days=1)
    since = first_day if resume is None else max(first_day, resume - dt.timedelta(days=LOOKBACK_DAYS))
    count = bucket_count(con, since, last_day, settings.feature_bucket_rows)
    with ExitStack() as stack:
        bar = stack.enter_context(progress_bar(enabled=progress))
        task = bar.add_task("building features", total=len(FAMILIES) + len(DAILY) * (count - 1))
        settings.spill_dir.mkdir(parents=True, exist_ok=True)
        work = stack.enter_context(tempfile.TemporaryDirectory(dir=settings.spill_dir, prefix="build-"))
        buckets = Buckets(con, validated, Path(work), count)
        for family in FAMILIES:
            bar.update(task, description=f"building {family} features")
            target = out / f"{family}.parquet"
            tmp = target.with_suffix(".tmp.parquet")
            daily = resume is not None and family in DAILY
            first_snapshot = resume if daily else first_day
            params = {"since": since if daily else first_day, "last_day": last_day,
                      "first_snapshot": first_snapshot}  # fmt: skip
            query = _query(con, family, params, grid)
            if family in DAILY:
                schema = buckets.run(query, lambda: bar.advance(task))
                older = None
                if daily:  # the older snapshots as they are (in order), then the recomputed ones
                    older = (f"SELECT * FROM read_parquet('{target.as_posix()}') WHERE event_timestamp < "
                             f"TIMESTAMPTZ '{resume} 00:00:00+00'")  # fmt: skip
                bar.update(task, description=f"writing {family} features in order")
                built.rows[family] = write_in_order(con, buckets.parts, schema, tmp, older)
                buckets.release()
            else:
                con.execute(f"COPY ({query()}) TO '{tmp.as_posix()}' (FORMAT PARQUET, COMPRESSION ZSTD)")
                built.rows[family] = con.execute(
                    f"SELECT COUNT(*) FROM read_parquet('{tmp.as_posix()}')"
                ).fetchall()[0][0]
                bar.advance(task)
            tmp.replace(target)
    manifest = {
        "newest_snapshot": last_day.isoformat(),
        "sql": {f: sql_digest(f) for f in DAILY},
        "fingerprint": fingerprint(con, last_data_day),
        "snapshots": grid,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    write_grid(out, grid, last_day)
    con.close()
    return built
