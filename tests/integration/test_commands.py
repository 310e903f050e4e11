"""Every command the README names that no other test drives: `features apply|materialize`,
`train`, `score` and `serve` — run through the real `optichannel` command on the session store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.store import snapshot_span
from optichannel.settings import get_settings
from pipeline.cli import build_app
from serving.local_server import free_port, service_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()


@pytest.fixture
def env(champion: dict, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict]:
    settings = champion["settings"]
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("OPTICHANNEL_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield {"settings": settings, "tmp": tmp_path}
    get_settings.cache_clear()


def test_features_apply_and_materialize_commands(env: dict) -> None:
    applied = runner.invoke(build_app(), ["features", "apply"])
    assert applied.exit_code == 0, applied.output
    assert "applied 11 Feast objects (local profile)" in applied.output
    loaded = runner.invoke(build_app(), ["features", "materialize"])
    assert loaded.exit_code == 0, loaded.output
    from features.feast_sqlite.read import OnlineReader
    from features.store import open_store

    ids = pd.read_parquet(env["settings"].validated_dir / "customers.parquet")["customer_id"].head(5).tolist()
    frame, as_of = OnlineReader(open_store(env["settings"])).read(ids)
    assert as_of.notna().all() and frame["prf_tz"].notna().all()


def test_score_command_writes_a_decision_per_customer(env: dict) -> None:
    ids = pd.read_parquet(env["settings"].validated_dir / "customers.parquet")["customer_id"].head(120)
    listing = env["tmp"] / "campaign.csv"
    pd.DataFrame({"customer_id": [*ids, "never-seen"]}).to_csv(listing, index=False)
    out = env["tmp"] / "decisions.parquet"
    args = ["score", "--customers", str(listing), "--out", str(out), "--at", "2026-04-30T09:00", "--quiet"]
    result = runner.invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    decisions = pd.read_parquet(out)
    assert decisions["customer_id"].tolist() == [*ids, "never-seen"]
    assert decisions["fallback"].sum() == 1 and "cold start 1" in result.output
    contacted = decisions[decisions["channel"] != "none"]
    assert len(contacted) > 50 and (contacted["send_at"] >= pd.Timestamp("2026-04-30T09:00Z")).all()
    assert "time-to-live" not in result.output
    later = runner.invoke(build_app(), [*args[:-3], "--at", "2026-12-30T09:00", "--quiet"])
    assert later.exit_code == 0 and "older than their 2-day time-to-live" in later.output
    bad = env["tmp"] / "bad.csv"
    pd.DataFrame({"id": ["x"]}).to_csv(bad, index=False)
    refused = runner.invoke(build_app(), ["score", "--customers", str(bad), "--out", str(out)])
    assert refused.exit_code == 1 and "no `customer_id` column" in refused.output


def test_score_with_a_plan_keeps_every_limit_and_an_empty_plan_changes_nothing(env: dict) -> None:
    ids = pd.read_parquet(env["settings"].validated_dir / "customers.parquet")["customer_id"].head(300)
    listing = env["tmp"] / "campaign.csv"
    pd.DataFrame({"customer_id": ids}).to_csv(listing, index=False)
    base = ["score", "--customers", str(listing), "--at", "2026-04-30T05:00", "--quiet"]
    plain = runner.invoke(build_app(), [*base, "--out", str(env["tmp"] / "plain.parquet")])
    assert plain.exit_code == 0, plain.output
    (env["tmp"] / "empty.yaml").write_text("{}\n")
    same = runner.invoke(build_app(), [*base, "--out", str(env["tmp"] / "same.parquet"),
                                       "--plan", str(env["tmp"] / "empty.yaml")])  # fmt: skip
    assert same.exit_code == 0, same.output
    a, b = pd.read_parquet(env["tmp"] / "plain.parquet"), pd.read_parquet(env["tmp"] / "same.parquet")
    assert a["channel"].tolist() == b["channel"].tolist() and a["send_at"].equals(b["send_at"])
    assert np.allclose(a["expected_value"], b["expected_value"]) and np.allclose(a["cost"], b["cost"])
    assert "no limit of the plan binds" in same.output
    calls_free = int((a["channel"] == "call").sum())

    plan = env["tmp"] / "tight.yaml"
    plan.write_text(
        "budget: 6\neconomics: {cost: {call: 0.5}}\ncapacity:\n"
        "  call: {per_hour: 2, timezone: Europe/Moscow, hours: [9, 18], weekdays: [0, 1, 2, 3, 4]}\n"
        "  sms: {per_day: 5}\nquiet_hours: {push: [10, 20]}\n"
    )
    out = env["tmp"] / "planned.parquet"
    result = runner.invoke(build_app(), [*base, "--out", str(out), "--plan", str(plan)])
    assert result.exit_code == 0, result.output
    d = pd.read_parquet(out)
    assert len(d) == 300 and {"cost", "expected_value", "shadow_price"} <= set(d.columns)
    calls = d[d["channel"] == "call"]
    moscow = calls["send_at"].dt.tz_convert("Europe/Moscow")
    assert calls_free > len(calls) > 0 and calls.groupby("send_at").size().max() <= 2
    assert moscow.dt.hour.between(9, 17).all() and (moscow.dt.weekday < 5).all()
    sms = d[d["channel"] == "sms"]
    assert sms.groupby(sms["send_at"].dt.floor("D")).size().max() <= 5
    assert d["cost"].sum() <= 6 + 1e-9 and abs(d.loc[d["channel"] == "call", "cost"] - 0.5).max() < 1e-12
    assert d.loc[d["channel"] == "push", "local_hour"].between(10, 19).all()
    assert "plan tight:" in result.output and "budget" in result.output
    page = (env["tmp"] / "planned.plan.html").read_text()
    assert "<td>budget</td><td>6.00</td>" in page and "call 2026-" in page
    (env["tmp"] / "bad.yaml").write_text("capacity:\n  call: {per_hour: many}\n")
    refused = runner.invoke(build_app(), [*base, "--out", str(out), "--plan", str(env["tmp"] / "bad.yaml")])
    assert refused.exit_code == 1 and "capacity.call.per_hour" in refused.output


def test_train_command_registers_a_challenger(env: dict, small_world: Path, champion: dict) -> None:
    config = env["tmp"] / "train.yaml"
    config.write_text(champion["config"].model_copy(update={"trials": 1}).to_yaml())
    result = runner.invoke(
        build_app(), ["train", "--config", str(config), "--world", str(small_world), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "oracle" in result.output and "optichannel-nbc version" in result.output
    assert (env["tmp"] / "reports" / "evaluation.json").exists()
    bad = env["tmp"] / "bad.yaml"
    bad.write_text("trials: 0\n")
    refused = runner.invoke(build_app(), ["train", "--config", str(bad)])
    assert refused.exit_code == 1 and "trials" in refused.output


def test_serve_command_starts_the_service_or_says_what_is_missing(env: dict) -> None:
    empty = f"sqlite:///{env['tmp']}/empty.db"
    missing = subprocess.run(
        [str(Path(sys.executable).with_name("optichannel")), "serve"],
        env={**os.environ, "OPTICHANNEL_MLFLOW_TRACKING_URI": empty},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 1 and "optichannel train" in missing.stderr, missing.stderr
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("optichannel")), "serve", "--port", str(port), "--workers", "1"],
        env=service_env(env["settings"], 1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        ids = pd.read_parquet(env["settings"].validated_dir / "customers.parquet")["customer_id"].head(2)
        fresh = (pd.Timestamp(snapshot_span(env["settings"])[1]) + pd.Timedelta(hours=7)).strftime(
            "%Y-%m-%dT%H:%M"
        )
        asked = runner.invoke(
            build_app(), ["ask", *ids, "--url", f"http://127.0.0.1:{port}", "--hours", "24", "--at", fresh]
        )
        assert asked.exit_code == 0, asked.output
        # the table wraps its "why" column: read the cells' words in order, borders dropped
        words = " ".join(re.sub("[│┃]", " ", asked.output).split())
        assert ids.iloc[0] in words and "expected value" in words, asked.output
    finally:
        proc.terminate()
        proc.wait(30)
    gone = runner.invoke(build_app(), ["ask", "C1", "--url", f"http://127.0.0.1:{port}"])
    assert gone.exit_code == 1 and "optichannel serve" in gone.output


def test_demo_runs_on_your_own_feeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`demo --data DIR`: feeds without a simulator truth go through validation, features, Feast,
    training (judged on logged outcomes), the service and the campaign plan; the A/B step is
    skipped, said so."""
    own = tmp_path / "own"
    assert (
        runner.invoke(build_app(), ["simulate", "-n", "800", "-d", "70", "-o", str(own), "-q"]).exit_code == 0
    )
    import shutil

    shutil.rmtree(own / "truth")  # your own feeds have no oracle
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPTICHANNEL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.setenv("OPTICHANNEL_SHOW_PROGRESS", "false")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        result = runner.invoke(build_app(), ["demo", "--data", str(own), "--trials", "1"])
        judged = runner.invoke(build_app(), ["evaluate"])  # a bank's own feeds: no oracle to ask
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "no simulator truth: the logged-data estimates stand alone" in result.output
    assert "policies judged on the test weeks' logged decisions" in result.output
    assert "true value" not in result.output and "judged by the oracle" not in result.output
    assert "promoted to champion" in result.output and "7 decisions, service stopped" in result.output
    # the loop's return path: the CRM reports back, an unknown id is quarantined with its reason
    assert "the CRM reports back (POST /outcomes)" in result.output and "unknown decision_id" in result.output
    assert (
        "A/B test (step 8) is skipped" in result.output
        and not (tmp_path / "reports" / "ab_test.html").exists()
    )
    # the campaign step plans every customer under the shipped plan: the call centre's hours hold
    assert "plan campaign_plan:" in result.output and (tmp_path / "reports" / "campaign_plan.html").exists()
    planned = pd.read_parquet(tmp_path / "data" / "campaign" / "decisions.parquet")
    calls = planned[planned["channel"] == "call"]
    assert len(planned) > 700 and calls.groupby("send_at").size().max() <= 3
    assert planned["cost"].sum() <= 150 + 1e-9
    assert not (tmp_path / "data" / "world").exists()
    assert judged.exit_code == 0, judged.output
    assert "policies judged on the test weeks' logged decisions" in judged.output
    assert "no simulator truth: the logged-data estimates stand alone" in judged.output
    assert "judged by the oracle" not in judged.output
    report = json.loads((tmp_path / "reports" / "evaluation.json").read_text())
    assert "model_champion" in report["logged_value"] and "policies" not in report
