"""What is judged is what is served: for the same model, features, time and request, every entry
point returns the same choice, send time, P(conversion) and propensity as the service.

The deployment's settings carry quiet hours that differ from the defaults (push only 10-17 local,
no SMS after 15:00), so an entry point that decided under its own rules would pick other hours.
Feature reads of the offline judges return the very same frame the service reads; the
simulator's truth is a stand-in that never restricts (the oracle only judges)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from support.tiny import customer_block, tiny_model

from decision.engine import Engine
from decision.rules import Rules
from features.candidates import window_us
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, NO_CONTACT, action_names
from optichannel.hour_slots import slot_grid
from optichannel.settings import Settings
from serving.decider import Decider
from serving.schemas import PredictRequest

HOURS = 14  # a campaign day: 08:00-22:00 local
START = pd.Timestamp("2026-03-02T05:00Z")  # 08:00 in Moscow, a Monday
QUIET = {"email": (0, 24), "sms": (9, 15), "push": (10, 17), "call": (9, 20), "messenger": (9, 22)}
N = 40


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("parity"), quiet_hours=QUIET, show_progress=False)


@pytest.fixture(scope="module")
def model() -> object:
    return tiny_model()


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    """Customers that differ in consents, caps and responsiveness (so choices differ)."""
    rng = np.random.default_rng(5)
    ids = [f"C{i:03d}" for i in range(N)]
    block = customer_block(ids)
    frame = block.frame()
    for ch in CHANNELS:
        frame[fc.consent(ch)] = (rng.random(N) < 0.6).astype(float)
    frame[fc.CONTACTS_7D] = rng.integers(0, 6, N).astype(float)
    frame["prf_tz"] = "Europe/Moscow"
    return frame


class Truth:
    """The simulator's oracle as the judges read it, restricting nothing."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.asarray(ids)
        self.lat = SimpleNamespace(affluent=np.zeros(len(ids), dtype=bool))

    def positions(self, ids: object) -> np.ndarray:
        return np.searchsorted(self.ids, np.asarray(ids))

    def grid(self, ids: object, start: object, hours: int) -> dict[str, np.ndarray]:
        n = len(np.atleast_1d(ids))
        shape = (n, len(CHANNELS), hours)
        p = np.full(shape, 0.05)
        slots = slot_grid(window_us(start, n), hours)
        return {"p_response": p, "p_conversion": p, "p_none": np.full(n, 0.02),
                "allowed": np.ones(shape, dtype=bool), "slots": slots}  # fmt: skip


def _answer(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["channel", "send_at", "p_conversion", "propensity"]].reset_index(drop=True)


def _from_grid(engine: Engine, grid: object, choice: object) -> pd.DataFrame:
    scored = engine.score(grid)
    rows = np.arange(len(choice.channel))
    return pd.DataFrame({
        "channel": action_names(choice.channel),
        "send_at": pd.Series(pd.to_datetime(grid.slots_us[rows, choice.slot], unit="us", utc=True)).where(
            choice.contacted),
        "p_conversion": choice.take(scored.p_conversion, scored.p_none),
        "propensity": 1.0,
    })  # fmt: skip


def _decider(model: object, settings: Settings, feats: pd.DataFrame, limits: object = None) -> Decider:
    """The runtime's decider over an online reader that returns the rows of `feats`."""
    from features.customer_block import CustomerBlock

    block = CustomerBlock.from_frame(feats, as_of=pd.Series(np.full(len(feats), 1)))

    def read(ids: list[str]) -> CustomerBlock:
        return block.take(np.searchsorted(block.ids.astype(str), ids))

    return Decider(Engine.of(model, settings), read, "tiny", "1", limits=limits)


def _service_path(model: object, settings: Settings, feats: pd.DataFrame) -> object:
    """The simulated deployment's service side, on that decider and a decision log of its own."""
    from pipeline.deployment.service import ServicePath
    from serving.runtime import Runtime, open_log

    path = ServicePath(settings)
    path.runtime = Runtime(_decider(model, settings, feats), open_log(settings), "1", settings)
    return path


