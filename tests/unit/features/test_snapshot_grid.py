"""Decision-day snapshots give training frames and serving exactly what daily snapshots give them,
from fewer rows, and any read they cannot answer exactly is refused, never answered days late."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.build import build_features
from features.offline_read import ViewSource, features_at, point_in_time
from features.snapshot_sql import DAILY_FAMILIES, FAMILIES
from features.store_definitions import JOIN_KEY, TIMESTAMP, VIEWS, feature_names, snapshot_path
from features.validation import validate_feeds
from optichannel.settings import Settings
from simulator.extract import cut_feeds

pytestmark = pytest.mark.slow  # builds a world's features five times (~1 min)


def settings(root: Path) -> Settings:
    # buckets of 30,000 customer-days: the decision-day filter runs inside each bucket
    return Settings(
        data_dir=root, feature_bucket_rows=30_000, duckdb_memory_limit="256MB", show_progress=False
    )


@pytest.fixture(scope="module")
def feeds(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("grid") / "validated"
    validate_feeds(small_world, root, as_of="2030-01-01", progress=False)
    return root


@pytest.fixture(scope="module")
def daily(feeds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("daily")
    build_features(feeds, out, progress=False, full=True, settings=settings(out), snapshots="daily")
    return out


@pytest.fixture(scope="module")
def sparse(feeds: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("decisions")
    build_features(feeds, out, progress=False, full=True, settings=settings(out), snapshots="decisions")
    return out


def views(features_dir: Path) -> list[ViewSource]:
    return [ViewSource(snapshot_path(features_dir, f), VIEWS[f][1], tuple(names))
            for f, names in feature_names(features_dir).items()]  # fmt: skip


def test_rows_are_the_decision_days_and_the_newest_day(feeds: Path, daily: Path, sparse: Path) -> None:
    contacts = pd.read_parquet(feeds / "contacts.parquet", columns=["customer_id", "sent_at"])
    decided = set(zip(contacts.customer_id, contacts.sent_at.dt.floor("D"), strict=True))
    for family in DAILY_FAMILIES:
        full = pd.read_parquet(daily / f"{family}.parquet")
        newest = full[TIMESTAMP].max()
        keep = [
            (c, t) in decided or t == newest for c, t in zip(full[JOIN_KEY], full[TIMESTAMP], strict=True)
        ]
        expected = full[keep].reset_index(drop=True)
        got = pd.read_parquet(sparse / f"{family}.parquet")
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert len(got) < 0.6 * len(full), (family, len(got), len(full))
    # the profile has no grid
    assert pq.read_table(sparse / "profile.parquet").equals(pq.read_table(daily / "profile.parquet"))


def test_training_frames_and_serving_read_the_same_values(feeds: Path, daily: Path, sparse: Path) -> None:
    contacts = pd.read_parquet(feeds / "contacts.parquet", columns=["customer_id", "sent_at"])
    entity = pd.DataFrame({JOIN_KEY: contacts.customer_id.astype(str),
                           TIMESTAMP: contacts.sent_at.astype("datetime64[us, UTC]")})  # fmt: skip
    left, right = point_in_time(views(daily), entity), point_in_time(views(sparse), entity)
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert left["cnt_contacts_7d"].notna().mean() > 0.9  # the reads found snapshots, not nulls
    newest = pd.read_parquet(daily / "contacts.parquet", columns=[TIMESTAMP])[TIMESTAMP].max()
    ids = pd.read_parquet(feeds / "customers.parquet", columns=["customer_id"]).customer_id
    now = newest + pd.Timedelta(hours=9)  # what serving and a campaign starting now read
    pd.testing.assert_frame_equal(
        features_at(daily, ids, now), features_at(sparse, ids, now), check_exact=True
    )


def test_a_read_at_a_past_day_without_snapshots_is_refused(daily: Path, sparse: Path, feeds: Path) -> None:
    ids = pd.read_parquet(feeds / "customers.parquet", columns=["customer_id"]).customer_id
    past = pd.read_parquet(daily / "contacts.parquet", columns=[TIMESTAMP])[TIMESTAMP].max() - pd.Timedelta(
        days=10
    )
    assert features_at(daily, ids, past)["cnt_contacts_7d"].notna().mean() > 0.9  # the daily grid answers
    with pytest.raises(ValueError, match=r"ask for a day with no snapshot .*--snapshots daily"):
        features_at(sparse, ids, past)


def test_an_incremental_build_equals_the_full_one_with_late_decisions(
    feeds: Path, sparse: Path, tmp_path: Path
) -> None:
    """An extract cut mid-day, then the whole feeds: the cut day's later decisions (logged after
    the first build) must get their snapshots too, and the result equal a full build."""
    end = pd.read_parquet(feeds / "contacts.parquet", columns=["sent_at"]).sent_at.max().normalize()
    cut = end - pd.Timedelta(days=3) + pd.Timedelta(hours=11)
    extract = cut_feeds(feeds, tmp_path / "extract", cut)
    out = tmp_path / "features"
    cfg = settings(tmp_path)
    build_features(extract, out, progress=False, settings=cfg, snapshots="decisions")
    built = build_features(feeds, out, progress=False, settings=cfg, snapshots="decisions")
    assert built.incremental, built.reason
    for family in FAMILIES:
        assert pq.read_table(out / f"{family}.parquet").equals(pq.read_table(sparse / f"{family}.parquet")), (
            family
        )
    again = build_features(feeds, out, progress=False, settings=cfg, snapshots="daily")
    assert not again.incremental and again.reason == "the snapshot grid changed (decisions to daily)"
