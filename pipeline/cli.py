"""The `optichannel` command: each stage registers its own sub-commands here.

Stages import their heavy dependencies (Feast, MLflow, LightGBM) inside the command
bodies, so `optichannel --help` stays fast.
"""

from __future__ import annotations

import typer

from features import cli as features_cli
from pipeline import demo
from simulator import cli as simulator_cli


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
    demo.register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
