"""Spark for real, in local mode: `features build --engine spark` gives DuckDB's snapshots value for
value, and Feast's Spark offline store in the production profile gives the DuckDB path's training
frame. The README's cluster commands are these, with another OPTICHANNEL_SPARK_MASTER.

Needs pyspark (the `spark` extra, which `make test` installs) and Java 17+: installed here with
apt-get when missing and allowed (root), else skipped with the reason; under CI a missing piece
fails instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from features.snapshot_sql import FAMILIES
from features.spark_build import MIN_JAVA, java_version
from optichannel.settings import Settings, get_settings
from pipeline.cli import build_app
from simulator.generate import generate_world
from simulator.world import WorldConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]
#: small but past the 90-day windows, with enough contact history for the train/valid/test split
WORLD = WorldConfig(customers=250, days=100, seed=23)
MASTER = "local[2]"
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
              "spark.ui.showConsoleProgress": "false"}  # fmt: skip
runner = CliRunner()


def _cannot_run(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the Spark tests)")
    pytest.skip(reason)


def _apt_install_java() -> str:
    """Install Debian's Java 17 when this process may; what went wrong, or ''."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root with apt-get"
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "openjdk-17-jre-headless"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(cmd)} failed: {done.stderr.strip()[-300:]}"
    return ""


@pytest.fixture(scope="module")
def spark_ready() -> Iterator[None]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        _cannot_run("pyspark is not installed: `make setup-spark` (`make test` installs it)")
    if (java_version() or 0) < MIN_JAVA:
        problem = _apt_install_java()
        if (java_version() or 0) < MIN_JAVA:
            _cannot_run(f"Spark needs Java {MIN_JAVA}+ and none could be installed ({problem})")
    yield
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()


@pytest.fixture(scope="module")
def built(spark_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A validated small world, its snapshots built by both engines through the real command."""
    from features.validation import validate_feeds

    root = tmp_path_factory.mktemp("spark")
    generate_world(WORLD, root / "world")
    local = Settings(data_dir=root / "data", show_progress=False)
    validate_feeds(root / "world", local.validated_dir, as_of="2030-01-01", progress=False)
    env = {
        "OPTICHANNEL_DATA_DIR": str(local.data_dir),
        "OPTICHANNEL_SHOW_PROGRESS": "false",
        "OPTICHANNEL_SPARK_MASTER": MASTER,
        "OPTICHANNEL_SPARK_CONF": json.dumps(SPARK_CONF),
    }
    dirs = {"duckdb": root / "duckdb_features", "spark": root / "spark_features",
            "spark decisions": root / "spark_decision_days"}  # fmt: skip
    seconds = {}
    try:
        for name, out in dirs.items():
            get_settings.cache_clear()
            began = time.perf_counter()
            engine, *grid = name.split()
            args = ["features", "build", "--engine", engine, "--out", str(out), "--quiet",
                    "--snapshots", grid[0] if grid else "daily"]  # fmt: skip
            result = runner.invoke(build_app(), args, env=env)
            seconds[name] = time.perf_counter() - began
            assert result.exit_code == 0, result.output
            assert "full rebuild" in result.output, result.output
    finally:
        get_settings.cache_clear()
    print(f"\nfeatures build on {WORLD.customers} customers x {WORLD.days} days: "
          + ", ".join(f"{e} {s:.1f} s" for e, s in seconds.items()))  # fmt: skip
    yield {"local": local, "dirs": dirs}


def test_spark_snapshots_equal_duckdb_value_for_value(built: dict) -> None:
    """Same files, columns, types, rows in the same order, nulls in the same places; integers,
    strings and times exactly, floats to a relative 1e-10: DuckDB's epoch() can round its last bit
    differently from Spark's micros / 1e6, which moves a fatigue value by ~3e-12."""
    duck_dir, spark_dir = built["dirs"]["duckdb"], built["dirs"]["spark"]
    assert sorted(p.name for p in spark_dir.glob("*.parquet")) == sorted(f"{f}.parquet" for f in FAMILIES)
    assert not (spark_dir / "_build.json").exists()  # a later DuckDB build starts afresh
    for family in FAMILIES:
        file = f"{family}.parquet"
        duck, spark = pq.read_table(duck_dir / file), pq.read_table(spark_dir / file)
        assert spark.num_rows == duck.num_rows > (WORLD.customers if family == "profile" else 10_000) - 1
        _assert_equal(duck, spark, family)
    # not a vacuous comparison: the windows saw data, and customers differ
    txn = pq.read_table(spark_dir / "transactions.parquet").to_pandas()
    assert txn["txn_count_90d"].max() > 50 and txn["txn_salary_day"].nunique() > 5
    contacts = pq.read_table(spark_dir / "contacts.parquet").to_pandas()
    assert (contacts["cnt_fatigue_3d"] > 0).mean() > 0.3 and contacts["cnt_last_contact_epoch"].max() > 1e9


def _assert_equal(duck: pa.Table, spark: pa.Table, family: str) -> None:
    assert spark.schema.names == duck.schema.names, family
    assert [str(t) for t in spark.schema.types] == [str(t) for t in duck.schema.types], family
    assert spark.num_rows == duck.num_rows, family
    for name in duck.schema.names:
        want, got = duck.column(name).to_pandas(), spark.column(name).to_pandas()
        where = f"{family}.{name}"
        assert (got.isna() == want.isna()).all(), f"{where}: nulls differ"
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=1e-10, atol=1e-12,
                                       equal_nan=True, err_msg=where)  # fmt: skip
        else:
            assert got[want.notna()].tolist() == want[want.notna()].tolist(), f"{where}: values differ"


