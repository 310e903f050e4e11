"""`optichannel train` and `optichannel evaluate`: heavy imports inside the commands, and a
missing prerequisite ends with one line naming it and what to run first."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

    from training.config import TrainConfig

REPORTS = Path("reports")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)


def _config(path: Path | None, trials: int | None) -> TrainConfig:
    from training.config import TrainConfig

    cfg = TrainConfig.from_yaml(path) if path else TrainConfig()
    return cfg.model_copy(update={"trials": trials}) if trials is not None else cfg


#: column -> short header of the printed policy table
TABLE_COLUMNS = {
    "response_choice_p_response": "P(resp)",
    "capture_response": "capture resp",
    "incremental_per_1000": "incr/1000",
    "net_value": "net value",
    "capture_value": "capture value",
    "contacted": "contacted",
}


def print_table(table: pd.DataFrame) -> None:
    """The oracle's verdict on every policy, as a rich table."""
    from rich.console import Console
    from rich.table import Table

    out = Table(title="policies judged by the oracle (true expected outcome per decision)")
    out.add_column("policy")
    for header in TABLE_COLUMNS.values():
        out.add_column(header, justify="right")
    for policy, row in table.iterrows():
        out.add_row(str(policy), *(f"{row[c]:.3f}" for c in TABLE_COLUMNS))
    Console(width=max(100, Console().width)).print(out)


def print_logged(
    result: object, mark: str = "chosen", consequence: str = "the model is not promoted"
) -> None:
    """Every policy's value estimated from logged decisions (what chose and gated the model),
    with the oracle's true value beside it in simulation, and the verdict in words."""
    from rich.console import Console
    from rich.table import Table

    verdict = result.verdict  # type: ignore[attr-defined]
    frame = verdict.table
    truth = "true_value" in frame
    out = Table(title="policies judged on the test weeks' logged decisions (net value per decision)")
    for header in ("policy", "estimated value", "95% CI", *(["true value"] if truth else []),
                   "effective n", "logged decisions read", "contacted"):  # fmt: skip
        out.add_column(header, justify="left" if header == "policy" else "right")
    chosen = f"model_{verdict.learner}"
    for policy, row in frame.sort_values("estimate", ascending=False).iterrows():
        name = f"{policy} ({mark})" if policy == chosen else str(policy)
        cells = [f"{row['estimate']:.3f}", f"{row['lo']:.3f} to {row['hi']:.3f}"]
        if truth:
            cells.append(f"{row['true_value']:.3f}")
        read = str(row.get("cluster", ""))
        out.add_row(name, *cells, f"{row['effective_n']:,.0f}", read, f"{row['contacted']:.2f}")
    console = Console(width=max(100, Console().width))
    console.print(out)
    simple = frame.loc[[p for p in frame.index if not str(p).startswith("model_") and p != "champion"]]
    above = simple[simple["estimate"] > frame.loc[chosen, "estimate"]].drop(
        verdict.baseline.name, errors="ignore"
    )
    for policy, row in above.iterrows():  # set aside by the gate: said, never silent
        console.print(
            f"[bold red]WARNING: the simple policy {policy} is estimated above the model "
            f"({row['estimate']:.3f} vs {frame.loc[chosen, 'estimate']:.3f}) on only "
            f"{row['effective_n']:,.0f} effective decisions, "
            "within noise: too few to block promotion; read it as rough[/bold red]"
        )
    if verdict.baseline.diff[0] > 0:
        every = "the next simple policy" if len(above) else "every simple policy"
        console.print(f"the model beats {every}: {verdict.baseline.words()}")
    else:
        console.print(
            f"[bold red]WARNING: the simple policy {verdict.baseline.name} is estimated to be worth more "
            f"than the model ({verdict.baseline.words()}); {consequence}[/bold red]"
        )


