"""The `optichannel experiment` commands: design a test, assign customers to arms, analyse it,
run a whole simulated test against the truth, and judge the model off-policy on logged contacts.

Heavy imports (pandas, statsmodels, matplotlib) happen inside the command bodies so that
`optichannel --help` stays fast. Bad input ends the command with one `error: ...` line and exit
code 1, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from experiments.learn_cli import learn

if TYPE_CHECKING:
    from optichannel.model_bundle import NextBestChannelModel
    from optichannel.settings import Settings

ARMS_HELP = "Arms and their shares, e.g. model=0.45,bau=0.45,holdout=0.1 (shares sum to 1)."
CAMPAIGN_ARMS = "model=0.4,bau=0.4,random=0.1,holdout=0.1"


def register(app: typer.Typer) -> None:
    """Add the `experiment` command group to the `optichannel` app."""
    group = typer.Typer(help="A/B tests: design, assignment and the uplift report.", no_args_is_help=True)
    group.command("design")(design)
    group.command("assign")(assign)
    group.command("analyze")(analyze)
    group.command("learn")(learn)
    group.command("simulate")(simulate)
    group.command("ope")(ope)
    app.add_typer(group, name="experiment")


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def design(
    baseline: Annotated[float, typer.Option("--baseline", help="Control conversion rate, e.g. 0.03.")],
    mde: Annotated[float, typer.Option("--mde", help="Smallest uplift worth detecting, absolute (0.005).")],
    arms: Annotated[str, typer.Option("--arms", help=ARMS_HELP)] = "model=0.45,bau=0.45,holdout=0.1",
    control: Annotated[str, typer.Option("--control", help="The arm the others are compared with.")] = "bau",
    alpha: Annotated[float, typer.Option("--alpha", help="Family-wise false positive rate.")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="Chance to detect the uplift if real.")] = 0.8,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the design as YAML for `experiment analyze --design`.")
    ] = None,
) -> None:
    """Customers needed per arm to detect the uplift (Bonferroni across comparisons)."""
    from rich.console import Console
    from rich.table import Table

    from experiments.design import sample_size, save_design
    from optichannel.assignment import parse_arms

    try:
        plan = sample_size(baseline, mde, parse_arms(arms), control, alpha=alpha, power=power)
    except ValueError as exc:
        raise _fail(exc) from None
    if out is not None:
        typer.echo(f"design: {save_design(plan, out)}")
    table = Table(title=f"sample size: baseline {baseline:.2%}, detect {mde * 100:+.2f} points")
    for column in ("arm", "role", "share", "customers"):
        table.add_column(column, justify="left" if column in ("arm", "role") else "right")
    for arm, row in plan.table().iterrows():
        table.add_row(str(arm), row["role"], f"{row['share']:.1%}", f"{int(row['n']):,}")
    table.add_row("total", "", "100%", f"{plan.total_n:,}", style="bold")
    console = Console()
    console.print(table)
    console.print(
        f"power {power:.0%} per comparison at alpha {plan.corrected_alpha:.3g} "
        f"({plan.comparisons} comparison(s) against {control}, Bonferroni)",
        highlight=False,
    )


def assign(
    customers: Annotated[Path, typer.Option("--customers", help="Parquet/CSV with a customer_id column.")],
    experiment: Annotated[str, typer.Option("--experiment", help="Experiment name (salts the hash).")],
    out: Annotated[Path, typer.Option("--out", help="Assignment Parquet to write.")],
    arms: Annotated[str, typer.Option("--arms", help=ARMS_HELP)] = "model=0.45,bau=0.45,holdout=0.1",
    salt: Annotated[str, typer.Option("--salt", help="Extra salt: change it to reshuffle.")] = "",
) -> None:
    """Assign every customer to an arm by a stable salted hash of the id."""
    import pandas as pd

    from experiments.export_tables import read_table
    from optichannel.assignment import assign_arms, parse_arms

    try:
        shares = parse_arms(arms)
        table = read_table(customers, "customers")
        if "customer_id" not in table.columns:
            raise ValueError(f"{customers} has no customer_id column")
        ids = table["customer_id"].drop_duplicates()
        arm = assign_arms(ids, experiment, shares, salt=salt)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    frame = pd.DataFrame({"customer_id": ids.to_numpy(), "experiment": experiment, "arm": arm})
    frame["planned_share"] = frame["arm"].map(shares)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    counts = frame["arm"].value_counts().reindex(list(shares), fill_value=0)
    summary = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    typer.echo(f"assigned {len(frame):,} customers to {experiment!r}: {summary} -> {out}")


def analyze(
    assignments: Annotated[
        Path,
        typer.Option("--assignments", help="Customers and their arm (Parquet/CSV; docs: your-data)."),
    ],
    outcomes: Annotated[
        Path | None, typer.Option("--outcomes", help="Outcomes by customer_id [default: in the assignments].")
    ] = None,
    contacts: Annotated[
        Path | None, typer.Option("--contacts", help="Or: the contacts feed (Parquet file/dir or CSV).")
    ] = None,
    outcome: Annotated[
        str | None,
        typer.Option(
            "--outcome", help="Outcome column: 0/1 flag, timestamp or number [contacts: converted_at]."
        ),
    ] = None,
    control: Annotated[str, typer.Option("--control", help="The arm the others are compared with.")] = "bau",
    segment: Annotated[
        str | None, typer.Option("--segment", help="Column to break the uplift down by.")
    ] = None,
    cost: Annotated[
        list[str] | None, typer.Option("--cost", help="Cost per customer of an arm, ARM=VALUE (repeatable).")
    ] = None,
    design_file: Annotated[
        Path | None,
        typer.Option("--design", help="Design YAML (`experiment design --out`): check the sample."),
    ] = None,
    arm_column: Annotated[str, typer.Option("--arm-column", help="The assignments' arm column.")] = "arm",
    id_column: Annotated[str, typer.Option("--id-column", help="The customer id column.")] = "customer_id",
    out: Annotated[
        Path, typer.Option("--out", help="HTML report to write (and <stem>.json beside it).")
    ] = Path("reports/experiment.html"),
    arms: Annotated[
        str | None,
        typer.Option("--arms", help="Planned shares for the ratio check [default: design or assignments]."),
    ] = None,
    title: Annotated[str, typer.Option("--title", help="Report title.")] = "A/B test: uplift report",
) -> None:
    """Analyse a test (intention to treat): the HTML report, a JSON summary, loud warnings."""
    from experiments.analysis import qini_for
    from experiments.design import load_design
    from experiments.export_analysis import analyze_export, parse_costs, write_outputs
    from experiments.export_tables import read_table
    from optichannel.assignment import parse_arms

    try:
        result = analyze_export(
            read_table(assignments, "assignments"), control, outcome,
            outcomes=None if outcomes is None else read_table(outcomes, "outcomes"),
            contacts=None if contacts is None else read_table(contacts, "contacts"),
            arm_column=arm_column, id_column=id_column, segment=segment, costs=parse_costs(cost or []),
            design=None if design_file is None else load_design(design_file),
            planned_shares=parse_arms(arms) if arms else None,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    analysis = result.analysis
    qinis = []
    if "score" in result.frame.columns and analysis.outcome.binary:
        for arm in analysis.comparisons.index:
            try:
                qinis.append(qini_for(result.frame, arm, control))
            except ValueError as exc:
                typer.echo(f"warning: no Qini curve for {arm}: {exc}", err=True)
    paths = write_outputs(result, out, title, qinis)
    for line in analysis.warnings:
        typer.echo(f"warning: {line}", err=True)
    if analysis.srm.get("mismatch"):
        typer.echo(f"warning: sample-ratio mismatch: {analysis.srm['message']}", err=True)
    for line in analysis.notes:
        typer.echo(f"note: {line}")
    typer.echo(analysis.headline["text"])
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")


def _champion(settings: Settings, alias: str) -> tuple[NextBestChannelModel, str]:
    """The registered model holding `alias` and its version; a clear error when there is none."""
    from optichannel import registry
    from optichannel.pyfunc_model import load_bundle
    from optichannel.registry import alias_version

    version = alias_version(registry.setup(settings), alias)
    if version is None:
        raise ValueError(f"no model has the alias {alias!r}: run `optichannel train` first")
    return load_bundle(registry.model_uri(alias)), version


def simulate(
    customers: Annotated[int, typer.Option("--customers", min=1, help="Customers in the test.")] = 2000,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Decision time (ISO, UTC) [default: a full window before the feeds end]."),
    ] = None,
    arms: Annotated[str, typer.Option("--arms", help=ARMS_HELP)] = CAMPAIGN_ARMS,
    alias: Annotated[str, typer.Option("--alias", help="Registry alias of the model arm.")] = "champion",
    world: Annotated[
        Path | None, typer.Option("--world", help="Simulated world [default: <data_dir>/world].")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="HTML report to write.")] = Path("reports/ab_test.html"),
    experiment: Annotated[str, typer.Option("--experiment", help="Name (salts the hash).")] = "simulated-ab",
    window: Annotated[int, typer.Option("--window", min=1, help="Decision window, hours.")] = 72,
    seed: Annotated[int | None, typer.Option("--seed", help="[default: settings seed]")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Campaign plan YAML: each arm runs under its share of its limits."),
    ] = None,
) -> None:
    """Run a whole A/B test on simulated customers and check its estimate against the true uplift."""
    from experiments.campaign import check_arms, run_campaign
    from experiments.console import campaign_table, print_table
    from experiments.tracking import log_campaign
    from optichannel.assignment import parse_arms
    from optichannel.campaign_plan import load_plan
    from optichannel.settings import get_settings

    settings = get_settings()
    world = world or settings.world_dir
    seed = settings.seed if seed is None else seed
    try:
        shares = check_arms(parse_arms(arms))
        campaign = load_plan(plan) if plan is not None else None
        model, version = _champion(settings, alias)
        result = run_campaign(
            settings, world, model, at=at, customers=customers, arms=shares, window_hours=window,
            seed=seed, experiment=experiment, out=out, progress=not quiet, plan=campaign,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    run_id = log_campaign(settings, result, model_version=version, alias=alias, world_dir=world)
    print_table(campaign_table(result))
    typer.echo(result.analysis.headline["text"])
    typer.echo(f"report: {result.report}")
    typer.echo(f"MLflow run {run_id} ({alias} = version {version})")


def ope(
    contacts: Annotated[Path, typer.Option("--contacts", help="Logged contacts with propensities.")],
    alias: Annotated[str, typer.Option("--alias", help="Registry alias of the model to judge.")] = "champion",
    estimator: Annotated[str, typer.Option("--estimator", help="ips, snips, dr, dr_channel or all.")] = "all",
    days: Annotated[
        int, typer.Option("--days", min=1, help="Decisions of the last N days (held out by training).")
    ] = 28,
    hours: Annotated[str, typer.Option("--hours", help="Local hours of a campaign day, start-end.")] = "8-22",
    n_boot: Annotated[int, typer.Option("--n-boot", min=2, help="Bootstrap resamples.")] = 1000,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars.")] = False,
) -> None:
    """Off-policy value of the model policy on logged decisions, next to the logging policy's."""
    from decision.engine import Engine
    from experiments.console import ope_table, print_table
    from experiments.export_tables import read_table
    from experiments.offpolicy import ESTIMATORS, evaluate_model_policy, logged_decisions
    from features.store import open_store
    from optichannel.settings import get_settings

    settings = get_settings()
    try:
        if estimator != "all" and estimator not in ESTIMATORS:
            raise ValueError(f"--estimator must be one of {', '.join(ESTIMATORS)} or all, got {estimator!r}")
        chosen = ESTIMATORS if estimator == "all" else (estimator,)
        start, sep, end = hours.partition("-")
        if not sep or not start.strip().isdigit() or not end.strip().isdigit():
            raise ValueError(f"--hours must look like 8-22, got {hours!r}")
        logged = read_table(contacts, "contacts")
        logged_decisions(logged, days=days)  # refuse unusable logs before loading the model
        model, version = _champion(settings, alias)
        result = evaluate_model_policy(
            open_store(settings), Engine.of(model, settings), logged, estimators=chosen, days=days,
            hours=(int(start), int(end)), n_boot=n_boot, seed=settings.seed,
            progress=settings.show_progress and not quiet,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(exc) from None
    print_table(ope_table(result, f"{alias} (version {version})"))
    typer.echo(f"{len(result.decisions):,} logged decisions; the model agrees with {result.agree:,} of them")
    for note in result.notes:
        typer.echo(f"note: {note}")