def test_spark_decision_day_snapshots_are_duckdbs_daily_rows_on_those_days(built: dict) -> None:
    """`--snapshots decisions` on Spark keeps exactly the daily rows of each customer's decision
    days and of the newest day, decision days found here from the contacts feed."""
    contacts = pd.read_parquet(
        built["local"].validated_dir / "contacts.parquet", columns=["customer_id", "sent_at"]
    )
    decided = set(zip(contacts.customer_id, contacts.sent_at.dt.floor("D"), strict=True))
    for family in ("transactions", "behaviour", "contacts"):
        daily = pq.read_table(built["dirs"]["duckdb"] / f"{family}.parquet")
        keys = daily.select(["customer_id", "event_timestamp"]).to_pandas()
        newest = keys.event_timestamp.max()
        keep = [
            (c, t) in decided or t == newest
            for c, t in zip(keys.customer_id, keys.event_timestamp, strict=True)
        ]
        assert 0 < sum(keep) < 0.6 * len(keep), family
        sparse = pq.read_table(built["dirs"]["spark decisions"] / f"{family}.parquet")
        _assert_equal(daily.filter(pa.array(keep)), sparse, family)


def test_production_profile_trains_from_the_spark_offline_store(built: dict, tmp_path: Path) -> None:
    """`training_frame` (Feast `get_historical_features` with contacts as the entity frame) through
    the production profile with the Spark offline store, over the Spark-built snapshots, equals the
    frame the local profile (DuckDB offline store, DuckDB snapshots) gives."""
    from features import store as st
    from training.config import Labels, Split
    from training.dataset import training_frame

    base = built["local"]
    local = base.model_copy(update={"features_dir_path": built["dirs"]["duckdb"]})
    prod = base.model_copy(update={
        "profile": "production", "features_dir_path": built["dirs"]["spark"], "feast_offline_store": "spark",
        # the production YAML's SQL registry, on SQLite here instead of PostgreSQL; Redis is not touched
        "feast_registry_url": f"sqlite:///{tmp_path / 'registry.db'}",
        "spark_master": MASTER, "spark_conf": SPARK_CONF,
    })  # fmt: skip
    config = st.store_yaml(prod)
    assert config["offline_store"]["type"] == "spark" and config["registry"]["registry_type"] == "sql"
    assert config["offline_store"]["spark_conf"]["spark.sql.session.timeZone"] == "UTC"
    st.apply(local)
    st.apply(prod)
    spark_store = st.open_store(prod)
    assert type(spark_store._get_provider().offline_store).__name__ == "SparkOfflineStore"
    began = time.perf_counter()
    on_spark = training_frame(spark_store, base.validated_dir, Labels(), Split())
    spark_seconds = time.perf_counter() - began
    began = time.perf_counter()
    on_duckdb = training_frame(st.open_store(local), base.validated_dir, Labels(), Split())
    print(f"\ntraining frame of {len(on_duckdb.frame):,} contacts: Spark offline store "
          f"{spark_seconds:.1f} s, DuckDB {time.perf_counter() - began:.1f} s")  # fmt: skip
    assert len(on_duckdb.frame) > 2000
    assert on_spark.customer_features == on_duckdb.customer_features
    assert len(on_duckdb.customer_features) > 40
    assert on_spark.request_params == on_duckdb.request_params
    pd.testing.assert_frame_equal(on_spark.frame, on_duckdb.frame, check_dtype=False, rtol=1e-10, atol=1e-12)
    assert on_spark.frame[on_duckdb.customer_features].notna().mean().mean() > 0.8  # features were found
