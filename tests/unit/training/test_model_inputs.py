"""What a model may read: the exclusion list names real snapshot columns, and no absolute calendar
number (a signup day, an epoch) is a model input; the signup day enters as tenure at the slot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.request_features import request_features
from features.store_definitions import feature_names
from optichannel import feature_columns as fc
from optichannel.settings import Settings
from training.dataset import EXCLUDED, customer_feature_columns


@pytest.mark.slow
def test_excluded_columns_are_real_and_absolute_times_are_no_inputs(local_store: Settings) -> None:
    every = {c for names in feature_names(local_store.features_dir).values() for c in names}
    missing = sorted(set(EXCLUDED) - every)
    assert not missing, f"the exclusion list names columns the snapshots do not have: {missing}"
    frame = pd.DataFrame({c: [1.0] for c in sorted(every)})
    inputs = customer_feature_columns(frame)
    assert fc.SIGNUP_DAY not in inputs and fc.SIGNUP_DAY in every
    assert not [c for c in inputs if c.endswith(("_epoch", "_signup_day"))]


def test_tenure_is_the_time_from_signup_to_the_slot() -> None:
    signup = pd.Timestamp("2025-03-02", tz="UTC")
    day = signup.value / 86400e9
    customer = pd.DataFrame({"prf_tz": ["Europe/Moscow", "UTC"], fc.SIGNUP_DAY: [day, np.nan]})
    slot = pd.Series([signup + pd.Timedelta(days=365, hours=12)] * 2)
    got = request_features(customer, pd.Series(["push", "email"]), slot)["req_tenure_days"]
    assert got.iloc[0] == pytest.approx(365.5) and np.isnan(got.iloc[1])
