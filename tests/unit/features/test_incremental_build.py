"""The incremental feature build gives exactly what a full rebuild gives, and falls back to a
full rebuild, saying why, whenever older data or the SQL changed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.build import MANIFEST, build_features
from features.snapshot_sql import FAMILIES
from features.validation import validate_feeds
from simulator.extract import cut_feeds

pytestmark = pytest.mark.slow  # builds features of a world several times (~2 min): `make test-fast` skips it


@pytest.fixture(scope="module")
def feeds(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("incremental") / "validated"
    validate_feeds(small_world, root, as_of="2030-01-01", progress=False)
    return root


def _snapshots(out: Path) -> dict[str, pd.DataFrame]:
    return {f: pd.read_parquet(out / f"{f}.parquet") for f in FAMILIES}


@pytest.fixture(scope="module")
def full(feeds: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    out = tmp_path_factory.mktemp("full")
    built = build_features(feeds, out, progress=False, full=True)
    assert not built.incremental and built.reason == "--full asked for"
    return _snapshots(out)


def _last_ts(feeds: Path) -> pd.Timestamp:
    return pd.read_parquet(feeds / "transactions.parquet", columns=["ts"]).ts.max()


def test_a_daily_build_equals_the_full_rebuild(feeds: Path, full: dict, tmp_path: Path) -> None:
    """Three extracts, taken mid-day 9 and 4 days before the end, then the full feeds: every
    build after the first is incremental and ends where a full rebuild ends, to the bit."""
    end = _last_ts(feeds).normalize()
    out = tmp_path / "features"
    first = build_features(
        cut_feeds(feeds, tmp_path / "a", end - pd.Timedelta(days=9, hours=11)), out, progress=False
    )
    assert not first.incremental and first.reason == "no previous build"
    second = build_features(
        cut_feeds(feeds, tmp_path / "b", end - pd.Timedelta(days=4, hours=3)), out, progress=False
    )
    assert second.incremental, second.reason
    third = build_features(feeds, out, progress=False)
    assert third.incremental and third.reason.startswith("recomputed snapshots from"), third.reason
    mine = _snapshots(out)
    for family, frame in full.items():
        pd.testing.assert_frame_equal(mine[family], frame, check_exact=True, obj=family)
    assert len(full["transactions"]) > 100_000


def test_a_late_row_means_a_full_rebuild(feeds: Path, full: dict, tmp_path: Path) -> None:
    end = _last_ts(feeds).normalize()
    out = tmp_path / "features"
    early = cut_feeds(feeds, tmp_path / "a", end - pd.Timedelta(days=3))
    build_features(early, out, progress=False)
    late = tmp_path / "late"
    shutil.copytree(feeds, late)
    tx = pd.read_parquet(late / "transactions.parquet")
    row = tx[tx.ts < end - pd.Timedelta(days=30)].head(1).assign(amount=12_345.0)
    pd.concat([tx, row]).to_parquet(late / "transactions.parquet", index=False)
    built = build_features(late, out, progress=False)
    assert not built.incremental and built.reason.startswith("transactions changed before"), built.reason
    expected = build_features(late, tmp_path / "reference", progress=False, full=True)
    assert expected.rows == built.rows
    pd.testing.assert_frame_equal(
        _snapshots(out)["transactions"], _snapshots(tmp_path / "reference")["transactions"], check_exact=True
    )


def test_new_sql_or_an_unfinished_build_means_a_full_rebuild(feeds: Path, tmp_path: Path) -> None:
    out = tmp_path / "features"
    build_features(feeds, out, progress=False)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["sql"]["behaviour"] = "an older query"
    (out / MANIFEST).write_text(json.dumps(manifest))
    built = build_features(feeds, out, progress=False)
    assert not built.incremental and built.reason == "the feature SQL changed (behaviour)"
    (out / MANIFEST).unlink()  # what a build that died half-way leaves
    built = build_features(feeds, out, progress=False)
    assert not built.incremental and built.reason == "no previous build"
