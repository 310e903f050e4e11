"""Contract enforcement: typed accepted rows, quarantined rows with reasons, reconciled counts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from features.cli import register
from features.feed_io import FeedError
from features.validation import TableResult, parse_as_of, validate_feeds, validate_table
from optichannel.channels import CHANNELS
from optichannel.contracts import CONTACTS, CUSTOMERS, EVENTS, TRANSACTIONS

AS_OF = pd.Timestamp("2026-03-31T00:00:00Z")
REFS_KEY = "customers.customer_id"


# ---------------------------------------------------------------- clean feeds


def customers_frame(n: int = 4) -> pd.DataFrame:
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:03d}" for i in range(n)],
            "signup_date": pd.to_datetime(["2024-01-15"] * n),
            "birth_year": [1970 + i for i in range(n)],
            "region": [None if i % 2 else "north" for i in range(n)],
            "tz": [zones[i % len(zones)] for i in range(n)],
        }
    )
    for i, ch in enumerate(CHANNELS):
        frame[f"consent_{ch}"] = [(j + i) % 2 == 0 for j in range(n)]
    return frame


def transactions_frame(n: int = 6, n_customers: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "txn_id": [f"T{i:04d}" for i in range(n)],
            "customer_id": [f"C{i % n_customers:03d}" for i in range(n)],
            "ts": pd.date_range("2026-03-01T08:00:00Z", periods=n, freq="7s"),
            "amount": [10.0 + i for i in range(n)],
            "currency": ["EUR"] * n,
            "direction": ["debit" if i % 3 else "credit" for i in range(n)],
            "category": ["groceries" if i % 3 else "salary" for i in range(n)],
            "merchant_channel": [None if i % 3 == 0 else "online" for i in range(n)],
        }
    )


def events_frame(n: int = 5, n_customers: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "event_id": [f"E{i:04d}" for i in range(n)],
            "customer_id": [f"C{i % n_customers:03d}" for i in range(n)],
            "ts": pd.date_range("2026-03-02T09:00:00Z", periods=n, freq="5h"),
            "event_type": ["app_session"] * n,
        }
    )


def contacts_frame(n: int = 4, n_customers: int = 4) -> pd.DataFrame:
    sent = pd.date_range("2026-03-03T10:00:00Z", periods=n, freq="D")
    return pd.DataFrame(
        {
            "contact_id": [f"K{i:04d}" for i in range(n)],
            "customer_id": [f"C{i % n_customers:03d}" for i in range(n)],
            "campaign_id": ["spring"] * n,
            "channel": ["email"] * n,
            "sent_at": sent,
            "delivered": [True] * n,
            "responded_at": [sent[i] + pd.Timedelta(hours=2) if i % 2 else pd.NaT for i in range(n)],
            "converted_at": [pd.NaT] * n,
            "cost": [0.005] * n,
            "arm": ["model"] * n,
            "propensity": [0.25] * n,
            "channel_propensity": [0.5] * n,
            "decision_id": [f"D{i}" for i in range(n)],
        }
    )


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def write_feeds(root: Path, **frames: pd.DataFrame) -> Path:
    """Clean feeds as Parquet, with any table replaced by a given frame."""
    clean = {
        "customers": customers_frame(),
        "transactions": transactions_frame(),
        "events": events_frame(),
        "contacts": contacts_frame(),
    }
    for name, frame in {**clean, **frames}.items():
        write_parquet(frame, root / f"{name}.parquet")
    return root


def check_txns(frame: pd.DataFrame, n_customers: int = 4) -> TableResult:
    refs = {REFS_KEY: [f"C{i:03d}" for i in range(n_customers)]}
    return validate_table(frame, TRANSACTIONS, source="txns.parquet", as_of=AS_OF, ref_keys=refs)


def reasons_by_row(result: TableResult) -> dict[int, str]:
    return dict(zip(result.quarantined["_row"], result.quarantined["_reason"], strict=True))


# ---------------------------------------------------------------- typing


def test_clean_feeds_are_fully_accepted_with_contract_types_and_order() -> None:
    cust = validate_table(customers_frame(), CUSTOMERS, as_of=AS_OF)
    txns = check_txns(transactions_frame())
    cont = validate_table(
        contacts_frame(), CONTACTS, as_of=AS_OF, ref_keys={REFS_KEY: cust.accepted["customer_id"]}
    )

    for result, contract in ((cust, CUSTOMERS), (txns, TRANSACTIONS), (cont, CONTACTS)):
        assert result.report.quarantined == 0, result.quarantined
        assert list(result.accepted.columns) == list(contract.names)
    dtypes = txns.accepted.dtypes.astype(str).to_dict()
    assert dtypes["ts"] == "datetime64[us, UTC]"
    assert dtypes["amount"] == "float64"
    assert dtypes["txn_id"] == "object"
    assert cust.accepted["signup_date"].dtype == "datetime64[us]"
    assert cust.accepted["birth_year"].dtype == "Int64"  # optional: may be missing
    assert cust.accepted["consent_email"].dtype == "bool"
    assert txns.accepted["ts"].iloc[0] == pd.Timestamp("2026-03-01T08:00:00Z")


def test_text_values_are_coerced_like_typed_ones() -> None:
    text = transactions_frame().astype(str).replace({"None": ""})
    typed = check_txns(transactions_frame()).accepted
    result = check_txns(text)
    assert result.report.quarantined == 0, result.quarantined
    pd.testing.assert_frame_equal(result.accepted, typed)


def test_not_a_number_quarantines_with_raw_value_and_position() -> None:
    frame = transactions_frame().astype({"amount": object})
    frame.loc[2, "amount"] = "abc"

    result = check_txns(frame)

    assert result.report.accepted == 5
    assert result.quarantined["_row"].tolist() == [2]
    assert result.quarantined["_reason"].tolist() == ["amount: not a number ('abc')"]
    assert result.quarantined["amount"].tolist() == ["abc"]  # raw value kept
    assert result.quarantined["txn_id"].tolist() == ["T0002"]
    assert result.report.rule_counts == {"amount: not a number": 1}
    assert "T0002" not in set(result.accepted["txn_id"])


def test_csv_offset_timestamps_become_the_exact_utc_instant(tmp_path: Path) -> None:
    text = transactions_frame(4).astype(str).replace({"None": ""})
    text["ts"] = ["2026-03-01T10:00:00+03:00", "2026-03-01 10:00:00", "2026-03-01T10:00:00-05:30", "soon"]
    text.to_csv(tmp_path / "transactions.csv", index=False)
    write_parquet(customers_frame(), tmp_path / "customers.parquet")
    out = tmp_path / "out"

    validate_feeds(tmp_path, out, as_of=AS_OF, tables=["customers", "transactions"], progress=False)

    quarantine = pq.read_table(out / "quarantine" / "transactions.parquet").to_pandas()
    assert quarantine[["ts", "_row"]].to_dict("records") == [{"ts": "soon", "_row": 3}]
    ts = pq.read_table(out / "transactions.parquet").to_pandas()["ts"].tolist()
    # the naive value after an offset-aware one must not inherit its offset
    assert ts == [
        pd.Timestamp("2026-03-01T07:00:00Z"),
        pd.Timestamp("2026-03-01T10:00:00Z"),
        pd.Timestamp("2026-03-01T15:30:00Z"),
    ]


def test_booleans_accept_common_spellings_and_quarantine_the_rest() -> None:
    frame = customers_frame(8).astype({"consent_sms": object})
    frame["consent_sms"] = ["TRUE", "false", "1", "0", "Yes", "no", "t", "maybe"]

    result = validate_table(frame, CUSTOMERS, as_of=AS_OF)

    assert result.accepted["consent_sms"].tolist() == [True, False, True, False, True, False, True]
    assert reasons_by_row(result) == {7: "consent_sms: not a boolean ('maybe')"}


def test_invalid_time_zone_is_quarantined() -> None:
    frame = customers_frame()
    frame.loc[1, "tz"] = "Mars/Olympus_Mons"
    result = validate_table(frame, CUSTOMERS, as_of=AS_OF)
    assert reasons_by_row(result) == {1: "tz: not an IANA time zone ('Mars/Olympus_Mons')"}


def test_dates_are_naive_midnight_and_future_signups_rejected() -> None:
    frame = customers_frame(3).astype({"signup_date": object})
    frame["signup_date"] = ["2025-05-06T17:45:00", "2026-03-31", "2026-04-01"]
    result = validate_table(frame, CUSTOMERS, as_of=AS_OF)
    assert result.accepted["signup_date"].tolist() == [pd.Timestamp("2025-05-06"), pd.Timestamp("2026-03-31")]
    assert reasons_by_row(result) == {2: "signup_date: in the future"}


# ---------------------------------------------------------------- rules


def test_negative_amount_unknown_customer_and_bad_category() -> None:
    frame = transactions_frame()
    frame.loc[1, "amount"] = -5.0
    frame.loc[3, "amount"] = 0.0
    frame.loc[4, "customer_id"] = "C999"
    frame.loc[5, "category"] = "lottery"

    result = check_txns(frame)

    assert reasons_by_row(result) == {
        1: "amount: must be > 0",
        3: "amount: must be > 0",
        4: "customer_id: unknown in customers ('C999')",
        5: "category: not an allowed value ('lottery')",
    }
    assert result.report.rule_counts["amount: must be > 0"] == 2


def test_duplicate_ids_keep_the_first_occurrence() -> None:
    frame = transactions_frame()
    frame.loc[4, "txn_id"] = "T0001"
    result = check_txns(frame)
    assert reasons_by_row(result) == {4: "duplicate txn_id"}
    assert result.accepted["txn_id"].tolist().count("T0001") == 1
    assert result.accepted.loc[1, "amount"] == 11.0  # the kept row is the first one


def test_future_timestamp_depends_on_as_of() -> None:
    frame = transactions_frame()
    frame.loc[0, "ts"] = pd.Timestamp("2026-04-02T00:00:00Z")
    assert reasons_by_row(check_txns(frame)) == {0: "ts: in the future"}
    later = validate_table(
        frame, TRANSACTIONS, as_of="2026-05-01", ref_keys={REFS_KEY: customers_frame()["customer_id"]}
    )
    assert later.report.quarantined == 0


def test_required_non_null_and_min_max() -> None:
    frame = customers_frame(4)
    frame.loc[0, "birth_year"] = 1850
    frame.loc[1, "birth_year"] = 2020
    frame.loc[2, "tz"] = None
    result = validate_table(frame, CUSTOMERS, as_of=AS_OF)
    # a birth year is an optional detail: out of range, it is blanked and the customer kept
    assert reasons_by_row(result) == {2: "tz: missing"}
    assert result.accepted["birth_year"].isna().tolist() == [True, True, False]
    assert result.report.repaired == {
        "birth_year: must be <= 2015, left blank": 1,
        "birth_year: must be >= 1900, left blank": 1,
    }


def test_responded_before_sent_and_several_reasons_joined() -> None:
    frame = contacts_frame()
    frame.loc[1, "responded_at"] = frame.loc[1, "sent_at"] - pd.Timedelta(minutes=1)
    frame.loc[2, "cost"] = -1.0
    frame.loc[2, "propensity"] = 1.5
    result = validate_table(
        frame, CONTACTS, as_of=AS_OF, ref_keys={REFS_KEY: customers_frame()["customer_id"]}
    )
    assert reasons_by_row(result) == {
        1: "responded_at: must be >= sent_at",
        2: "cost: must be >= 0; propensity: must be <= 1",
    }


def test_unreadable_value_is_not_also_reported_missing() -> None:
    frame = transactions_frame().astype(str).replace({"None": ""})
    frame.loc[0, "ts"] = "yesterday-ish"
    assert reasons_by_row(check_txns(frame)) == {0: "ts: not a timestamp ('yesterday-ish')"}


# ---------------------------------------------------------------- columns


def test_missing_required_column_is_an_error_naming_it() -> None:
    frame = transactions_frame().drop(columns=["amount", "currency"])
    with pytest.raises(FeedError, match=r"txns\.parquet: table 'transactions' lacks .* amount, currency"):
        check_txns(frame)


def test_missing_optional_columns_are_added_as_null_and_extras_dropped() -> None:
    frame = contacts_frame().drop(columns=["arm", "propensity", "channel_propensity", "decision_id"])
    frame["crm_note"] = "hello"
    result = validate_table(
        frame, CONTACTS, as_of=AS_OF, ref_keys={REFS_KEY: customers_frame()["customer_id"]}
    )
    assert result.report.quarantined == 0
    assert list(result.accepted.columns) == list(CONTACTS.names)
    assert result.accepted["propensity"].isna().all()
    assert result.report.extra_columns == ["crm_note"]
    missing = ["arm", "propensity", "channel_propensity", "decision_id"]
    assert result.report.missing_optional_columns == missing


def test_reference_keys_are_required_for_referencing_tables() -> None:
    with pytest.raises(ValueError, match=r"customers\.customer_id"):
        validate_table(events_frame(), EVENTS, as_of=AS_OF)


def test_parse_as_of_treats_naive_as_utc() -> None:
    assert parse_as_of("2026-03-01T10:00") == pd.Timestamp("2026-03-01T10:00Z")
    assert parse_as_of("2026-03-01T10:00+02:00") == pd.Timestamp("2026-03-01T08:00Z")


# ---------------------------------------------------------------- property


CORRUPTIONS: dict[str, tuple[str, str]] = {  # kind -> (column, raw text)
    "amount_text": ("amount", "abc"),
    "amount_negative": ("amount", "-3.5"),
    "amount_blank": ("amount", ""),
    "ts_text": ("ts", "31/02/2026 25:00"),
    "ts_future": ("ts", "2027-01-01T00:00:00+01:00"),
    "direction": ("direction", "sideways"),
    "customer": ("customer_id", "C999"),
    "duplicate": ("txn_id", "T0000"),
    "category_missing": ("category", ""),
    "merchant": ("merchant_channel", "telepathy"),
}


@st.composite
def corrupted_rows(draw: st.DrawFn) -> tuple[int, dict[int, str]]:
    n = draw(st.integers(min_value=1, max_value=40))
    rows = draw(st.sets(st.integers(min_value=0, max_value=n - 1), max_size=n))
    kinds = sorted(CORRUPTIONS)
    plan = {row: draw(st.sampled_from(kinds)) for row in sorted(rows)}
    if plan.get(0) == "duplicate":  # the first row is the original, it cannot duplicate itself
        plan[0] = "amount_text"
    return n, plan


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted_rows())
def test_exactly_the_corrupted_rows_are_quarantined(case: tuple[int, dict[int, str]]) -> None:
    n, plan = case
    frame = transactions_frame(n).astype(str).replace({"None": ""})
    frame["raw_extra"] = "x"
    for row, kind in plan.items():
        column, value = CORRUPTIONS[kind]
        frame.loc[row, column] = value

    result = check_txns(frame)

    reasons = reasons_by_row(result)
    assert set(reasons) == set(plan)
    for row, kind in plan.items():
        assert CORRUPTIONS[kind][0] in reasons[row], (kind, reasons[row])
    report = result.report
    assert report.rows_read == n and report.reconciled
    assert report.accepted + report.quarantined == n
    assert report.accepted == n - len(plan)
    expected_ids = [f"T{i:04d}" for i in range(n) if i not in plan]
    assert result.accepted["txn_id"].tolist() == expected_ids


# ---------------------------------------------------------------- whole run


def test_validate_feeds_writes_tables_quarantine_and_report(tmp_path: Path) -> None:
    bad = transactions_frame()
    bad.loc[2, "amount"] = -1.0
    bad["extra"] = 1
    src = write_feeds(tmp_path / "feeds", transactions=bad)
    out = tmp_path / "out"

    reports = validate_feeds(src, out, as_of=AS_OF, progress=False)

    assert list(reports) == ["customers", "transactions", "events", "contacts"]
    assert reports["transactions"].quarantined == 1
    assert reports["transactions"].extra_columns == ["extra"]
    txns = pq.read_table(out / "transactions.parquet")
    assert txns.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert txns.column_names == list(TRANSACTIONS.names)
    assert pq.read_table(out / "contacts.parquet").schema.field("arm").type == pa.string()
    quarantine = pq.read_table(out / "quarantine" / "transactions.parquet").to_pandas()
    assert quarantine["_reason"].tolist() == ["amount: must be > 0"]
    assert not (out / "quarantine" / "customers.parquet").exists()
    report = json.loads((out / "report.json").read_text())
    tx = report["tables"]["transactions"]
    assert (tx["rows_read"], tx["accepted"], tx["quarantined"], tx["reconciled"]) == (6, 5, 1, True)
    assert tx["rule_counts"] == {"amount: must be > 0": 1}
    assert tx["source"] == str(src / "transactions.parquet")

    # a clean second run removes the stale quarantine file
    write_parquet(transactions_frame(), src / "transactions.parquet")
    validate_feeds(src, out, as_of=AS_OF, progress=False)
    assert not (out / "quarantine" / "transactions.parquet").exists()


def test_references_use_accepted_customers_only(tmp_path: Path) -> None:
    customers = customers_frame()
    customers.loc[3, "signup_date"] = pd.Timestamp("2027-01-01")  # C003 is quarantined: its rows say why
    src = write_feeds(tmp_path / "feeds", customers=customers)
    reports = validate_feeds(src, tmp_path / "out", as_of=AS_OF, progress=False)
    assert reports["customers"].quarantined == 1
    cause = "customer quarantined: signup_date: in the future"
    assert reports["transactions"].rule_counts == {cause: 1}
    assert reports["events"].rule_counts == {cause: 1}
    quarantined = pd.read_parquet(tmp_path / "out" / "quarantine" / "events.parquet")
    assert quarantined["_reason"].tolist() == [f"{cause} ('C003')"]


def test_missing_demographics_keep_the_customer_and_their_history(tmp_path: Path) -> None:
    """A CRM without birth years (column absent or values blank) loses no customer and no row."""
    customers = customers_frame().drop(columns=["birth_year", "region"])
    src = write_feeds(tmp_path / "feeds", customers=customers)
    reports = validate_feeds(src, tmp_path / "out", as_of=AS_OF, progress=False)
    assert {name: r.quarantined for name, r in reports.items()} == dict.fromkeys(reports, 0)
    assert reports["customers"].missing_optional_columns == ["birth_year", "region"]
    accepted = pd.read_parquet(tmp_path / "out" / "customers.parquet")
    assert accepted["birth_year"].isna().all() and len(accepted) == 4  # the model sees NaN

    blanks = customers_frame()
    blanks.loc[[0, 2], "birth_year"] = None
    result = validate_table(blanks, CUSTOMERS, as_of=AS_OF)
    assert result.report.quarantined == 0 and result.report.repaired == {}
    assert result.accepted["birth_year"].isna().tolist() == [True, False, True, False]


def test_unknown_time_zone_is_assumed_not_cascaded(tmp_path: Path) -> None:
    """A customer without a usable zone keeps its history and gets the feed's most common zone."""
    customers = customers_frame(7)  # zones: Berlin x3, Tokyo, UTC and two unusable
    customers.loc[6, "tz"] = "Europe/Berlin"
    customers.loc[1, "tz"] = "Nowhere/Land"
    customers.loc[5, "tz"] = None
    src = write_feeds(tmp_path / "feeds", customers=customers, transactions=transactions_frame(14, 7))
    reports = validate_feeds(src, tmp_path / "out", as_of=AS_OF, progress=False)
    assert {name: r.quarantined for name, r in reports.items()} == dict.fromkeys(reports, 0)
    assert reports["customers"].repaired == {
        "tz: missing, assumed Europe/Berlin": 1,
        "tz: not an IANA time zone, assumed Europe/Berlin": 1,
    }
    zones = pd.read_parquet(tmp_path / "out" / "customers.parquet").set_index("customer_id")["tz"]
    assert zones["C001"] == zones["C005"] == "Europe/Berlin"
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["assumed_tz"] == "Europe/Berlin"
    chosen = validate_feeds(src, tmp_path / "out2", as_of=AS_OF, progress=False, default_tz="Asia/Tokyo")
    assert chosen["customers"].repaired == {
        "tz: missing, assumed Asia/Tokyo": 1,
        "tz: not an IANA time zone, assumed Asia/Tokyo": 1,
    }


