"""Drivers in words: concrete phrases for concrete values, a rule for every feature name, never an error."""

from __future__ import annotations

import math
import re

import pydantic
import pytest

from features.request_features import CHANNEL_CONTEXT, CHANNEL_SPECIFIC, REQUEST_FEATURES
from features.snapshot_sql import FAMILIES
from serving.explain import BLANKED, describe, no_contact_reason
from serving.schemas import Driver


def _label(feature: str, value: float | None, channel: str = "push", hour: int | None = 19) -> str:
    return describe(feature, value, 0.1, channel, hour)[0]


def _snapshot_columns() -> list[str]:
    """Every feature column the snapshot SQL outputs (`... AS txn_spend_7d`)."""
    names = [n for sql in FAMILIES.values() for n in re.findall(r"\bAS ((?:txn|bhv|cnt|prf)_\w+)", sql())]
    return list(dict.fromkeys(names))


@pytest.mark.parametrize(
    ("feature", "value", "expected"),
    [
        ("req_days_to_payday", 0, "salary day today"),
        ("req_days_to_payday", 1, "salary day tomorrow"),
        ("req_days_to_payday", 5, "salary day in 5 days"),
        ("req_days_since_payday", 3, "paid 3 days ago"),
        ("req_days_since_payday", 1, "paid yesterday"),
        ("req_days_since_air", 2.6, "bought an air ticket 2 days ago"),  # whole days, not rounded up
        ("txn_days_since_air", 0, "bought an air ticket today"),
        ("req_hours_since_contact", 30, "last contacted 30 hours ago"),
        ("req_hours_since_contact", 72, "last contacted 3 days ago"),
        ("req_hours_since_channel_contact", 5, "last contacted by push 5 hours ago"),
        ("req_fatigue", 4, "4 recent contacts (fatigue)"),
        ("req_local_hour", 19, "sent at 19:00 local"),
        ("req_weekday", 5, "on a Saturday"),
        ("req_weekday", 0, "on a Monday"),
        ("req_activity_at_hour", 0.9, "usually active around 19:00"),
        ("req_activity_at_hour", 0.05, "rarely active around 19:00"),
        ("req_hours_to_peak", 3, "usually active around 22:00, 3 hours after the send"),
        ("req_hours_to_peak", 0, "sent at their most active hour"),
        ("cnt_response_rate_push", 0.42, "push response rate 42%"),
        ("req_channel_response_rate", 0.1, "push response rate 10%"),
        ("cnt_response_rate_sms", 0.05, "SMS response rate 5%"),
        ("cnt_sends_email_90d", 1, "1 e-mail in the last 90 days"),
        ("req_channel_consent", 0, "no push consent"),
        ("action", 2, "the channel itself: push"),
        ("req_channel", 2, "the channel itself: push"),
        ("txn_salary_day", 25, "salary usually on day 25 of the month"),
        ("bhv_hour_share_19", 0.15, "15% of activity around 19:00"),
        ("txn_share_travel_air_90d", 0.2, "air travel: 20% of payments"),
        ("bhv_inbound_call_30d", 2, "2 calls to the bank in the last 30 days"),
        ("prf_birth_year", 1985, "born in 1985"),
        ("req_push_days_to_payday", 1, "salary day tomorrow (for push)"),
    ],
)
def test_known_values_read_as_plain_phrases(feature: str, value: float, expected: str) -> None:
    assert _label(feature, value) == expected


def test_send_hour_and_channel_come_from_the_decision() -> None:
    assert _label("req_activity_at_hour", 0.9, hour=7) == "usually active around 07:00"
    assert _label("req_activity_at_hour", 0.9, hour=None) == "usually active around the send hour"
    assert _label("req_channel_response_rate", 0.3, channel="call") == "call response rate 30%"
    assert _label("action", 5, channel="none", hour=None) == "not contacting at all"
    # the value decides only when the channel passed is not an action name
    assert _label("action", 1, channel="", hour=None) == "the channel itself: SMS"


def test_direction_follows_the_sign_of_the_contribution() -> None:
    assert describe("req_days_to_payday", 1, 0.4, "push", 19)[1] == "for"
    assert describe("req_days_to_payday", 1, -0.4, "push", 19)[1] == "against"
    assert describe("req_fatigue", 6, -1e-6, "push", 19)[1] == "against"
    assert describe("req_fatigue", 6, 0.0, "push", 19)[1] == "against"  # does not raise P(conversion)


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_missing_values_read_as_unknown_or_absent(missing: float | None) -> None:
    assert _label("req_local_hour", missing) == "send hour: unknown"
    assert _label("req_days_to_payday", missing) == "salary day: unknown"
    assert _label("req_days_since_air", missing) == "no air ticket on record"
    assert _label("cnt_response_rate_push", missing) == "push response rate: unknown"


def test_channel_copies_of_the_context_say_when_they_do_not_apply() -> None:
    assert (
        _label("req_email_days_since_air", None, channel="push")
        == "air-ticket timing for e-mail: not this channel"
    )
    assert _label("req_email_days_since_air", None, channel="none", hour=None).endswith("not contacting")
    assert (
        _label("req_email_days_since_air", 2, channel="email")
        == "bought an air ticket 2 days ago (for e-mail)"
    )


def test_blanked_channel_features_of_none_say_so() -> None:
    assert set(BLANKED) | set(CHANNEL_CONTEXT) == set(CHANNEL_SPECIFIC)
    for name in CHANNEL_SPECIFIC:
        assert "not contacting" in _label(name, None, channel="none", hour=None), name


def test_every_feature_name_has_its_own_phrase() -> None:
    snapshot = _snapshot_columns()
    assert len(snapshot) > 100 and "cnt_response_rate_push" in snapshot  # the SQL was read
    for name in [*REQUEST_FEATURES, "action", *snapshot]:
        words = name.replace("_", " ")
        for value in (None, 0.0, 1.0, 3.0, 0.42):
            label = _label(name, value)
            assert label and "_" not in label and not label.startswith(words), (name, value, label)


@pytest.mark.parametrize(
    ("feature", "value"),
    [("something_new_7d", 3.0), ("something_new_7d", None), ("", 1.0), ("req_weekday", 1e300),
     ("prf_signup_day", 1e300), ("cnt_last_push_epoch", -1e300), ("req_local_hour", "19"),
     ("req_channel_sends_90d", 2.0)],
)  # fmt: skip
def test_never_raises(feature: str, value: float | None) -> None:
    label, direction = describe(feature, value, float("nan"), "none", None)
    assert label and direction == "against"


def test_unknown_names_read_as_words_and_value() -> None:
    assert _label("something_new_7d", 3.0) == "something new 7d: 3"
    assert _label("something_new_7d", None) == "something new 7d: unknown"


def test_no_contact_reason_compares_values() -> None:
    assert no_contact_reason("push", 0.12, 0.30) == (
        "no contact: the best option, push, is worth 0.12 against 0.30 without contact"
    )
    assert no_contact_reason(None, None, 0.30) == "no contact: no channel is allowed"
    assert "0.30" in no_contact_reason("sms", None, 0.30)


def test_driver_schema_carries_label_and_direction() -> None:
    label, direction = describe("req_days_to_payday", 1.0, 0.4, "push", 19)
    driver = Driver(
        feature="req_days_to_payday", value=1.0, contribution=0.4, label=label, direction=direction
    )
    assert driver.model_dump()["label"] == "salary day tomorrow" and driver.direction == "for"
    with pytest.raises(pydantic.ValidationError):
        Driver(feature="x", value=None, contribution=0.1, label="x", direction="maybe")
