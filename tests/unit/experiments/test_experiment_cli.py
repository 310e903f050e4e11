"""`optichannel experiment design | assign | analyze` on a fresh Typer app.

Named test_experiment_cli.py, not test_cli.py: test files need unique basenames in this suite
(tests/unit/pipeline/test_cli.py exists and the test folders are not packages).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments import cli as experiments_cli
from experiments.design import sample_size
from optichannel.assignment import assign_arms

ARMS = "model=0.45,bau=0.45,holdout=0.1"


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    experiments_cli.register(app)
    return app


runner = CliRunner()


def test_design_prints_the_sample_size(app: typer.Typer) -> None:
    result = runner.invoke(
        app, ["experiment", "design", "--baseline", "0.03", "--mde", "0.006", "--arms", ARMS]
    )
    assert result.exit_code == 0, result.output
    plan = sample_size(0.03, 0.006, {"model": 0.45, "bau": 0.45, "holdout": 0.1}, "bau")
    assert f"{plan.total_n:,}" in result.output
    assert f"{plan.n_per_arm['holdout']:,}" in result.output
    assert "Bonferroni" in result.output


def test_design_bad_input_is_one_error_line(app: typer.Typer) -> None:
    result = runner.invoke(app, ["experiment", "design", "--baseline", "1.5", "--mde", "0.01"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: baseline_rate")
    assert "Traceback" not in result.output


def test_assign_writes_stable_arms(app: typer.Typer, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    pd.DataFrame({"customer_id": [f"C{i:05d}" for i in range(5000)], "region": "north"}).to_csv(
        customers, index=False
    )
    out = tmp_path / "out" / "assignments.parquet"
    args = ["experiment", "assign", "--customers", str(customers), "--experiment", "spring", "--arms", ARMS]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assigned = pd.read_parquet(out)
    assert len(assigned) == 5000 and set(assigned.columns) >= {
        "customer_id",
        "experiment",
        "arm",
        "planned_share",
    }
    expected = assign_arms(assigned["customer_id"], "spring", {"model": 0.45, "bau": 0.45, "holdout": 0.1})
    assert (assigned["arm"].to_numpy() == expected).all()
    assert "assigned 5,000 customers" in result.output


def test_assign_errors(app: typer.Typer, tmp_path: Path) -> None:
    missing = runner.invoke(
        app,
        [
            "experiment",
            "assign",
            "--customers",
            str(tmp_path / "nope.parquet"),
            "--experiment",
            "x",
            "--out",
            str(tmp_path / "a.parquet"),
        ],
    )
    assert missing.exit_code == 1 and "error: customers file not found" in missing.output
    customers = tmp_path / "c.csv"
    pd.DataFrame({"customer_id": [1, 2]}).to_csv(customers, index=False)
    bad = runner.invoke(
        app,
        [
            "experiment",
            "assign",
            "--customers",
            str(customers),
            "--experiment",
            "x",
            "--arms",
            "a=0.5,b=0.4",
            "--out",
            str(tmp_path / "a.parquet"),
        ],
    )
    assert bad.exit_code == 1 and "error: arms: shares must sum to 1" in bad.output


def test_analyze_writes_the_report_and_prints_the_headline(app: typer.Typer, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 8000
    ids = np.arange(n)
    arm = assign_arms(ids, "spring", {"model": 0.45, "bau": 0.45, "holdout": 0.1})
    assignments = pd.DataFrame(
        {
            "customer_id": ids,
            "arm": arm,
            "planned_share": pd.Series(arm).map({"model": 0.45, "bau": 0.45, "holdout": 0.1}),
        }
    )
    assignments["score"] = rng.normal(size=n)
    sent = pd.Timestamp("2026-04-01 10:00", tz="UTC")
    rate = pd.Series(arm).map({"model": 0.08, "bau": 0.04, "holdout": 0.03}).to_numpy()
    converted = rng.random(n) < rate
    contacts = pd.DataFrame(
        {
            "contact_id": ids,
            "customer_id": ids,
            "channel": np.where(arm == "holdout", "none", "email"),
            "sent_at": sent,
            "converted_at": pd.Series(np.where(converted, sent + pd.Timedelta(days=2), pd.NaT)),
            "cost": np.where(arm == "holdout", 0.0, 0.005),
        }
    )
    assignments.to_parquet(tmp_path / "assignments.parquet")
    contacts.to_parquet(tmp_path / "contacts.parquet")
    report = tmp_path / "reports" / "experiment.html"
    inputs = [
        "--assignments",
        str(tmp_path / "assignments.parquet"),
        "--contacts",
        str(tmp_path / "contacts.parquet"),
    ]
    result = runner.invoke(app, ["experiment", "analyze", *inputs, "--control", "bau", "--out", str(report)])
    assert result.exit_code == 0, result.output
    assert f"report: {report}" in result.output
    assert "The model arm converted" in result.output and "Winner: model" in result.output
    assert report.is_file() and "Qini curve" in report.read_text(encoding="utf-8")

    wrong_control = runner.invoke(
        app,
        ["experiment", "analyze", *inputs, "--control", "champion", "--out", str(report)],
    )
    assert wrong_control.exit_code == 1 and "error: control arm 'champion' not found" in wrong_control.output


def test_simulate_and_ope_are_listed_and_refuse_bad_options_early(app: typer.Typer, tmp_path: Path) -> None:
    listing = runner.invoke(app, ["experiment", "--help"])
    assert "simulate" in listing.output and "ope" in listing.output
    contacts = tmp_path / "contacts.parquet"
    pd.DataFrame({"customer_id": ["a"], "channel": ["email"]}).to_parquet(contacts)
    for extra, message in (
        (["--estimator", "magic"], "error: --estimator must be one of ips, snips, dr, dr_channel or all"),
        (["--hours", "8to22"], "error: --hours must look like 8-22"),
        ([], "error: contacts misses column(s) sent_at, converted_at"),
    ):
        result = runner.invoke(app, ["experiment", "ope", "--contacts", str(contacts), *extra])
        assert result.exit_code == 1 and message in result.output, result.output
    missing = runner.invoke(app, ["experiment", "ope", "--contacts", str(tmp_path / "nothing.parquet")])
    assert missing.exit_code == 1 and "error: contacts file not found" in missing.output
    arms = runner.invoke(app, ["experiment", "simulate", "--arms", "model=0.5,magic=0.5"])
    assert arms.exit_code == 1 and "error: arms: unknown policy magic" in arms.output


def test_analyze_an_arm_without_conversions_reports_not_crashes(app: typer.Typer, tmp_path: Path) -> None:
    n = 1000
    table = pd.DataFrame(
        {
            "customer_id": np.arange(2 * n),
            "arm": ["bogo"] * n + ["bau"] * n,
            "converted": np.r_[np.zeros(n, dtype=int), (np.arange(n) % 10 == 0).astype(int)],
        }
    )
    table.to_csv(tmp_path / "table.csv", index=False)
    out = tmp_path / "zero.html"
    args = ["experiment", "analyze", "--assignments", str(tmp_path / "table.csv"), "--outcome", "converted"]
    result = runner.invoke(app, [*args, "--control", "bau", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "Traceback" not in result.output
