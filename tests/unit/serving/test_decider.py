"""The decision path with a fake feature reader and a tiny LightGBM model: the rules (consent,
frequency cap, quiet hours, no-contact only when allowed), the feature-column contract and
batching invariance, without a training fixture."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
from support.tiny import START, customer_block, tiny_model

from decision.engine import Engine
from decision.rules import frequency_ok
from features.customer_block import CustomerBlock, ViewStamps
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, DEFAULT_ALLOWED_HOURS
from optichannel.model_bundle import NextBestChannelModel
from serving.batch_scorer import check_columns
from serving.decider import Decider
from serving.schemas import PredictRequest

PUSH = CHANNELS.index("push")
_block = customer_block


@pytest.fixture(scope="module")
def model() -> NextBestChannelModel:
    return tiny_model()


def _decider(model: NextBestChannelModel, **columns: float) -> Decider:
    def read(ids: list[str]) -> CustomerBlock:
        known = _block(ids, **columns)
        unknown = np.array([i.startswith("new") for i in ids])
        known.values[unknown] = np.nan
        known.text[fc.TIMEZONE][unknown] = None
        return known

    return Decider(Engine(model), read, "tiny", "1")


def test_push_in_the_evening_wins_within_quiet_hours(model: NextBestChannelModel) -> None:
    answer = _decider(model).decide([PredictRequest(customer_id="a", window_start=START, window_hours=24)])[0]
    assert answer.decision.channel == "push"
    local = datetime.fromisoformat(answer.decision.send_at_local or "")
    lo, hi = DEFAULT_ALLOWED_HOURS["push"]
    assert 18 <= local.hour < hi and lo < hi
    assert answer.ranking[0] == answer.decision and answer.excluded == []
    assert answer.propensity == 1.0 and not answer.explored and not answer.fallback


def test_consent_and_requested_channels_exclude_with_their_reason(model: NextBestChannelModel) -> None:
    d = _decider(model, **{fc.consent("push"): 0.0})
    answer = d.decide([PredictRequest(customer_id="a", window_start=START, channels=["push", "sms"])])[0]
    reasons = {e.channel: e.reason for e in answer.excluded}
    assert reasons["push"] == "no consent" and reasons["email"] == "not requested"
    assert answer.decision.channel in ("sms", "none")
    told = d.decide([PredictRequest(customer_id="a", window_start=START, consent={"push": True})])[0]
    assert told.decision.channel == "push"  # the CRM's consent overrides the store's


def test_frequency_cap_leaves_only_no_contact_for_marketing(model: NextBestChannelModel) -> None:
    d = _decider(model, **{fc.CONTACTS_7D: 4.0})
    capped = d.decide([PredictRequest(customer_id="a", window_start=START, allow_no_contact=False)])[0]
    assert capped.decision.channel == "none" and {e.reason for e in capped.excluded} == {"frequency cap"}
    service = d.decide([PredictRequest(customer_id="a", window_start=START, purpose="service")])[0]
    assert service.decision.channel != "none"


def test_no_contact_only_when_the_request_allows_it(model: NextBestChannelModel) -> None:
    dear = {"value_per_conversion": 1.0, "cost": {c: 1.0 for c in CHANNELS} | {"none": 0.0}}
    costly = Decider(Engine(model.__class__(**{**model.__dict__, "meta": {"economics": dear}})),
                     _decider(model).read, "tiny", "1")  # fmt: skip
    free = costly.decide([PredictRequest(customer_id="a", window_start=START)])[0]
    assert free.decision.channel == "none" and free.ranking  # contacts allowed, none pays more
    assert (
        "without contact" in free.explanation
        and free.ranking[0].expected_value <= free.no_contact.expected_value
    )
    forced = costly.decide([PredictRequest(customer_id="a", window_start=START, allow_no_contact=False)])[0]
    assert forced.decision == forced.ranking[0] and forced.decision.channel != "none"


def test_a_missing_contract_column_is_an_error_never_no_cap(model: NextBestChannelModel) -> None:
    d = _decider(model)
    full = d.read

    def renamed(ids: list[str]) -> CustomerBlock:  # the SQL renamed the cap's column
        b = full(ids)
        columns = tuple("renamed" if c == fc.CONTACTS_7D else c for c in b.columns)
        return CustomerBlock(b.ids, columns, b.values, b.text, b.as_of)

    d.read = renamed
    with pytest.raises(RuntimeError, match=fc.CONTACTS_7D):
        d.decide([PredictRequest(customer_id="a", window_start=START)])
    assert fc.missing_columns(["prf_tz"], [3])[:2] == [fc.CONTACTS_7D, fc.consent("email")]
    # the batch scorer refuses snapshots without it too, naming it
    snapshots = _block(["a"]).frame().drop(columns=[fc.CONTACTS_7D])
    with pytest.raises(ValueError, match=fc.CONTACTS_7D):
        check_columns(snapshots, model)
    with pytest.raises(ValueError, match=fc.CONTACTS_7D):  # and the grid never reads "no column" as "no cap"
        frequency_ok(snapshots, 4)


def test_cold_start_uses_the_requests_zone(model: NextBestChannelModel) -> None:
    d = _decider(model)
    answer = d.decide([PredictRequest(customer_id="new1", window_start=START, timezone="Asia/Tokyo")])[0]
    assert answer.fallback and answer.timezone == "Asia/Tokyo" and answer.features_as_of is None
    assert answer.decision.channel == "none"  # unknown consents count as not given
    assert {e.reason for e in answer.excluded} == {"no consent"}


def test_a_batch_answers_each_request_as_alone(model: NextBestChannelModel) -> None:
    d = _decider(model)
    rng = np.random.default_rng(4)
    requests = [
        PredictRequest(customer_id=f"c{i}" if i % 7 else f"new{i}", window_start=START,
                       window_hours=int(rng.choice([6, 24, 72])), explain=bool(i % 3 == 0),
                       purpose=str(rng.choice(["marketing", "service"])),
                       allow_no_contact=bool(rng.random() < 0.7))
        for i in range(40)
    ]  # fmt: skip
    together = d.decide(requests)
    alone = [d.decide([r])[0] for r in requests]
    keep = {"decision_id"}
    assert [a.model_dump(exclude=keep) for a in together] == [a.model_dump(exclude=keep) for a in alone]
    assert [a.customer_id for a in together] == [r.customer_id for r in requests]


def test_drivers_read_in_words_and_none_is_explained_by_values(model: NextBestChannelModel) -> None:
    d = _decider(model)
    answer = d.decide([PredictRequest(customer_id="a", window_start=START, explain=True)])[0]
    assert answer.drivers and all(x.label and x.direction in ("for", "against") for x in answer.drivers)
    assert all((x.contribution > 0) == (x.direction == "for") for x in answer.drivers)
    capped = _decider(model, **{fc.CONTACTS_7D: 9.0})
    none = capped.decide([PredictRequest(customer_id="a", window_start=START, explain=True)])[0]
    assert none.decision.channel == "none" and none.drivers == []


def test_features_past_their_ttl_are_ignored_and_flagged(model: NextBestChannelModel) -> None:
    """A view older than its TTL at the window start reads as missing, as `optichannel score`
    reads it; the profile (consents, zone) still holds; the answer says so loudly."""
    day = 86400
    start_s = int(START.timestamp())

    def stamped(age_days: float) -> Decider:
        d = _decider(model, **{fc.response_rate("push"): 0.9})
        plain = d.read

        def read(ids: list[str]) -> CustomerBlock:
            b = plain(ids)
            view = np.array([0 if c.startswith(("cnt_", "txn_", "bhv_")) else 1 for c in b.columns])
            stamps = np.tile([start_s - int(age_days * day), start_s - 400 * day], (len(ids), 1))
            return replace(b, views=ViewStamps(np.array([2 * day, 0]), view, stamps))

        d.read = read
        return d

    fresh = stamped(1.0).decide([PredictRequest(customer_id="a", window_start=START)])[0]
    old = stamped(3.0).decide([PredictRequest(customer_id="a", window_start=START)])[0]
    assert not fresh.stale and fresh.features_age_hours == pytest.approx(24.0)
    assert old.stale and old.features_age_hours == pytest.approx(72.0) and not old.fallback
    assert "STALE FEATURES" in old.explanation and "STALE" not in fresh.explanation
    assert old.decision.channel == "push"  # consents from the profile (no TTL) still hold
    block = stamped(3.0).read(["a"])
    expired, stale, _ = block.expire(np.array([start_s]))
    cols = [i for i, c in enumerate(block.columns) if c.startswith("cnt_")]
    assert stale.all() and np.isnan(expired.values[:, cols]).all()
    assert (expired.values[:, block.index[fc.consent("push")]] == 1.0).all()


def _campaign(model: NextBestChannelModel, counter: object) -> Decider:
    """A decider whose campaign `spring` takes one push per Moscow evening hour (18-22)."""
    from optichannel.campaign_plan import CampaignPlan
    from serving.campaign_limits import CampaignLimits

    plan = CampaignPlan.model_validate(
        {
            "name": "spring",
            "capacity": {"push": {"per_hour": 1, "timezone": "Europe/Moscow", "hours": [18, 22]}},
        }
    )
    decider = _decider(model)
    decider.limits = CampaignLimits({"spring": plan}, counter, decider.engine.econ)
    return decider


@pytest.mark.parametrize("one_by_one", [True, False])
def test_a_campaign_never_books_an_hour_past_capacity_and_says_why(
    model: NextBestChannelModel, tmp_path: object, one_by_one: bool
) -> None:
    from serving.capacity_counter import SQLiteCounter

    decider = _campaign(model, SQLiteCounter(tmp_path / "capacity.sqlite"))
    asks = [PredictRequest(customer_id=f"C{i:03d}", window_start=START, campaign="spring") for i in range(15)]
    answers = [decider.decide([r])[0] for r in asks] if one_by_one else decider.decide(asks)
    push = [a for a in answers if a.decision.channel == "push"]
    times = [a.decision.send_at for a in push]
    local = [int(a.decision.send_at_local[11:13]) for a in push]
    # 72 hours from Monday 09:00 Moscow hold three evenings of four bookable hours
    assert len(push) == 12 and len(set(times)) == 12 and all(18 <= h < 22 for h in local)
    for a in answers:
        if a.decision.channel != "push":
            assert a.decision.channel != "none" and ("push", "capacity") in {
                (e.channel, e.reason) for e in a.excluded
            }
    free = _decider(model).decide(
        [r.model_copy(update={"campaign": None}) for r in asks]
    )  # without the campaign everyone takes the same best evening hour
    assert {a.decision.channel for a in free} == {"push"} and len({a.decision.send_at for a in free}) == 1


def test_an_unknown_campaign_is_named(model: NextBestChannelModel, tmp_path: object) -> None:
    from serving.campaign_limits import UnknownCampaign
    from serving.capacity_counter import SQLiteCounter

    decider = _campaign(model, SQLiteCounter(tmp_path / "capacity.sqlite"))
    with pytest.raises(UnknownCampaign, match=r"'autumn'.*spring"):
        decider.check([PredictRequest(customer_id="C1", campaign="autumn")])
    with pytest.raises(UnknownCampaign, match="started without plans"):
        _decider(model).check([PredictRequest(customer_id="C1", campaign="spring")])


def _handed_out_store(kind: str, tmp_path: object) -> object:
    from serving.handed_out import RedisHandedOut, SQLiteHandedOut

    if kind == "sqlite":
        return SQLiteHandedOut(tmp_path / "handed_out.sqlite")
    import redis

    client = redis.Redis(socket_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        pytest.skip("no Redis server on 127.0.0.1:6379 (the production profile's store)")
    return RedisHandedOut(client)


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_marketing_decisions_handed_out_count_toward_the_cap_before_the_next_snapshot(
    model: NextBestChannelModel, tmp_path: object, kind: str
) -> None:
    import uuid
    from datetime import timedelta

    decider = _decider(model, **{fc.CONTACTS_7D: 1.0})  # one contact in the last snapshot, cap 4
    decider.handed_out = _handed_out_store(kind, tmp_path)
    me = f"C-{uuid.uuid4().hex[:8]}"  # fresh keys: Redis outlives the test
    ask = PredictRequest(customer_id=me, window_start=START)
    got = [decider.decide([ask])[0] for _ in range(4)]
    assert [a.decision.channel != "none" for a in got] == [True, True, True, False]
    assert {e.reason for e in got[3].excluded} == {"frequency cap"}
    # service messages are neither capped nor counted; other customers are untouched
    assert decider.decide([ask.model_copy(update={"purpose": "service"})])[0].decision.channel != "none"
    other = ask.model_copy(update={"customer_id": f"{me}-other"})
    assert decider.decide([other])[0].decision.channel != "none"
    # eight days on, those contacts have left the 7-day window
    later = ask.model_copy(update={"window_start": START + timedelta(days=8)})
    assert decider.decide([later])[0].decision.channel != "none"


def test_one_customer_asked_five_times_in_one_batch_is_capped_in_turn(
    model: NextBestChannelModel, tmp_path: object
) -> None:
    decider = _decider(model, **{fc.CONTACTS_7D: 1.0})
    decider.handed_out = _handed_out_store("sqlite", tmp_path)
    asks = [PredictRequest(customer_id=c, window_start=START) for c in ["C1", "C2", "C1", "C1", "C1", "C1"]]
    got = decider.decide(asks)
    assert [a.customer_id for a in got] == ["C1", "C2", "C1", "C1", "C1", "C1"]
    assert [a.decision.channel != "none" for a in got] == [True, True, True, True, False, False]
    assert len({a.decision_id for a in got}) == 6


def test_handed_out_contacts_join_the_cap_count_and_the_fatigue_block(tmp_path: object) -> None:
    from serving.decider import count_handed_out
    from serving.handed_out import SQLiteHandedOut

    store = SQLiteHandedOut(tmp_path / "handed_out.sqlite")
    start = int(START.timestamp())
    # before the snapshot (already in the feeds), this week, later in the window, and after it
    store.add([("a", start - 7200, "d0"), ("a", start - 1800, "d1"), ("a", start + 5 * 3600, "d2"),
               ("a", start + 30 * 3600, "d3"), ("b", start - 600, "d4")])  # fmt: skip
    block = _block(["a", "b", "c"], **{fc.CONTACTS_7D: 1.0})  # as_of = 1 s: the snapshot is old
    block = replace(block, as_of=np.full(3, start - 3600, dtype=np.int64))
    asks = [PredictRequest(customer_id=c, window_start=START, window_hours=24) for c in "abc"]
    out = count_handed_out(block, asks, np.full(3, start), store)
    assert out.column(fc.CONTACTS_7D).tolist() == [3.0, 2.0, 1.0]  # d1 and d2 for a (d3 is past the window)
    assert out.recent is not None and out.recent.shape == (3, 2)
    np.testing.assert_array_equal(out.recent[0], [start - 1800, start + 5 * 3600])
    assert out.recent[1, 0] == start - 600 and np.isnan(out.recent[1, 1]) and np.isnan(out.recent[2]).all()


def test_a_model_input_the_snapshots_lack_is_refused_by_name(model: NextBestChannelModel) -> None:
    """A feature the model was trained on and the store no longer serves would be scored as
    missing without a word: the scorer (and the service, at start-up) refuse it instead."""
    from dataclasses import replace as copy_with

    needs = copy_with(model, conversion_features=[*model.conversion_features, "txn_spend_90d"])
    snapshots = _block(["a"]).frame()
    check_columns(snapshots, model)  # everything the tiny model reads is there
    with pytest.raises(ValueError, match="txn_spend_90d"):
        check_columns(snapshots, needs)
    check_columns(snapshots.assign(txn_spend_90d=1.0), needs)
