"""`demo --data DIR` as a newcomer meets it: what it cannot use ends in one line, not a traceback, and
before the heavy steps (features, Feast, training) have run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from optichannel.settings import get_settings
from pipeline.cli import build_app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def short_feeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three weeks of a small simulated bank: shorter than the default split's 56 days."""
    own = tmp_path_factory.mktemp("own") / "feeds"
    made = runner.invoke(build_app(), ["simulate", "-n", "200", "-d", "21", "-o", str(own), "-q"])
    assert made.exit_code == 0, made.output
    return own


def _one_error(result: Result) -> str:
    """The run's only error line; no traceback, a clean exit."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_a_missing_directory_is_one_line(data_dir: Path, tmp_path: Path) -> None:
    line = _one_error(runner.invoke(build_app(), ["demo", "--data", str(tmp_path / "nope")]))
    assert line == f"error: {tmp_path / 'nope'}: feed directory does not exist"


def test_a_missing_table_is_one_line(data_dir: Path, short_feeds: Path, tmp_path: Path) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "customers.parquet").write_bytes((short_feeds / "customers.parquet").read_bytes())
    line = _one_error(runner.invoke(build_app(), ["demo", "--data", str(partial)]))
    assert "transactions" in line and "transactions.parquet, transactions/, transactions.csv" in line


def test_short_history_stops_after_validation(data_dir: Path, short_feeds: Path) -> None:
    result = runner.invoke(build_app(), ["demo", "--data", str(short_feeds)])
    line = _one_error(result)
    assert (
        line.startswith("error: contacts span 20 days")
        and "training needs at least 21 (its split of 56" in line
    )
    assert line.endswith("pass it with --config")
    assert not (data_dir / "features").exists()  # nothing heavy ran


def test_config_sets_the_split_the_history_is_checked_against(
    data_dir: Path, short_feeds: Path, tmp_path: Path
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text(
        "split:\n  min_train_days: 60\n  valid_days: 7\n  test_days: 7\n  min_history_days: 30\n"
    )
    line = _one_error(
        runner.invoke(build_app(), ["demo", "--data", str(short_feeds), "--config", str(config)])
    )
    assert "training needs at least 30 (its split of 74 (60 to train, 7 to validate, 7 to test)" in line


def test_a_bad_config_is_one_line_naming_the_field(data_dir: Path, short_feeds: Path, tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("split:\n  valid_days: 0\n")
    result = runner.invoke(build_app(), ["demo", "--data", str(short_feeds), "--config", str(config)])
    line = _one_error(result)
    assert line.startswith(f"error: --config {config}: split.valid_days: Input should be greater than")
    assert result.exit_code == 2 and not (data_dir / "validated").exists()
