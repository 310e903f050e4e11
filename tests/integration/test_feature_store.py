"""The real Feast store on a small simulated bank: apply, materialize, historical and online
retrieval, training/serving skew, cold start, and the production profile on Redis + PostgreSQL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import store as st
from features.feast_sqlite.read import OnlineReader
from features.store_definitions import VIEWS
from optichannel.settings import Settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local(local_store: Settings) -> Settings:
    return local_store


@pytest.fixture(scope="module")
def snapshots(local: Settings) -> dict[str, pd.DataFrame]:
    return {f: pd.read_parquet(local.features_dir / f"{f}.parquet") for f in VIEWS}


def _feature_columns(snapshots: dict[str, pd.DataFrame]) -> list[str]:
    return [c for f in snapshots.values() for c in f.columns if c not in ("customer_id", "event_timestamp")]


def test_historical_is_point_in_time_and_keeps_every_row(local: Settings, snapshots: dict) -> None:
    contacts = pd.read_parquet(local.validated_dir / "contacts.parquet").sample(1500, random_state=0)
    entity = contacts[["customer_id", "sent_at", "channel"]].rename(columns={"sent_at": "event_timestamp"})
    entity = pd.concat([entity, entity.iloc[:200]])  # duplicate (customer, time) rows must all survive
    out = st.historical_features(st.open_store(local), entity)
    assert len(out) == len(entity)
    assert (out.customer_id.to_numpy() == entity.customer_id.to_numpy()).all()
    assert (out.channel.to_numpy() == entity.channel.to_numpy()).all()
    for family, (_, ttl) in VIEWS.items():
        snap = snapshots[family].sort_values("event_timestamp")
        left = entity.reset_index(drop=True).assign(_i=range(len(entity))).sort_values("event_timestamp")
        expected = pd.merge_asof(left, snap, on="event_timestamp", by="customer_id", direction="backward",
                                 tolerance=ttl).sort_values("_i")  # fmt: skip
        for col in [c for c in snap.columns if c not in ("customer_id", "event_timestamp")][:8]:
            got, want = out[col].to_numpy(), expected[col].to_numpy()
            if want.dtype.kind == "f" or got.dtype.kind == "f":
                np.testing.assert_allclose(got.astype(float), want.astype(float), rtol=1e-9, equal_nan=True,
                                           err_msg=f"{family}.{col}")  # fmt: skip
            else:
                assert (got == want).all(), f"{family}.{col}"


def test_bounded_point_in_time_join_equals_feasts(local: Settings, snapshots: dict) -> None:
    """The training frames' join (`point_in_time`: ASOF in DuckDB, chunks of rows) returns exactly
    Feast's `get_historical_features` frame: values, dtypes, column and row order, for decision
    times, duplicates, an unknown customer, times before any snapshot, and each view's TTL edge."""
    from features.offline_read import point_in_time

    store = st.open_store(local)
    contacts = pd.read_parquet(local.validated_dir / "contacts.parquet").sample(2500, random_state=3)
    entity = contacts[["customer_id", "sent_at", "channel"]].rename(columns={"sent_at": "event_timestamp"})
    last = snapshots["contacts"].query("event_timestamp == event_timestamp.max()")  # no newer one
    snap = last.sample(40, random_state=5)[["customer_id", "event_timestamp"]]
    ttl = VIEWS["contacts"][1]
    edges = pd.concat([snap.assign(event_timestamp=snap.event_timestamp + ttl + d, channel="sms")
                       for d in (pd.Timedelta(0), pd.Timedelta(seconds=1))])  # fmt: skip
    early = pd.Timestamp("2001-01-01", tz="UTC")  # before any snapshot
    odd = pd.DataFrame({"customer_id": ["never-seen", entity.customer_id.iloc[0]],
                        "event_timestamp": [entity.event_timestamp.iloc[0], early],
                        "channel": ["push", "call"]})  # fmt: skip
    entity = pd.concat([entity, entity.iloc[:100], edges, odd], ignore_index=True)
    feast = st.historical_features(store, entity, stock=True)
    ours = st.historical_features(store, entity, stock=False)
    pd.testing.assert_frame_equal(ours, feast)
    frame = entity.assign(event_timestamp=entity.event_timestamp.astype("datetime64[us, UTC]"))
    chunked = point_in_time(st.view_sources(store, store.get_feature_service(st.FEATURE_SERVICE)), frame,
                            chunk_rows=97)  # fmt: skip
    pd.testing.assert_frame_equal(chunked, feast)
    at_edge = ours.iloc[len(entity) - 82 : len(entity) - 42]  # exactly the TTL after a snapshot: kept
    past_edge = ours.iloc[len(entity) - 42 : len(entity) - 2]  # one second later: stale
    assert at_edge["cnt_contacts_7d"].notna().all() and at_edge["prf_tz"].notna().all()
    assert past_edge["cnt_contacts_7d"].isna().all() and past_edge["prf_tz"].notna().all()
    assert ours.iloc[-2:]["cnt_contacts_7d"].isna().all()


