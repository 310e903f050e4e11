"""`optichannel features build --engine spark`: the snapshot SQL on Spark, past one machine.

The same queries as the DuckDB build (features/snapshot_sql.py, in the Spark dialect), over the
same validated Parquet, written in the same layout: one `<family>.parquet` per family, sorted by
time, with DuckDB's column types (a test compares every value). Always a full rebuild: the
incremental bookkeeping (features/build.py) is DuckDB's, so its manifest is removed and the next
DuckDB build starts afresh.

The Spark session comes from settings (`spark_master`, `spark_conf`), and the Feast Spark offline
store uses the same (`session_conf`), so a cluster is configured once. Paths must be visible to
the driver and every executor (a shared mount on a cluster): they are passed as `file://` URIs.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from features.build import MANIFEST, TABLES, Built
from features.snapshot_grid import Grid, write_grid
from features.snapshot_sql import DAILY_FAMILIES, FAMILIES
from features.sql_dialect import SPARK
from optichannel.progress import progress_bar
from optichannel.settings import Settings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MIN_JAVA = 17  # Spark 4 runs on Java 17 or 21
#: what the snapshots' meaning depends on: dates of instants are UTC dates (as DuckDB's session),
#: and timestamps are written as UTC microseconds that pyarrow, DuckDB and Feast read alike
REQUIRED_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
#: defaults a deployment may override through `OPTICHANNEL_SPARK_CONF`
DEFAULT_CONF = {
    "spark.app.name": "optichannel",
    "spark.sql.execution.arrow.pyspark.enabled": "true",  # Feast's training frames reach pandas via Arrow
    "spark.sql.parquet.compression.codec": "zstd",
}


class SparkUnavailable(ValueError):
    """pyspark or a suitable Java is missing; the message says what to install (the CLI prints it)."""


def session_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for the feature build and for Feast's Spark offline store alike."""
    return {"spark.master": settings.spark_master, **DEFAULT_CONF, **settings.spark_conf, **REQUIRED_CONF}


def java_version() -> int | None:
    """Major version of the Java Spark would start (JAVA_HOME first, then PATH), None if none."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        return None
    try:
        text = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def check_spark() -> None:
    """Raise SparkUnavailable with one line naming what to install."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            "the Spark engine needs pyspark: install the `spark` extra "
            "(`make setup-spark`, or `pip install 'optichannel[spark]'`)"
        ) from None
    version = java_version()
    if version is None or version < MIN_JAVA:
        found = "no Java found" if version is None else f"found Java {version}"
        raise SparkUnavailable(
            f"Spark needs Java {MIN_JAVA} or newer ({found}): apt-get install openjdk-17-jre-headless, "
            "or set JAVA_HOME"
        )


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The active Spark session (the required settings applied to it), else a new one from settings."""
    check_spark()
    from pyspark.sql import SparkSession

    settings = settings or get_settings()
    active = SparkSession.getActiveSession()
    if active is None:
        builder = SparkSession.builder
        for key, value in session_conf(settings).items():
            builder = builder.config(key, value)
        active = builder.getOrCreate()
    for key, value in REQUIRED_CONF.items():
        active.conf.set(key, value)
    return active


def _data_span(spark: SparkSession) -> tuple[dt.date, dt.date]:
    """First and last UTC day with any transaction, event or contact (as features/build.py)."""
    first, last = spark.sql(
        """SELECT MIN(d0), MAX(d1) FROM (
             SELECT CAST(MIN(ts) AS DATE) d0, CAST(MAX(ts) AS DATE) d1 FROM transactions UNION ALL
             SELECT CAST(MIN(ts) AS DATE), CAST(MAX(ts) AS DATE) FROM events UNION ALL
             SELECT CAST(MIN(sent_at) AS DATE), CAST(MAX(sent_at) AS DATE) FROM contacts)"""
    ).first()
    if first is None:
        raise ValueError("the feeds hold no dated rows: nothing to build features from")
    return first, last


def _as_duckdb_types(frame: DataFrame) -> DataFrame:
    """Spark's 32-bit integers (DATEDIFF, EXTRACT) as the 64-bit ones DuckDB writes."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ByteType, IntegerType, LongType, ShortType

    narrow = (ByteType, ShortType, IntegerType)
    return frame.select(
        *(
            F.col(f.name).cast(LongType()).alias(f.name) if isinstance(f.dataType, narrow) else F.col(f.name)
            for f in frame.schema.fields
        )
    )


def _write_one_file(frame: DataFrame, target: Path) -> int:
    """Write `frame` as the single Parquet file `target` (rows in the query's order); its row count."""
    staging = target.with_name(f".{target.name}.spark")
    shutil.rmtree(staging, ignore_errors=True)
    # coalescing the sorted result concatenates its ranges in order: one file, still sorted
    frame.coalesce(1).write.mode("overwrite").parquet(staging.as_uri())
    parts = sorted(staging.glob("part-*.parquet"))
    if len(parts) != 1:
        raise RuntimeError(f"Spark wrote {len(parts)} part files to {staging}, expected one")
    parts[0].replace(target)
    shutil.rmtree(staging, ignore_errors=True)
    return pq.read_metadata(target).num_rows


def build_features_spark(
    validated: Path, out: Path, settings: Settings | None = None, progress: bool = True,
    snapshots: Grid | None = None,
) -> Built:  # fmt: skip
    """Write `out/<family>.parquet` for every family with Spark: the snapshots of the grid
    (`snapshots`, default `Settings.feature_snapshots`), as DuckDB would."""
    settings = settings or get_settings()
    grid = snapshots or settings.feature_snapshots
    spark = spark_session(settings)
    for name in TABLES:
        path = Path(validated).resolve() / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `optichannel validate` first")
        spark.read.parquet(path.as_uri()).createOrReplaceTempView(name)
    first_day, last_data_day = _data_span(spark)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # the next DuckDB build cannot trust an older manifest
    built = Built(reason="the Spark engine recomputes every snapshot")
    last_day = last_data_day + dt.timedelta(days=1)  # snapshots run to the day after the data, as DuckDB's
    params = {"since": first_day, "last_day": last_day, "first_snapshot": first_day}
    with progress_bar(enabled=progress) as bar:
        task = bar.add_task("building features on Spark", total=len(FAMILIES))
        for family, make_sql in FAMILIES.items():
            bar.update(task, description=f"building {family} features on Spark")
            sql = (DAILY_FAMILIES[family](SPARK).sql(decision_days=grid == "decisions")
                   if family in DAILY_FAMILIES else make_sql(SPARK))  # fmt: skip
            frame = _as_duckdb_types(spark.sql(sql.format(**params)))
            built.rows[family] = _write_one_file(frame, out / f"{family}.parquet")
            bar.advance(task)
    write_grid(out, grid, last_day)
    return built
