"""Validation in pieces gives exactly what validating each table at once gives: the same accepted
rows, the same quarantined rows with the same reasons and positions, the same counts; and ids
repeated across pieces (or parts, or CSV blocks) are still caught."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.feed_io import iter_pieces, open_feed, read_table
from features.validation import validate_feeds, validate_table
from optichannel.contracts import CONTRACTS
from optichannel.settings import Settings
from tests.unit.features.test_validation import (
    AS_OF,
    CORRUPTIONS,
    customers_frame,
    transactions_frame,
    write_feeds,
    write_parquet,
)

TABLES = ("customers", "transactions", "events", "contacts")


def run(src: Path, out: Path, piece_rows: int, workers: int = 1) -> dict[str, object]:
    """Validate in pieces of `piece_rows` rows on `workers` processes; everything the run wrote,
    read back."""
    data = out.parent / f"{out.name}-data"
    cfg = Settings(data_dir=data, validate_piece_rows=piece_rows, validate_workers=workers)
    reports = validate_feeds(src, out, as_of=AS_OF, progress=False, settings=cfg)
    written: dict[str, object] = {}
    for name in TABLES:
        written[name] = pq.read_table(out / f"{name}.parquet").to_pandas()
        quarantine = out / "quarantine" / f"{name}.parquet"
        written[f"q_{name}"] = pq.read_table(quarantine).to_pandas() if quarantine.exists() else None
        report = reports[name].as_dict()
        written[f"r_{name}"] = {k: v for k, v in report.items() if not k.endswith("_path")}
    return written


def assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    for key, value in a.items():
        if isinstance(value, pd.DataFrame):
            pd.testing.assert_frame_equal(value, b[key], obj=key)
        else:
            assert value == b[key], key


def dirty_transactions(n: int = 12) -> pd.DataFrame:
    frame = transactions_frame(n)
    frame["amount"] = frame["amount"].astype(str)  # a text column, as an export might send
    frame.loc[1, "amount"] = "abc"  # T0001 is quarantined for its amount ...
    frame.loc[7, "txn_id"] = "T0001"  # ... and a later T0001, pieces away, is still a duplicate
    frame.loc[9, "txn_id"] = "T0002"  # a plain duplicate across pieces
    frame.loc[10, "txn_id"] = "T0002"  # and a third occurrence
    frame.loc[11, "customer_id"] = "C999"
    return frame


def test_duplicates_across_pieces_are_quarantined_with_their_reason(tmp_path: Path) -> None:
    src = write_feeds(tmp_path / "feeds", transactions=dirty_transactions())
    pieces = run(src, tmp_path / "pieces", piece_rows=2)
    quarantine = pieces["q_transactions"]
    assert dict(zip(quarantine["_row"], quarantine["_reason"], strict=True)) == {
        1: "amount: not a number ('abc')",
        7: "duplicate txn_id",
        9: "duplicate txn_id",
        10: "duplicate txn_id",
        11: "customer_id: unknown in customers ('C999')",
    }
    report = pieces["r_transactions"]
    assert (report["rows_read"], report["accepted"], report["quarantined"]) == (12, 7, 5)
    assert report["reconciled"] and report["rule_counts"]["duplicate txn_id"] == 3
    assert pieces["transactions"]["txn_id"].is_unique
    assert quarantine["amount"].tolist()[0] == "abc"  # the raw value as read


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("piece_rows", [1, 2, 5, 11, 12])
def test_pieces_give_what_one_piece_gives(tmp_path: Path, piece_rows: int, workers: int) -> None:
    """Whatever the piece size and however many worker processes check them, in read order."""
    src = write_feeds(tmp_path / "feeds", transactions=dirty_transactions())
    whole = run(src, tmp_path / "whole", 1_000_000)
    assert_same(whole, run(src, tmp_path / "pieces", piece_rows, workers))


@pytest.mark.parametrize("workers", [1, 2])
def test_ids_in_parquet_are_read_as_validation_reads_them(tmp_path: Path, workers: int) -> None:
    """Duplicate ids across pieces of a Parquet feed: clean text ids take the Arrow fast path,
    padded or blank ones the coercion path; both must agree with checking the table at once."""
    frame = transactions_frame(12)
    frame.loc[4, "txn_id"] = None  # missing: quarantined as missing, never a duplicate
    frame.loc[8, "txn_id"] = "T0003"  # clean duplicate of row 3, two pieces later
    padded = frame.copy()
    padded.loc[10, "txn_id"] = "  T0002 "  # the same id once stripped
    padded.loc[11, "txn_id"] = "   "  # blank is missing, not a duplicate of another blank
    for name, txns in (("clean", frame), ("padded", padded)):
        src = write_feeds(tmp_path / name / "feeds", transactions=txns)
        whole = run(src, tmp_path / name / "whole", 1_000_000)
        pieces = run(src, tmp_path / name / "pieces", 3, workers)
        assert_same(whole, pieces)
        rows = dict(zip(pieces["q_transactions"]["_row"], pieces["q_transactions"]["_reason"], strict=True))
        assert rows[8] == "duplicate txn_id" and rows[4] == "txn_id: missing"
        if name == "padded":
            assert rows[10] == "duplicate txn_id" and rows[11] == "txn_id: missing"


def test_parts_and_csv_blocks_catch_duplicates_across_them(tmp_path: Path) -> None:
    src = write_feeds(tmp_path / "feeds")
    txns = dirty_transactions()
    (src / "transactions.parquet").unlink()
    for i, lo in enumerate(range(0, len(txns), 5)):  # three parts: the duplicates sit in other parts
        write_parquet(txns.iloc[lo : lo + 5], src / "transactions" / f"part-{i}.parquet")
    parts = run(src, tmp_path / "parts", piece_rows=3)
    (src / "events.parquet").unlink()
    events = pd.read_parquet(tmp_path / "parts" / "events.parquet").astype(str)
    events.loc[len(events)] = events.iloc[0]  # the first event again, as the last CSV line
    events.to_csv(src / "events.csv", index=False)
    csv = run(src, tmp_path / "csv", piece_rows=2)

    assert parts["q_transactions"]["_row"].tolist() == [1, 7, 9, 10, 11]
    assert csv["q_events"][["event_id", "_row", "_reason"]].to_dict("records") == [
        {"event_id": "E0000", "_row": 5, "_reason": "duplicate event_id"}
    ]
    assert csv["r_events"]["reconciled"] and csv["r_events"]["accepted"] == 5


def test_pieces_keep_the_feed_order_and_values(tmp_path: Path) -> None:
    frame = transactions_frame(10)
    for i, lo in enumerate(range(0, 10, 4)):
        write_parquet(frame.iloc[lo : lo + 4], tmp_path / "t" / f"month={i}" / "part.parquet")
    feed = open_feed(tmp_path, "t")
    whole, _ = read_table(tmp_path, "t")
    pieces = [p.frame for p in iter_pieces(feed, 3)]
    assert [len(p) for p in pieces] == [3, 3, 3, 1] and feed.rows == 10
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), whole)


def test_an_empty_feed_is_one_empty_piece_and_an_empty_table(tmp_path: Path) -> None:
    src = write_feeds(
        tmp_path / "feeds", events=pd.read_parquet(write_feeds(tmp_path / "x") / "events.parquet")[:0]
    )
    written = run(src, tmp_path / "out", piece_rows=2)
    assert len(written["events"]) == 0 and written["r_events"]["reconciled"]
    assert list(written["events"].columns) == list(CONTRACTS["events"].names)


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[int, dict[int, str], int]:
    n = draw(st.integers(min_value=1, max_value=30))
    rows = draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=n))
    plan = {row: draw(st.sampled_from(sorted(CORRUPTIONS))) for row in sorted(rows)}
    return n, plan, draw(st.integers(min_value=1, max_value=n + 1))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corrupted())
def test_any_corruption_in_any_pieces_matches_the_whole_table(
    tmp_path: Path, case: tuple[int, dict[int, str], int]
) -> None:
    n, plan, piece_rows = case
    frame = transactions_frame(n).astype(str).replace({"None": ""})
    for row, kind in plan.items():
        column, value = CORRUPTIONS[kind]
        frame.loc[row, column] = value
    whole = validate_table(
        frame,
        CONTRACTS["transactions"],
        as_of=AS_OF,
        ref_keys={"customers.customer_id": customers_frame().customer_id},
    )
    root = tmp_path / f"case-{n}-{piece_rows}-{abs(hash(str(plan)))}"
    src = write_feeds(root / "feeds")
    (src / "transactions.parquet").unlink()
    frame.to_csv(src / "transactions.csv", index=False)
    out = root / "out"
    cfg = Settings(data_dir=root / "data", validate_piece_rows=piece_rows)
    report = validate_feeds(
        src, out, as_of=AS_OF, tables=["customers", "transactions"], progress=False, settings=cfg
    )["transactions"]

    accepted = pq.read_table(out / "transactions.parquet").to_pandas()
    pd.testing.assert_frame_equal(accepted, whole.accepted)
    expected = dict(zip(whole.quarantined["_row"], whole.quarantined["_reason"], strict=True))
    quarantine = out / "quarantine" / "transactions.parquet"
    got = (
        pq.read_table(quarantine).to_pandas()
        if quarantine.exists()
        else pd.DataFrame({"_row": [], "_reason": []})
    )
    assert dict(zip(got["_row"], got["_reason"], strict=True)) == expected
    assert report.rule_counts == whole.report.rule_counts
    assert (report.rows_read, report.accepted, report.quarantined) == (
        n,
        whole.report.accepted,
        len(expected),
    )
    assert pa.types.is_string(pq.read_schema(out / "transactions.parquet").field("txn_id").type)


@pytest.mark.slow
def test_a_simulated_bank_in_pieces_is_validated_as_at_once(small_world: Path, tmp_path: Path) -> None:
    """The old path (each table read whole, then checked) against pieces of 100,000 rows."""
    out = tmp_path / "out"
    cfg = Settings(data_dir=tmp_path / "data", validate_piece_rows=100_000)
    reports = validate_feeds(small_world, out, as_of="2030-01-01", progress=False, settings=cfg)
    keys: dict[str, object] = {}
    for name in TABLES:
        raw, _ = read_table(small_world, name)
        whole = validate_table(raw, CONTRACTS[name], as_of="2030-01-01", ref_keys=keys)
        keys[f"{name}.{CONTRACTS[name].key}"] = whole.accepted[CONTRACTS[name].key]
        pd.testing.assert_frame_equal(pq.read_table(out / f"{name}.parquet").to_pandas(), whole.accepted)
        assert reports[name].rule_counts == whole.report.rule_counts
        assert (reports[name].rows_read, reports[name].quarantined) == (len(raw), len(whole.quarantined))
    assert reports["transactions"].rows_read > 3 * 100_000  # it really was checked in pieces


@pytest.mark.parametrize("workers", [1, 2])
def test_cascade_names_the_customers_reason_across_pieces(tmp_path: Path, workers: int) -> None:
    """A quarantined customer's rows say why it was, wherever in the customers feed it sat."""
    customers = customers_frame(4)
    customers.loc[3, "signup_date"] = pd.Timestamp("2027-01-01")
    customers.loc[1, "customer_id"] = "C000"  # a duplicate: its rows belong to the first C000, kept
    src = write_feeds(tmp_path / "feeds", customers=customers, transactions=transactions_frame(8))
    pieces = run(src, tmp_path / "pieces", piece_rows=1, workers=workers)
    assert pieces["r_transactions"]["rule_counts"] == {
        "customer quarantined: signup_date: in the future": 2,
        "customer_id: unknown in customers": 2,  # C001 is not in the feed any more
    }
    assert_same(run(src, tmp_path / "whole", 1_000_000), pieces)
