"""`optichannel validate` as a script sees it: what is kept with a blank or an assumed value, the
exit code when too much is quarantined, and what training will need, each in one line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.unit.features.test_validation import _cli, customers_frame, write_feeds

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
