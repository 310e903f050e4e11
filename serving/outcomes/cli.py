"""`optichannel outcomes import | export`: the loop's return path on the command line.

A CRM's outcome export goes in (checked, quarantined with reasons, resumable), and the service's
own history comes out as the contacts feed the rest of the pipeline reads. Bad input ends with one
`error: ...` line and exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from optichannel.settings import Settings
    from serving.campaign_limits import CampaignLimits


def register(app: typer.Typer) -> None:
    """Add the `outcomes` command group to the `optichannel` app."""
    group = typer.Typer(
        help="Outcomes the CRM reports back, and the service's history out.", no_args_is_help=True
    )
    group.command("import")(import_outcomes)
    group.command("export")(export_contacts)
    app.add_typer(group, name="outcomes")


def _fail(exc: Exception | str) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def _campaign_limits(settings: Settings) -> CampaignLimits | None:
    """The service's campaign plans and counters (when it runs with plans), so `not_sent` gives
    back what a campaign decision booked; their economics come from the champion's metadata."""
    if not settings.plans:
        return None
    from serving.runtime import StartupError, load_model, open_limits

    try:
        return open_limits(settings, load_model(settings)[0])
    except StartupError as exc:
        raise ValueError(str(exc)) from None


def import_outcomes(
    path: Annotated[Path, typer.Argument(help="CSV or Parquet with decision_id, event, at [, value].")],
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress line per piece.")] = False,
) -> None:
    """Import reported outcomes (sent, not_sent, delivered, responded, converted) into the store."""
    from sqlalchemy.exc import SQLAlchemyError

    from optichannel.settings import get_settings
    from serving.handed_out import open_handed_out
    from serving.log_database import describe, unusable
    from serving.outcomes.import_file import import_file

    settings = get_settings()
    handed = open_handed_out(settings.profile, settings.redis_url, settings.handed_out)

    def step(rows: int) -> None:
        if not quiet:
            typer.echo(f"  {rows:,} rows stored", err=True)

    try:
        limits = _campaign_limits(settings)
        result = import_file(path, settings.decision_store, handed, on_chunk=step, limits=limits)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    except SQLAlchemyError as exc:
        raise _fail(unusable(settings.decision_store, exc)) from None
    if result.already:
        typer.echo(f"{path} was imported before (finished {result.already}): nothing applied again "
                   f"({result.accepted:,} accepted, {result.quarantined:,} quarantined then)")  # fmt: skip
        return
    resumed = f" (resumed after row {result.resumed_at:,})" if result.resumed_at else ""
    counts = f"{result.accepted:,} accepted + {result.quarantined:,} quarantined"
    typer.echo(f"{result.read:,} rows read{resumed} = {counts}; {result.released:,} not_sent released")
    if result.quarantined:
        typer.echo(
            f"warning: {result.quarantined:,} rows quarantined with their reason in "
            f"{describe(settings.decision_store)} (table outcome_quarantine)",
            err=True,
        )


def export_contacts(
    out: Annotated[Path, typer.Option("--out", help="Directory for contacts.parquet.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Export decisions settled by this time (ISO, UTC) [now].")
    ] = None,
) -> None:
    """Write the service's decisions with their outcomes as the contacts feed (with propensities)."""
    import pandas as pd
    from sqlalchemy.exc import SQLAlchemyError

    from optichannel.settings import get_settings
    from serving.contacts_export import contacts_feed, write_contacts
    from serving.log_database import unusable

    settings = get_settings()
    try:
        moment = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
        if moment.tzinfo is None:
            moment = moment.tz_localize("UTC")
        store = settings.decision_store
        if isinstance(store, Path) and not store.exists():
            raise FileNotFoundError(f"no decision log at {store}: the service has not decided yet")
        exported = contacts_feed(store, moment)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    except SQLAlchemyError as exc:
        raise _fail(unusable(settings.decision_store, exc)) from None
    path = write_contacts(exported, out)
    typer.echo(exported.sentence())
    typer.echo(f"contacts: {path}")
