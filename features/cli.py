"""The `optichannel validate` command: check raw feeds against their contracts.

Heavy imports (pandas, pyarrow) happen inside the command body so `optichannel --help`
stays fast. A feed that cannot be used at all ends the command with one clear line and
exit code 1, never a traceback.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from features.contract_checks import TableReport
    from features.feed_readiness import HistoryNeed
    from features.feed_remap import MappingReport

_TOP_REASONS = 3


class Engine(StrEnum):
    """Where `features build` runs the snapshot SQL."""

    duckdb = "duckdb"
    spark = "spark"


def register(app: typer.Typer) -> None:
    """Add the feature-stage commands to the `optichannel` app."""
    app.command("validate")(validate)
    group = typer.Typer(help="Feature snapshots and the Feast store.", no_args_is_help=True)
    group.command("build")(build)
    group.command("apply")(apply)
    group.command("materialize")(materialize)
    app.add_typer(group, name="features")


def build(
    validated: Annotated[
        Path | None, typer.Option("--validated", help="Validated feeds [default: <data_dir>/validated].")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Snapshot Parquet [default: <data_dir>/features].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Recompute every snapshot, not only the new days.")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="duckdb: this machine, incremental; spark: the same SQL on OPTICHANNEL_SPARK_MASTER "
            "(needs the `spark` extra and Java 17+; always full).",
        ),
    ] = Engine.duckdb,
    snapshots: Annotated[
        str | None,
        typer.Option(
            "--snapshots",
            help="daily: a snapshot per customer per day (any time can be read); decisions: only each "
            "customer's logged-decision days and the newest day (training and serving read the same "
            "values from far fewer rows; reads at other past times are refused) "
            "[default: OPTICHANNEL_FEATURE_SNAPSHOTS, else daily].",
        ),
    ] = None,
) -> None:
    """Compute feature snapshots per family (only data strictly before each snapshot);
    incremental when the previous build allows it, and says which."""
    import time

    from features.snapshot_grid import GRIDS
    from optichannel.settings import get_settings

    settings = get_settings()
    if snapshots is not None and snapshots not in GRIDS:
        typer.echo(f"error: --snapshots must be one of {', '.join(GRIDS)}, got {snapshots!r}", err=True)
        raise typer.Exit(code=2)
    grid = snapshots or settings.feature_snapshots
    began = time.perf_counter()
    validated, out = validated or settings.validated_dir, out or settings.features_dir
    progress = settings.show_progress and not quiet
    try:
        if engine is Engine.spark:
            from features.spark_build import build_features_spark  # SparkUnavailable is a ValueError

            built = build_features_spark(validated, out, settings, progress=progress, snapshots=grid)
        else:
            from features.build import build_features

            built = build_features(validated, out, progress=progress, full=full, snapshots=grid)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    summary = ", ".join(f"{family} {n:,}" for family, n in built.rows.items())
    typer.echo(f"{'incremental' if built.incremental else 'full rebuild'}: {built.reason}")
    typer.echo(f"{grid} snapshot rows: {summary} -> {out} in {time.perf_counter() - began:.1f} s")
    say_unread_events(validated)


def say_unread_events(validated: Path) -> None:
    """A note on event types no feature reads; a warning when that is every event."""
    from features.event_usage import event_type_counts, unread_events

    unread = unread_events(event_type_counts(validated))
    if unread is not None:
        text, every = unread
        typer.echo(f"{'warning' if every else 'note'}: {text}", err=every)


def validate(
    src: Annotated[
        Path, typer.Argument(metavar="DIR", help="Feed directory: <table>.parquet, <table>/ or <table>.csv.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Where accepted tables, quarantine and report go (default: <data_dir>/validated)."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Reference time for 'not in the future' (ISO 8601; default now, UTC)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar, only a one-line summary.")] = False,
    default_tz: Annotated[
        str | None,
        typer.Option(
            "--default-tz",
            help="IANA zone for customers without a known one [default: the feed's most common zone].",
        ),
    ] = None,
    max_quarantined: Annotated[
        float,
        typer.Option(
            "--max-quarantined", min=0.0, max=1.0, help="Fail (exit 1) when more of any feed is quarantined."
        ),
    ] = 0.05,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="Days of contacts training will split into TRAIN+VALID+TEST (a training config's "
            "split: min_train_days, valid_days, test_days); a shorter history is warned about.",
        ),
    ] = "28+14+14",
    min_history: Annotated[
        int,
        typer.Option(
            "--min-history",
            min=1,
            help="Days of contacts below which training refuses (a training config's "
            "split.min_history_days); a shorter history than --split is split in proportion down to it.",
        ),
    ] = 21,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            help="A feeds.yaml mapping your export's files, columns, values (channels, event types) and "
            "time units onto the contracts; the mapped feeds are written to <out>/inputs and validated.",
        ),
    ] = None,
) -> None:
    """Validate raw feeds: accepted rows, quarantined rows with reasons, and a report."""
    from rich.console import Console
    from rich.table import Table

    from features.feed_io import FeedError
    from features.feed_readiness import HistoryNeed
    from features.validation import parse_as_of, validate_feeds
    from optichannel.localtime import is_valid_tz
    from optichannel.settings import get_settings

    settings = get_settings()
    out_dir = out if out is not None else settings.validated_dir
    try:
        when = parse_as_of(as_of)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {as_of!r}", param_hint="--as-of") from exc
    try:
        need = HistoryNeed.parse(split).with_minimum(min_history)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--split") from None
    if default_tz is not None and not is_valid_tz(default_tz):
        raise typer.BadParameter(f"not an IANA time zone: {default_tz!r}", param_hint="--default-tz")
    options = {"as_of": when, "progress": settings.show_progress and not quiet, "default_tz": default_tz}
    mapped: dict[str, MappingReport] = {}
    try:
        if mapping is None:
            reports = validate_feeds(src, out_dir, **options)  # type: ignore[arg-type]
        else:
            from features.validation_mapped import validate_mapped

            reports, mapped = validate_mapped(src, out_dir, mapping, settings, **options)
    except FeedError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None

    read = sum(r.rows_read for r in reports.values())
    accepted = sum(r.accepted for r in reports.values())
    quarantined = sum(r.quarantined for r in reports.values())
    console = Console()
    if not quiet:
        table = Table(title=f"feed validation (as of {when.isoformat()})")
        table.add_column("table")
        for name in ("read", "accepted", "quarantined"):
            table.add_column(name, justify="right")
        table.add_column("top reasons", overflow="fold")
        for report in reports.values():
            top = list(report.rule_counts.items())[:_TOP_REASONS]
            table.add_row(
                report.table,
                f"{report.rows_read:,}",
                f"{report.accepted:,}",
                f"{report.quarantined:,}",
                "\n".join(f"{label} × {count:,}" for label, count in top) or "-",
            )
        console.print(table)
    console.print(
        f"{len(reports)} tables: read {read:,}, accepted {accepted:,}, quarantined {quarantined:,} "
        f"-> {out_dir} (report: {Path(out_dir) / 'report.json'})",
        highlight=False,
        soft_wrap=True,
    )
    for report in reports.values():
        for label, count in report.repaired.items():
            typer.echo(f"kept: {report.table}: {label} × {count:,}")
    if any(not r.reconciled for r in reports.values()):
        typer.echo("error: counts do not reconcile (read != accepted + quarantined)", err=True)
        raise typer.Exit(code=1)
    _readiness(reports, Path(out_dir), max_quarantined, need, mapped)


def _readiness(
    reports: dict[str, TableReport],
    out_dir: Path,
    max_quarantined: float,
    need: HistoryNeed,
    mapped: dict[str, MappingReport],
) -> None:
    """What the next stages will make of these feeds: notes, and exit 1 past the quarantine limit."""
    from features.feed_readiness import (
        history_note,
        history_problem,
        mapping_lines,
        propensity_note,
        quarantine_problem,
    )

    notes, gap = mapping_lines(mapped, max_quarantined)
    for line in notes:
        typer.echo(f"note: {line}")
    if gap is not None:
        typer.echo(f"error: {gap}", err=True)
        raise typer.Exit(code=1)

    how = "lower split.min_history_days in a training config and pass it to `train --config` "
    how += "(`demo --data DIR --config`); check it here with --min-history DAYS"
    note = history_note(out_dir, need)
    if note is not None:
        typer.echo(f"note: {note}")
    for line in (propensity_note(out_dir), history_problem(out_dir, need, how)):
        if line is not None:
            typer.echo(f"warning: {line}", err=True)
    say_unread_events(out_dir)
    problem = quarantine_problem(reports, max_quarantined)
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        raise typer.Exit(code=1)


def apply() -> None:
    """Register the entity, feature views and feature service in the Feast registry."""
    import time

    from features.store import apply as apply_store
    from optichannel.settings import get_settings

    settings = get_settings()
    began = time.perf_counter()
    try:
        names = apply_store(settings)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"applied {len(names)} Feast objects ({settings.profile} profile) "
        f"in {time.perf_counter() - began:.1f} s"
    )


def materialize(
    stock: Annotated[
        bool, typer.Option("--stock", help="Use Feast's own materialize (slower reference).")
    ] = False,
    end: Annotated[
        str | None, typer.Option("--end", help="Latest snapshot time to load (ISO 8601) [default: newest].")
    ] = None,
) -> None:
    """Load each customer's latest feature snapshot into the online store."""
    import time

    import pandas as pd

    from features.store import materialize as materialize_store
    from optichannel.settings import get_settings

    settings = get_settings()
    began = time.perf_counter()
    try:
        when = pd.Timestamp(end, tz="UTC").to_pydatetime() if end else None
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {end!r}", param_hint="--end") from exc
    try:
        as_of = materialize_store(settings, end=when, stock=stock)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    path = "Feast stock" if stock else "fast"
    typer.echo(f"materialized features as of {as_of:%Y-%m-%d %H:%M} UTC ({path} path) in "
               f"{time.perf_counter() - began:.1f} s")  # fmt: skip
