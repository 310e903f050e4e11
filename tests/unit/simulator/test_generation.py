"""Generation is deterministic, complete and written in the feed contracts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from optichannel.contracts import CONTRACTS
from simulator.generate import generate_world
from simulator.world import WorldConfig


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    cfg = WorldConfig(customers=300, days=21, seed=5, chunk_size=150)
    generate_world(cfg, tmp_path / "a")
    generate_world(cfg, tmp_path / "b", workers=2)  # worker count must not change the output
    generate_world(cfg.model_copy(update={"seed": 6}), tmp_path / "c")
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a.keys() == b.keys()
    assert a == b
    assert a["contacts/part-00000.parquet"] != c["contacts/part-00000.parquet"]
    assert a["customers.parquet"] != c["customers.parquet"]


def test_regenerating_replaces_the_previous_world(tmp_path: Path) -> None:
    generate_world(WorldConfig(customers=400, days=14, chunk_size=100), tmp_path)
    generate_world(WorldConfig(customers=200, days=14, chunk_size=100), tmp_path)
    assert len(list((tmp_path / "contacts").glob("*.parquet"))) == 2
    assert pd.read_parquet(tmp_path / "contacts").customer_id.nunique() <= 200


def test_feeds_carry_every_contract_column_with_microsecond_utc_timestamps(small_world: Path) -> None:
    for name, contract in CONTRACTS.items():
        path = small_world / (f"{name}.parquet" if name == "customers" else name)
        schema = pq.read_schema(path) if path.is_file() else pq.ParquetDataset(path).schema
        assert set(contract.names) <= set(schema.names), name
        for col in contract.columns:
            if col.kind == "timestamp":
                field = schema.field(col.name)
                assert str(field.type) == "timestamp[us, tz=UTC]", (name, col.name, field.type)


def test_ids_unique_and_references_resolve(small_world: Path) -> None:
    customers = pd.read_parquet(small_world / "customers.parquet")
    assert customers.customer_id.is_unique
    for name, key in (("transactions", "txn_id"), ("events", "event_id"), ("contacts", "contact_id")):
        frame = pd.read_parquet(small_world / name, columns=[key, "customer_id"])
        assert frame[key].is_unique, name
        assert frame.customer_id.isin(customers.customer_id).all(), name


def test_no_activity_before_signup(small_world: Path) -> None:
    customers = pd.read_parquet(small_world / "customers.parquet", columns=["customer_id", "signup_date"])
    contacts = pd.read_parquet(small_world / "contacts", columns=["customer_id", "sent_at"])
    joined = contacts.merge(customers, on="customer_id")
    # local midnight of signup day is at most 14 h before UTC midnight in these zones
    assert (joined.sent_at.dt.tz_localize(None) >= joined.signup_date - pd.Timedelta(hours=14)).all()
    assert customers.signup_date.max() > pd.Timestamp(WorldConfig().start)  # some customers are new
