"""Which event types the behaviour features read, so an allowed type that none reads is said.

The events contract allows more types than the snapshot SQL counts (`promo_click` is a valid event
that no feature reads). A company that maps its "offer viewed" to it passes validation and then gets
behaviour features that are all constant, with nothing said. The types read are taken from the SQL's
own lists, so this stays true when a feature starts reading a new type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from features.snapshot_sql import ACTIVITY_EVENTS, COUNTED_EVENTS
from features.validated_io import accepted_path
from optichannel.contracts import EVENT_TYPES, INBOUND_CHANNEL

#: event types some behaviour feature reads
READ_EVENT_TYPES: Final = frozenset(ACTIVITY_EVENTS) | frozenset(COUNTED_EVENTS) | frozenset(INBOUND_CHANNEL)
#: allowed by the contract, read by no feature
UNREAD_EVENT_TYPES: Final = tuple(e for e in EVENT_TYPES if e not in READ_EVENT_TYPES)


def event_type_counts(validated_dir: Path) -> dict[str, int]:
    """Accepted events per type (empty when no events were validated)."""
    import duckdb

    path = accepted_path(Path(validated_dir), "events")
    if not path.exists():
        return {}
    query = f"SELECT event_type, COUNT(*) FROM read_parquet('{path.as_posix()}') GROUP BY 1 ORDER BY 2 DESC"
    with duckdb.connect() as con:
        return {str(kind): int(n) for kind, n in con.execute(query).fetchall()}


def unread_events(counts: dict[str, int]) -> tuple[str, bool] | None:
    """A sentence on the events no feature reads and whether that is every event, or None."""
    unread = {kind: n for kind, n in counts.items() if kind not in READ_EVENT_TYPES}
    if not unread:
        return None
    total, skipped = sum(counts.values()), sum(unread.values())
    listed = ", ".join(f"{kind} ({n:,})" for kind, n in unread.items())
    text = f"events of type {listed} are read by no feature: {skipped / total:.0%} of the events"
    every = skipped == total
    if every:
        text += (
            "; every behaviour feature will be constant. Map your events to types the features read: "
            + ", ".join(sorted(READ_EVENT_TYPES))
        )
    return text, every
