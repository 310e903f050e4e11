"""The mediated learner composes its parts by the law of total probability over the response."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from optichannel.channels import ACTIONS, CHANNELS, NONE
from optichannel.model_bundle import NextBestChannelModel

NONE_CODE = ACTIONS.index(NONE)


def _booster(rng: np.random.Generator, columns: list[str], slope: float) -> lgb.Booster:
    x = rng.normal(size=(2000, len(columns)))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(slope * x[:, 0] - 2)))).astype(float)
    data = lgb.Dataset(x, label=y, feature_name=columns, params={"verbosity": -1})
    return lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 4, "seed": 1}, data, 15)


def _model() -> NextBestChannelModel:
    rng = np.random.default_rng(5)
    resp_cols, conv_cols = ["f", "req_channel"], ["f", "req_channel", "action"]
    return NextBestChannelModel(
        response=_booster(rng, resp_cols, 1.0),
        conversion={
            "ignored": _booster(rng, conv_cols, -1.0),
            **{f"responded_{c}": _booster(rng, conv_cols, 2.0 + i) for i, c in enumerate(CHANNELS)},
        },
        learner="m",
        response_features=resp_cols,
        conversion_features=conv_cols,
        none_blank=["req_channel"],
    )


def test_mediated_conversion_is_the_mixture_of_its_parts(tmp_path: Path) -> None:
    model = _model()
    rows = pd.DataFrame({"f": np.linspace(-2, 2, 50), "req_channel": np.repeat([0, 3], 25)})
    action = rows["req_channel"].to_numpy()
    ignored, responded = model.mediated_parts(rows, action)
    # each channel's response converts through its own booster
    x = np.column_stack([rows["f"], rows["req_channel"], action]).astype(float)
    assert np.allclose(responded[:25], model.conversion["responded_email"].predict(x[:25]))
    assert np.allclose(responded[25:], model.conversion["responded_call"].predict(x[25:]))
    p_resp = model.p_response(rows)
    expected = ignored + p_resp * (responded - ignored)
    assert np.allclose(model.p_conversion(rows, action), expected)
    assert np.allclose(model.score(rows, action)[1], expected)
    # no contact has no response: only the "ignored" part, with the channel features blanked
    none = model.p_none(rows)
    blank = rows.assign(req_channel=np.nan)
    assert np.allclose(none, model.mediated_parts(blank, np.full(50, NONE_CODE))[0])
    assert not np.allclose(none, model.p_conversion(rows, action))
    # saved and loaded, the composition is the same
    again = NextBestChannelModel.load(model.save(tmp_path / "bundle"))
    assert np.allclose(again.p_conversion(rows, action), expected)


def test_a_contacts_drivers_are_the_response_models() -> None:
    model = _model()
    rows = pd.DataFrame({"f": [0.5], "req_channel": [2.0]})
    contrib = model.conversion_contributions(rows, np.array([2]))
    assert list(contrib.columns) == ["f", "req_channel", "bias"]
    logit = np.log(model.p_response(rows) / (1 - model.p_response(rows)))
    assert np.isclose(contrib.to_numpy().sum(), logit[0])


def test_a_booster_without_a_split_gives_its_one_value_without_reading_the_rows() -> None:
    """A channel too rare to learn from early-stops at a single leaf: the bundle answers with
    that leaf's probability for every row, exactly what LightGBM computes, without LightGBM."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(500, 3))
    y = (rng.random(500) < 0.3).astype(float)
    leaf = lgb.train({"objective": "binary", "verbosity": -1, "min_data_in_leaf": 1000}, lgb.Dataset(x, y), 3)
    assert not leaf.feature_importance("split").any()
    model = _model()
    model.conversion["responded_call"] = leaf
    rows = pd.DataFrame({"f": np.linspace(-2, 2, 40), "req_channel": np.full(40, 3.0)})
    action = np.full(40, CHANNELS.index("call"))
    _, responded = model.mediated_parts(rows, action)
    wide = np.column_stack([rows["f"], rows["req_channel"], action]).astype(float)
    expected = leaf.predict(wide)
    assert np.all(expected == expected[0]) and 0.2 < expected[0] < 0.4
    np.testing.assert_array_equal(responded, expected)
    # the shortcut is for single leaves only: a booster that splits is still LightGBM's answer
    wide[:, 2] = CHANNELS.index("email")
    np.testing.assert_array_equal(
        model.mediated_parts(rows, wide[:, 2].astype(int))[1],
        model.conversion["responded_email"].predict(wide),
    )


def test_the_response_is_read_from_the_conversion_matrix_as_is() -> None:
    """P(response) from the wider row-major conversion matrix equals the response booster on its
    own columns: LightGBM ignores the trailing `action` column."""
    model = _model()
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(size=300), rng.integers(0, 5, 300), rng.integers(0, 5, 300)]).astype(
        float
    )
    expected = model.response.predict(np.ascontiguousarray(x[:, :2]))
    assert np.ptp(expected) > 0.1
    np.testing.assert_array_equal(model.response_of(x, 1), expected)
    np.testing.assert_array_equal(model.response_of(np.asfortranarray(x), 1), expected)
    with pytest.raises(ValueError, match="1 columns for a response model of 2"):
        model.response_of(x[:, :1].copy(), 1)
