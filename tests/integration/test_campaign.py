"""A whole simulated A/B test on the small bank with the session's champion: assignment, every
arm's decisions under the constraints, outcomes drawn from the truth, the analysis against the true
uplift, the HTML report, the MLflow run, and the `experiment simulate` and `experiment ope` commands."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.campaign import CampaignResult, run_campaign
from experiments.tracking import log_campaign
from optichannel import registry
from optichannel.assignment import assign_arms
from optichannel.channels import DEFAULT_ALLOWED_HOURS
from optichannel.localtime import to_local
from optichannel.registry import alias_version
from optichannel.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ARMS = {"model": 0.4, "bau": 0.4, "random": 0.1, "holdout": 0.1}
EXPERIMENT = "it-campaign"


@pytest.fixture(scope="module")
def campaign(champion: dict, small_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from optichannel.pyfunc_model import load_bundle

    settings = champion["settings"]
    version = alias_version(registry.setup(settings), "champion")
    model = load_bundle(registry.model_uri("champion"))
    out = tmp_path_factory.mktemp("campaign") / "ab_test.html"
    result = run_campaign(
        settings, small_world, model, customers=None, arms=ARMS, seed=7, experiment=EXPERIMENT,
        out=out, progress=False,
    )  # fmt: skip
    run_id = log_campaign(settings, result, model_version=version, alias="champion", world_dir=small_world)
    return {"result": result, "run_id": run_id, "version": version, "settings": settings}


@pytest.fixture
def cli_env(champion: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings = champion["settings"]
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OPTICHANNEL_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_every_sampled_customer_is_assigned_by_the_stable_hash(campaign: dict, small_world: Path) -> None:
    result: CampaignResult = campaign["result"]
    out = result.outcomes
    customers = pd.read_parquet(small_world / "customers.parquet")
    known = pd.to_datetime(customers["signup_date"]) <= result.at.tz_localize(None)
    assert (
        set(out["customer_id"]) == set(customers.loc[known, "customer_id"]) and out["customer_id"].is_unique
    )
    assert (out["arm"].to_numpy() == assign_arms(out["customer_id"], EXPERIMENT, ARMS)).all()
    shares = out["arm"].value_counts(normalize=True)
    for arm, planned in ARMS.items():  # within 3.5 binomial standard deviations of the plan
        assert abs(shares[arm] - planned) < 3.5 * np.sqrt(planned * (1 - planned) / len(out)), arm
    assert not result.analysis.srm["mismatch"]


def test_choices_respect_consent_quiet_hours_and_the_window(campaign: dict, small_world: Path) -> None:
    result: CampaignResult = campaign["result"]
    out = result.outcomes
    customers = pd.read_parquet(small_world / "customers.parquet").set_index("customer_id")
    sent = out[out["channel"] != "none"]
    assert (sent["arm"] == "model").sum() > 300  # the model contacts most of its arm
    pairs = zip(sent["customer_id"], sent["channel"], strict=True)
    assert all(customers.at[c, f"consent_{ch}"] for c, ch in pairs)
    # the local hour recomputed from the customer's zone, independently of the candidate grid
    local = to_local(sent["send_at"], customers.loc[sent["customer_id"], "tz"].to_numpy()).dt.hour
    assert (local.to_numpy() == sent["local_hour"].to_numpy()).all()
    lo = sent["channel"].map(lambda ch: DEFAULT_ALLOWED_HOURS[ch][0])
    hi = sent["channel"].map(lambda ch: DEFAULT_ALLOWED_HOURS[ch][1])
    assert ((local >= lo) & (local < hi)).all()
    window = pd.Timedelta(hours=result.window_hours)
    assert ((sent["send_at"] >= result.at) & (sent["send_at"] < result.at + window)).all()
    holdout = out[out["arm"] == "holdout"]
    assert (holdout["channel"] == "none").all() and (holdout["cost"] == 0).all()
    assert (sent["cost"] > 0).all()


def test_the_interval_covers_the_true_uplift(campaign: dict) -> None:
    result: CampaignResult = campaign["result"]
    out, truth = result.outcomes, result.true_uplift
    # no contact for everybody is the holdout's truth; the model truly beats business as usual
    assert result.true_rates["holdout"] == pytest.approx(out["true_p_none"].mean())
    assert truth["model"] > 0.01
    row = result.analysis.comparisons.loc["model"]
    assert row["abs_lo"] <= truth["model"] <= row["abs_hi"]
    assert result.summary().loc["model", "covered"] is True
    assert result.analysis.headline["verdict"] == "win" and result.analysis.headline["winner"] == "model"
    # observed conversions stay close to the true probabilities they were drawn from
    drawn = out.groupby("arm")[["converted", "true_p_conversion"]].sum()
    assert (
        abs(drawn["converted"] - drawn["true_p_conversion"]) < 4 * np.sqrt(drawn["true_p_conversion"])
    ).all()


def test_report_shows_headline_truth_and_qini(campaign: dict) -> None:
    result: CampaignResult = campaign["result"]
    text = Path(result.report).read_text(encoding="utf-8")
    assert html.escape(result.analysis.headline["text"]) in text
    panel = text[text.index("Truth check") :]
    assert re.search(r"<td>model</td>.*?>yes</td>", panel, flags=re.S)
    assert "Qini curve" in text and result.qini is not None


def test_campaign_is_an_mlflow_run_with_the_report(campaign: dict) -> None:
    import mlflow

    result: CampaignResult = campaign["result"]
    registry.setup(campaign["settings"])
    run = mlflow.get_run(campaign["run_id"])
    assert run.info.run_name == f"ab-{EXPERIMENT}"
    assert run.data.params["model_version"] == campaign["version"]
    assert run.data.params["customers"] == str(len(result.outcomes))
    metrics = run.data.metrics
    assert metrics["true_uplift_model_vs_bau"] == pytest.approx(result.true_uplift["model"])
    assert metrics["uplift_model_vs_bau_lo"] <= metrics["true_uplift_model_vs_bau"]
    assert metrics["covered_model_vs_bau"] == 1.0
    names = {Path(a.path).name for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "campaign")}
    assert {"ab_test.html", "outcomes.parquet", "summary.csv"} <= names


def test_simulate_command(cli_env: Path, small_world: Path) -> None:
    from pipeline.cli import build_app

    runner = CliRunner()
    args = ["experiment", "simulate", "--world", str(small_world), "--customers", "600", "--quiet"]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    assert re.search(r"model\s.*\d+\.\d\d%.*\((\+|-)\d+\.\d\d to (\+|-)\d+\.\d\d\)", result.output)
    assert "covered" in result.output and "control" in result.output
    assert (cli_env / "reports" / "ab_test.html").is_file() and "MLflow run" in result.output
    missing = runner.invoke(build_app(), [*args, "--alias", "nobody"])
    assert missing.exit_code == 1 and "error: no model has the alias 'nobody'" in missing.output
    bad = runner.invoke(build_app(), [*args, "--arms", "model=0.5,oops=0.5"])
    assert bad.exit_code == 1 and "unknown policy oops" in bad.output


def test_ope_command(cli_env: Path, champion: dict) -> None:
    from pipeline.cli import build_app

    contacts_path = champion["settings"].validated_dir / "contacts.parquet"
    runner = CliRunner()
    args = ["experiment", "ope", "--contacts", str(contacts_path), "--days", "14", "--n-boot", "200"]
    result = runner.invoke(build_app(), [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    for method in ("IPS", "SNIPS", "DR", "DR-channel", "on-policy mean"):
        assert method in result.output
    # matching on the channel uses many more logged decisions than matching on channel and hour
    effective = {
        m: float(n.replace(",", ""))
        for m, n in re.findall(r"│ (DR|DR-channel)\s+│.*│\s*([\d,]+) │", result.output)
    }
    assert effective["DR-channel"] > 5 * effective["DR"], result.output
    # the logging policy's value is the plain mean of the rewards it earned on those decisions
    contacts = pd.read_parquet(contacts_path)
    end = max(contacts["sent_at"].max(), contacts["converted_at"].max(), contacts["responded_at"].max())
    week = pd.Timedelta(days=7)
    rows = contacts[(contacts["sent_at"] + week <= end) & (contacts["sent_at"] > end - pd.Timedelta(days=14))]
    reward = (rows["converted_at"].notna() & (rows["converted_at"] - rows["sent_at"] <= week)).mean()
    assert re.search(rf"on-policy mean\s*│\s*{reward:.2%}", result.output), result.output
    assert f"{len(rows):,} logged decisions" in result.output
    only = runner.invoke(build_app(), [*args, "--estimator", "snips", "--quiet"])
    assert only.exit_code == 0 and "SNIPS" in only.output
    assert not re.search(r"│ (IPS|DR)\s+│", only.output)
    blind = cli_env / "blind.parquet"
    contacts.drop(columns="propensity").to_parquet(blind)
    refused = runner.invoke(build_app(), ["experiment", "ope", "--contacts", str(blind)])
    assert refused.exit_code == 1 and "error: contacts has no propensity column" in refused.output


def test_under_a_plan_every_arm_keeps_its_share_of_the_limits_and_the_model_still_wins(
    campaign: dict, small_world: Path
) -> None:
    """Each arm gets the plan's limits times its share; the model (allocated jointly) still beats
    business as usual (cut at capacity) on the oracle's true rate under the same limits."""
    from optichannel.campaign_plan import CampaignPlan
    from optichannel.pyfunc_model import load_bundle

    plan = CampaignPlan.model_validate(
        {"budget": 40, "capacity": {"call": {"per_hour": 5, "timezone": "Europe/Moscow", "hours": [9, 18],
                                             "weekdays": [0, 1, 2, 3, 4]}, "sms": {"per_day": 25}}}
    )  # fmt: skip
    model = load_bundle(registry.model_uri("champion"))
    result = run_campaign(campaign["settings"], small_world, model, customers=None, arms=ARMS, seed=7,
                          experiment=EXPERIMENT, out=None, progress=False, plan=plan)  # fmt: skip
    out = result.outcomes
    for arm, share in ARMS.items():
        mine = out[out["arm"] == arm]
        calls = mine[mine["channel"] == "call"]
        moscow = calls["send_at"].dt.tz_convert("Europe/Moscow")
        assert max(calls.groupby("send_at").size(), default=0) <= int(5 * share), arm
        assert moscow.dt.hour.between(9, 17).all() and (moscow.dt.weekday < 5).all(), arm
        sms = mine[mine["channel"] == "sms"]
        assert max(sms.groupby(sms["send_at"].dt.floor("D")).size(), default=0) <= int(25 * share), arm
        assert mine["cost"].sum() <= 40 * share + 1e-9, arm
    assert (out.loc[out["arm"] == "holdout", "channel"] == "none").all()
    unlimited = campaign["result"].true_rates
    assert result.true_rates["model"] < unlimited["model"]  # the limits bind and cost the model
    assert result.true_rates["model"] > result.true_rates["bau"] + 0.005, result.true_rates
