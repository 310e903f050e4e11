"""Which days a build wrote snapshots for, and the check that a read only asks for those.

`daily` (the default) writes one snapshot per customer per day: any time can be read. `decisions`
writes them only on the days a customer has a logged decision, plus everyone's newest day
(`features.snapshot_family.DECISION_DAYS`): training frames (each decision's own day) and the
online store (the newest day) read exactly what the daily grid gives them, from a fraction of the
rows. Any other time, such as a campaign or score at a past window, would silently read a snapshot
days old; `check_reads` refuses it instead, saying which rows and what to do.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import get_args

import duckdb
import pandas as pd

from features.store_definitions import JOIN_KEY, TIMESTAMP, snapshot_path
from optichannel.settings import SnapshotGrid as Grid

GRIDS: tuple[Grid, ...] = get_args(Grid)
MARKER = "_grid.json"
#: a daily family whose rows are the grid (every daily family has the same rows)
_PROBE = "contacts"


def write_grid(out: Path, grid: Grid, newest: dt.date) -> None:
    """Record the grid a build wrote and its newest snapshot day beside the snapshot files."""
    (Path(out) / MARKER).write_text(json.dumps({"snapshots": grid, "newest": newest.isoformat()}))


def read_grid(features_dir: Path) -> tuple[Grid, dt.date | None]:
    """(the grid, its newest day); a directory without the marker holds daily snapshots."""
    path = Path(features_dir) / MARKER
    if not path.exists():
        return "daily", None
    meta = json.loads(path.read_text())
    return meta["snapshots"], dt.date.fromisoformat(meta["newest"])


def check_reads(features_dir: Path, entity: pd.DataFrame) -> None:
    """Raise if `features_dir` holds decision-day snapshots and a row of `entity` (customer_id,
    event_timestamp in UTC) asks for a day before the newest that has no snapshot of that customer
    (one signed up by then): the daily grid would have one, this grid would answer days late."""
    grid, newest = read_grid(features_dir)
    if grid == "daily" or entity.empty:
        return
    times = pd.to_datetime(entity[TIMESTAMP], utc=True)
    early = times < pd.Timestamp(newest, tz="UTC")
    if not early.any():
        return
    rows = pd.DataFrame({JOIN_KEY: entity[JOIN_KEY].astype(str).to_numpy()[early.to_numpy()],
                         "day": times[early].dt.floor("D").to_numpy()})  # fmt: skip
    snapshots = snapshot_path(features_dir, _PROBE).as_posix()
    profile = snapshot_path(features_dir, "profile").as_posix()
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.register("asked", rows)
        missing, first = con.execute(f"""
            SELECT COUNT(*), MIN(a.{JOIN_KEY} || ' at ' || CAST(a.day AS DATE)) FROM asked a
            JOIN read_parquet('{profile}') p ON p.{JOIN_KEY} = a.{JOIN_KEY} AND p.{TIMESTAMP} <= a.day
            ANTI JOIN read_parquet('{snapshots}') s
              ON s.{JOIN_KEY} = a.{JOIN_KEY} AND s.{TIMESTAMP} = a.day""").fetchone()  # fmt: skip
    if missing:
        raise ValueError(
            f"{missing:,} of {len(entity):,} feature reads ask for a day with no snapshot (e.g. {first}): "
            f"{features_dir} holds decision-day snapshots, which answer logged decisions and the newest "
            f"day ({newest}) only; rebuild with `optichannel features build --snapshots daily` to read "
            "features at other times"
        )
