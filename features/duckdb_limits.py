"""DuckDB sessions for batch steps, bounded in memory.

DuckDB takes 80% of the machine by default; at a million customers a feature build would take
all of it. Here it gets `duckdb_memory_limit` and spills the rest to `spill_dir`, so a step's peak
memory follows the setting, not the world (sorts, joins, aggregates and windows all spill).
"""

from __future__ import annotations

import contextlib

import duckdb

from optichannel.settings import Settings, get_settings


def connect(settings: Settings | None = None, *, keep_order: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory session in UTC with the memory limit, spill directory and threads of
    `settings`; `keep_order=False` lets unordered queries stream without holding rows back."""
    settings = settings or get_settings()
    config: dict[str, str | int | bool] = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.spill_dir.resolve()),  # made by DuckDB once it spills
        "preserve_insertion_order": keep_order,
    }
    if settings.duckdb_threads is not None:
        config["threads"] = settings.duckdb_threads
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    # the steps draw their own bars, DuckDB's would interleave; in Jupyter DuckDB wants ipywidgets to
    # touch the setting at all, and without them it draws none
    with contextlib.suppress(duckdb.InvalidInputException):
        con.execute("SET enable_progress_bar = false")
    return con
