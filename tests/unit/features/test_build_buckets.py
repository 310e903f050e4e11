"""Features built a bucket of customers at a time are exactly those built over everyone at once:
the same rows, in the same order, with the same Parquet schema, full or incremental."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.build import DAILY, build_features, connect, data_span
from features.snapshot_sql import FAMILIES
from features.validation import validate_feeds
from optichannel.settings import Settings
from simulator.extract import cut_feeds

pytestmark = pytest.mark.slow  # builds a world's features four times (~1 min)


@pytest.fixture(scope="module")
def feeds(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("buckets") / "validated"
    validate_feeds(small_world, root, as_of="2030-01-01", progress=False)
    return root


def settings(root: Path, bucket_rows: int) -> Settings:
    return Settings(data_dir=root, feature_bucket_rows=bucket_rows, duckdb_memory_limit="256MB")


@pytest.fixture(scope="module")
def at_once(feeds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("at-once")
    build_features(feeds, out, progress=False, full=True, settings=settings(out, 10**12))
    return out


def assert_same(a: Path, b: Path) -> None:
    for family in FAMILIES:
        left, right = pq.read_table(a / f"{family}.parquet"), pq.read_table(b / f"{family}.parquet")
        assert left.schema.equals(right.schema), family  # nullability included
        assert left.equals(right), family  # every row, in order


def test_the_ordered_write_is_duckdbs_write_of_one_query(feeds: Path, at_once: Path, tmp_path: Path) -> None:
    """The daily families are written a day at a time (features/day_parts.py); the file must be
    what DuckDB writes for the family's whole SQL over everyone: values, Parquet types (a sum is
    HUGEINT in DuckDB, DOUBLE in its Parquet), nullability and row order."""
    con = connect(feeds, settings(tmp_path, 10**12))
    first, last = data_span(con)
    params = {"since": first, "last_day": last + dt.timedelta(days=1), "first_snapshot": first}
    for family in DAILY:
        reference = tmp_path / f"{family}.parquet"
        sql = FAMILIES[family]().format(**params)
        con.execute(f"COPY ({sql}) TO '{reference.as_posix()}' (FORMAT PARQUET, COMPRESSION ZSTD)")
        left, right = pq.read_table(reference), pq.read_table(at_once / f"{family}.parquet")
        assert left.schema.equals(right.schema), family
        assert left.equals(right), family
    con.close()


def test_buckets_give_the_rows_of_one_query(feeds: Path, at_once: Path, tmp_path: Path) -> None:
    cfg = settings(tmp_path, 20_000)  # 2,000 customers x 121 days: 13 buckets
    build_features(feeds, tmp_path / "features", progress=False, full=True, settings=cfg)
    assert_same(at_once, tmp_path / "features")
    assert not list(cfg.spill_dir.iterdir())  # the scratch files are gone


def test_an_incremental_build_in_buckets_equals_the_full_one(
    feeds: Path, at_once: Path, tmp_path: Path
) -> None:
    end = pd.read_parquet(feeds / "transactions.parquet", columns=["ts"]).ts.max().normalize()
    cut = end - pd.Timedelta(days=3, hours=5)
    extract = cut_feeds(feeds, tmp_path / "extract", cut)
    cfg = settings(tmp_path, 30_000)
    build_features(extract, tmp_path / "features", progress=False, settings=cfg)
    built = build_features(feeds, tmp_path / "features", progress=False, settings=cfg)
    assert built.incremental, built.reason
    assert_same(at_once, tmp_path / "features")
