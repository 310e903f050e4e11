"""How sure the decision is of each customer, and the exploration that follows from it.

A customer's response rate on a channel is known as well as its evidence allows: the snapshot's
smoothed rate is the mean of a Beta posterior whose strength is the population prior's pseudo-sends
plus the customer's own sends on that channel (`features.snapshot_sql.SMOOTHING`), so its relative
standard deviation is sqrt((1 - m) / (m (strength + 1))). A contact's gain over leaving the customer
alone scales with that rate, so the gain is uncertain by the same share. The explored draw is then a
softmax over the options' values at the customer's own temperature, the mean uncertainty of its
gains: where the model knows a customer, exploring barely moves from the greedy choice (and costs
little); where it does not, the draw spreads over every option worth trying. Every probability is
in closed form, so propensities stay exact.
"""

from __future__ import annotations

import numpy as np

from features.customer_block import CustomerBlock
from features.snapshot_sql import SMOOTHING
from optichannel import feature_columns as fc
from optichannel.channels import CHANNELS

#: the lowest temperature (value per decision), so a sure customer's draw stays a proper softmax
MIN_TEMPERATURE = 0.05
#: the rate assumed where a customer has no rate at all (a new customer): wide, not certain
UNKNOWN_RATE = 0.05


def relative_sd(block: CustomerBlock) -> np.ndarray:
    """[n, channels] relative standard deviation of each customer's response rate per channel."""
    n = len(block)
    out = np.empty((n, len(CHANNELS)))
    for k, channel in enumerate(CHANNELS):
        rate = _column(block, fc.response_rate(channel), UNKNOWN_RATE)
        sends = _column(block, fc.sends_90d(channel), 0.0)
        m = np.clip(rate, 1e-3, 1 - 1e-3)
        out[:, k] = np.sqrt((1 - m) / (m * (SMOOTHING + sends + 1)))
    return out


def temperature(
    block: CustomerBlock, contact: np.ndarray, none: np.ndarray, allowed: np.ndarray
) -> np.ndarray:
    """[n] each customer's exploration temperature: the mean, over its allowed channels, of the
    uncertainty of the channel's best gain over no contact (value per decision)."""
    best = np.where(allowed, contact, -np.inf).max(axis=2)  # [n, channels]
    ok = np.isfinite(best)
    gain = np.where(ok, np.maximum(best - none[:, None], 0.0), 0.0)
    spread = (gain * relative_sd(block) * ok).sum(axis=1) / np.maximum(ok.sum(axis=1), 1)
    return np.maximum(spread, MIN_TEMPERATURE)


def softmax_weights(
    contact: np.ndarray, none: np.ndarray, options: np.ndarray, temperature: np.ndarray
) -> np.ndarray:
    """[n, channels * slots + 1] the softmax of the options' values (contacts flat, then none) at
    each row's temperature, over `options` (the same layout: which are available)."""
    n = contact.shape[0]
    values = np.concatenate([contact.reshape(n, -1), none[:, None]], axis=1)
    logits = np.where(options, values / temperature[:, None], -np.inf)
    top = logits.max(axis=1, keepdims=True)
    weights = np.where(options, np.exp(logits - np.where(np.isfinite(top), top, 0.0)), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def _column(block: CustomerBlock, name: str, fill: float) -> np.ndarray:
    if name not in block.index:
        return np.full(len(block), fill)
    values = np.asarray(block.column(name), dtype=float)
    return np.where(np.isnan(values), fill, values)
