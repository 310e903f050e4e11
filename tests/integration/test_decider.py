"""The decision engine in process, on the session's real Feast store and registered champion:
every field of an answer, thousands of random requests against the constraints, exploration
propensities, cold start, the decision log and the offline batch scorer."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from decision.engine import Engine
from decision.rules import Rules
from features.feast_sqlite.read import OnlineReader
from features.store import open_store
from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS
from optichannel.economics import Economics
from optichannel.localtime import to_local
from serving.decider import Decider
from serving.decision_log import DecisionLog, read_log, record
from serving.runtime import StartupError, load_model, open_reader
from serving.schemas import PredictRequest, PredictResponse

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def engine(champion: dict) -> dict:
    settings = champion["settings"]
    model, version = load_model(settings)
    reader = OnlineReader(open_store(settings))
    customers = pd.read_parquet(settings.validated_dir / "customers.parquet")
    online, as_of = reader.read(customers["customer_id"].tolist())
    return {
        "model": model,
        "version": version,
        "reader": reader,
        "customers": customers,
        "online": online.set_index("customer_id"),
        "as_of": as_of.max(),
        "settings": settings,
    }


class _Dumped(Decider):
    """The decider with its answers as plain dicts (what the CRM receives, before JSON)."""

    def decide(self, requests, now=None):  # type: ignore[override]
        return [a.model_dump() for a in super().decide(requests, now)]


def _decider(engine: dict, uniform: float | None = None, **kw: object) -> Decider:
    """The decider on the engine's model; `uniform`: the share of explored draws made uniformly
    (the default rules' otherwise)."""
    read = engine["reader"].read_block
    model = engine["model"]
    rules = None if uniform is None else Rules(Economics.from_meta(model.meta), explore_uniform=uniform)
    return _Dumped(Engine(model, rules), read, "optichannel-nbc", engine["version"], **kw)


def _random_requests(engine: dict, n: int, seed: int) -> list[PredictRequest]:
    rng = np.random.default_rng(seed)
    ids = engine["customers"]["customer_id"].to_numpy()
    base = engine["as_of"]
    out = []
    for i in range(n):
        cid = str(rng.choice(ids)) if rng.random() > 0.05 else f"unknown-{i}"
        channels = (
            None if rng.random() < 0.5 else list(rng.choice(CHANNELS, rng.integers(1, 6), replace=False))
        )
        out.append(PredictRequest(
            customer_id=cid, channels=channels,
            window_start=base + timedelta(minutes=int(rng.integers(0, 5 * 24 * 60))),
            window_hours=int(rng.choice([1, 6, 24, 72, 168])),
            purpose="service" if rng.random() < 0.1 else "marketing",
            allow_no_contact=bool(rng.random() < 0.8),
            timezone="Europe/Berlin" if cid.startswith("unknown") else None,
        ))  # fmt: skip
    return out


def test_every_answer_respects_consent_quiet_hours_window_and_ranking(engine: dict) -> None:
    requests = _random_requests(engine, 2000, seed=5)
    answers = _decider(engine).decide(requests)
    assert len(answers) == len(requests)
    online = engine["online"]
    contacted = 0
    for req, ans in zip(requests, answers, strict=True):
        PredictResponse.model_validate(ans)  # every field, the documented types
        d = ans["decision"]
        assert ans["customer_id"] == req.customer_id
        assert ans["fallback"] == req.customer_id.startswith("unknown")
        assert ans["propensity"] == 1.0 and not ans["explored"]
        if d["channel"] == "none":
            if ans["ranking"]:  # none won: allowed only when asked for, and worth at least the best contact
                assert req.allow_no_contact and ans["ranking"][0]["expected_value"] <= d["expected_value"]
            continue
        contacted += 1
        assert d == ans["ranking"][0]  # the decision heads the ranking
        assert [o["expected_value"] for o in ans["ranking"]] == sorted(
            (o["expected_value"] for o in ans["ranking"]), reverse=True
        )
        if req.channels is not None:
            assert d["channel"] in req.channels
        if req.purpose == "marketing" and not ans["fallback"]:
            assert online.at[req.customer_id, f"prf_consent_{d['channel']}"] == 1
            assert (online.at[req.customer_id, "cnt_contacts_7d"] or 0) < 4
        start = pd.Timestamp(ans["window_start"])
        send = pd.Timestamp(d["send_at"])
        assert start <= send < start + pd.Timedelta(hours=req.window_hours)
        assert start >= pd.Timestamp(req.window_start).ceil("h") - pd.Timedelta(seconds=1)
        local = to_local(pd.Series([send]), [ans["timezone"]]).iloc[0]
        lo, hi = DEFAULT_ALLOWED_HOURS[d["channel"]]
        assert lo <= local.hour < hi
        assert pd.Timestamp(d["send_at_local"]).hour == local.hour
        excluded = {e["channel"] for e in ans["excluded"]}
        assert excluded.isdisjoint(o["channel"] for o in ans["ranking"])
        assert excluded | {o["channel"] for o in ans["ranking"]} == set(CHANNELS)
    assert contacted > 500  # the checks above ran on many real contacts


def test_exclusion_reasons_and_cold_start(engine: dict) -> None:
    online = engine["online"]
    no_sms = online.index[(online["prf_consent_sms"] == 0) & (online["prf_consent_email"] == 1)][0]
    start = engine["as_of"] + timedelta(hours=2)
    d = _decider(engine)
    ans = d.decide([PredictRequest(customer_id=no_sms, channels=["sms", "email"], window_start=start,
                                   window_hours=24, explain=True, curve=True)])[0]  # fmt: skip
    reasons = {e["channel"]: e["reason"] for e in ans["excluded"]}
    assert reasons["sms"] == "no consent" and reasons["push"] == "not requested"
    assert ans["drivers"] and all(np.isfinite(x["contribution"]) for x in ans["drivers"])
    assert len(ans["curve"]["email"]) == 24 and all(v is None for v in ans["curve"]["push"])
    assert ans["features_as_of"] is not None and not ans["fallback"]
    # service messages need no marketing consent: sms becomes possible
    svc_request = PredictRequest(
        customer_id=no_sms, channels=["sms"], window_start=start, window_hours=24, purpose="service",
        allow_no_contact=False,
    )  # fmt: skip
    svc = d.decide([svc_request])[0]
    assert svc["decision"]["channel"] == "sms"
    # a customer the store never saw: flagged, no consent known -> nothing allowed, never an error
    cold = d.decide([PredictRequest(customer_id="never-seen", window_start=start)])[0]
    assert cold["fallback"] and cold["features_as_of"] is None and cold["decision"]["channel"] == "none"
    assert {e["reason"] for e in cold["excluded"]} == {"no consent"}
    # ... unless the CRM passes the consents it knows: the population prior decides
    told = d.decide([PredictRequest(customer_id="never-seen", window_start=start, allow_no_contact=False,
                                    consent={"push": True}, timezone="Asia/Tokyo")])[0]  # fmt: skip
    assert told["fallback"] and told["decision"]["channel"] == "push" and told["timezone"] == "Asia/Tokyo"
    assert 8 <= pd.Timestamp(told["decision"]["send_at_local"]).hour < 22


def test_exploration_returns_the_true_propensity(engine: dict) -> None:
    eps = 0.4
    requests = _random_requests(engine, 1500, seed=9)
    greedy = _decider(engine).decide(requests)
    explored = _decider(engine, uniform=1.0, epsilon=eps, seed=1).decide(requests)
    picks, expected, variance = 0, 0.0, 0.0
    for g, e in zip(greedy, explored, strict=True):
        same_channel = e["decision"]["channel"] == g["decision"]["channel"]
        same = same_channel and e["decision"]["send_at"] == g["decision"]["send_at"]
        assert e["explored"] == (not same)
        assert 0 < e["propensity"] <= e["channel_propensity"] <= 1
        assert (e["channel_propensity"] >= 1 - eps) == same_channel
        # the propensity is eps / options (+ 1 - eps on the greedy choice): it says how many options
        # the row had, and so how likely an exploring draw was to leave the greedy choice
        options = eps / (e["propensity"] - (1 - eps) if same else e["propensity"])
        assert options == pytest.approx(round(options), abs=1e-6) and round(options) >= 1
        moved = eps * (1 - 1 / round(options))
        expected, variance = expected + moved, variance + moved * (1 - moved)
        picks += not same
    # over every allowed (channel, hour) plus none, the draws leave the greedy choice as often as
    # the returned propensities say
    assert abs(picks - expected) < 4 * variance**0.5, (picks, expected)
    assert picks > 0.25 * len(requests)


def test_value_weighted_exploration_keeps_exact_propensities_and_costs_less(engine: dict) -> None:
    """The default rules draw most explored options by value: a moved row's propensity is below
    eps, a kept row's at least 1 - eps, and the moved rows land on options the model values more
    than uniform draws do (exploring costs less)."""
    eps = 0.4
    requests = _random_requests(engine, 1500, seed=9)
    weighted = _decider(engine, epsilon=eps, seed=1).decide(requests)
    uniform = _decider(engine, uniform=1.0, epsilon=eps, seed=1).decide(requests)
    for e in weighted:
        assert 0 < e["propensity"] <= e["channel_propensity"] <= 1
        assert (e["propensity"] >= 1 - eps) != e["explored"]
        assert e["explored"] or e["channel_propensity"] >= 1 - eps

    def moved_value(answers: list[dict]) -> float:
        return float(np.mean([a["decision"]["expected_value"] for a in answers if a["explored"]]))

    assert moved_value(weighted) > moved_value(uniform) + 0.1


def test_decision_log_writes_every_answer_and_reports_failures(engine: dict, tmp_path: Path) -> None:
    answers = _decider(engine).decide(_random_requests(engine, 50, seed=2))
    log = DecisionLog(tmp_path / "log" / "decisions.sqlite").start()
    log.append(record(PredictResponse.model_validate(a), "marketing") for a in answers)
    log.close()
    logged = read_log(tmp_path / "log" / "decisions.sqlite")
    assert sorted(logged["decision_id"]) == sorted(a["decision_id"] for a in answers)
    assert log.failures == 0 and log.written == 50
    row = logged.set_index("decision_id").loc[answers[0]["decision_id"]]
    assert row["channel"] == answers[0]["decision"]["channel"] and row["propensity"] == 1.0
    # a log that cannot be written: counted and logged, the answers were already given
    blocked = tmp_path / "blocked.sqlite"
    broken = DecisionLog(blocked).start()
    blocked.unlink()
    blocked.mkdir()  # the database path is now a directory
    broken.append(record(PredictResponse.model_validate(a), "marketing") for a in answers[:3])
    broken.close(timeout=5)
    assert broken.failures >= 1 and broken.written == 0


def test_startup_fails_fast_with_what_to_run(engine: dict, tmp_path: Path) -> None:
    settings = engine["settings"]
    with pytest.raises(StartupError, match="optichannel train"):
        load_model(settings.model_copy(update={"mlflow_tracking_uri": f"sqlite:///{tmp_path}/empty.db"}))
    with pytest.raises(StartupError, match="features apply"):
        open_reader(settings.model_copy(update={"data_dir": tmp_path / "nothing"}), engine["model"])


def test_batch_scorer_matches_the_service(engine: dict, tmp_path: Path) -> None:
    """Training/serving skew check for campaigns: offline features at the window start and the
    online store's latest snapshot give the same decisions when the start follows that snapshot."""
    from serving.batch_scorer import score_campaign

    ids = pd.Series([*engine["customers"]["customer_id"].head(300), "never-seen"])
    start = engine["as_of"] + timedelta(hours=5)
    out = tmp_path / "campaign.parquet"
    summary = score_campaign(
        engine["settings"].features_dir, Engine(engine["model"]), ids, out, start, 48, False, chunk=128
    )
    scored = pd.read_parquet(out)
    assert summary.customers == len(scored) == len(ids) and summary.fallback == 1
    assert scored["customer_id"].tolist() == ids.tolist()
    online = _decider(engine).decide([PredictRequest(customer_id=c, window_start=start, window_hours=48)
                                       for c in ids])  # fmt: skip
    assert scored["channel"].tolist() == [a["decision"]["channel"] for a in online]
    np.testing.assert_allclose(
        scored["p_conversion"], [a["decision"]["p_conversion"] for a in online], rtol=1e-9
    )


def test_past_the_ttl_service_and_scorer_decide_alike_and_say_stale(engine: dict, tmp_path: Path) -> None:
    """Three days after the last snapshot (TTL: two days) both paths ignore the expired views and
    flag the rows; the decisions are the same ones, and not those taken on fresh features."""
    from serving.batch_scorer import score_campaign

    ids = pd.Series([*engine["customers"]["customer_id"].head(200), "never-seen"])
    start = engine["as_of"] + timedelta(days=3, hours=2)
    out = tmp_path / "stale.parquet"
    features = engine["settings"].features_dir
    summary = score_campaign(features, Engine(engine["model"]), ids, out, start, 48, False)
    scored = pd.read_parquet(out)
    online = _decider(engine).decide([PredictRequest(customer_id=c, window_start=start, window_hours=48)
                                       for c in ids])  # fmt: skip
    assert scored["channel"].tolist() == [a["decision"]["channel"] for a in online]
    np.testing.assert_allclose(
        scored["p_conversion"], [a["decision"]["p_conversion"] for a in online], rtol=1e-9
    )
    assert [a["stale"] for a in online] == scored["stale"].tolist() == [True] * 200 + [False]
    assert summary.stale == 200 and all(a["features_age_hours"] >= 48 for a in online[:200])
    fresh = _decider(engine).decide([PredictRequest(customer_id=c, window_start=engine["as_of"] + timedelta(
        hours=2), window_hours=48) for c in ids[:200]])  # fmt: skip
    assert not any(a["stale"] for a in fresh)
    assert [a["decision"]["channel"] for a in fresh] != [a["decision"]["channel"] for a in online[:200]]