def test_online_equals_offline_at_the_same_time(local: Settings, snapshots: dict) -> None:
    """Training/serving skew: what serving reads online is what training would read offline."""
    store = st.open_store(local)
    as_of = max(s.event_timestamp.max() for s in snapshots.values())
    ids = snapshots["profile"].customer_id.sample(300, random_state=1).tolist()
    online = st.online_features(store, ids).set_index("customer_id")
    offline = st.historical_features(
        store, pd.DataFrame({"customer_id": ids, "event_timestamp": [as_of] * len(ids)})
    ).set_index("customer_id")
    cols = _feature_columns(snapshots)
    assert set(cols) <= set(online.columns)
    pd.testing.assert_frame_equal(online.loc[ids, cols], offline.loc[ids, cols], check_dtype=False)


@pytest.mark.feast_format
def test_fast_reader_reads_what_feast_reads(local: Settings, snapshots: dict) -> None:
    store = st.open_store(local)
    ids = snapshots["profile"].customer_id.sample(150, random_state=4).tolist()
    ids = [*ids, "never-seen", ids[0], ids[5]]  # unknown and repeated ids too
    fast = OnlineReader(store)
    assert fast.sqlite_path is not None  # the bulk path is the one under test
    mine, _ = fast.read(ids)
    feast = st.online_features(store, ids)[mine.columns]
    pd.testing.assert_frame_equal(mine, feast, check_dtype=False)
    assert mine.iloc[-3, 1:].isna().all()
    # the switch to Feast's stock read gives the same block the decision consumes
    stock = OnlineReader(store, fast=False)
    assert stock.sqlite_path is None
    a, b = fast.read_block(ids), stock.read_block(ids)
    assert a.columns == b.columns and (a.ids == b.ids).all()
    np.testing.assert_array_equal(a.values, b.values)
    assert all((a.text[k] == b.text[k]).all() for k in a.text)


def test_unknown_customers_come_back_as_nulls(local: Settings) -> None:
    out = st.online_features(st.open_store(local), ["C0000001", "never-seen"])
    assert out.customer_id.tolist() == ["C0000001", "never-seen"]
    row = out.drop(columns="customer_id").iloc[1]
    assert row.isna().all()
    assert out.drop(columns="customer_id").iloc[0].notna().sum() > 50


