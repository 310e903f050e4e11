"""One source of feature SQL for two engines: the Spark spelling keeps DuckDB's outputs and drops
every DuckDB-only call; Spark's settings keep what the snapshots' meaning depends on; and a machine
without pyspark or Java gets one line saying what to install. Spark itself runs in
tests/integration/test_spark.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from features.snapshot_sql import FAMILIES
from features.spark_build import REQUIRED_CONF, session_conf
from features.sql_dialect import DUCKDB, SPARK
from features.store import store_yaml
from optichannel.settings import Settings, get_settings
from pipeline.cli import build_app

DUCKDB_ONLY = ("timezone(", "ISODOW(", "EPOCH(", "TIMESTAMPTZ", "IGNORE NULLS", "generate_series",
               "unnest(", "DATE_DIFF(", "AT TIME ZONE", "::")  # fmt: skip


@pytest.mark.parametrize("family", list(FAMILIES))
def test_spark_sql_has_duckdbs_outputs_and_none_of_its_calls(family: str) -> None:
    make = FAMILIES[family]
    duck, spark = make(), make(SPARK)
    assert duck == make(DUCKDB)  # DuckDB stays the default spelling (and the incremental build's digest)
    aliases = re.compile(r" AS ([a-z_]\w*)")  # column names (types are upper case)
    assert aliases.findall(spark) == aliases.findall(duck)
    for call in DUCKDB_ONLY:
        assert call.lower() not in spark.lower(), f"{family}: {call} is DuckDB's spelling"
    placeholders = re.compile(r"\{(\w+)\}")  # filled in by either build alike
    assert set(placeholders.findall(spark)) == set(placeholders.findall(duck))


def test_session_conf_layers_defaults_user_settings_and_requirements() -> None:
    mine = {"spark.executor.memory": "8g", "spark.sql.session.timeZone": "Europe/Moscow",
            "spark.sql.parquet.compression.codec": "snappy"}  # fmt: skip
    settings = Settings(spark_master="spark://head:7077", spark_conf=mine)
    conf = session_conf(settings)
    assert conf["spark.master"] == "spark://head:7077" and conf["spark.executor.memory"] == "8g"
    assert conf["spark.sql.parquet.compression.codec"] == "snappy"  # a default may be overridden
    assert {k: conf[k] for k in REQUIRED_CONF} == REQUIRED_CONF  # the UTC session may not


def test_production_yaml_gives_feast_the_same_spark_settings() -> None:
    prod = Settings(profile="production", feast_offline_store="spark", spark_master="local[1]")
    offline = store_yaml(prod)["offline_store"]
    assert offline["type"] == "spark" and offline["spark_conf"] == session_conf(prod)
    assert "spark_conf" not in store_yaml(Settings(profile="production"))["offline_store"]


def test_spark_engine_without_java_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(build_app(), ["features", "build", "--engine", "spark", "--quiet"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "openjdk-17-jre-headless" in lines[0] or "optichannel[spark]" in lines[0]
