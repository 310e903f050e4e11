"""Point-in-time correctness: every snapshot feature equals a brute-force recomputation
from the raw feeds using only rows strictly before the snapshot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.snapshot_sql import LOOKBACK_DAYS
from features.validation import validate_feeds
from optichannel.localtime import to_local

pytestmark = (
    pytest.mark.slow
)  # builds a world's features and brute-forces them (~30 s): `make test-fast` skips it

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def built(small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("features")
    validate_feeds(small_world, root / "validated", as_of="2030-01-01", progress=False)
    build_features(root / "validated", root / "features", progress=False)
    feeds = {
        n: pd.read_parquet(root / "validated" / f"{n}.parquet")
        for n in ("customers", "transactions", "events", "contacts")
    }
    snaps = {
        n: pd.read_parquet(root / "features" / f"{n}.parquet")
        for n in ("transactions", "behaviour", "contacts", "profile")
    }
    return {"feeds": feeds, "snaps": snaps, "root": root}


def _sample(frame: pd.DataFrame, n: int = 40, seed: int = 0) -> pd.DataFrame:
    return frame.sample(n, random_state=seed)


def test_transaction_features_match_brute_force(built: dict) -> None:
    tx = built["feeds"]["transactions"]
    tz = built["feeds"]["customers"].set_index("customer_id").tz
    for row in _sample(built["snaps"]["transactions"]).itertuples():
        t = row.event_timestamp
        mine = tx[(tx.customer_id == row.customer_id) & (tx.ts < t)]
        debit = mine[mine.direction == "debit"]
        for w in (7, 30, 90):
            win = debit[debit.ts >= t - w * DAY]
            assert row._asdict()[f"txn_spend_{w}d"] == pytest.approx(win.amount.sum())
            assert row._asdict()[f"txn_count_{w}d"] == len(win)
        recent = mine[mine.ts >= t - LOOKBACK_DAYS * DAY]  # nothing older is remembered
        salary = recent[recent.category == "salary"]
        expected = (
            to_local(salary.ts, [tz[row.customer_id]] * len(salary)).dt.day.iloc[-1]
            if len(salary)
            else np.nan
        )
        assert row.txn_salary_day == pytest.approx(expected, nan_ok=True)
        spend90 = debit[debit.ts >= t - 90 * DAY]
        expected = _weekday_share(to_local(spend90.ts, [tz[row.customer_id]] * len(spend90)), 12)
        assert row.txn_hour_share_12 == pytest.approx(expected, nan_ok=True)
        air = recent[recent.category == "travel_air"]
        since = (t.normalize() - air.ts.max().normalize()).days if len(air) else np.nan
        assert row.txn_days_since_air == pytest.approx(since, nan_ok=True)


def _weekday_share(local: pd.Series, hour: int) -> float:
    """Share of events at `hour` once weekend events count half one and half two hours earlier."""
    if local.empty:
        return np.nan
    weekend, h = local.dt.weekday >= 5, local.dt.hour
    at = (~weekend & (h == hour)).sum() + 0.5 * (weekend & ((h - 1) % 24 == hour)).sum()
    return float(at + 0.5 * (weekend & ((h - 2) % 24 == hour)).sum()) / len(local)


def test_behaviour_features_match_brute_force(built: dict) -> None:
    ev = built["feeds"]["events"]
    tz = built["feeds"]["customers"].set_index("customer_id").tz
    active_types = ["app_session", "web_session", "push_open", "email_click", "sms_click", "messenger_reply"]
    for row in _sample(built["snaps"]["behaviour"], seed=1).itertuples():
        t = row.event_timestamp
        mine = ev[(ev.customer_id == row.customer_id) & (ev.ts < t)]
        assert (
            row.bhv_app_sessions_7d == ((mine.event_type == "app_session") & (mine.ts >= t - 7 * DAY)).sum()
        )
        active = mine[mine.event_type.isin(active_types) & (mine.ts >= t - 90 * DAY)]
        expected = _weekday_share(to_local(active.ts, [tz[row.customer_id]] * len(active)), 19)
        assert row.bhv_hour_share_19 == pytest.approx(expected, nan_ok=True)


def test_contact_features_match_brute_force(built: dict) -> None:
    ct = built["feeds"]["contacts"]
    sent = ct[ct.channel != "none"]
    for row in _sample(built["snaps"]["contacts"], seed=2).itertuples():
        t = row.event_timestamp
        mine = sent[(sent.customer_id == row.customer_id) & (sent.sent_at < t)]
        assert row.cnt_contacts_7d == (mine.sent_at >= t - 7 * DAY).sum()
        push = mine[mine.channel == "push"]
        n_sent = (push.sent_at >= t - 90 * DAY).sum()
        assert row.cnt_sends_push_90d == n_sent
        responded = sent[(sent.customer_id == row.customer_id) & (sent.channel == "push")]
        n_resp = ((responded.responded_at < t) & (responded.responded_at >= t - 90 * DAY)).sum()
        everyone = sent[sent.channel == "push"]
        since = t - LOOKBACK_DAYS * DAY
        responses = ((everyone.responded_at < t) & (everyone.responded_at >= since)).sum()
        prior = responses / max(((everyone.sent_at < t) & (everyone.sent_at >= since)).sum(), 1)
        assert row.cnt_response_rate_push == pytest.approx((n_resp + 10 * prior) / (n_sent + 10), rel=1e-6)
        remembered = mine[mine.sent_at >= t - LOOKBACK_DAYS * DAY]
        expected = remembered.sent_at.max().timestamp() if len(remembered) else 0.0
        assert row.cnt_last_contact_epoch == pytest.approx(expected, abs=1e-3)
        # fatigue: delivered contacts of the last 6 time constants, each decayed by exp(-age / tau)
        for tau in (1, 3, 7):
            recent = mine[mine.delivered & (mine.sent_at >= t - 6 * tau * DAY)]
            decayed = np.exp(-(t - recent.sent_at).dt.total_seconds() / (tau * 86400)).sum()
            assert getattr(row, f"cnt_fatigue_{tau}d") == pytest.approx(decayed, abs=1e-6)
        assert row.cnt_fatigue_epoch == pytest.approx(t.timestamp())


def test_a_row_added_after_t_never_changes_features_at_t(built: dict, tmp_path: Path) -> None:
    root: Path = built["root"]
    feeds = built["feeds"]
    snap = built["snaps"]["transactions"]
    t_new = pd.Timestamp("2026-03-10T15:00:00Z")
    cid = snap.customer_id.iloc[0]
    extra = feeds["transactions"].iloc[[0]].assign(txn_id="LATE-1", customer_id=cid, ts=t_new, amount=99999.0)
    changed = tmp_path / "validated"
    changed.mkdir()
    for name, frame in feeds.items():
        frame = pd.concat([frame, extra]) if name == "transactions" else frame
        frame.to_parquet(changed / f"{name}.parquet")
    build_features(changed, tmp_path / "features", progress=False)
    after = pd.read_parquet(tmp_path / "features" / "transactions.parquet")
    before_t = snap[snap.event_timestamp <= t_new].reset_index(drop=True)
    pd.testing.assert_frame_equal(after[after.event_timestamp <= t_new].reset_index(drop=True), before_t)
    later = after[(after.customer_id == cid) & (after.event_timestamp == t_new.normalize() + DAY)]
    earlier = snap[(snap.customer_id == cid) & (snap.event_timestamp == t_new.normalize() + DAY)]
    assert later.txn_spend_7d.iloc[0] == pytest.approx(earlier.txn_spend_7d.iloc[0] + 99999.0)
    assert (root / "features" / "profile.parquet").exists()
