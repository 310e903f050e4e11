"""What the service loads at start-up: the registry's champion, the Feast store, the decision
engine and the decision log. Fails fast with a message that says what to run when a piece is
missing, instead of a stack trace from deep inside MLflow or Feast.
"""

from __future__ import annotations

from dataclasses import dataclass

from decision.engine import Engine
from optichannel.model_bundle import NextBestChannelModel
from optichannel.settings import Settings
from serving.campaign_limits import CampaignLimits
from serving.decider import Decider, FeatureReader
from serving.decision_log import DecisionLog


class StartupError(RuntimeError):
    """The service cannot start: the message says why and what to do."""


@dataclass
class Runtime:
    decider: Decider
    log: DecisionLog
    model_version: str
    settings: Settings


def require_token(settings: Settings) -> None:
    """The production profile never starts open: anyone who reaches an open service can free a
    campaign's capacity (`not_sent`) or inject conversions."""
    if settings.profile == "production" and not settings.api_token:
        raise StartupError(
            "the production profile needs an API token: set OPTICHANNEL_API_TOKEN (the CRM sends it as "
            "`Authorization: Bearer <token>`); refusing to start an open service"
        )


def check_stores(settings: Settings) -> None:
    """The production profile's Redis and decision store answer, before any worker starts: a
    worker that cannot reach them would fail and be restarted forever."""
    if settings.profile != "production":
        return
    from serving.shared_stores import redis_client

    try:
        redis_client(settings.redis_url, timeout=3).ping()
    except Exception as exc:  # redis raises its own types; any failure means unreachable
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StartupError(
            f"Redis at {settings.redis_url.split(',')[0]} is unreachable ({why}): start it or set "
            "OPTICHANNEL_REDIS_URL"
        ) from None
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from serving.log_database import engine, unusable

    try:
        with engine(settings.decision_store).connect() as con:
            con.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StartupError(
            f"{unusable(settings.decision_store, exc)}: start PostgreSQL or set OPTICHANNEL_DECISION_LOG_URL"
        ) from None


def load_model(settings: Settings) -> tuple[NextBestChannelModel, str]:
    """(model bundle, registry version) of the model holding the configured alias."""
    from mlflow.exceptions import MlflowException

    from optichannel import registry
    from optichannel.pyfunc_model import load_bundle

    client = registry.setup(settings)
    uri = registry.tracking_uri(settings)
    try:
        version = client.get_model_version_by_alias(registry.MODEL_NAME, settings.model_alias).version
    except MlflowException:
        raise StartupError(
            f"no model holds the alias '{settings.model_alias}' of {registry.MODEL_NAME} in {uri}: "
            "run `optichannel train` first (or set OPTICHANNEL_MLFLOW_TRACKING_URI / OPTICHANNEL_MODEL_ALIAS)"
        ) from None
    return load_bundle(registry.model_uri(settings.model_alias)), str(version)


def open_reader(settings: Settings, model: NextBestChannelModel) -> FeatureReader:
    """The online feature reader, after checking the store was applied and provides every
    feature column the decision and the model's request features read (the contract)."""
    from features.feast_sqlite.read import OnlineReader
    from features.request_params import RequestParams
    from features.store import open_store
    from features.store_definitions import FEATURE_SERVICE
    from optichannel.feature_columns import missing_columns

    if settings.profile == "local" and not (settings.feast_dir / "registry.db").exists():
        raise StartupError(
            f"no Feast registry in {settings.feast_dir}: run `optichannel features apply` and "
            "`optichannel features materialize` (or set OPTICHANNEL_DATA_DIR)"
        )
    store = open_store(settings)
    try:
        reader = OnlineReader(store, fast=settings.feast_fast_path)
    except Exception as exc:  # Feast raises its own types for a missing service or view
        raise StartupError(
            f"the Feast store has no feature service {FEATURE_SERVICE!r} ({exc}): "
            "run `optichannel features apply`"
        ) from None
    missing = missing_columns(reader.columns, [RequestParams.from_meta(model.meta).fatigue_tau_days])
    if missing:
        raise StartupError(
            f"the feature service {FEATURE_SERVICE!r} lacks the contract's columns {', '.join(missing)} "
            "(optichannel/feature_columns.py): rebuild and apply the features (`optichannel features build`, "
            "`features apply`, `features materialize`) with this version"
        )
    try:
        Engine(model).check_inputs(reader.columns, f"the feature service {FEATURE_SERVICE!r}")
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    return reader.read_block


