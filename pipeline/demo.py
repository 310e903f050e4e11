"""`optichannel demo`: the whole journey on a small simulated bank (or on your own feeds).

Each step is a stage's public function; the demo only sequences them and reports
where every output landed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from optichannel.channels import NONE
from pipeline.demo_checks import one_line, ready, train_config

if TYPE_CHECKING:
    from datetime import datetime

    from optichannel.settings import Settings

#: the demo campaign's limits (a call centre in Moscow, an SMS quota, a budget)
PLAN = Path(__file__).resolve().parents[1] / "docs" / "campaign_plan.yaml"


def _step(console: Console, title: str, action: Callable[[], str]) -> None:
    """Run one step; what a user can fix (a missing directory or table, too short a history) ends the
    demo with one line naming it, as the step's own command would, not with a traceback."""
    console.rule(f"[bold]{title}")
    began = time.perf_counter()
    try:
        summary = action()
    except (FileNotFoundError, ValueError, ConnectionError) as exc:
        typer.echo(f"error: {one_line(exc)}", err=True)
        raise typer.Exit(code=1) from None
    console.print(f"[green]done[/] in {time.perf_counter() - began:.1f} s — {summary}")


def demo(
    customers: int = typer.Option(2000, "--customers", "-n", min=100, help="size of the simulated bank"),
    days: int = typer.Option(120, "--days", "-d", min=28, help="simulated days"),
    seed: int = typer.Option(7, "--seed", "-s", help="random seed"),
    trials: int = typer.Option(
        None, "--trials", min=1, help="Optuna trials for the response model [default: the config's, else 5]"
    ),
    stop_after: int = typer.Option(
        None,
        "--stop-after",
        min=1,
        max=8,
        help="stop after this step (1 simulate ... 5 train, 6 serve, 7 campaign plan, 8 A/B)",
    ),
    data: Path = typer.Option(
        None,
        "--data",
        help="your own feeds (Parquet or CSV in the documented contracts); skips the simulator",
    ),
    config: Path = typer.Option(
        None, "--config", help="training config YAML (as `train --config`): trials, split, economics..."
    ),
    mapping: Path = typer.Option(
        None, "--mapping", help="with --data: a feeds.yaml mapping your export onto the contracts"
    ),
    max_quarantined: float = typer.Option(
        0.05, "--max-quarantined", min=0.0, max=1.0, help="stop when more of any feed is quarantined"
    ),
) -> None:
    """Run the pipeline end to end: simulate, validate, build features, Feast, train and evaluate,
    serve a few decisions over HTTP, and run a simulated A/B test with its HTML report."""
    from features.build import build_features
    from features.cli import say_unread_events
    from features.validation import validate_feeds
    from optichannel.settings import get_settings
    from simulator.generate import generate_world
    from simulator.world import WorldConfig

    console = Console()
    settings = get_settings()
    began = time.perf_counter()
    world = data or settings.world_dir
    train_cfg = train_config(config, trials, seed)

    if data is None:
        cfg = WorldConfig(customers=customers, days=days, seed=seed)

        def simulate() -> str:
            totals = generate_world(cfg, world, workers=2)
            return ", ".join(f"{k} {v:,}" for k, v in totals.items()) + f" in {world}"

        _step(console, f"1. simulate a bank of {customers:,} customers over {days} days", simulate)
        if stop_after == 1:
            return
    else:
        console.print(f"using your feeds in {data}: the simulator and oracle-based steps are skipped")

    if mapping is not None and data is None:
        typer.echo("error: --mapping maps your own feeds: pass them with --data DIR", err=True)
        raise typer.Exit(code=2)

    def validate() -> str:
        mapped = {}
        if mapping is None:
            reports = validate_feeds(
                world, settings.validated_dir, as_of=None, progress=settings.show_progress
            )
        else:
            from features.validation_mapped import validate_mapped

            reports, mapped = validate_mapped(world, settings.validated_dir, mapping, settings,
                                              as_of=None, progress=settings.show_progress)  # fmt: skip
        parts = [f"{n}: {r.accepted:,} accepted / {r.quarantined:,} quarantined" for n, r in reports.items()]
        ready(reports, settings.validated_dir, max_quarantined, train_cfg.split, stop_after, mapped)
        return "; ".join(parts) + f" -> {settings.validated_dir}"

    _step(console, "2. validate the feeds against their contracts", validate)
    if stop_after == 2:
        return

    def features() -> str:
        built = build_features(settings.validated_dir, settings.features_dir, progress=settings.show_progress)
        say_unread_events(settings.validated_dir)
        mode = "incremental" if built.incremental else "full rebuild"
        rows = ", ".join(f"{k} {v:,}" for k, v in built.rows.items())
        return f"{rows} snapshot rows ({mode}: {built.reason}) -> {settings.features_dir}"

    _step(console, "3. build daily feature snapshots (data strictly before each snapshot)", features)
    if stop_after == 3:
        return

    def store() -> str:
        from features.store import apply, materialize

        names = apply(settings)
        as_of = materialize(settings)
        return (
            f"{len(names)} Feast objects applied; online store as of {as_of:%Y-%m-%d} -> {settings.feast_dir}"
        )

    _step(console, "4. apply the Feast repo and materialize the online store", store)
    if stop_after == 4:
        return

    def train() -> str:
        from training.train import run

        cfg = train_cfg
        result = run(settings, cfg, None if data else world, Path("reports"), settings.show_progress,
                     lambda m: console.print(f"  {m}"))  # fmt: skip
        from training.cli import print_logged, print_table

        if result.table is not None:
            print_table(result.table)
        print_logged(result)
        verdict = "promoted to champion" if result.promotion.promoted else "kept as challenger"
        return f"optichannel-nbc version {result.version} {verdict} ({result.promotion.reason})"

    _step(
        console, f"5. tune ({train_cfg.trials} Optuna trials), train, register and evaluate the model", train
    )
    if stop_after == 5:
        return

    def serve() -> str:
        from datetime import timedelta

        import pandas as pd

        from features.store import snapshot_span
        from serving.cli import ask
        from serving.local_server import running_service

        ids = pd.read_parquet(settings.validated_dir / "customers.parquet")["customer_id"].astype(str)
        sample = [*ids.sample(5, random_state=seed), "new-customer-0001"]
        # the simulated bank's "now" is its last snapshot: ask for the morning after it (fresh features)
        at = (
            (pd.Timestamp(snapshot_span(settings)[1]) + pd.Timedelta(hours=7))
            .tz_convert(None)
            .to_pydatetime()
        )
        with running_service(settings, workers=1) as url:
            console.print(
                f"  service up at {url}; asking it as a CRM would (POST /predict_batch) for {at:%d %b %Y}:"
            )
            ask(sample, url=url, hours=72, token=settings.api_token, at=at)
            later = at + timedelta(days=5)
            console.print(
                f"  and once on purpose for {later:%d %b %Y}, past the features' 2-day time-to-live:"
            )
            ask(sample[:1], url=url, hours=72, token=settings.api_token, at=later)
            report_back(url, len(sample) + 1, at)
        return f"{len(sample) + 1} decisions, service stopped; every decision is in {settings.decision_log}"

    def report_back(url: str, asked: int, at: datetime) -> None:
        """The loop's return path: the CRM says what happened, the history comes out as contacts."""
        import httpx
        import pandas as pd

        from serving.contacts_export import contacts_feed
        from serving.decision_log import read_log

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the log is written off the request path
            logged = read_log(settings.decision_store)
            if len(logged) >= asked:
                break
            time.sleep(0.2)
        given = logged.sort_values("logged_at").tail(asked)
        contacts = given[given["channel"] != NONE]
        sent = zip(contacts["decision_id"][1:], contacts["send_at"][1:], strict=True)
        report = [{"decision_id": d, "event": "sent", "at": t.isoformat()} for d, t in sent]
        if len(contacts):
            first = contacts.iloc[0]
            report.append(
                {"decision_id": first["decision_id"], "event": "not_sent", "at": first["send_at"].isoformat()}
            )
        report.append({"decision_id": "no-such-decision", "event": "sent", "at": at.isoformat() + "Z"})
        headers = {"Authorization": f"Bearer {settings.api_token}"} if settings.api_token else {}
        got = httpx.post(f"{url}/outcomes", json={"outcomes": report}, headers=headers, timeout=30).json()
        reasons = ", ".join(q["reason"] for q in got["quarantined"])
        console.print(
            f"  the CRM reports back (POST /outcomes): {got['read']} read = {got['accepted']} accepted + "
            f"{len(got['quarantined'])} quarantined ({reasons}); {got['released']} not_sent off the cap"
        )
        exported = contacts_feed(settings.decision_store, pd.Timestamp(at, tz="UTC") + pd.Timedelta(days=30))
        console.print(f"  `optichannel outcomes export` would write: {exported.sentence()}")

    _step(console, "6. start the service, ask it for a few decisions, stop it", serve)
    if stop_after == 6:
        _summary(console, settings, world, began, ab_test=False)
        return

    def campaign() -> str:
        import pandas as pd

        from features.store import snapshot_span
        from serving.cli import score

        listing = settings.data_dir / "campaign" / "customers.parquet"
        listing.parent.mkdir(parents=True, exist_ok=True)
        pd.read_parquet(settings.validated_dir / "customers.parquet", columns=["customer_id"]).to_parquet(
            listing
        )
        at = (
            (pd.Timestamp(snapshot_span(settings)[1]) + pd.Timedelta(hours=7))
            .tz_convert(None)
            .to_pydatetime()
        )
        out = settings.data_dir / "campaign" / "decisions.parquet"
        score(customers=listing, out=out, at=at, hours=72, quiet=not settings.show_progress, plan=PLAN,
              plan_report=Path("reports/campaign_plan.html"))  # fmt: skip
        return f"decisions -> {out}; plan summary -> {Path('reports/campaign_plan.html').resolve()}"

    _step(
        console,
        f"7. plan a 72-hour campaign under {PLAN.name}: call-centre capacity, SMS quota, budget",
        campaign,
    )
    if stop_after == 7 or data is not None:
        if data is not None:
            console.print("your own feeds have no oracle: the simulated A/B test (step 8) is skipped")
        _summary(console, settings, world, began, ab_test=False)
        return

    def ab_test() -> str:
        from experiments.cli import CAMPAIGN_ARMS, simulate

        report = Path("reports/ab_test.html")
        simulate(customers=min(customers, 2000), at=None, arms=CAMPAIGN_ARMS, alias=settings.model_alias,
                 world=world, out=report, experiment="demo-ab", window=72, seed=seed,
                 quiet=not settings.show_progress)  # fmt: skip
        return f"HTML report -> {report.resolve()}"

    _step(console, "8. run a simulated A/B test: model vs business as usual, true uplift known", ab_test)
    _summary(console, settings, world, began)


def _summary(console: Console, settings: Settings, world: Path, began: float, ab_test: bool = True) -> None:
    console.rule("[bold]summary")
    console.print(f"feeds: {world}\nvalidated tables and report: {settings.validated_dir / 'report.json'}")
    console.print(
        f"feature snapshots: {settings.features_dir}\nFeast registry and online store: {settings.feast_dir}"
    )
    if ab_test:
        console.print("evaluation table: reports/evaluation.json; A/B report: reports/ab_test.html")
    console.print(f"campaign plan: {PLAN} -> reports/campaign_plan.html, {settings.data_dir / 'campaign'}")
    console.print(
        "MLflow UI: `make mlflow-ui` -> http://127.0.0.1:5000; service: `optichannel serve` -> :3000"
    )
    console.print(f"decision log: {settings.decision_log}")
    console.print(f"demo finished in {time.perf_counter() - began:.0f} s")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