def service(model: object, settings: Settings, feats: pd.DataFrame, **request: object) -> pd.DataFrame:
    """`/predict_batch` in process: the runtime's decider over a reader of `feats`."""
    decider = _decider(model, settings, feats, request.pop("limits", None))
    asks = [PredictRequest(customer_id=c, window_start=START.to_pydatetime(), window_hours=HOURS, **request)
            for c in feats["customer_id"]]  # fmt: skip
    answers = decider.decide(asks)
    return pd.DataFrame({
        "channel": [a.decision.channel for a in answers],
        "send_at": pd.to_datetime([a.decision.send_at for a in answers], utc=True),
        "p_conversion": [a.decision.p_conversion for a in answers],
        "propensity": [a.propensity for a in answers],
    })  # fmt: skip


def _score(model, settings, feats, monkeypatch) -> pd.DataFrame:
    from serving.batch_scorer import score_chunk

    return _answer(score_chunk(Engine.of(model, settings), feats, START, HOURS).assign(propensity=1.0))


def _deployment(model, settings, feats, monkeypatch) -> pd.DataFrame:
    """The simulated deployment's model arm: the service path with its decision log."""
    path = _service_path(model, settings, feats)
    try:
        got = path.decide(feats["customer_id"].tolist(), pd.Series([START] * len(feats)), HOURS)
    finally:
        path.close()
    contact = got.channel != NO_CONTACT
    scored = service(model, settings, feats)  # probabilities are not in `Answered`: the service's
    return pd.DataFrame({
        "channel": action_names(got.channel),
        "send_at": pd.Series(pd.to_datetime(got.send_us, unit="us", utc=True)).where(contact),
        "p_conversion": scored["p_conversion"],
        "propensity": got.propensity,
    })  # fmt: skip


def _gate(model, settings, feats, monkeypatch) -> pd.DataFrame:
    """The promotion gate: each logged decision's campaign day, the model's choice on it."""
    from training import policy_value
    from training.config import Evaluation
    from training.dataset import TrainingFrame

    monkeypatch.setattr(policy_value, "historical_features", lambda store, entity: feats)
    rows = pd.DataFrame({"customer_id": feats["customer_id"], "sent_at": START + pd.Timedelta(hours=3),
                         "split": "test", "converted": 0.0, "responded": 0.0, "channel": "email",
                         "propensity": 0.1, "channel_propensity": 0.5, "arm": "explore"})  # fmt: skip
    tf = TrainingFrame(rows, [], START, "x")
    rules = Rules.of(settings, model.meta)
    ctx = policy_value.prepare(None, tf, Evaluation(campaign_hours=(8, 8 + HOURS)), rules)
    choice = policy_value.choices(ctx, {"model": model})["model"]
    return _from_grid(Engine(model, rules), ctx.grid, choice)


def _oracle_evaluation(model, settings, feats, monkeypatch) -> pd.DataFrame:
    from training import evaluation
    from training.config import Evaluation

    truth = Truth(feats["customer_id"].to_numpy())
    monkeypatch.setattr(evaluation, "historical_features", lambda store, entity: feats)
    monkeypatch.setattr(evaluation.Oracle, "load", staticmethod(lambda world: truth))
    points = pd.DataFrame({"customer_id": feats["customer_id"], "event_timestamp": START})
    rules = Rules.of(settings, model.meta)
    ctx = evaluation.prepare(None, Path("world"), points, Evaluation(window_hours=HOURS), rules)
    picks, _ = evaluation.choices(ctx, model)
    return _from_grid(Engine(model, rules), ctx.grid, picks["model"]["value"])


