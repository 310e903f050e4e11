"""The channels a customer can be reached on, and the `none` action.

Kept in one place so the simulator, the feature code, the models and the decision
policy can never disagree on names or order.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np

Channel = Literal["email", "sms", "push", "call", "messenger"]
Action = Literal["email", "sms", "push", "call", "messenger", "none"]

CHANNELS: Final[tuple[str, ...]] = ("email", "sms", "push", "call", "messenger")
NONE: Final[str] = "none"
ACTIONS: Final[tuple[str, ...]] = (*CHANNELS, NONE)

#: the one integer code of "no contact": its position in ACTIONS (the models' action feature,
#: the decision's chosen channel, logged actions), so `ACTIONS[code]` names any action
NO_CONTACT: Final[int] = ACTIONS.index(NONE)

#: consent column of the customers table for each channel
CONSENT_COLUMN: Final[dict[str, str]] = {ch: f"consent_{ch}" for ch in CHANNELS}

#: default cost of one outreach in one currency unit (agent time for calls)
DEFAULT_COST: Final[dict[str, float]] = {
    "push": 0.001,
    "email": 0.005,
    "messenger": 0.03,
    "sms": 0.05,
    "call": 1.5,
    "none": 0.0,
}

#: local hours (inclusive start, exclusive end) in which a channel may be used at all
DEFAULT_ALLOWED_HOURS: Final[dict[str, tuple[int, int]]] = {
    "email": (0, 24),
    "sms": (9, 21),
    "push": (8, 22),
    "call": (9, 20),
    "messenger": (9, 22),
}


def action_codes(names: object) -> np.ndarray:
    """Action codes (CHANNELS index, NO_CONTACT for `none`) of action names; an unknown name is
    an error naming it, never a silent code."""
    values = np.asarray(names, dtype=object)
    lookup = {name: code for code, name in enumerate(ACTIONS)}
    try:
        return np.fromiter((lookup[v] for v in values.ravel()), dtype=np.int64, count=values.size).reshape(
            values.shape
        )
    except KeyError as exc:
        raise ValueError(f"unknown action {exc.args[0]!r}; actions are {', '.join(ACTIONS)}") from None


def action_names(codes: object) -> np.ndarray:
    """Action names of action codes (the inverse of `action_codes`)."""
    return np.array(ACTIONS, dtype=object)[np.asarray(codes, dtype=np.int64)]
