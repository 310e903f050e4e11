"""`optichannel serve` (the HTTP service) and `optichannel score` (whole campaigns offline).

Heavy imports happen inside the command bodies so `optichannel --help` stays fast. A missing
model or store ends the command with one `error: ...` line naming what to run, exit code 1.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from serving import counters_cli
    from serving.outcomes import cli as outcomes_cli

    app.command("serve")(serve)
    app.command("ask")(ask)
    app.command("score")(score)
    outcomes_cli.register(app)
    counters_cli.register(app)


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def serve(
    port: Annotated[int, typer.Option("--port", "-p", help="HTTP port.")] = 3000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind.")] = "127.0.0.1",
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes (one model each).")] = 2,
    plan: Annotated[
        list[Path] | None,
        typer.Option("--plan", help="Campaign plan YAML a request may name (`campaign`); repeatable."),
    ] = None,
) -> None:
    """Start the BentoML service (`bentoml serve serving.service:NextBestChannel`) until Ctrl-C."""
    from optichannel.registry import ROOT
    from optichannel.settings import get_settings
    from serving.local_server import SERVICE, service_env
    from serving.log_database import describe
    from serving.runtime import (
        StartupError,
        check_stores,
        load_model,
        open_limits,
        open_reader,
        require_token,
    )

    settings = get_settings()
    if plan:
        settings = settings.model_copy(update={"plans": [*settings.plans, *plan]})
    try:  # check before starting workers: one clear line instead of a worker's traceback
        require_token(settings)
        check_stores(settings)
        model, version = load_model(settings)
        open_reader(settings, model)
        limits = open_limits(settings, model)
    except StartupError as exc:
        raise _fail(exc) from None
    typer.echo(f"serving optichannel-nbc version {version} ({settings.model_alias}) on http://{host}:{port}")
    if limits is not None:
        typer.echo(f"campaigns: {', '.join(sorted(limits.plans))} (counters: {settings.profile} profile)")
    typer.echo(f"decision log: {describe(settings.decision_store)}; try: curl -s -X POST "
               f"http://{host}:{port}/predict -H 'Content-Type: application/json' "
               "-d '{\"customer_id\": \"C000001\"}'")  # fmt: skip
    bentoml = Path(sys.executable).with_name("bentoml")
    sys.stdout.flush()
    os.chdir(ROOT)  # become `bentoml serve` itself: Ctrl-C and SIGTERM reach the server directly
    os.execve(bentoml, [str(bentoml), "serve", SERVICE, "--port", str(port), "--host", host],
              service_env(settings, workers, port))  # fmt: skip


def score(
    customers: Annotated[Path, typer.Option("--customers", help="Parquet or CSV with a customer_id column.")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file of decisions to write.")],
    at: Annotated[
        datetime | None,
        typer.Option(
            "--at", help="Window start, UTC [default: the next full hour].", formats=["%Y-%m-%dT%H:%M"]
        ),
    ] = None,
    hours: Annotated[int, typer.Option("--hours", min=1, max=168, help="Window length in hours.")] = 72,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Campaign plan YAML: budget, economics, capacity, quiet hours (docs)."),
    ] = None,
    plan_report: Annotated[
        Path | None, typer.Option("--plan-report", help="HTML plan summary [default: next to --out].")
    ] = None,
) -> None:
    """Decide for a whole campaign offline (features from the offline store) into Parquet; with
    --plan, all customers are allocated jointly so no capacity nor the budget is exceeded."""
    import time

    import pandas as pd

    from decision.engine import Engine
    from optichannel.campaign_plan import load_plan
    from optichannel.settings import get_settings
    from serving.batch_scorer import read_customers, score_campaign
    from serving.decider import next_full_hour
    from serving.runtime import StartupError, load_model

    settings = get_settings()
    began = time.perf_counter()
    try:
        campaign = load_plan(plan) if plan is not None else None
        ids = read_customers(customers)
        model, version = load_model(settings)
        start = pd.Timestamp(at, tz="UTC") if at else pd.Timestamp(next_full_hour())
        summary = score_campaign(settings.features_dir, Engine.of(model, settings), ids, out, start, hours,
                                 settings.show_progress and not quiet, plan=campaign)  # fmt: skip
    except (StartupError, FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    elapsed = time.perf_counter() - began
    if summary.stale:
        typer.echo(
            f"warning: for {summary.stale:,} known customers the newest transaction, behaviour and contact "
            f"features are older than their 2-day time-to-live at {start:%Y-%m-%d %H:%M} UTC, so only the "
            "profile was used: refresh the feeds (`features build`, `features materialize`) or pass an --at "
            "inside the data",
            err=True,
        )
    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.by_channel.items(), key=lambda kv: -kv[1]))
    typer.echo(
        f"{summary.customers:,} customers scored with model version {version} in {elapsed:.1f} s "
        f"({summary.customers / elapsed:,.0f}/s): {mix}; cold start {summary.fallback:,} -> {summary.out}"
    )
    if summary.planned is not None and campaign is not None:
        from serving.plan_summary import print_summary, summarize, write_html

        digest = summarize(summary.planned, campaign.name)
        print_summary(digest, typer.echo)
        page = write_html(digest, plan_report or out.with_suffix(".plan.html"))
        typer.echo(f"plan summary -> {page}")
        from optichannel.campaign_plan import save_plan
        from serving.plan_allocation import online_prices

        priced = campaign.model_copy(update={"prices": online_prices(summary.planned)})
        kept = save_plan(priced, out.with_suffix(".plan.yaml"))
        typer.echo(
            f"the plan with its dual prices, for the service -> {kept} (`optichannel serve --plan {kept}`)"
        )


def ask(
    customer_ids: Annotated[list[str], typer.Argument(help="Customer ids to ask about.")],
    url: Annotated[
        str, typer.Option("--url", help="Base URL of a running service.")
    ] = "http://127.0.0.1:3000",
    hours: Annotated[int, typer.Option("--hours", min=1, max=168, help="Window length in hours.")] = 72,
    token: Annotated[
        str | None, typer.Option("--token", envvar="OPTICHANNEL_API_TOKEN", help="Bearer token, if set.")
    ] = None,
    at: Annotated[
        datetime | None,
        typer.Option(
            "--at", help="Window start, UTC (default: the next full hour).", formats=["%Y-%m-%dT%H:%M"]
        ),
    ] = None,
) -> None:
    """Ask a running service for decisions, as a CRM would, and print them readably."""
    import httpx
    from rich.console import Console
    from rich.table import Table

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start = {"window_start": at.replace(tzinfo=UTC).isoformat()} if at else {}
    body = {
        "requests": [
            {"customer_id": c, "window_hours": hours, "explain": True, **start} for c in customer_ids
        ]
    }
    try:
        response = httpx.post(f"{url.rstrip('/')}/predict_batch", json=body, headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        raise _fail(
            RuntimeError(f"no service at {url} ({exc}); start one with `optichannel serve`")
        ) from None
    if response.status_code != 200:
        raise _fail(RuntimeError(f"the service answered {response.status_code}: {response.text[:500]}"))
    table = Table("customer", "decision", "local time", "value vs none", "top driver", "why", show_lines=True)
    for a in response.json():
        d = a["decision"]
        when = "-" if d["send_at_local"] is None else d["send_at_local"][:16].replace("T", " ")
        driver = a["drivers"][0]["label"] if a.get("drivers") else "-"
        flag = " (cold start)" if a["fallback"] else " [red](STALE features)[/red]" if a.get("stale") else ""
        table.add_row(a["customer_id"] + flag, d["channel"], when,
                      f"{d['expected_value']:.2f} vs {a['no_contact']['expected_value']:.2f}", driver,
                      a["explanation"])  # fmt: skip
    Console(width=160).print(table)
