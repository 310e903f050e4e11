"""One rule of "stale", online and offline: a known customer whose time-limited view had no
snapshot within its TTL at the decision time (expired, or none at all)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.customer_block import CustomerBlock, ViewStamps
from features.offline_read import stale_rows

DAY = 86_400
NOW = 100 * DAY


def test_online_and_offline_flag_the_same_rows() -> None:
    columns = ("txn_spend_30d", "cnt_contacts_7d", "prf_birth_year")
    stamps = np.array([
        [NOW - DAY, NOW - DAY, 1],  # fresh
        [NOW - DAY, 0, 1],  # no contacts snapshot at all
        [NOW - 3 * DAY, NOW - DAY, 1],  # transactions past their two-day TTL
        [0, 0, 0],  # unknown customer: cold start, not stale
    ])  # fmt: skip
    views = ViewStamps(np.array([2 * DAY, 2 * DAY, 0]), np.array([0, 1, 2]), stamps)
    values = np.where(stamps > 0, 1.0, np.nan)
    block = CustomerBlock(np.array(["a", "b", "c", "d"], dtype=object), columns, values, {},
                          stamps.max(axis=1), views)  # fmt: skip
    expired, stale, _ = block.expire(np.full(4, NOW))
    assert stale.tolist() == [False, True, True, False]
    assert np.isnan(expired.values[2, 0]) and expired.values[2, 1] == 1.0  # only the expired view is gone
    # what the offline read returns for the same customers at the same time: nulls past the TTL
    offline = pd.DataFrame(expired.values, columns=list(columns))
    known = ~offline.isna().all(axis=1).to_numpy()
    assert (known & stale_rows(offline)).tolist() == stale.tolist()
