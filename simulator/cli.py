"""`optichannel simulate`: write a simulated bank (four feeds + truth) to a directory."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import typer


def simulate(
    customers: int = typer.Option(
        None, "--customers", "-n", min=1, help="number of customers [config: 2000]"
    ),
    days: int = typer.Option(None, "--days", "-d", min=7, help="number of simulated days [config: 120]"),
    seed: int = typer.Option(None, "--seed", "-s", help="random seed; same seed, same bytes [config: 7]"),
    start: dt.datetime = typer.Option(
        None, "--start", formats=["%Y-%m-%d"], help="first day [config: 2026-01-05]"
    ),
    out: Path = typer.Option(None, "--out", "-o", help="output directory [default: <data_dir>/world]"),
    config: Path = typer.Option(None, "--config", "-c", help="world config YAML; options override it"),
    workers: int = typer.Option(min(2, os.cpu_count() or 1), "--workers", "-w", min=1, help="processes"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Simulate a bank: customers, transactions, events and contacts as Parquet, plus the latent truth."""
    from rich.console import Console
    from rich.table import Table

    from optichannel.progress import progress_bar
    from optichannel.settings import get_settings
    from simulator.generate import generate_world
    from simulator.world import WorldConfig

    console = Console()
    try:
        base = WorldConfig.from_yaml(config) if config else WorldConfig()
        overrides = {
            "customers": customers,
            "days": days,
            "seed": seed,
            "start": start.date() if start else None,
        }
        cfg = WorldConfig.model_validate(
            base.model_dump() | {k: v for k, v in overrides.items() if v is not None}
        )
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    settings = get_settings()
    out = out or settings.world_dir
    n_chunks = -(-cfg.customers // cfg.chunk_size)
    began = time.perf_counter()
    with progress_bar(enabled=settings.show_progress and not quiet) as bar:
        task = bar.add_task(f"simulating {cfg.customers:,} customers x {cfg.days} days", total=n_chunks)
        totals = generate_world(cfg, out, workers=workers, on_chunk=lambda _: bar.advance(task))
    seconds = time.perf_counter() - began

    table = Table(title=f"simulated bank in {out}", show_edge=False)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in totals.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    rows = sum(v for k, v in totals.items() if k != "customers")
    console.print(
        f"{seconds:.1f} s, {rows / max(seconds, 1e-9):,.0f} feed rows/s; "
        f"truth in {out / 'truth'} (seed {cfg.seed})"
    )


def simulate_ab(
    out: Path = typer.Option(..., "--out", "-o", help="table to write (.csv or .parquet)"),
    rows: int = typer.Option(64_000, "--rows", "-n", min=100, help="customers in the test"),
    effect: str = typer.Option(
        "heterogeneous", "--effect", help="heterogeneous (arm a helps x0 > 0, b the rest), constant or none"
    ),
    seed: int = typer.Option(7, "--seed", "-s", help="random seed"),
) -> None:
    """Write a randomised three-arm A/B table with known effects (for `experiment analyze | learn`)."""
    from simulator.ab_table import simulate_ab_table

    if effect not in ("heterogeneous", "constant", "none"):
        typer.echo(f"error: --effect must be heterogeneous, constant or none, got {effect!r}", err=True)
        raise typer.Exit(1)
    if out.suffix.lower() not in (".csv", ".parquet"):
        typer.echo(f"error: --out must end in .csv or .parquet, got {out}", err=True)
        raise typer.Exit(1)
    ab = simulate_ab_table(rows, effect, seed=seed)  # type: ignore[arg-type]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        ab.table.to_csv(out, index=False)
    else:
        ab.table.to_parquet(out, index=False)
    truth = {f"always {a}": ab.policy_value([a] * rows) for a in ab.truth.columns}
    truth["oracle (best arm per customer)"] = float(ab.truth.max(axis=1).mean())
    typer.echo(
        f"{rows:,} customers, arms {', '.join(ab.truth.columns)} (control: none), "
        f"outcome 'converted' -> {out}"
    )
    typer.echo("true conversion rate per policy: " + ", ".join(f"{k} {v:.2%}" for k, v in truth.items()))


def register(app: typer.Typer) -> None:
    """Add `simulate` and `simulate-ab` to the top-level command."""
    app.command("simulate")(simulate)
    app.command("simulate-ab")(simulate_ab)
