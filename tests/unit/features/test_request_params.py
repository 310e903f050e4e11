"""The request features' constants are estimated from logged responses, not copied."""

from __future__ import annotations

import numpy as np
import pytest

from features.request_params import WAIT_DECAYS, RequestParams, estimate
from optichannel.channels import CHANNELS


def _logged(true_decay: dict[str, float], true_tau: float, seed: int = 0) -> dict:
    """Contacts whose response follows the reach under `true_decay` and the fatigue under `true_tau`;
    the candidate features of the other constants are correlated but different."""
    rng = np.random.default_rng(seed)
    n = 50_000
    channel = rng.integers(0, len(CHANNELS), n)
    # activity over the 13 hours from the slot on: a daily peak somewhere ahead (or behind)
    peak, width = rng.uniform(-4, 14, n), rng.uniform(1.0, 2.5, n)
    activity = np.maximum(
        np.exp(-0.5 * ((np.arange(13)[None, :] - peak[:, None]) / width[:, None]) ** 2), 0.03
    )
    reach = {d: (activity * d ** np.arange(13)[None, :]).max(axis=1) for d in WAIT_DECAYS}
    ages = rng.exponential(4.0, (n, 3))  # days since three earlier contacts
    fatigue = {tau: np.exp(-ages / tau).sum(axis=1) for tau in (1, 3, 7)}
    rate = rng.uniform(0.02, 0.3, n)
    true_reach = np.choose(channel, [reach[true_decay[c]] for c in CHANNELS])
    logit = -0.5 + 3.0 * true_reach - 0.6 * fatigue[true_tau] + np.log(rate / (1 - rate))
    responded = rng.random(n) < 1 / (1 + np.exp(-logit))
    return {"reach": reach, "fatigue": fatigue, "channel": channel, "rate": rate, "responded": responded}


@pytest.mark.parametrize("seed", [0, 1])
def test_estimates_recover_the_constants_that_made_the_responses(seed: int) -> None:
    true = {"email": 0.9, "sms": 0.7, "push": 0.3, "call": 0.0, "messenger": 0.8}
    data = _logged(true, 1, seed)
    params = estimate(data["reach"], data["fatigue"], data["channel"], data["rate"], data["responded"])
    assert params.fatigue_tau_days == 1
    error = np.abs(params.decays() - np.array([true[c] for c in CHANNELS]))
    # small decays give nearly the same feature (a message is seen at once or not at all), so
    # 0.0 and 0.3 may swap; the slow e-mail and the fast push are told apart
    assert error.max() <= 0.3 and error.mean() <= 0.1


def test_a_channel_without_contacts_keeps_the_default_and_params_round_trip() -> None:
    data = _logged(dict.fromkeys(CHANNELS, 0.5), 7)
    data["channel"] = np.where(data["channel"] == 3, 0, data["channel"])  # no call contacts at all
    params = estimate(data["reach"], data["fatigue"], data["channel"], data["rate"], data["responded"])
    assert params.wait_decay["call"] == RequestParams().wait_decay["call"]
    assert params.fatigue_tau_days == 7
    assert RequestParams.from_meta({"request_params": params.to_meta()}) == params
    assert RequestParams.from_meta({}) == RequestParams()
    with pytest.raises(ValueError, match="fatigue_tau_days must be one of"):
        RequestParams(fatigue_tau_days=2)
