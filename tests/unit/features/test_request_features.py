"""Request-time features from a candidate slot: local calendar, paydays, recency, per-channel picks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.request_features import REQUEST_FEATURES, request_features
from features.request_params import RequestParams

MOSCOW_CONTACT = pd.Timestamp("2026-03-01T10:00Z").timestamp()


def _customers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prf_tz": ["Europe/Moscow", "Asia/Vladivostok", None],
            "txn_salary_day": [5, 28, None],
            "txn_advance_day": [20, 14, None],
            "cnt_last_contact_epoch": [MOSCOW_CONTACT, 0.0, None],
            "cnt_last_sms_epoch": [MOSCOW_CONTACT, np.nan, None],
            "bhv_hour_share_13": [0.5, 0.1, None],
            "bhv_hour_share_14": [0.25, 0.1, None],
            "cnt_response_rate_sms": [0.1, 0.2, None],
            "cnt_response_rate_email": [0.03, 0.04, None],
            "prf_consent_email": [1, 0, None],
        },
        index=[10, 11, 12],
    )


def _slots() -> pd.Series:
    return pd.Series(
        pd.to_datetime(["2026-03-05T10:00Z", "2026-03-31T20:00Z", "2026-03-05T10:00Z"], utc=True)
    )


def test_local_calendar_and_paydays() -> None:
    out = request_features(_customers(), pd.Series(["sms", "email", "call"]), _slots())
    assert list(out.columns) == list(REQUEST_FEATURES)
    assert list(out.index) == [10, 11, 12]
    # Moscow is UTC+3: 13:00 on Thursday 5 March, which is the salary day
    assert out.loc[
        10, ["req_local_hour", "req_weekday", "req_days_to_payday", "req_days_since_payday"]
    ].tolist() == [13, 3, 0, 0]
    # Vladivostok is UTC+10: 06:00 on Wednesday 1 April; advance on the 14th, salary was 28 March
    assert out.loc[
        11, ["req_local_hour", "req_weekday", "req_days_to_payday", "req_days_since_payday"]
    ].tolist() == [6, 2, 13, 4]


def test_recency_activity_and_per_channel_picks() -> None:
    out = request_features(_customers(), pd.Series(["sms", "email", "call"]), _slots())
    assert out.loc[10, "req_hours_since_contact"] == pytest.approx(96.0)
    assert out.loc[10, "req_hours_since_channel_contact"] == pytest.approx(96.0)
    # smoothed profile of customer 10: 13h = 0.5*0.5 + 0.25*0.25 = 0.3125, the peak; 14h = 0.25
    assert out.loc[10, "req_activity_at_hour"] == pytest.approx(1.0)
    assert out.loc[10, "req_hours_to_peak"] == 0
    assert out.loc[10, "req_channel_response_rate"] == 0.1  # the sms rate, not the email one
    assert out.loc[11, "req_channel_response_rate"] == 0.04
    assert out.loc[11, "req_channel_consent"] == 0
    assert np.isnan(out.loc[11, "req_hours_since_contact"])  # epoch 0 means never contacted


def test_rhythm_pools_activity_and_spending_and_reach_decays() -> None:
    customer = pd.DataFrame(
        {
            "prf_tz": ["UTC"],
            "bhv_hour_share_08": [1.0],
            "bhv_active_events_90d": [10.0],
            "txn_hour_share_20": [1.0],
            "txn_count_90d": [30.0],
        }
    )
    slots = pd.Series(pd.to_datetime(["2026-03-05T17:00Z"], utc=True))
    params = RequestParams({**RequestParams().wait_decay, "push": 0.5, "email": 0.9})
    twice = pd.concat([customer, customer], ignore_index=True)
    out = request_features(
        twice, pd.Series(["push", "email"]), pd.concat([slots, slots], ignore_index=True), params
    )
    # spending (30 at 20h) outweighs sessions (10 at 8h): the peak is 20h, three hours away
    assert out["req_hours_to_peak"].iloc[0] == 3
    assert out["req_activity_at_hour"].iloc[0] == 0.0
    # each channel's message waits with its own decay
    assert out["req_reach"].tolist() == pytest.approx([0.5**3, 0.9**3])


def test_datetime_unit_of_the_slots_does_not_matter() -> None:
    """Feast hands back microsecond timestamps, pandas parses nanoseconds: same features."""
    channels = pd.Series(["sms", "email", "call"])
    ns = request_features(_customers(), channels, _slots().astype("datetime64[ns, UTC]"))
    us = request_features(_customers(), channels, _slots().astype("datetime64[us, UTC]"))
    pd.testing.assert_frame_equal(ns, us)


def test_cold_start_rows_are_nulls_not_errors() -> None:
    out = request_features(_customers(), pd.Series(["sms", "email", "call"]), _slots())
    cold = out.loc[12]
    assert cold["req_local_hour"] == 10  # unknown zone: UTC
    assert cold.drop(["req_channel", "req_local_hour", "req_weekday"]).isna().all()


def test_unknown_channel_is_named() -> None:
    with pytest.raises(ValueError, match="channel: unknown \\['fax'\\]"):
        request_features(_customers(), pd.Series(["fax", "sms", "sms"]), _slots())


def test_candidate_grid_rows_equal_request_features_row_by_row() -> None:
    """The grid's vectorised path (customer work once, candidates by lookup) gives exactly what
    the one-row-at-a-time function gives for every candidate: training and serving agree."""
    from decision.grid import candidate_grid
    from decision.rules import Rules
    from optichannel.channels import CHANNELS
    from optichannel.economics import Economics

    customers = _customers().assign(**{f"prf_consent_{c}": [1, 1, 0] for c in CHANNELS})
    customers["bhv_active_events_90d"] = [40.0, 5.0, None]
    params = RequestParams({"email": 0.9, "sms": 0.3, "push": 0.0, "call": 0.5, "messenger": 0.8}, 7)
    uncapped = Rules(Economics(max_contacts_7d=None))
    grid = candidate_grid(customers, pd.Timestamp("2026-03-27T21:30Z"), 60, uncapped, params=params)
    rows = grid.rows
    assert len(rows) == len(grid.index) > 100
    _, k, h = grid.shape
    cust, rest = np.divmod(grid.index, k * h)
    ch, slot = np.divmod(rest, h)
    expected = request_features(
        customers.iloc[cust].reset_index(drop=True),
        pd.Series(np.array(CHANNELS)[ch]),
        pd.Series(pd.to_datetime(grid.slots_us[cust, slot], unit="us", utc=True)),
        params,
    )
    for col in REQUEST_FEATURES:
        np.testing.assert_allclose(rows[col].to_numpy(float), expected[col].to_numpy(float), equal_nan=True)
    # a model trained with other constants sees the same grid under its own
    default = grid.with_params(RequestParams())
    assert default.index is grid.index and not np.allclose(default.rows["req_reach"], rows["req_reach"])
    assert grid.with_params(params) is grid
    # and the model's float matrix is the same numbers as the wide frame
    cols = ["txn_salary_day", "req_local_hour", "req_activity_at_hour", "prf_tz"]
    matrix = grid.candidates.matrix(cols)
    np.testing.assert_allclose(matrix[:, :3], rows[cols[:3]].to_numpy(float), equal_nan=True)
    assert np.isnan(matrix[:, 3]).all()  # text is not a number


def test_rhythm_features_equal_a_brute_force_over_the_profile() -> None:
    """Activity, reach and hours-to-peak recomputed hour by hour from the customer's profile."""
    from features.request_features import rhythm_profile, weekend_view

    customers = _customers().iloc[:2]
    slots = pd.Series(pd.to_datetime(["2026-03-05T07:00Z", "2026-03-07T09:00Z"], utc=True))  # Thu, Sat
    params = RequestParams({**RequestParams().wait_decay, "sms": 0.8, "push": 0.3})
    out = request_features(customers, pd.Series(["sms", "push"]), slots, params)
    profile = rhythm_profile(customers)
    for i in range(2):
        hour, weekday = out["req_local_hour"].iloc[i], out["req_weekday"].iloc[i]
        view = weekend_view(profile[i : i + 1], np.array([weekday >= 5]))[0]
        assert out["req_activity_at_hour"].iloc[i] == pytest.approx(view[hour])
        ahead = [view[(hour + k) % 24] for k in range(3)]
        assert out["req_activity_next_3h"].iloc[i] == pytest.approx(sum(ahead) / 3)
        decay = (0.8, 0.3)[i]
        best = max(view[(hour + w) % 24] * decay**w for w in range(13))
        assert out["req_reach"].iloc[i] == pytest.approx(best)
        assert out["req_hours_to_peak"].iloc[i] == (int(np.argmax(view)) - hour) % 24


