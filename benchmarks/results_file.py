"""Benchmark figures as data: each script writes `benchmarks/results/<name>.json`, and the docs'
benchmark page is generated from those files (`make docs-gen`), so a figure is never retyped into
prose and its history is the file's history in git.

`figures` is either flat, `{"figure": value}`, or one row per case, `{"row": {"column": value}}`;
the page draws the first as a two-column table and the second as a table with a column per key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    """CPU model and core count: figures from a 2-core machine and a 32-core one do not compare."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count()}


def command_line() -> str:
    """How this run was started, with the script relative to the repository (to re-run it)."""
    script = Path(sys.argv[0]).resolve()
    first = str(script.relative_to(ROOT)) if script.is_relative_to(ROOT) else sys.argv[0]
    return shlex.join([".venv/bin/python", first, *sys.argv[1:]])


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def _plain(value: Any) -> Any:
    """NumPy scalars and paths as JSON values."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_result(
    name: str, figures: Mapping[str, Any], *, notes: str | None = None, directory: Path = RESULTS
) -> Path:
    """Write this run's figures as `<directory>/<name>.json` (replacing the last run's) and say where."""
    record = {
        "name": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command_line(),
        "commit": _commit(),
        "figures": dict(figures),
    }
    if notes:
        record["notes"] = notes
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(record, indent=2, default=_plain) + "\n")
    print(f"figures written to {path} (`make docs-gen` puts them on the benchmark page)")
    return path