def test_partial_run_reads_previous_customers_or_fails(tmp_path: Path) -> None:
    src = write_feeds(tmp_path / "feeds")
    with pytest.raises(FeedError, match="validate customers first"):
        validate_feeds(src, tmp_path / "out", as_of=AS_OF, tables=["events"], progress=False)
    validate_feeds(src, tmp_path / "out", as_of=AS_OF, tables=["customers"], progress=False)
    reports = validate_feeds(src, tmp_path / "out", as_of=AS_OF, tables=["events"], progress=False)
    assert list(reports) == ["events"] and reports["events"].accepted == 5


def test_unknown_table_name_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="unknown table"):
        validate_feeds(tmp_path, tmp_path / "out", tables=["clicks"], progress=False)


def test_large_frame_stays_vectorised() -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    frame = transactions_frame(n, n_customers=4)
    bad = rng.choice(n, size=1000, replace=False)
    frame.loc[bad, "amount"] = -1.0
    result = check_txns(frame)
    assert result.report.quarantined == 1000
    assert sorted(result.quarantined["_row"]) == sorted(bad)


# ---------------------------------------------------------------- command line


def _cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps `validate` a named sub-command
        """Placeholder."""

    return app


def test_cli_validate_good_feeds(tmp_path: Path) -> None:
    src = write_feeds(tmp_path / "feeds")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        _cli(), ["validate", str(src), "--out", str(out), "--as-of", "2026-03-31", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "accepted 19" in result.output and "quarantined 0" in result.output
    assert (out / "report.json").exists()


def test_cli_shows_per_table_reasons(tmp_path: Path) -> None:
    bad = transactions_frame()
    bad.loc[0, "amount"] = -2.0
    src = write_feeds(tmp_path / "feeds", transactions=bad)
    result = CliRunner().invoke(
        _cli(),
        [
            "validate",
            str(src),
            "--out",
            str(tmp_path / "out"),
            "--as-of",
            "2026-03-31",
            "--max-quarantined",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "transactions" in result.output
    assert "amount: must be > 0" in result.output


def test_cli_missing_column_exits_1_with_one_line(tmp_path: Path) -> None:
    src = write_feeds(tmp_path / "feeds", events=events_frame().drop(columns=["event_type"]))
    result = CliRunner().invoke(_cli(), ["validate", str(src), "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 1
    assert "event_type" in result.output and "events" in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_missing_feed_directory_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(_cli(), ["validate", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "feed directory does not exist" in result.output
