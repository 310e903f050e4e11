"""What the validated feeds mean for the stages after validation, said at validate time.

A feed can pass its contracts row by row and still be unfit: two thirds of it quarantined (raw channel
names a mapping missed), too short a history for training's time split, or a contact history without
the logging policy's probabilities. Each is found here in one line, before features, Feast and
training have spent minutes on it, so `validate` can exit on what a script must not go past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from features.contract_checks import TableReport
from features.feed_remap import MappingReport
from features.validated_io import accepted_path

#: the share of any feed that may be quarantined before `validate` fails
DEFAULT_MAX_QUARANTINED = 0.05


@dataclass(frozen=True)
class HistoryNeed:
    """Days of contact history training's time split needs: the whole split, or in proportion down to
    `minimum` (training.config.Split's defaults and scaling; features cannot import training, so a test
    holds the two equal)."""

    train_days: int = 28
    valid_days: int = 14
    test_days: int = 14
    minimum: int = 21

    @property
    def days(self) -> int:
        return self.train_days + self.valid_days + self.test_days

    def scaled(self, days: float) -> tuple[float, float, float] | None:
        """(train, validation, test) days for `days` of contacts, as training splits them; None below
        the minimum."""
        if days >= self.days:
            return days - self.valid_days - self.test_days, float(self.valid_days), float(self.test_days)
        if days < self.minimum:
            return None
        share = days / self.days
        return self.train_days * share, self.valid_days * share, self.test_days * share

    def words(self) -> str:
        parts = f"{self.train_days} to train, {self.valid_days} to validate, {self.test_days} to test"
        return f"{self.days} ({parts})"

    @classmethod
    def parse(cls, text: str) -> HistoryNeed:
        """`TRAIN+VALID+TEST` days, e.g. 28+14+14; a ValueError in words otherwise."""
        parts = text.split("+")
        if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"must look like TRAIN+VALID+TEST days, e.g. 28+14+14, got {text!r}")
        return cls(*(int(p) for p in parts))

    def with_minimum(self, minimum: int) -> HistoryNeed:
        return HistoryNeed(self.train_days, self.valid_days, self.test_days, minimum)


def quarantine_problem(reports: Mapping[str, TableReport], max_share: float) -> str | None:
    """One line naming every feed with more than `max_share` of its rows quarantined, and why."""
    over = []
    for report in reports.values():
        if report.rows_read and report.quarantined / report.rows_read > max_share:
            top = next(iter(report.rule_counts.items()), ("?", 0))
            over.append(
                f"{report.table}: {report.quarantined / report.rows_read:.1%} of {report.rows_read:,} rows "
                f"quarantined (mostly {top[0]} × {top[1]:,})"
            )
    if not over:
        return None
    return (
        f"{'; '.join(over)}: more than {max_share:.0%} (--max-quarantined); see the quarantine files "
        "for the rows and their reasons, fix the feed or raise the limit"
    )


def history_problem(validated_dir: Path, need: HistoryNeed, how: str) -> str | None:
    """One line when the accepted contacts span fewer days than training's minimum: the span found,
    the need, and `how` to change it; None when long enough (or no contacts were validated)."""
    span = contact_span(validated_dir)
    if span is None:
        return None
    first, end = span
    days = (end - first) / pd.Timedelta(days=1)
    if need.scaled(days) is not None:
        return None
    return (
        f"contacts span {days:.0f} days ({first:%Y-%m-%d} to {end:%Y-%m-%d}) but training needs at least "
        f"{need.minimum} (its split of {need.words()} is scaled in proportion to a shorter history, down "
        f"to {need.minimum} days): bring a longer history, or {how}"
    )


def history_note(validated_dir: Path, need: HistoryNeed) -> str | None:
    """How training will split a history shorter than its split but above the minimum; else None."""
    span = contact_span(validated_dir)
    if span is None:
        return None
    days = (span[1] - span[0]) / pd.Timedelta(days=1)
    fitted = need.scaled(days)
    if days >= need.days or fitted is None:
        return None
    train, valid, test = fitted
    return (
        f"contacts span {days:.0f} days, fewer than the split's {need.days}: training splits them in "
        f"proportion, {train:.1f} days to train, {valid:.1f} to validate, {test:.1f} to test"
    )


def contact_span(validated_dir: Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(first accepted contact, the feeds' end) as training measures them: the end is the latest
    moment any feed has seen."""
    import duckdb

    contacts = accepted_path(Path(validated_dir), "contacts")
    if not contacts.exists():
        return None
    parts = [f"SELECT MIN(sent_at) AS first, MAX(sent_at) AS last FROM read_parquet('{contacts.as_posix()}')"]
    for table in ("transactions", "events"):
        path = accepted_path(Path(validated_dir), table)
        if path.exists():
            parts.append(f"SELECT NULL, MAX(ts) FROM read_parquet('{path.as_posix()}')")
    with duckdb.connect() as con:
        first, end = con.execute(
            f"SELECT MIN(first), MAX(last) FROM ({' UNION ALL '.join(parts)})"
        ).fetchone()
    if first is None or end is None:
        return None
    return _utc(first), _utc(end)


def _utc(value: object) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


def propensity_note(validated_dir: Path) -> str | None:
    """What training will do with the contacts' logging probabilities, when they are not all there."""
    path = accepted_path(Path(validated_dir), "contacts")
    if not path.exists():
        return None
    known = {}
    for column in ("propensity", "channel_propensity"):
        values = pq.read_table(path, columns=[column]).column(column)
        known[column] = len(values) - values.null_count
    if not any(known.values()):
        return (
            "the contacts carry no propensity or channel_propensity: `train` will stop, since judging a "
            "policy on logged decisions needs the probability the logging policy had of each one; log "
            "them (the service's `outcomes export` does), or the model cannot be evaluated or promoted"
        )
    if not known["propensity"]:
        return (
            "the contacts carry channel_propensity but no propensity: training's logged-data estimates "
            "correct each channel as a whole and trust the model's ranking of hours"
        )
    if not known["channel_propensity"]:
        return (
            "the contacts carry propensity but no channel_propensity: training's logged-data estimates "
            "count only decisions at the logged channel and hour, so they rest on few decisions"
        )
    return None


def mapping_lines(reports: Mapping[str, MappingReport], max_share: float) -> tuple[list[str], str | None]:
    """What a feed mapping set aside: a note per value mapped `unused` (a channel the company does not
    use is said, not silently dropped) and one error line when more than `max_share` of a table had
    values the mapping does not cover (a gap in the mapping, not the company's choice)."""
    notes = [
        f"{r.table}: {reason} × {count:,} rows (set aside, not quarantined as errors)"
        for r in reports.values()
        for reason, count in r.unused.items()
    ]
    over = []
    for r in reports.values():
        gap = sum(r.uncovered.values())
        if r.rows_read and gap / r.rows_read > max_share:
            top, count = r.uncovered.most_common(1)[0]
            over.append(
                f"{r.table}: {gap / r.rows_read:.1%} of {r.rows_read:,} rows not mapped "
                f"(mostly {top} × {count:,})"
            )
    if not over:
        return notes, None
    return notes, f"{'; '.join(over)}: more than {max_share:.0%} (--max-quarantined); extend the mapping"
