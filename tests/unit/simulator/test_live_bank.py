"""The simulated bank after its history: what it reveals, what its rules pick, what contacts do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optichannel.channels import ACTIONS
from optichannel.economics import Economics
from optichannel.localtime import to_local
from simulator.generate import generate_world
from simulator.live_bank import LiveBank
from simulator.outcome_draw import CONTACT_EVENTS
from simulator.world import WorldConfig

HISTORY = 35


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("live-world")
    generate_world(WorldConfig(customers=400, days=50, seed=5), out)
    return out


def test_feeds_hold_only_what_happened_before_the_cut(world: Path, tmp_path: Path) -> None:
    bank = LiveBank(world, HISTORY)
    cut = bank.history_end + pd.Timedelta(days=3, hours=0)
    bank.write_feeds(tmp_path, cut)
    events = pd.read_parquet(tmp_path / "events.parquet")
    contacts = pd.read_parquet(tmp_path / "contacts")
    txns = pd.read_parquet(tmp_path / "transactions.parquet")
    assert events["ts"].max() < cut and txns["ts"].max() < cut
    assert contacts["sent_at"].max() < bank.history_end  # no decision yet after the history
    for column in ("responded_at", "converted_at"):
        assert (contacts[column].dropna() < cut).all()
    # life goes on after the history's end, but nothing a contact causes (no contact was made)
    late = events[events["ts"] >= bank.history_end]
    assert len(late) > 100
    assert not late["event_type"].isin(CONTACT_EVENTS).any()
    raw = pd.read_parquet(world / "events")
    raw_late = raw[(raw["ts"] >= bank.history_end) & (raw["ts"] < cut)]
    assert raw_late["event_type"].isin(CONTACT_EVENTS).any()  # what the discarded contacts caused
    assert len(late) == (~raw_late["event_type"].isin(CONTACT_EVENTS)).sum()


def test_campaign_day_starts_at_the_next_local_morning(world: Path) -> None:
    bank = LiveBank(world, HISTORY)
    ids = bank.known(bank.history_end)
    for day in range(7):
        cut = bank.history_end + pd.Timedelta(days=day)
        start, kind = bank.campaign_day(ids, cut)
        tz = bank.latent.set_index("customer_id").loc[ids, "tz"].to_numpy()
        local = to_local(start, tz)
        assert (local.dt.hour == 8).all() and (local.dt.minute == 0).all()
        assert (start >= cut).all() and (start < cut + pd.Timedelta(days=1)).all()
        weekday = local.dt.weekday.to_numpy()
        assert set(kind[weekday == 1]) <= {"newsletter"} and set(kind[weekday == 3]) <= {"promo"}
        assert all(k is None for k in kind[~np.isin(weekday, [1, 3])])


def test_delivered_contacts_tire_the_customer(world: Path) -> None:
    bank = LiveBank(world, HISTORY)
    ids = bank.known(bank.history_end)[:150]
    at = bank.history_end + pd.Timedelta(days=2, hours=10)
    push = np.full(len(ids), ACTIONS.index("push"))
    when = np.full(len(ids), at.value // 1000)
    before = bank.true_value(ids, push, when, Economics())
    for hours_before in (30, 20, 10):  # three e-mails in the day before
        sent = np.full(len(ids), (at - pd.Timedelta(hours=hours_before)).value // 1000)
        bank.happen(ids, np.full(len(ids), ACTIONS.index("email")), sent)
    after = bank.true_value(ids, push, when, Economics())
    delivered = bank.oracle.exposures.within(bank.oracle.positions(ids), when, 2 * 86_400_000_000) > 0
    assert delivered.mean() > 0.9
    assert (after[delivered, 0] < before[delivered, 0]).all()  # fatigue lowers a contact's value
    np.testing.assert_allclose(after[:, 1], before[:, 1])  # no contact's value does not depend on it
