"""Feeds as an extract taken at an earlier instant would hold them: what a bank's daily export
had on an earlier day, to exercise incremental builds (tests, benchmarks) on one simulated world."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

#: each time-stamped feed and the column that says when a row became known
TIME = {"transactions": "ts", "events": "ts", "contacts": "sent_at"}


def cut_feeds(feeds: Path, out: Path, at: pd.Timestamp) -> Path:
    """Nothing logged at or after `at`; responses and conversions after it not known yet."""
    out.mkdir(parents=True)
    shutil.copy(feeds / "customers.parquet", out / "customers.parquet")
    for table, column in TIME.items():
        frame = pd.read_parquet(feeds / f"{table}.parquet")
        frame = frame[frame[column] < at]
        if table == "contacts":
            for late in ("responded_at", "converted_at"):
                frame.loc[frame[late] >= at, late] = pd.NaT
        frame.to_parquet(out / f"{table}.parquet", index=False)
    return out
