"""Every user-facing command against broken inputs (a missing directory or table, an empty table, wrong
types, a one-arm experiment): one clean `error:` line and a non-zero exit, never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from optichannel.settings import get_settings
from pipeline.cli import build_app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # reports/ of a command that got through lands here, not in the checkout
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def _dir_with(tmp: Path, **tables: str) -> Path:
    src = tmp / "feeds"
    src.mkdir(exist_ok=True)
    for name, text in tables.items():
        (src / name).write_text(text)
    return src


def _arms(tmp: Path, arms: list[str], flags: list[object]) -> Path:
    path = tmp / "assignments.csv"
    pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(len(arms))], "arm": arms, "converted": flags}
    ).to_csv(path, index=False)
    return path


def _wrong_types(tmp: Path) -> Path:
    """Every table present, the one customer's date and consents not what their columns hold."""
    from optichannel.contracts import CONTRACTS

    tables = {f"{n}.csv": ",".join(c.names) + "\n" for n, c in CONTRACTS.items()}
    tables["customers.csv"] = (
        "customer_id,signup_date,"
        + ",".join(f"consent_{c}" for c in ("email", "sms", "push", "call", "messenger"))
        + "\nc1,yesterday,maybe,x,y,z,w\n"
    )
    return _dir_with(tmp, **tables)


def _empty(tmp: Path, name: str) -> str:
    return str(_dir_with(tmp, **{name: ""}) / name)


def _analyze(assignments: Path | str, outcome: str = "converted", *extra: str) -> list[str]:
    return ["experiment", "analyze", "--assignments", str(assignments), "--outcome", outcome, *extra]


def _score(customers: Path | str, tmp: Path) -> list[str]:
    return ["score", "--customers", str(customers), "--out", str(tmp / "d.parquet"), "--quiet"]


Case = Callable[[Path], list[str]]
AB = (["a", "b"] * 50, [0, 1] * 50)
CASES: dict[str, Case] = {
    "validate: missing dir": lambda t: ["validate", str(t / "nope"), "--quiet"],
    "validate: missing table": lambda t: ["validate", str(_dir_with(t, **{"customers.csv": "id\n"}))],
    "validate: empty file": lambda t: ["validate", str(Path(_empty(t, "customers.csv")).parent), "--quiet"],
    "validate: wrong types": lambda t: ["validate", str(_wrong_types(t)), "--quiet"],
    "features build: missing dir": lambda t: ["features", "build", "--validated", str(t / "nope"), "--quiet"],
    "features build: empty dir": lambda t: ["features", "build", "--validated", str(_dir_with(t)), "--quiet"],
    "train: nothing validated": lambda t: ["train", "--quiet", "--trials", "1"],
    "score: missing customers file": lambda t: _score(t / "nope.parquet", t),
    "score: empty customers file": lambda t: _score(_empty(t, "c.csv"), t),
    "analyze: missing assignments": lambda t: _analyze(t / "nope.csv"),
    "analyze: unknown control": lambda t: _analyze(_arms(t, *AB)),
    "analyze: empty assignments": lambda t: _analyze(_empty(t, "a.csv")),
    "analyze: wrong types": lambda t: _analyze(_arms(t, AB[0], ["maybe", "later"] * 50), "converted",
                                               "--control", "a"),
    "analyze: missing column": lambda t: _analyze(_arms(t, *AB), "bought", "--control", "a"),
    "analyze: one arm": lambda t: _analyze(_arms(t, ["a"] * 100, AB[1]), "converted", "--control", "a"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_broken_input_is_one_clean_line(data_dir: Path, tmp_path: Path, case: str) -> None:
    result = runner.invoke(build_app(), CASES[case](tmp_path))
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
