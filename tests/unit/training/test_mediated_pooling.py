"""The mediated learner on a small bank: a channel whose responses never converted in the training
weeks borrows the booster fitted on every channel's responses instead of stopping training."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optichannel.channels import ACTIONS, CHANNELS, NO_CONTACT
from optichannel.model_bundle import IGNORED, responded_booster
from training.config import TrainConfig
from training.lgb_params import DEFAULT_PARAMS
from training.models import fit_mediated

SMS = CHANNELS.index("sms")


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    action = rng.choice([*range(len(CHANNELS)), NO_CONTACT], size=n)
    x = rng.normal(size=n)
    responded = np.where(action == NO_CONTACT, np.nan, (rng.random(n) < 0.4).astype(float))
    converted = (rng.random(n) < 1 / (1 + np.exp(-(x - 1 + 2 * np.nan_to_num(responded))))).astype(float)
    converted[(action == SMS) & (responded == 1.0)] = 0.0  # no sms response ever converted
    return pd.DataFrame({"x": x, "req_channel": np.where(action == NO_CONTACT, -1, action).astype(float),
                         "action": action, "responded": responded, "converted": converted})  # fmt: skip


def test_a_channel_without_converted_responses_borrows_the_pooled_booster() -> None:
    train, valid = _frame(6000, 1), _frame(2000, 2)
    boosters = fit_mediated(train, valid, ["x", "req_channel"], dict(DEFAULT_PARAMS), TrainConfig())
    names = {IGNORED, *(responded_booster(c) for c in range(len(ACTIONS)) if c != NO_CONTACT)}
    assert set(boosters) == names
    sms = boosters[responded_booster(SMS)]
    probe = np.array([[0.0, float(SMS)], [0.0, float(CHANNELS.index("email"))]])
    sms_p, email_p = sms.predict(probe)
    # fitted on every channel's responses, channel as an input: e-mail's converting responses are
    # learnt as they are, sms's never-converting ones read low but not as impossible
    assert 0.0 < sms_p < 0.2 < 0.5 < email_p


def test_no_conversion_after_any_response_is_still_a_clear_error() -> None:
    train, valid = _frame(3000, 3), _frame(1000, 4)
    train.loc[train["responded"] == 1.0, "converted"] = 0.0
    with pytest.raises(ValueError, match="no conversions"):
        fit_mediated(train, valid, ["x", "req_channel"], dict(DEFAULT_PARAMS), TrainConfig())