def train(
    trials: Annotated[
        int | None, typer.Option("--trials", min=1, help="Optuna trials [default: config, 20]")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="training config YAML")] = None,
    world: Annotated[
        Path | None, typer.Option("--world", help="simulated world with truth [default: <data_dir>/world]")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Tune, train, register as challenger; choose and promote on the value estimated from logged
    decisions against the champion and every simple policy (the oracle, in simulation, only judges)."""
    from optichannel.settings import get_settings
    from training.train import run

    settings = get_settings()
    try:
        cfg = _config(config, trials)
        show = settings.show_progress and not quiet
        echo = lambda m: typer.echo(m, err=True)  # noqa: E731
        result = run(settings, cfg, world or settings.world_dir, REPORTS, show, echo)
    except (FileNotFoundError, ValueError, ConnectionError) as exc:  # ConnectionError: Dask scheduler
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    if result.table is not None:
        print_table(result.table)
    print_logged(result)
    calib = ", ".join(f"{k} {v:.4f}" for k, v in result.metrics.items() if k.startswith("ece"))
    typer.echo(f"model optichannel-nbc version {result.version} ({result.learner}-learner); {calib}")
    verdict = "promoted to champion" if result.promotion.promoted else "stays challenger"
    typer.echo(f"{verdict}: {result.promotion.reason}")
    if result.report:
        typer.echo(f"evaluation table: {result.report}")
    typer.echo(f"MLflow run {result.run_id}; open the UI with `make mlflow-ui`")


def evaluate(
    alias: Annotated[str, typer.Option("--alias", help="registry alias to evaluate")] = "champion",
    config: Annotated[Path | None, typer.Option("--config", help="training config YAML")] = None,
    world: Annotated[
        Path | None, typer.Option("--world", help="simulated world [default: <data_dir>/world]")
    ] = None,
) -> None:
    """Judge a registered model against the simple policies on the test weeks' logged decisions
    (what a bank can measure), and with the oracle too when the world is simulated; write
    reports/evaluation.json."""
    import json
    from dataclasses import replace
    from types import SimpleNamespace

    from decision.rules import Rules
    from features.request_params import RequestParams
    from features.store import open_store
    from features.store_definitions import JOIN_KEY
    from optichannel.pyfunc_model import load_bundle
    from optichannel.settings import get_settings
    from training import evaluation, policy_value, tracking
    from training.dataset import training_frame
    from training.train import judge

    settings = get_settings()
    cfg = _config(config, None)
    world = world or settings.world_dir
    client = tracking.setup(settings)
    version = tracking.alias_version(client, alias)
    if version is None:
        typer.echo(f"error: no model has the alias {alias!r}: run `optichannel train` first", err=True)
        raise typer.Exit(code=1)
    try:
        model = load_bundle(f"models:/{tracking.MODEL_NAME}@{alias}")
        store = open_store(settings)
        tf = training_frame(store, settings.validated_dir, cfg.labels, cfg.split)
        tf = replace(tf, request_params=RequestParams.from_meta(model.meta))  # the model's own constants
        oracle = policy_value.load_oracle(world)
        rules = Rules.of(settings, cfg.economics)
        logged = policy_value.prepare(store, tf, cfg.evaluation, rules, oracle)
        verdict = judge(logged, {alias: model}, None, tf)
    except (FileNotFoundError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    print_logged(
        SimpleNamespace(verdict=verdict), "evaluated", "use the simple policy until a model beats it"
    )
    for note in logged.notes:
        typer.echo(f"note: {note}")
    frame = verdict.table
    payload: dict[str, object] = {
        "model_version": version,
        "alias": alias,
        "logged_value": {
            p: {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
            for p, row in frame.iterrows()
        },
        "best_simple_policy": {"name": verdict.baseline.name, "difference": list(verdict.baseline.diff)},
        "notes": logged.notes,
    }
    if oracle is None:
        typer.echo("no simulator truth: the logged-data estimates stand alone, as on any bank's own feeds")
    else:
        contacts = tf.frame
        test_from = contacts.loc[contacts["split"] == "test", "sent_at"].min()
        points = evaluation.decision_points(
            contacts[JOIN_KEY], test_from, tf.feed_end, cfg.evaluation, cfg.seed
        )
        ctx = evaluation.prepare(store, Path(world), points, cfg.evaluation, rules, tf.request_params)
        table, calibration = evaluation.evaluate(ctx, model)
        print_table(table)
        payload |= {
            "calibration": calibration,
            "policies": {p: {k: float(v) for k, v in row.items()} for p, row in table.iterrows()},
        }
        typer.echo(
            f"{alias} = version {version}; " + ", ".join(f"{k} {v:.4f}" for k, v in calibration.items())
        )
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / "evaluation.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    typer.echo(f"evaluation table: {path}")