def _patterns(model, settings, feats, monkeypatch) -> pd.DataFrame:
    from training import patterns

    monkeypatch.setattr(patterns, "historical_features", lambda store, entity: feats)
    engine = Engine.of(model, settings)
    ids = feats["customer_id"].to_numpy()
    mine, _, _ = patterns.decide(None, Truth(ids), engine, ids, pd.Series([START] * len(ids)), HOURS)
    return _from_grid(engine, engine.grid(feats, START, HOURS), mine)


def _simulated_ab(model, settings, feats, monkeypatch) -> pd.DataFrame:
    from experiments.campaign import _decide_chunk

    ids = feats["customer_id"].to_numpy()
    engine = Engine.of(model, settings)
    frame, _, _ = _decide_chunk(ids, feats, np.full(len(ids), "model", dtype=object), START, HOURS,
                                Truth(ids), engine, np.random.default_rng(0))  # fmt: skip
    probs = service(model, settings, feats)["p_conversion"]  # the arm's frame holds the truth's
    return pd.DataFrame({"channel": frame["channel"], "send_at": frame["send_at"], "p_conversion": probs,
                         "propensity": 1.0})  # fmt: skip


def _off_policy(model, settings, feats, monkeypatch) -> pd.DataFrame:
    from experiments.offpolicy import _target_chunk

    part = pd.DataFrame({"customer_id": feats["customer_id"], "sent_at": START + pd.Timedelta(hours=3),
                         "channel": "email"})  # fmt: skip
    out = _target_chunk(part, feats, Engine.of(model, settings), (8, 8 + HOURS))
    send = service(model, settings, feats)["send_at"]  # OPE matches slots, it does not report them
    return pd.DataFrame({"channel": out["target_channel"], "send_at": send, "p_conversion": out["q_target"],
                         "propensity": 1.0})  # fmt: skip


