"""`optichannel validate` as a script sees it: what is kept with a blank or an assumed value, the
exit code when too much is quarantined, and what training will need, each in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from tests.unit.features.test_validation import (
    _cli,
    contacts_frame,
    customers_frame,
    events_frame,
    transactions_frame,
    write_feeds,
)

runner = CliRunner()


def test_cli_says_which_zone_it_assumed(tmp_path: Path) -> None:
    customers = customers_frame()
    customers.loc[1, "tz"] = "Nowhere/Land"
    customers.loc[2, "birth_year"] = 1850
    src = write_feeds(tmp_path / "feeds", customers=customers)
    args = ["validate", str(src), "--out", str(tmp_path / "out"), "--quiet", "--as-of", "2026-03-31"]
    result = runner.invoke(_cli(), [*args, "--default-tz", "Asia/Tokyo"])
    assert result.exit_code == 0, result.output
    assert "kept: customers: tz: not an IANA time zone, assumed Asia/Tokyo × 1" in result.output
    assert "kept: customers: birth_year: must be >= 1900, left blank × 1" in result.output
    assert "quarantined 0" in result.output
    bad = runner.invoke(_cli(), [*args, "--default-tz", "Mars/Olympus"])
    assert bad.exit_code == 2 and "not an IANA time zone: 'Mars/Olympus'" in bad.output


def _validate(src: Path, out: Path, *extra: str) -> Result:
    args = ["validate", str(src), "--out", str(out), "--quiet", "--as-of", "2026-03-31", *extra]
    return runner.invoke(_cli(), args)


def _errors(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def test_too_much_quarantined_fails_in_one_line(tmp_path: Path) -> None:
    """Raw channel names (`mobile`) quarantine most contacts: a script must not go on to training."""
    contacts = contacts_frame(8)
    contacts.loc[:5, "channel"] = ["mobile", "social", "mobile", "mobile", "social", "mobile"]
    src = write_feeds(tmp_path / "feeds", contacts=contacts)
    result = _validate(src, tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert _errors(result) == [
        "error: contacts: 75.0% of 8 rows quarantined (mostly channel: not an allowed value × 6): more than "
        "5% (--max-quarantined); see the quarantine files for the rows and their reasons, fix the feed or "
        "raise the limit"
    ]
    assert "Traceback" not in result.output
    assert (tmp_path / "out" / "report.json").exists()  # the outputs are written all the same
    assert _validate(src, tmp_path / "out", "--max-quarantined", "0.8").exit_code == 0


def test_one_quarantined_row_in_a_large_feed_passes(tmp_path: Path) -> None:
    transactions = transactions_frame(40)
    transactions.loc[3, "amount"] = -1.0  # 2.5% of the feed
    src = write_feeds(tmp_path / "feeds", transactions=transactions)
    result = _validate(src, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert _errors(result) == []


def test_missing_propensities_are_said_at_validate_time(tmp_path: Path) -> None:
    contacts = contacts_frame().drop(columns=["propensity", "channel_propensity"])
    src = write_feeds(tmp_path / "feeds", contacts=contacts)
    result = _validate(src, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (
        "warning: the contacts carry no propensity or channel_propensity: `train` will stop" in result.output
    )
    clean = _validate(write_feeds(tmp_path / "clean"), tmp_path / "out2")
    assert "propensity" not in clean.output


def test_short_history_is_said_at_validate_time(tmp_path: Path) -> None:
    """Four days of contacts: the line says what training needs and how to change it."""
    src = write_feeds(tmp_path / "feeds")
    result = _validate(src, tmp_path / "out")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if line.startswith("warning: contacts span")]
    assert warning == [
        "warning: contacts span 3 days (2026-03-03 to 2026-03-06) but training needs at least 21 (its split "
        "of 56 (28 to train, 14 to validate, 14 to test) is scaled in proportion to a shorter history, down "
        "to 21 days): bring a longer history, or lower split.min_history_days in a training config and "
        "pass it to `train --config` (`demo --data DIR --config`); check it here with --min-history DAYS"
    ]
    shorter = _validate(src, tmp_path / "out", "--split", "1+1+1", "--min-history", "1")
    assert "contacts span" not in shorter.output
    scaled = _validate(src, tmp_path / "out", "--min-history", "3")
    assert "warning: contacts span" not in scaled.output
    assert "note: contacts span 3 days, fewer than the split's 56: training splits them in proportion" in (
        scaled.output
    )
    bad = _validate(src, tmp_path / "out", "--split", "28-14")
    assert bad.exit_code == 2 and "TRAIN+VALID+TEST" in bad.output


def test_history_need_matches_the_training_split() -> None:
    """features cannot import training: this test keeps the two defaults equal."""
    from features.feed_readiness import HistoryNeed
    from training.config import Split

    split = Split()
    need = HistoryNeed(split.min_train_days, split.valid_days, split.test_days, split.min_history_days)
    assert HistoryNeed() == need
    for days in (10.0, 20.9, 21.0, 30.5, 55.9, 56.0, 90.0):  # the same scaling on both sides
        fitted, scaled = split.scaled(days), need.scaled(days)
        assert (fitted is None) == (scaled is None)
        if scaled is not None:
            assert fitted == pytest.approx(scaled[1:]) and sum(scaled) == pytest.approx(days)


def test_a_short_history_is_split_in_proportion() -> None:
    """Thirty days of contacts: 28+14+14 scaled to 15+7.5+7.5, the last days tested; under 21 refused."""
    import pandas as pd

    from training.config import Split
    from training.dataset import assign_split

    end = pd.Timestamp("2024-02-01", tz="UTC")
    sent = pd.Series(end - pd.to_timedelta(range(30, 0, -1), unit="D") + pd.Timedelta(hours=1))
    split = assign_split(sent, end, Split())
    assert split.value_counts().to_dict() == {"train": 15, "valid": 8, "test": 7}
    assert list(split.iloc[[0, -1]]) == ["train", "test"]
    with pytest.raises(
        ValueError, match=r"contacts span 20 days .* needs at least 21 \(split.min_history_days"
    ):
        assign_split(sent.iloc[10:], end, Split())


def test_event_types_no_feature_reads_are_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ "Offer viewed" mapped to promo_click: valid, but every behaviour feature would be constant."""
    from features.event_usage import UNREAD_EVENT_TYPES

    assert UNREAD_EVENT_TYPES == ("promo_click",)
    events = events_frame()
    events["event_type"] = "promo_click"
    src = write_feeds(tmp_path / "feeds", events=events)
    out = tmp_path / "out"
    result = _validate(src, out)
    assert result.exit_code == 0, result.output
    assert (
        "warning: events of type promo_click (5) are read by no feature: 100% of the events; every "
        "behaviour feature will be constant. Map your events to types the features read: app_session, "
    ) in result.output
    assert json.loads((out / "report.json").read_text())["events_read_by_no_feature"] == {"promo_click": 5}

    events.loc[:2, "event_type"] = "app_session"
    result = _validate(write_feeds(tmp_path / "mixed", events=events), tmp_path / "mixed-out")
    assert "note: events of type promo_click (2) are read by no feature: 40% of the events\n" in result.output
    clean = _validate(write_feeds(tmp_path / "clean"), tmp_path / "clean-out")
    assert "read by no feature" not in clean.output

    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    built = runner.invoke(
        _cli(), ["features", "build", "--validated", str(out), "--out", str(tmp_path / "features"), "--quiet"]
    )
    assert built.exit_code == 0, built.output
    assert "warning: events of type promo_click (5) are read by no feature" in built.output