def test_local_calendar_equals_pandas_time_zone_conversion() -> None:
    """The NumPy calendar (deduplicated per zone and time) against pandas' tz_convert, DST, half-
    hour zones, repeated times and missing zones included."""
    from features.request_features import local_calendar
    from optichannel.localtime import to_local

    rng = np.random.default_rng(0)
    ts = pd.Series(pd.to_datetime(rng.integers(1.7e9, 1.9e9, 5000), unit="s", utc=True))
    ts[:1000] = ts[0]
    zones = ["Europe/Moscow", "Asia/Kolkata", "America/New_York", "UTC", "Australia/Adelaide", None]
    tz = pd.Series(rng.choice(np.array(zones, dtype=object), 5000))
    got = local_calendar(ts, tz)
    local = to_local(ts, tz.fillna("UTC"))
    assert (got["hour"].to_numpy() == local.dt.hour.to_numpy()).all()
    assert (got["weekday"].to_numpy() == local.dt.weekday.to_numpy()).all()
    assert (got["day"].to_numpy() == local.dt.day.to_numpy()).all()
    assert (got["month_days"].to_numpy() == local.dt.days_in_month.to_numpy()).all()
    previous = (local - pd.to_timedelta(local.dt.day, unit="D")).dt.day.to_numpy()
    assert (got["prev_month_days"].to_numpy() == previous).all()


