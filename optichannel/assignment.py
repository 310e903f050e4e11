"""Stable arm assignment: a salted hash of the customer id decides the arm.

Hashing instead of drawing random numbers means the CRM, the service and the analysis can all
recompute a customer's arm from the id alone, at any time, without a lookup table; salting with
the experiment name makes arms of different experiments independent of each other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np

#: shares must add up to one within this tolerance
SHARE_TOLERANCE = 1e-9
_MANTISSA_BITS = 53


def check_shares(arms: Mapping[str, float]) -> dict[str, float]:
    """Validated copy of `arms` (name -> share); a ValueError names the offending shares."""
    shares = {str(name): float(share) for name, share in arms.items()}
    listed = ", ".join(f"{name}={share:g}" for name, share in shares.items())
    if len(shares) < 1:
        raise ValueError("arms: at least one arm with a share is needed")
    if any(not name for name in shares):
        raise ValueError(f"arms: every arm needs a non-empty name (got {listed})")
    bad = [name for name, share in shares.items() if not np.isfinite(share) or share < 0]
    if bad:
        raise ValueError(f"arms: shares must be finite and >= 0; bad: {', '.join(bad)} (got {listed})")
    total = sum(shares.values())
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise ValueError(f"arms: shares must sum to 1, got {total:.12g} ({listed})")
    return shares


def parse_arms(text: str) -> dict[str, float]:
    """Parse `model=0.45,bau=0.45,holdout=0.1` into a validated name -> share mapping."""
    arms: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"arms: expected name=share, got {part!r} in {text!r}")
        try:
            share = float(value)
        except ValueError:
            raise ValueError(f"arms: share of {name.strip()!r} is not a number: {value!r}") from None
        if name.strip() in arms:
            raise ValueError(f"arms: {name.strip()!r} is listed twice in {text!r}")
        arms[name.strip()] = share
    return check_shares(arms)


def hash_uniform(customer_ids: Iterable[object], experiment: str, salt: str = "") -> np.ndarray:
    """One number in [0, 1) per id from blake2b(f"{experiment}:{salt}:{id}").

    Ids are hashed by their string form, so 42 and "42" land in the same arm. The top 53 bits
    of the digest become the float, which makes it exactly uniform on a 2**-53 grid.
    """
    ids = np.asarray(customer_ids)
    if ids.ndim != 1:
        ids = ids.reshape(-1)
    if ids.size == 0:
        return np.empty(0, dtype=np.float64)
    prefix = f"{experiment}:{salt}:".encode()
    blake = hashlib.blake2b
    digests = b"".join(blake(prefix + str(i).encode(), digest_size=8).digest() for i in ids.tolist())
    words = np.frombuffer(digests, dtype=">u8").astype(np.uint64)
    return (words >> np.uint64(64 - _MANTISSA_BITS)).astype(np.float64) * 2.0**-_MANTISSA_BITS


def assign_arms(
    customer_ids: Iterable[object], experiment: str, arms: Mapping[str, float], salt: str = ""
) -> np.ndarray:
    """Arm name per customer id: the hash's uniform number falls into an arm by cumulative share.

    The same (id, experiment, salt) always gives the same arm; changing the experiment name or
    the salt reshuffles everybody independently of the previous assignment.
    """
    if not experiment:
        raise ValueError("experiment: a non-empty name is needed (it salts the hash)")
    shares = check_shares(arms)
    names = np.array(list(shares), dtype=object)
    edges = np.cumsum(np.fromiter(shares.values(), dtype=np.float64))
    edges /= edges[-1]  # trailing zero-share arms now sit exactly at 1.0 and get nobody
    edges[-1] = np.inf  # rounding in the cumulative sum must never leave a number unassigned
    u = hash_uniform(customer_ids, experiment, salt)
    return names[np.searchsorted(edges, u, side="right")]
