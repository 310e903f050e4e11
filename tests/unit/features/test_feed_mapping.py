"""`validate --mapping feeds.yaml`: another company's export, in its own names, mapped end to end; every
mistake in the mapping one line naming the key and the file, with a non-zero exit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from optichannel.settings import get_settings
from pipeline.cli import build_app

runner = CliRunner()

MAPPING = {
    "customers": {
        "file": "crm_profiles.csv",
        "columns": {"customer_id": "id", "signup_date": "became_member_on", "tz": "zone"},
        "times": {"signup_date": "%Y%m%d"},
        "fill": {f"consent_{c}": True for c in ("email", "sms", "push", "call", "messenger")},
    },
    "transactions": {
        "file": "payments.csv",
        "columns": {
            "txn_id": "pid",
            "customer_id": "person",
            "ts": "time_ms",
            "amount": "value",
            "category": "kind",
        },
        "times": {"ts": "epoch_ms"},
        "values": {"category": {"food": "groceries", "air": "travel_air"}},
        "fill": {"currency": "USD", "direction": "debit", "merchant_channel": "online"},
    },
    "events": {
        "file": "app_events.csv",
        "columns": {"event_id": "eid", "customer_id": "person", "ts": "hours", "event_type": "what"},
        "times": {"ts": "hours since 2024-01-01"},
        "values": {"event_type": {"offer viewed": "promo_click", "app open": "app_session"}},
    },
    "contacts": {
        "file": "offers.csv",
        "columns": {
            "contact_id": "oid",
            "customer_id": "person",
            "campaign_id": "offer",
            "channel": "medium",
            "sent_at": "sent",
            "responded_at": "viewed",
        },
        "times": {"sent_at": "%Y-%m-%d %H:%M", "responded_at": "%Y-%m-%d %H:%M"},
        "values": {"channel": {"mobile": "push", "social": "messenger", "web": "unused"}},
        "fill": {"delivered": True, "cost": 0.01, "converted_at": None},
    },
}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A small "other company" export: its own file and column names, epoch milliseconds, hours since
    a start, its channel names (one of them not used), and a few values the mapping does not cover."""
    src = tmp_path / "export"
    src.mkdir()
    ids = [f"u{i}" for i in range(20)]
    pd.DataFrame({"id": ids, "became_member_on": ["20230105"] * 19 + ["yesterday"],
                  "zone": ["Europe/Berlin"] * 20}).to_csv(src / "crm_profiles.csv", index=False)  # fmt: skip
    start = pd.Timestamp("2024-01-01", tz="UTC")
    ms = [int((start + pd.Timedelta(hours=h)).timestamp() * 1000) for h in range(40)]
    kinds = ["food", "air", "food", "lottery"] * 10
    people = [ids[i % 19] for i in range(40)]
    pd.DataFrame({"pid": [f"p{i}" for i in range(40)], "person": people, "time_ms": ms,
                  "value": 12.5, "kind": kinds}).to_csv(src / "payments.csv", index=False)  # fmt: skip
    pd.DataFrame({"eid": [f"e{i}" for i in range(30)], "person": [ids[i % 19] for i in range(30)],
                  "hours": range(30), "what": ["offer viewed", "app open", "app open"] * 10}).to_csv(
        src / "app_events.csv", index=False)  # fmt: skip
    sent = [(start + pd.Timedelta(hours=h)).strftime("%Y-%m-%d %H:%M") for h in range(24)]
    viewed = [s if i % 3 == 0 else "" for i, s in enumerate(sent)]
    pd.DataFrame({"oid": [f"o{i}" for i in range(24)], "person": [ids[i % 19] for i in range(24)],
                  "offer": "bogo", "medium": ["email", "mobile", "social", "web", "fax", "mobile"] * 4,
                  "sent": sent, "viewed": viewed}).to_csv(src / "offers.csv", index=False)  # fmt: skip
    return src