def open_limits(settings: Settings, model: NextBestChannelModel) -> CampaignLimits | None:
    """The campaign plans of `settings.plans` (by name) on the profile's live counters, or None."""
    if not settings.plans:
        return None
    from optichannel.campaign_plan import PlanError, load_plan
    from optichannel.economics import Economics
    from serving.capacity_counter import open_counter

    try:
        plans = [load_plan(p) for p in settings.plans]
    except PlanError as exc:
        raise StartupError(str(exc)) from None
    names = [p.name for p in plans]
    if len(set(names)) < len(names):
        raise StartupError(f"two campaign plans share a name: {', '.join(names)} (set `name:` in each)")
    try:
        counter = open_counter(settings.profile, settings.redis_url, settings.capacity_counter)
    except Exception as exc:  # e.g. Redis unreachable: say which, at start-up
        raise StartupError(f"cannot open the campaign counters ({settings.profile} profile): {exc}") from None
    return CampaignLimits({p.name: p for p in plans}, counter, Economics.from_meta(model.meta))


def open_runtime(settings: Settings) -> Runtime:
    """The champion, its feature reader, the handed-out contacts and the decision log, as every
    worker (and the simulated deployment, in process) decides with them."""
    from optichannel.registry import MODEL_NAME
    from serving.handed_out import open_handed_out

    model, version = load_model(settings)
    decider = Decider(Engine.of(model, settings), open_reader(settings, model), MODEL_NAME, version,
                      epsilon=settings.exploration, limits=open_limits(settings, model))  # fmt: skip
    if settings.count_handed_out:
        decider.handed_out = open_handed_out(settings.profile, settings.redis_url, settings.handed_out)
    log = open_log(settings)
    check_generation(decider, settings)
    return Runtime(decider, log, version, settings)


def check_generation(decider: Decider, settings: Settings) -> None:
    """Write the counters' generation on a first start; after Redis lost its data, bookings are
    refused (503, `/readyz` not ready) until `optichannel counters rebuild` (serving.generation)."""
    from serving.generation import ensure

    for client in decider.booking_clients()[:1]:
        ensure(client, settings.decision_store)


def load_runtime(settings: Settings) -> Runtime:
    """`open_runtime`, warmed up: the first real request must not pay for lazy initialisation
    (zone data, LightGBM's buffers), and the loaded objects are moved out of the garbage
    collector's sight so its pauses stay short under load."""
    import gc

    from serving.schemas import PredictRequest

    require_token(settings)
    runtime = open_runtime(settings)
    decider, handed_out = runtime.decider, runtime.decider.handed_out
    decider.handed_out = None  # the warm-up is no one's decision: it hands nothing out
    warm = PredictRequest(customer_id="__warm-up__", purpose="service", timezone="UTC", explain=True)
    decider.decide([warm, warm.model_copy(update={"purpose": "marketing"})])  # not logged: no one asked
    decider.handed_out = handed_out
    gc.collect()
    gc.freeze()
    return runtime


def open_log(settings: Settings) -> DecisionLog:
    """The decision log, its tables in place; a StartupError naming the store when it cannot be used."""
    from sqlalchemy.exc import SQLAlchemyError

    from serving.log_database import unusable

    try:
        spill = settings.decision_log.with_name("refused_decisions.jsonl")
        return DecisionLog(settings.decision_store, spill).start()
    except (SQLAlchemyError, OSError) as exc:
        raise StartupError(
            f"{unusable(settings.decision_store, exc)}: create the database or point "
            "OPTICHANNEL_DECISION_LOG_URL (production) or _PATH (local) at one"
        ) from None
