"""`experiment analyze` on exports of tests this project did not run: outcome kinds, loud cases,
the JSON summary, the design check and the quarantine. Expectations are worked out by hand on
tiny tables (or, for Welch, by scipy's independent implementation)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from experiments import cli as experiments_cli
from experiments.design import load_design, sample_size, save_design
from experiments.export_analysis import analyze_export, parse_costs, write_outputs
from experiments.export_tables import load_export
from experiments.outcome_values import read_outcome


def _table(arms: dict[str, list[int]]) -> pd.DataFrame:
    """customer_id, arm, visit from {arm: [outcome per customer]}."""
    rows = [(arm, v) for arm, values in arms.items() for v in values]
    return pd.DataFrame({"customer_id": range(1, len(rows) + 1), "arm": [a for a, _ in rows],
                         "visit": [v for _, v in rows]})  # fmt: skip


def test_a_zero_one_flag_is_a_flag_not_a_timestamp() -> None:
    # 2 of 4 control and 3 of 4 treated: a timestamp-or-null reading would give 100% vs 100%
    table = _table({"c": [0, 1, 0, 1], "t": [1, 1, 0, 1]}).rename(columns={"visit": "converted_at"})
    result = analyze_export(table, "c", "converted_at").analysis
    assert result.outcome.source == "flag"
    assert result.arms.loc["c", "rate"] == 0.5 and result.arms.loc["t", "rate"] == 0.75
    assert result.comparisons.loc["t", "uplift_abs"] == pytest.approx(0.25)


def test_true_false_words_and_timestamps_before_the_decision() -> None:
    words = read_outcome(pd.Series(["TRUE", "false", " yes", "No"], name="visit"))
    assert words.values.tolist() == [1.0, 0.0, 1.0, 0.0] and words.outcome.kind == "binary"
    stamps = pd.Series(["2026-03-02", None, "2026-02-27", "2026-03-05"], name="bought_at")
    decided = pd.Series(pd.to_datetime(["2026-03-01"] * 4, utc=True))
    read = read_outcome(stamps, decided)
    assert read.values.tolist() == [1.0, 0.0, 0.0, 1.0]  # the February purchase predates the test
    assert "1 bought_at timestamps are before" in read.warnings[0]
    with pytest.raises(
        ValueError, match="'x' is neither a 0/1 flag, a number nor a timestamp: 'abc' in row 2"
    ):
        read_outcome(pd.Series(["1", "abc"], name="x"))


def test_spend_is_a_difference_in_means_with_welch() -> None:
    from scipy.stats import ttest_ind

    control, treated = [0.0, 0.0, 10.0, 0.0, 5.0, 0.0], [0.0, 30.0, 0.0, 12.0, 0.0, 0.0, 8.0]
    table = pd.DataFrame({"customer_id": range(13), "arm": ["c"] * 6 + ["t"] * 7, "spend": control + treated})
    result = analyze_export(table, "c", "spend").analysis
    row = result.comparisons.loc["t"]
    assert result.outcome.kind == "numeric"
    assert row["uplift_abs"] == pytest.approx(50 / 7 - 15 / 6)
    welch = ttest_ind(treated, control, equal_var=False)
    ci = welch.confidence_interval(0.95)
    assert (row["abs_lo"], row["abs_hi"]) == pytest.approx((ci.low, ci.high))
    assert row["p_value"] == pytest.approx(welch.pvalue)
    assert row["uplift_rel"] == pytest.approx((50 / 7) / (15 / 6) - 1)


def test_an_export_without_control_outcomes_is_not_estimable_and_says_so(tmp_path: Path) -> None:
    assigned = pd.DataFrame({"customer_id": range(1, 9), "arm": ["c"] * 4 + ["t"] * 4})
    outcomes = pd.DataFrame({"customer_id": [5, 6, 7, 8], "visit": [1, 0, 1, 1]})  # only the sent arm
    result = analyze_export(assigned, "c", "visit", outcomes=outcomes)
    cmp = result.analysis.comparisons.loc["t"]
    assert math.isnan(cmp["uplift_abs"]) and math.isnan(cmp["uplift_rel"]) and not cmp["significant"]
    warnings = " | ".join(result.analysis.warnings)
    assert "arm 'c': none of its 4 customers has an outcome row" in warnings
    assert "no comparison is estimable" in warnings
    assert result.analysis.headline["verdict"] == "not estimable"
    assert math.isnan(result.analysis.arms.loc["c", "rate"])  # not measured, so no 0% either
    segmented = analyze_export(assigned.assign(region=["n", "s"] * 4), "c", "visit", outcomes=outcomes,
                               segment="region").analysis  # fmt: skip
    assert segmented.by_segment["uplift_abs"].isna().all()  # no segment is compared with a 0 by construction
    paths = write_outputs(result, tmp_path / "report.html", "t")
    html = paths["report"].read_text()
    assert "inf" not in html.replace("info", "") and "not estimable" in html
    assert html.index("Read these first") < html.index('class="headline')
    summary = json.loads(paths["summary"].read_text())
    assert summary["comparisons"][0]["uplift"] is None and summary["comparisons"][0]["estimable"] is False
    assert summary["arms"][0]["arm"] == "c" and summary["arms"][0]["rate"] is None
    assert summary["warnings"] == result.analysis.warnings


def test_a_zero_control_rate_blanks_only_the_relative_uplift() -> None:
    result = analyze_export(_table({"c": [0] * 20, "t": [1, 0] * 10}), "c", "visit").analysis
    cmp = result.comparisons.loc["t"]
    assert cmp["uplift_abs"] == pytest.approx(0.5) and math.isnan(cmp["uplift_rel"]) and cmp["significant"]
    assert any("rate of 0: relative uplift is not estimable" in w for w in result.warnings)
    assert "Winner: t (relative uplift not estimable)." in result.headline["text"]
    assert "inf" not in result.headline["text"]


def test_a_constant_outcome_is_an_error() -> None:
    with pytest.raises(ValueError, match="outcome 'visit' is 0 for all 6 customers"):
        analyze_export(_table({"c": [0, 0, 0], "t": [0, 0, 0]}), "c", "visit")


def test_a_segment_without_control_is_not_tested() -> None:
    table = _table({"c": [0, 1, 0, 1], "t": [1, 1, 0, 1, 1, 0]})
    table["region"] = ["n", "n", "n", "n", "n", "n", "s", "s", "s", "s"]
    result = analyze_export(table, "c", "visit", segment="region").analysis
    seg = result.by_segment.set_index("segment")
    assert seg.loc["n", "uplift_abs"] == pytest.approx(1.0 - 0.5)  # t in n: 2 of 2, c: 2 of 4
    assert math.isnan(seg.loc["s", "uplift_abs"]) and math.isnan(seg.loc["s", "p_value"])
    assert any("segment(s) s have no 'c' (control) customers" in w for w in result.warnings)


def test_every_winner_is_named_and_costs_are_per_customer_of_the_arm() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    arms = np.repeat(["c", "a", "b"], n)
    rate = np.select([arms == "a", arms == "b"], [0.20, 0.16], 0.10)
    table = pd.DataFrame({"customer_id": range(3 * n), "arm": arms, "visit": (rng.random(3 * n) < rate) * 1})
    result = analyze_export(table, "c", "visit", costs=parse_costs(["a=0.5", "b = 0.25"])).analysis
    assert result.headline["winners"] == ["a", "b"]
    assert "Winners (each significantly better than c): a (" in result.headline["text"]
    assert result.arms.loc["a", "cost"] == pytest.approx(0.5 * n) and result.arms.loc["c", "cost"] == 0
    with pytest.raises(ValueError, match="--cost names arm"):
        analyze_export(table, "c", "visit", costs={"z": 1.0})
    with pytest.raises(ValueError, match="ARM=VALUE"):
        parse_costs(["a:1"])


def test_no_cost_data_reads_no_cost_data(tmp_path: Path) -> None:
    result = analyze_export(_table({"c": [0, 1, 0, 0], "t": [1, 1, 0, 1]}), "c", "visit")
    html = write_outputs(result, tmp_path / "r.html", "t")["report"].read_text()
    assert "no cost data" in html and ">0.00<" not in html


def test_the_design_checks_the_reached_sample(tmp_path: Path) -> None:
    design = sample_size(0.1, 0.05, {"c": 0.5, "t": 0.5}, "c")
    path = save_design(design, tmp_path / "design.yaml")
    assert load_design(path) == design
    result = analyze_export(_table({"c": [0, 1, 0, 0], "t": [1, 1, 0, 1]}), "c", "visit", design=design)
    short = [w for w in result.analysis.warnings if "the design planned" in w]
    assert len(short) == 2 and f"reached 4 of the {design.n_per_arm['t']:,} customers" in short[1]
    path.write_text(path.read_text().replace(f"t: {design.n_per_arm['t']}", "t: 5"))
    with pytest.raises(ValueError, match="does not follow from the design"):
        load_design(path)


def test_a_planned_arm_with_no_customers_is_flagged() -> None:
    design = sample_size(0.1, 0.05, {"c": 0.4, "t": 0.4, "u": 0.2}, "c")
    result = analyze_export(_table({"c": [0, 1, 0, 0], "t": [1, 1, 0, 1]}), "c", "visit", design=design)
    assert result.analysis.arms.loc["u", "n"] == 0
    assert math.isnan(result.analysis.comparisons.loc["u", "uplift_abs"])
    assert any("arm 'u' has no customers" in w for w in result.analysis.warnings)


def test_bad_rows_are_quarantined_and_counts_reconcile(tmp_path: Path) -> None:
    assigned = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5, 5, 6, None, 7, 7],
                             "arm": ["c", "t", "t", "c", "t", "t", "c", "t", "c", None]})  # fmt: skip
    outcomes = pd.DataFrame({"customer_id": [1, 2, 3, 3, 4, 5, 6, 9], "visit": [1, 0, 1, 1, 0, 1, 0, 1]})
    export = load_export(assigned, "visit", outcomes)
    reasons = export.quarantine.groupby(["table", "reason"]).size().to_dict()
    assert reasons == {
        ("assignments", "no customer_id"): 1,
        ("assignments", "no arm"): 1,
        ("assignments", "repeated row (same customer, same arm)"): 1,
        ("assignments", "several outcome rows: outcome ambiguous"): 1,
        ("outcomes", "several outcome rows for one customer"): 2,
        ("outcomes", "customer not in the assignments"): 1,
    }
    assert sorted(export.frame["customer_id"]) == [1, 2, 4, 5, 6, 7]
    assert export.read == {"assignments": 10, "outcomes": 8}
    assert export.used == {"assignments": 6, "outcomes": 5}
    assert "assignments: 10 rows read = 6 used + 4 quarantined" in export.reconcile()
    result = analyze_export(assigned, "c", "visit", outcomes=outcomes)
    paths = write_outputs(result, tmp_path / "r.html", "t")
    assert len(pd.read_csv(paths["quarantine"])) == 4 + 3
    assert json.loads(paths["summary"].read_text())["rows"]["quarantined"] == 7


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    experiments_cli.register(app)
    return app


def test_the_command_prints_warnings_and_writes_the_json(app: typer.Typer, tmp_path: Path) -> None:
    table = _table({"No E-Mail": [0, 0, 0, 0], "Mens E-Mail": [1, 0, 1, 0]}).rename(
        columns={"arm": "segment"}
    )
    table.to_csv(tmp_path / "hill.csv", index=False)
    source, out = str(tmp_path / "hill.csv"), str(tmp_path / "out" / "r.html")
    args = ["experiment", "analyze", "--assignments", source, "--arm-column", "segment",
            "--outcome", "visit", "--control", "No E-Mail", "--out", out]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning: the control arm 'No E-Mail' has a visit rate of 0" in result.output
    assert "+50.0 points" in result.output and (tmp_path / "out" / "r.json").exists()
    missing = CliRunner().invoke(app, [*args[:-2], "--out", str(tmp_path / "r2.html"), "--outcome", "spend"])
    assert missing.exit_code == 1
    assert (
        missing.output.strip()
        .splitlines()[-1]
        .startswith("error: the assignments table has no column 'spend'")
    )


def test_a_contacts_export_without_control_rows_is_not_estimable() -> None:
    sent = pd.Timestamp("2026-03-01", tz="UTC")
    assigned = pd.DataFrame({"customer_id": range(1, 9), "arm": ["control"] * 4 + ["email"] * 4})
    contacts = pd.DataFrame({"customer_id": [5, 6, 7, 8], "channel": "email", "sent_at": sent,
                             "converted_at": [sent, None, None, sent + pd.Timedelta(hours=2)]})  # fmt: skip
    result = analyze_export(assigned, "control", contacts=contacts).analysis
    assert result.arms.loc["email", "rate"] == 0.5 and math.isnan(result.arms.loc["control", "rate"])
    assert math.isnan(result.comparisons.loc["email", "uplift_abs"])
    assert any("arm 'control': none of its 4 customers has an outcome row" in w for w in result.warnings)
    assert np.isnan(result.arms["cost"]).all()  # the contacts carry no cost column: no cost data, not 0


def test_an_unreadable_file_is_one_line_naming_it(app: typer.Typer, tmp_path: Path) -> None:
    junk = tmp_path / "export.parquet"
    junk.write_bytes(b"not a parquet file at all")
    args = ["experiment", "analyze", "--assignments", str(junk), "--outcome", "visit", "--control", "c"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: assignments file {junk} cannot be read")


def test_the_contacts_feed_can_be_analysed_on_another_outcome() -> None:
    sent = pd.Timestamp("2026-03-01", tz="UTC")
    assigned = pd.DataFrame({"customer_id": range(1, 7), "arm": ["c"] * 3 + ["t"] * 3})
    hours = [None, None, -1, 2, None, 5]  # the -1: a response before the send does not count
    contacts = pd.DataFrame({
        "customer_id": range(1, 7), "channel": ["none"] * 3 + ["email"] * 3, "sent_at": sent,
        "converted_at": None,
        "responded_at": [None if h is None else sent + pd.Timedelta(hours=h) for h in hours],
    })  # fmt: skip
    result = analyze_export(assigned, "c", "responded_at", contacts=contacts).analysis
    assert result.outcome.name == "responded_at" and result.outcome.kind == "binary"
    assert result.arms.loc["c", "rate"] == 0 and result.arms.loc["t", "rate"] == pytest.approx(2 / 3)
    assert any("1 responded_at timestamps are before" in w for w in result.warnings)