def test_contacts_given_since_the_snapshot_add_to_fatigue_and_recency() -> None:
    from features.customer_block import CustomerBlock
    from features.request_features import CustomerColumns, calendar_arrays, request_arrays
    from optichannel import feature_columns as fc

    tau = RequestParams().fatigue_tau_days
    snapshot = pd.Timestamp("2026-03-05T00:00Z").timestamp()
    frame = pd.DataFrame({"customer_id": ["a", "b"], fc.FATIGUE_EPOCH: [snapshot, np.nan],
                          fc.fatigue(tau): [0.5, np.nan], fc.LAST_CONTACT_EPOCH: [MOSCOW_CONTACT, np.nan],
                          fc.TIMEZONE: ["UTC", "UTC"]})  # fmt: skip
    given = snapshot + 6 * 3600  # a decision handed out for 06:00, after the midnight snapshot
    block = CustomerBlock.from_frame(frame)
    slot = np.array([snapshot + 12 * 3600, snapshot + 3 * 3600], dtype=np.float64) * 1e6
    pick, ch = np.array([0, 1]), np.zeros(2, dtype=np.int64)
    cal = calendar_arrays(slot.astype(np.int64), np.array(["UTC", "UTC"], dtype=object))
    plain = request_arrays(CustomerColumns(block), pick, ch, slot, cal)
    with_recent = CustomerBlock(block.ids, block.columns, block.values, block.text, block.as_of,
                                recent=np.array([[given, np.nan], [given, snapshot + 2 * 3600]]))  # fmt: skip
    more = request_arrays(CustomerColumns(with_recent), pick, ch, slot, cal)
    day = 86400.0
    # a: 0.5 decayed over 12 h, plus the 06:00 contact decayed over 6 h; hours since contact = 6
    assert plain["req_fatigue"][0] == pytest.approx(0.5 * np.exp(-0.5 / tau))
    assert more["req_fatigue"][0] == pytest.approx(0.5 * np.exp(-0.5 / tau) + np.exp(-6 * 3600 / (tau * day)))
    assert more["req_hours_since_contact"][0] == pytest.approx(6.0)
    # b (no snapshot): at 03:00 only the 02:00 contact has happened, not the 06:00 one
    assert np.isnan(plain["req_fatigue"][1])
    assert more["req_fatigue"][1] == pytest.approx(np.exp(-3600 / (tau * day)))
    assert more["req_hours_since_contact"][1] == pytest.approx(1.0)
