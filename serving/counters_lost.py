"""What a wiped Redis looks like to the code that books on it: the generation key written when the
counters are built, and the error a booking raises without it (`serving.generation` rebuilds them).
A leaf module, so the stores that book and the code that rebuilds them can share it."""

from __future__ import annotations

#: written when the counters are built (`serving.generation`); absent after Redis lost its data
GENERATION_KEY = "optichannel:generation"

LOST = (
    "the shared counters are gone (Redis restarted without its data): bookings refused until "
    "`optichannel counters rebuild` rebuilds them from the decision log"
)


class CountersLost(RuntimeError):
    """The generation key is missing: booking now could break a cap or a capacity."""

    def __init__(self) -> None:
        super().__init__(LOST)
