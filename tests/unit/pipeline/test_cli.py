"""The `optichannel` command: simulate, demo and help behave as the README says."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from optichannel.settings import get_settings
from pipeline.cli import build_app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_help_lists_every_command() -> None:
    result = runner.invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    for command in ("simulate", "validate", "features", "demo"):
        assert command in result.output


def test_simulate_writes_feeds_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "bank"
    result = runner.invoke(
        build_app(), ["simulate", "-n", "300", "-d", "14", "-s", "3", "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out / "customers.parquet").shape[0] == 300
    counts = json.loads((out / "truth" / "counts.json").read_text())
    assert counts["contacts"] == len(pd.read_parquet(out / "contacts"))
    assert "feed rows/s" in result.output


def test_simulate_rejects_a_bad_config_naming_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "world.yaml"
    bad.write_text("customers: 10\nlogging_policy:\n  exploration: 2.0\n")
    result = runner.invoke(build_app(), ["simulate", "--config", str(bad), "-o", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert "exploration" in result.output


def test_demo_simulates_and_validates(data_dir: Path) -> None:
    result = runner.invoke(build_app(), ["demo", "-n", "300", "-d", "28", "--stop-after", "4"])
    assert result.exit_code == 0, result.output
    report = json.loads((data_dir / "validated" / "report.json").read_text())
    customers = report["tables"]["customers"]
    assert customers["rows_read"] == 300 == customers["accepted"] + customers["quarantined"]
    assert (data_dir / "validated" / "contacts.parquet").exists()
    assert pd.read_parquet(data_dir / "features" / "profile.parquet").shape[0] == 300


def test_demo_on_own_data_skips_the_simulator(data_dir: Path, tmp_path: Path) -> None:
    own = tmp_path / "own"
    assert (
        runner.invoke(build_app(), ["simulate", "-n", "200", "-d", "14", "-o", str(own), "-q"]).exit_code == 0
    )
    result = runner.invoke(build_app(), ["demo", "--data", str(own), "--stop-after", "4"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output
    assert not (data_dir / "world").exists()


def test_features_build_command(data_dir: Path, tmp_path: Path) -> None:
    world = tmp_path / "w"
    assert (
        runner.invoke(build_app(), ["simulate", "-n", "200", "-d", "14", "-o", str(world), "-q"]).exit_code
        == 0
    )
    assert runner.invoke(build_app(), ["validate", str(world), "--quiet"]).exit_code == 0
    result = runner.invoke(build_app(), ["features", "build", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "snapshot rows" in result.output and "full rebuild: no previous build" in result.output
    again = runner.invoke(build_app(), ["features", "build", "--quiet"])
    assert "incremental: recomputed snapshots from" in again.output, again.output
    forced = runner.invoke(build_app(), ["features", "build", "--quiet", "--full"])
    assert "full rebuild: --full asked for" in forced.output, forced.output
    assert {p.name for p in (data_dir / "features").glob("*.parquet")} == {
        "transactions.parquet",
        "behaviour.parquet",
        "contacts.parquet",
        "profile.parquet",
    }


def test_features_build_without_validated_feeds_is_a_clear_error(data_dir: Path) -> None:
    result = runner.invoke(build_app(), ["features", "build"])
    assert result.exit_code == 1
    assert "run `optichannel validate` first" in result.output


def test_duckdb_out_of_memory_is_one_line_naming_the_settings(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch step that outgrows DuckDB's limit (a million-customer build did) ends with the
    settings to change, not a traceback."""
    import duckdb
    import typer

    from pipeline import cli

    def app() -> typer.Typer:
        tiny = typer.Typer()

        @tiny.command()
        def step() -> None:
            con = duckdb.connect(config={"memory_limit": "2MB", "threads": 1})
            con.sql("SELECT range % 7 AS k, list(range) FROM range(3000000) GROUP BY k").fetchall()

        return tiny

    monkeypatch.setattr(cli, "build_app", app)
    monkeypatch.setattr("sys.argv", ["optichannel"])
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "OPTICHANNEL_DUCKDB_MEMORY_LIMIT=" in err and "OPTICHANNEL_FEATURE_BUCKET_ROWS" in err
