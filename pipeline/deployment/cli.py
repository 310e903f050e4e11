"""`optichannel simulate-deployment`: the closed loop on a simulated bank, with its report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def simulate_deployment(
    weeks: int = typer.Option(8, "--weeks", min=1, max=26, help="weeks the service runs"),
    days: int | None = typer.Option(
        None, "--days", min=1, max=180, help="days the service runs (instead of --weeks)"
    ),
    retrain_every: int = typer.Option(
        7, "--retrain-every", min=1, help="retrain (through the gate) every N days"
    ),
    customers: int = typer.Option(2000, "--customers", "-n", min=200, help="size of the simulated bank"),
    history_days: int = typer.Option(
        120, "--history-days", min=42, help="days of history before the service starts"
    ),
    window_hours: int = typer.Option(
        72,
        "--window-hours",
        min=1,
        max=168,
        help="hours from the campaign day's start the service may send in (14: the campaign day only)",
    ),
    trials: int = typer.Option(3, "--trials", min=1, help="Optuna trials per retraining"),
    exploration: float = typer.Option(
        0.05, "--exploration", min=0.0, max=0.5, help="the service's exploration share"
    ),
    seed: int = typer.Option(7, "--seed", "-s", help="random seed of the world and the loop"),
    work: Path = typer.Option(
        Path("data/deployment"), "--work", help="its own world, store, registry, log (replaced)"
    ),
    out: Path = typer.Option(
        Path("reports/deployment"), "--out", help="report.html, report.json, decisions.parquet"
    ),
) -> None:
    """Run the service's decision loop day by day against a simulated bank: decide, send, report
    outcomes back, rebuild features, retrain weekly through the promotion gate; report the true
    value of the policy, business as usual and a holdout, and the OPE estimate on its own logs."""
    from pipeline.deployment.loop import DeploymentConfig, run_deployment
    from pipeline.deployment.report import write_report

    console = Console()
    days = days if days is not None else 7 * weeks
    cfg = DeploymentConfig(customers=customers, history_days=history_days, days=days, seed=seed,
                           retrain_every=retrain_every, trials=trials, exploration=exploration,
                           window_hours=window_hours,
                           work=work)  # fmt: skip
    try:
        result = run_deployment(cfg, console.print)
    except (RuntimeError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    payload = write_report(result, out)
    console.rule("[bold]simulated deployment")
    for sentence in payload["verdicts"]:
        console.print(sentence)
    console.print(f"report: {(out / 'report.html').resolve()} (and report.json, decisions.parquet)")


def register(app: typer.Typer) -> None:
    app.command("simulate-deployment")(simulate_deployment)
