"""A tiny LightGBM model and hand-made customer blocks: the decision path without a training
fixture. Response: push in the evening responds best. Conversion (S-learner): contacts convert
more than no contact, push most of all, in the evening twice as much."""

from __future__ import annotations

from datetime import UTC, datetime

import lightgbm as lgb
import numpy as np

from features.customer_block import CustomerBlock
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS, NO_CONTACT
from optichannel.model_bundle import NextBestChannelModel

START = datetime(2026, 3, 2, 6, tzinfo=UTC)  # a Monday, 09:00 in Moscow
PUSH = CHANNELS.index("push")


def _booster(x: np.ndarray, y: np.ndarray, names: list[str]) -> lgb.Booster:
    data = lgb.Dataset(x, label=y, feature_name=names, params={"verbosity": -1})
    return lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 8, "seed": 3}, data, 40)


def tiny_model(reads_consent: bool = False) -> NextBestChannelModel:
    """`reads_consent`: the conversion model also reads the e-mail consent (consented customers
    convert more on every action), as a real model may."""
    rng = np.random.default_rng(0)
    n = 20000
    channel = rng.integers(0, 5, n).astype(float)
    hour = rng.integers(0, 24, n).astype(float)
    p_resp = 0.05 + 0.4 * ((channel == PUSH) & (hour >= 18))
    response = _booster(
        np.column_stack([channel, hour]), rng.random(n) < p_resp, ["req_channel", "req_local_hour"]
    )
    action = rng.integers(0, 6, n).astype(float)
    p_conv = np.where(action == NO_CONTACT, 0.02, 0.06 + 0.1 * (action == PUSH) * (1 + (hour >= 18)))
    x = np.column_stack([np.where(action == NO_CONTACT, np.nan, action), hour, action])
    names = ["req_channel", "req_local_hour", "action"]
    if reads_consent:
        email = (rng.random(n) < 0.5).astype(float)
        p_conv = p_conv + 0.08 * email
        x, names = np.column_stack([x, email]), [*names, fc.consent("email")]
    conversion = _booster(x, rng.random(n) < p_conv, names)
    return NextBestChannelModel(
        response=response, conversion={"all": conversion}, learner="s",
        response_features=["req_channel", "req_local_hour"],
        conversion_features=names, none_blank=["req_channel"],
        meta={"economics": {"value_per_conversion": 50.0}},
    )  # fmt: skip


def customer_block(ids: list[str], **columns: float) -> CustomerBlock:
    """Known customers in Moscow with every consent and the contract's columns (overridable)."""
    names = [*fc.DECISION_COLUMNS[1:], *fc.request_columns([3])]
    values = (
        {c: 0.0 for c in names} | {c: 1.0 for c in fc.CONSENTS} | {fc.FATIGUE_EPOCH: START.timestamp() - 3600}
    )
    values |= columns
    cols = [c for c in names if c in values] + [c for c in values if c not in names]
    matrix = np.tile([values[c] for c in cols], (len(ids), 1))
    text = {fc.TIMEZONE: np.full(len(ids), "Europe/Moscow", dtype=object)}
    return CustomerBlock(np.asarray(ids, dtype=object), (fc.TIMEZONE, *cols), np.column_stack(
        [np.full(len(ids), np.nan), matrix]), text, np.full(len(ids), 1, dtype=np.int64))  # fmt: skip