def _write(tmp_path: Path, mapping: object, name: str = "feeds.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(mapping) if not isinstance(mapping, str) else mapping)
    return path


def _validate(src: Path, mapping: Path, out: Path, *extra: str) -> Result:
    args = ["validate", str(src), "--mapping", str(mapping), "--out", str(out), "--quiet", *extra]
    return runner.invoke(build_app(), args)


def test_a_foreign_export_is_mapped_end_to_end(data_dir: Path, export: Path, tmp_path: Path) -> None:
    out = tmp_path / "validated"
    before = {f.name: f.read_bytes() for f in export.iterdir()}
    result = _validate(export, _write(tmp_path, MAPPING), out, "--max-quarantined", "0.5")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    report = json.loads((out / "report.json").read_text())
    sizes = {"customers": 20, "transactions": 40, "events": 30, "contacts": 24}
    for table, rows in sizes.items():
        mapped = report["mapping"]["tables"][table]
        validated = report["tables"][table]
        aside = sum(mapped["not_covered"].values()) + sum(mapped["unused"].values())
        assert mapped["rows_read"] == rows and mapped["mapped"] + aside == rows
        assert validated["rows_read"] == mapped["mapped"]
        assert (
            rows == validated["accepted"] + validated["quarantined"] + aside
        )  # input = validated + quarantined
    contacts = report["mapping"]["tables"]["contacts"]
    assert contacts["unused"] == {"feeds.yaml: contacts.values.channel maps 'web' to unused": 4}
    assert contacts["not_covered"] == {"feeds.yaml: contacts.values.channel does not map 'fax'": 4}
    assert report["mapping"]["tables"]["customers"]["not_covered"] == {
        "feeds.yaml: customers.times.signup_date cannot read 'yesterday' as '%Y%m%d'": 1
    }
    accepted = pd.read_parquet(out / "contacts.parquet")
    assert sorted(accepted["channel"].unique()) == ["email", "messenger", "push"]
    assert accepted["sent_at"].min() == pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.read_parquet(out / "events.parquet")
    assert set(events["event_type"]) == {"promo_click", "app_session"}
    aside = pd.read_parquet(out / "quarantine" / "contacts.mapping.parquet")
    assert set(aside["medium"]) == {"web", "fax"} and aside["_reason"].str.contains("feeds.yaml").all()
    assert (
        "note: contacts: feeds.yaml: contacts.values.channel maps 'web' to unused × 4 rows" in result.output
    )
    assert {f.name: f.read_bytes() for f in export.iterdir()} == before  # originals untouched
    assert (out / "inputs" / "contacts.parquet").exists()


def test_values_the_mapping_misses_fail_past_the_limit(data_dir: Path, export: Path, tmp_path: Path) -> None:
    result = _validate(export, _write(tmp_path, MAPPING), tmp_path / "v")
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "transactions: 25.0% of 40 rows not mapped" in errors[0] and "'lottery'" in errors[0]


def _broken(section: str, key: str, value: object) -> dict:
    mapping = json.loads(json.dumps(MAPPING))
    mapping[section][key] = value
    return mapping


BROKEN = {
    "unknown table": ({**MAPPING, "offers": {}}, "feeds.yaml: offers: not a table"),
    "unknown key": (_broken("events", "rename", {}), "feeds.yaml: events.rename: unknown key"),
    "unknown column": (
        _broken("events", "columns", {"event_kind": "what"}),
        "feeds.yaml: events.columns.event_kind: not a column of events",
    ),
    "source column missing": (
        _broken("contacts", "columns", {**MAPPING["contacts"]["columns"], "channel": "medium_name"}),
        "feeds.yaml: contacts.columns.channel: offers.csv has no column 'medium_name'",
    ),
    "not a channel": (
        _broken("contacts", "values", {"channel": {"mobile": "pusj"}}),
        "feeds.yaml: contacts.values.channel.mobile: 'pusj' is not allowed",
    ),
    "bad time unit": (
        _broken("transactions", "times", {"ts": "epoch_minutes"}),
        "feeds.yaml: transactions.times.ts: 'epoch_minutes' is not a time unit",
    ),
    "time of a number": (
        _broken("transactions", "times", {"amount": "epoch_s"}),
        "feeds.yaml: transactions.times.amount: amount is not a time or date column",
    ),
    "missing file": (_broken("events", "file", "clicks.csv"), "feeds.yaml: events.file: "),
    "required column unmapped": (
        _broken("events", "columns", {"event_id": "eid", "customer_id": "person", "ts": "hours"}),
        "feeds.yaml: events: app_events.csv has no column 'event_type'",
    ),
    "not YAML": ("customers: [unclosed", "feeds.yaml: not valid YAML"),
    "empty": ("", "feeds.yaml: a mapping needs one section per table"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_mapping_error_is_one_line(data_dir: Path, export: Path, tmp_path: Path, case: str) -> None:
    mapping, expected = BROKEN[case]
    result = _validate(export, _write(tmp_path, mapping), tmp_path / "v")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output


def test_a_missing_mapping_file_is_one_line(data_dir: Path, export: Path, tmp_path: Path) -> None:
    result = _validate(export, tmp_path / "nope.yaml", tmp_path / "v")
    assert (
        result.exit_code == 1
        and result.output.startswith("error: ")
        and "nope.yaml: cannot read" in result.output
    )


def test_demo_maps_your_data_before_validating(data_dir: Path, export: Path, tmp_path: Path) -> None:
    args = ["demo", "--data", str(export), "--mapping", str(_write(tmp_path, MAPPING))]
    result = runner.invoke(build_app(), [*args, "--stop-after", "2", "--max-quarantined", "0.5"])
    assert result.exit_code == 0, result.output
    assert "contacts.values.channel maps 'web' to unused × 4 rows" in result.output
    assert (data_dir / "validated" / "inputs" / "contacts.parquet").exists()
    broken = _write(tmp_path, BROKEN["bad time unit"][0], "broken.yaml")
    failed = runner.invoke(build_app(), ["demo", "--data", str(export), "--mapping", str(broken)])
    errors = [line for line in failed.output.splitlines() if line.startswith("error:")]
    assert failed.exit_code == 1 and len(errors) == 1 and "transactions.times.ts" in errors[0], failed.output
