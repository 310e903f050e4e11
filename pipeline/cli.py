"""The `optichannel` command: each stage registers its own sub-commands here.

Stages import their heavy dependencies (Feast, MLflow, LightGBM) inside the command
bodies, so `optichannel --help` stays fast.
"""

from __future__ import annotations

import typer

from experiments import cli as experiments_cli
from features import cli as features_cli
from pipeline import demo
from pipeline.deployment import cli as deployment_cli
from serving import cli as serving_cli
from simulator import cli as simulator_cli
from training import cli as training_cli


def build_app() -> typer.Typer:
    """The full command tree (a fresh object, so tests can invoke it in isolation)."""
    app = typer.Typer(
        name="optichannel",
        help="Next-best-channel: which channel and which hour to contact each customer, or not at all.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    simulator_cli.register(app)
    features_cli.register(app)
    training_cli.register(app)
    serving_cli.register(app)
    experiments_cli.register(app)
    demo.register(app)
    deployment_cli.register(app)
    return app


def quiet_libraries() -> None:
    """Keep third-party chatter (deprecations inside Feast's and MLflow's dependencies, INFO
    logs) out of the command's output; our own warnings and errors still show."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*noload.*")
    warnings.filterwarnings("ignore", message=".*Integer columns in Python cannot represent missing.*")
    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)


def out_of_memory_advice() -> str:
    """What to change when DuckDB hits the batch steps' memory limit (it stops the step, else)."""
    from optichannel.settings import get_settings

    settings = get_settings()
    return (
        f"error: DuckDB needed more than OPTICHANNEL_DUCKDB_MEMORY_LIMIT={settings.duckdb_memory_limit} "
        f"(spilling to {settings.spill_dir}): raise that limit, or for `features build` lower "
        f"OPTICHANNEL_FEATURE_BUCKET_ROWS (now {settings.feature_bucket_rows:,}), then run the step again"
    )


def main() -> None:
    """Console-script entry point."""
    import duckdb

    quiet_libraries()
    try:
        build_app()()
    except duckdb.OutOfMemoryException:
        typer.echo(out_of_memory_advice(), err=True)
        raise SystemExit(1) from None
