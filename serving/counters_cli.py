"""`optichannel counters rebuild`: after Redis restarted without its data, the service refuses to
book (its counters' generation key is gone); this rebuilds the handed-out contacts and campaign
counters from the decision log and lets it book again (`serving.generation`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the `counters` command group to the `optichannel` app."""
    group = typer.Typer(
        help="The service's shared counters (frequency cap, campaigns).", no_args_is_help=True
    )
    group.command("rebuild")(rebuild_counters)
    app.add_typer(group, name="counters")


def rebuild_counters(
    plan: Annotated[
        list[Path] | None,
        typer.Option(
            "--plan", help="The campaign plans the service runs with (as `serve --plan`); repeatable."
        ),
    ] = None,
) -> None:
    """Rebuild the production profile's Redis counters from the decision log, then let the service
    book again. Run it with the service's plans after Redis lost its data."""
    from sqlalchemy.exc import SQLAlchemyError

    from optichannel.settings import get_settings
    from serving.generation import rebuild
    from serving.handed_out import open_handed_out
    from serving.log_database import unusable
    from serving.outcomes.cli import _campaign_limits
    from serving.shared_stores import redis_client

    settings = get_settings()
    if plan:
        settings = settings.model_copy(update={"plans": [*settings.plans, *plan]})
    if settings.profile != "production":
        typer.echo("error: only the production profile keeps its counters in Redis (set OPTICHANNEL_PROFILE)",
                   err=True)  # fmt: skip
        raise typer.Exit(code=1)
    try:
        limits = _campaign_limits(settings)
        handed_out = (
            open_handed_out(settings.profile, settings.redis_url, settings.handed_out)
            if settings.count_handed_out
            else None
        )
        done = rebuild(redis_client(settings.redis_url), settings.decision_store, handed_out, limits)
    except SQLAlchemyError as exc:
        typer.echo(f"error: {unusable(settings.decision_store, exc)}", err=True)
        raise typer.Exit(code=1) from None
    except Exception as exc:  # Redis unreachable, a plan that does not load: one line
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        typer.echo(f"error: counters not rebuilt: {why}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"counters rebuilt from the decision log: {done['handed_out']:,} handed-out contacts, "
        f"{done['campaign']:,} campaign bookings; the service books again"
    )