ENTRY_POINTS = {
    "score": _score,
    "simulate-deployment": _deployment,
    "promotion gate": _gate,
    "oracle evaluation": _oracle_evaluation,
    "seed patterns": _patterns,
    "experiment simulate": _simulated_ab,
    "off-policy evaluation": _off_policy,
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_every_entry_point_decides_as_the_service(
    entry: str, model: object, settings: Settings, feats: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = service(model, settings, feats)
    judged = ENTRY_POINTS[entry](model, settings, feats, monkeypatch)
    assert served["channel"].nunique() >= 3  # the customers differ: the comparison has teeth
    assert judged["channel"].tolist() == served["channel"].tolist()
    assert judged["send_at"].equals(served["send_at"]) or (
        judged["send_at"].isna().equals(served["send_at"].isna())
        and (judged["send_at"].dropna() == served["send_at"].dropna()).all()
    )
    np.testing.assert_allclose(judged["p_conversion"], served["p_conversion"], rtol=1e-12)
    np.testing.assert_allclose(judged["propensity"], served["propensity"])
    local = served["send_at"].dropna().dt.tz_convert("Europe/Moscow").dt.hour
    pushes = served.loc[served["channel"] == "push", "send_at"].dt.tz_convert("Europe/Moscow").dt.hour
    assert local.between(8, 21).all() and pushes.between(10, 16).all()  # the settings' quiet hours


def test_a_plan_with_capacity_allocates_what_the_service_books(
    model: object, settings: Settings, feats: pd.DataFrame, tmp_path: Path
) -> None:
    """`score --plan` (joint allocation) and the service under the same campaign: with room for
    everyone, the allocation is each customer's own best option inside the office hours."""
    from optichannel.campaign_plan import CampaignPlan
    from serving.campaign_limits import CampaignLimits
    from serving.capacity_counter import SQLiteCounter
    from serving.plan_allocation import plan_campaign

    plan = CampaignPlan.model_validate({"name": "spring", "capacity": {
        "push": {"per_hour": 1000, "timezone": "Europe/Moscow", "hours": [12, 16]},
        "call": {"per_day": 1000, "timezone": "Europe/Moscow", "hours": [9, 12]}}})  # fmt: skip
    engine = Engine.of(model, settings)
    planned = plan_campaign(engine, iter([feats]), START, HOURS, plan).decisions
    limits = CampaignLimits({"spring": plan}, SQLiteCounter(tmp_path / "counter.sqlite"), engine.econ)
    served = service(model, settings, feats, campaign="spring", limits=limits)
    assert planned["channel"].tolist() == served["channel"].tolist()
    assert (planned["send_at"].dropna().to_numpy() == served["send_at"].dropna().to_numpy()).all()
    np.testing.assert_allclose(planned["p_conversion"], served["p_conversion"], rtol=1e-6)
    pushes = served.loc[served["channel"] == "push", "send_at"].dt.tz_convert("Europe/Moscow").dt.hour
    assert len(pushes) and pushes.between(12, 15).all()  # the plan's office hours, inside the quiet hours


def test_requested_channels_narrow_the_options_and_never_change_a_probability(
    settings: Settings, feats: pd.DataFrame
) -> None:
    """A request that lists channels, or is a service message, changes what may be chosen, never
    what an option is worth: each option's P(conversion) is the same with and without it (the
    model reads the e-mail consent, which a request without e-mail must not switch off)."""
    model = tiny_model(reads_consent=True)
    decider = _decider(model, settings, feats)

    def options(**request: object) -> list[dict[str, float]]:
        at = START.to_pydatetime()
        asks = [PredictRequest(customer_id=c, window_start=at, window_hours=HOURS, **request)
                for c in feats["customer_id"]]  # fmt: skip
        return [{o.channel: o.p_conversion for o in a.ranking} | {"none": a.no_contact.p_conversion}
                for a in decider.decide(asks)]  # fmt: skip

    every, two, service_msg = options(), options(channels=["push", "sms"]), options(purpose="service")
    for whole, narrow, served in zip(every, two, service_msg, strict=True):
        assert set(narrow) <= {"push", "sms", "none"}
        for channel, p in narrow.items():
            assert p == pytest.approx(whole[channel], rel=1e-12)
        for channel, p in whole.items():  # the service message may use more channels, at the same worth
            assert served[channel] == pytest.approx(p, rel=1e-12)
    assert sum(len(s) for s in service_msg) > sum(len(w) for w in every)  # no consent needed, no cap


def test_business_as_usual_is_the_same_policy_in_the_deployment_and_the_evaluation(
    model: object, settings: Settings, feats: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment's bank arm and the oracle evaluation's business-as-usual baseline apply the
    bank's rules on the engine's grid under the same settings: the same contacts at the same hours."""
    from training import evaluation
    from training.config import Evaluation

    ids = feats["customer_id"].to_numpy()
    truth = Truth(ids)
    truth.lat.affluent = np.arange(N) % 3 == 0
    monkeypatch.setattr(evaluation, "historical_features", lambda store, entity: feats)
    monkeypatch.setattr(evaluation.Oracle, "load", staticmethod(lambda world: truth))
    points = pd.DataFrame({"customer_id": ids, "event_timestamp": START})
    rules = Rules.of(settings, model.meta)
    ctx = evaluation.prepare(None, Path("world"), points, Evaluation(window_hours=HOURS), rules)
    judged = ctx.fixed["business_rules"]

    path = _service_path(model, settings, feats)
    promo = np.full(N, "promo", dtype=object)
    try:
        starts = pd.Series([START] * N)
        _, grid = path.grid(ids, starts, HOURS)
        window = starts.astype("datetime64[us, UTC]").astype("int64").to_numpy()
        channel, send = path.business_as_usual(grid, window, promo, truth.lat.affluent)
    finally:
        path.close()
    assert channel.tolist() == judged.channel.tolist()
    assert len(set(channel.tolist())) >= 3
    rows = np.arange(N)
    expected = np.where(judged.contacted, ctx.grid.slots_us[rows, judged.slot], send)
    assert (send == expected).all()
