"""Which logged decisions correct a policy's estimated value: the hour window, unless the log
already sits on the policy's own slots (then the whole channel, far steadier)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from decision.choice import Choice
from training.policy_value import _clusters

ROWS, CHANNELS, SLOTS = 400, 5, 14


def _context(on_own_slot: float, channel_propensity: bool = True) -> tuple[SimpleNamespace, Choice]:
    """The policy picks e-mail (channel 0) at slot 9 for everyone; the log used e-mail too, at
    slot 9 for a share `on_own_slot` of the rows and at slot 2 otherwise."""
    rng = np.random.default_rng(3)
    own = rng.random(ROWS) < on_own_slot
    ctx = SimpleNamespace(
        window=3,
        logged_channel=np.zeros(ROWS, dtype=np.int64),
        logged_slot=np.where(own, 9, 2),
        propensity=np.where(own, 0.9, 0.01),
        channel_propensity=np.full(ROWS, 0.95) if channel_propensity else None,
        grid=SimpleNamespace(allowed=np.ones((ROWS, CHANNELS, SLOTS), dtype=bool)),
    )
    choice = Choice(np.zeros(ROWS, dtype=np.int64), np.full(ROWS, 9), np.zeros(ROWS))
    return ctx, choice


def test_a_log_spread_over_the_hours_is_read_in_the_hour_window() -> None:
    ctx, choice = _context(on_own_slot=0.3)
    match, propensity, name = _clusters(ctx, choice)
    assert name == "same channel ±3 h"
    # slot 2 is 7 hours from 9: only the decisions at the policy's own slot count, weighted by
    # 1 / (7 open slots x the logged action's propensity)
    assert match.tolist() == (ctx.logged_slot == 9).tolist()
    np.testing.assert_allclose(propensity[match], 7 * 0.9)


def test_a_log_written_by_the_policy_itself_is_read_over_the_whole_channel() -> None:
    ctx, choice = _context(on_own_slot=0.9)
    match, propensity, name = _clusters(ctx, choice)
    assert name == "whole channel" and match.all()
    np.testing.assert_allclose(propensity, 0.95)


def test_without_the_channel_propensity_the_window_is_kept() -> None:
    ctx, choice = _context(on_own_slot=0.9, channel_propensity=False)
    assert _clusters(ctx, choice)[2] == "same channel ±3 h"