def test_feature_repo_loads_in_a_clean_process(local: Settings) -> None:
    """The plain `feast` CLI imports the repo in a fresh process (DESIGN.md's sys.path pitfalls)."""
    env = os.environ | {
        "OPTICHANNEL_FEATURES_DIR": str(local.features_dir),
        "OPTICHANNEL_FEAST_DIR": str(local.feast_dir.resolve()),
    }
    feast = Path(sys.executable).parent / "feast"
    result = subprocess.run([str(feast), "-c", str(ROOT / "features" / "feature_repo"), "plan"], env=env,
                            cwd=ROOT.parent, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "customer_profile" in result.stdout


def _reachable(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def redis_server() -> str:
    if not _reachable(6379):
        if not shutil.which("redis-server"):
            pytest.skip(
                "no Redis at 127.0.0.1:6379 and no redis-server binary (apt-get install redis-server)"
            )
        subprocess.run(["redis-server", "--daemonize", "yes", "--port", "6379", "--save", ""], check=False)
        for _ in range(50):
            if _reachable(6379):
                break
            import time

            time.sleep(0.1)
        else:
            pytest.skip("redis-server did not start on 127.0.0.1:6379")
    return "127.0.0.1:6379,db=11"


@pytest.fixture
def postgres_registry() -> str:
    if not _reachable(5432):
        pytest.skip("no PostgreSQL at 127.0.0.1:5432 for the SQL registry")
    import psycopg

    name = "optichannel_feast_test"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {name}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_production_profile_on_redis_and_postgres(
    local: Settings, snapshots: dict, redis_server: str, postgres_registry: str, tmp_path: Path
) -> None:
    import redis

    prod = Settings(
        profile="production",
        data_dir=local.data_dir,
        redis_url=redis_server,
        feast_registry_url=postgres_registry,
        feast_offline_store="duckdb",  # the Spark store needs pyspark; the definitions are the same
        show_progress=False,
    )
    client = redis.Redis(host="127.0.0.1", port=6379, db=11)
    client.flushdb()
    try:
        st.apply(prod)
        st.materialize(prod)
        ids = [*snapshots["profile"].customer_id.tolist()[:200], "never-seen"]
        on_redis = st.online_features(st.open_store(prod), ids)
        on_sqlite = st.online_features(st.open_store(local), ids)
        pd.testing.assert_frame_equal(
            on_redis[sorted(on_redis.columns)], on_sqlite[sorted(on_sqlite.columns)]
        )
        assert client.dbsize() >= 200
    finally:
        client.flushdb()


def test_campaign_read_equals_feast_point_in_time_with_ttl(local: Settings) -> None:
    """`features_at` (one time for a whole list, DuckDB over the snapshots) returns exactly what
    Feast's `get_historical_features` returns: newest snapshot at or before the time, nulls past
    each view's TTL (checked just inside and just past it) and for unknown customers."""
    from features.offline_read import features_at

    store = st.open_store(local)
    ids = pd.read_parquet(local.validated_dir / "customers.parquet")["customer_id"]
    ids = pd.Series([*ids.sample(300, random_state=4), "never-seen", *ids.head(2)])
    newest = (
        pd.read_parquet(local.features_dir / "contacts.parquet", columns=["event_timestamp"]).max().iloc[0]
    )
    times = [newest - pd.Timedelta(days=30, hours=-7), newest, newest + pd.Timedelta(days=2),
             newest + pd.Timedelta(days=2, seconds=1), newest + pd.Timedelta(days=40)]  # fmt: skip
    for at in times:
        feast = st.historical_features(store, pd.DataFrame({"customer_id": ids, "event_timestamp": at}))
        ours = features_at(local.features_dir, ids, at)
        cols = [c for c in feast.columns if c not in ("customer_id", "event_timestamp")]
        assert set(cols) == set(ours.columns) - {"customer_id"}
        assert ours["customer_id"].tolist() == ids.tolist()
        for col in cols:
            mine, theirs = ours[col], feast[col]
            if mine.dtype == object or theirs.dtype == object:
                assert (
                    mine.fillna("<na>").astype(str).tolist() == theirs.fillna("<na>").astype(str).tolist()
                ), col
            else:
                np.testing.assert_allclose(
                    mine.to_numpy(float), theirs.to_numpy(float), equal_nan=True, err_msg=col
                )
    stale = features_at(local.features_dir, ids, newest + pd.Timedelta(days=40))
    assert stale["cnt_contacts_7d"].isna().all() and stale["prf_tz"].iloc[:300].notna().all()
