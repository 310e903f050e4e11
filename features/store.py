"""The Feast feature store: configuration per profile, apply, materialize, and retrieval.

Feast is imported inside the functions (it costs ~10 s): commands that do not touch
the store stay fast. The YAML templates in `feature_repo/` are the configuration;
their `${...}` values come from settings, and an unset one is an error.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from features.offline_read import ViewSource, point_in_time
from features.snapshot_grid import check_reads
from features.store_definitions import (
    FEATURE_SERVICE,
    JOIN_KEY,
    TIMESTAMP,
    VIEWS,
    feast_objects,
    snapshot_path,
)
from optichannel.settings import Settings, get_settings

if TYPE_CHECKING:
    from feast import FeatureStore

REPO_DIR = Path(__file__).resolve().parent / "feature_repo"
_ROW = "__optichannel_row"


def config_values(settings: Settings) -> dict[str, str]:
    return {
        "OPTICHANNEL_FEAST_DIR": str(settings.feast_dir.resolve()),
        "OPTICHANNEL_REDIS_URL": settings.redis_url,
        "OPTICHANNEL_FEAST_REGISTRY_URL": settings.feast_registry_url,
        "OPTICHANNEL_FEAST_OFFLINE_STORE": settings.feast_offline_store,
    }


def store_yaml(settings: Settings) -> dict[str, Any]:
    """The profile's feature_store YAML with every `${VAR}` filled from settings."""
    name = "feature_store.production.yaml" if settings.profile == "production" else "feature_store.yaml"
    text = (REPO_DIR / name).read_text()
    values = config_values(settings)
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(values))
    if missing:
        raise ValueError(f"{REPO_DIR / name}: no setting provides {', '.join(missing)}")
    config = yaml.safe_load(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text))
    if config["offline_store"]["type"] == "spark":  # the feature build's Spark settings, one source
        from features.spark_build import session_conf

        config["offline_store"]["spark_conf"] = session_conf(settings)
    return config


def open_store(settings: Settings | None = None) -> FeatureStore:
    """A FeatureStore for the configured profile (local: creates its directory)."""
    import warnings

    from feast import FeatureStore
    from feast.repo_config import RepoConfig

    # Feast resets the DeprecationWarning filter on import; the one its ibis backend raises on
    # every retrieval (`fetch_arrow_table`) is Feast's to fix, not the user's to read
    warnings.filterwarnings(
        "ignore", message=r"fetch_arrow_table\(\) is deprecated", category=DeprecationWarning
    )
    settings = settings or get_settings()
    if settings.profile == "local":
        settings.feast_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(config=RepoConfig(repo_path=REPO_DIR, **store_yaml(settings)))


def apply(settings: Settings | None = None) -> list[str]:
    """Register entity, views and feature service (the `feast apply` of our definitions)."""
    settings = settings or get_settings()
    store = open_store(settings)
    objects = feast_objects(settings.features_dir, offline=settings.feast_offline_store)
    store.apply(objects)
    return [getattr(o, "name", str(o)) for o in objects]


def snapshot_span(settings: Settings) -> tuple[datetime, datetime]:
    """Earliest and latest snapshot timestamps over all families."""
    import duckdb

    files = [snapshot_path(settings.features_dir, family) for family in VIEWS]
    missing = [f for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]} is missing: run `optichannel features build` first")
    paths = ", ".join(f"'{p.as_posix()}'" for p in files)
    query = f"SELECT MIN({TIMESTAMP}), MAX({TIMESTAMP}) FROM read_parquet([{paths}], union_by_name=true)"
    with duckdb.connect() as con:
        lo, hi = con.execute(query).fetchone()
    return lo.astimezone(UTC), hi.astimezone(UTC)


def materialize(
    settings: Settings | None = None, end: datetime | None = None, stock: bool = False
) -> datetime:
    """Load each customer's latest snapshot up to `end` (default: newest) into the online store.

    `stock=True` (or `OPTICHANNEL_FEAST_FAST_PATH=false`) uses Feast's own materialize (the
    reference); the default reads the latest snapshots in one DuckDB pass and writes them in bulk
    where `feast_sqlite.fast_path` allows (byte-identical, a test proves it), else through Feast's
    `write_to_online_store`. Returns the as-of time.
    """
    from features.feast_sqlite.materialize import materialize_fast

    settings = settings or get_settings()
    start, newest = snapshot_span(settings)
    end = end or newest
    store = open_store(settings)
    if stock or not settings.feast_fast_path:
        store.materialize(start_date=start, end_date=end + pd.Timedelta(seconds=1))
    else:
        materialize_fast(store, settings.features_dir, start, end + pd.Timedelta(seconds=1))
    return end


def historical_features(
    store: FeatureStore, entity_df: pd.DataFrame, stock: bool | None = None
) -> pd.DataFrame:
    """Point-in-time features for every row of `entity_df` (customer_id, event_timestamp, ...),
    in the input's row order; duplicate (customer, time) rows are all kept.

    On the local offline store (`duckdb`: the snapshot files) the join runs in bounded memory
    (`offline_read.point_in_time`, equal to Feast's, a test proves it) unless `stock` (default:
    `OPTICHANNEL_FEAST_FAST_PATH=false`) asks for Feast's own; other stores (Spark) run Feast's.
    """
    missing = {JOIN_KEY, TIMESTAMP} - set(entity_df.columns)
    if missing:
        raise ValueError(f"entity frame lacks column(s) {sorted(missing)}")
    frame = entity_df.copy()
    frame[TIMESTAMP] = pd.to_datetime(frame[TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    service = store.get_feature_service(FEATURE_SERVICE)
    check_reads(view_sources(store, service)[0].path.parent, frame)  # decision-day snapshots
    stock = not get_settings().feast_fast_path if stock is None else stock
    if store.config.offline_store.type == "duckdb" and not stock:
        return point_in_time(view_sources(store, service), frame)
    frame[_ROW] = range(len(frame))
    out = store.get_historical_features(entity_df=frame, features=service).to_df()
    out = out.sort_values(_ROW).drop(columns=_ROW).reset_index(drop=True)
    out.index = entity_df.index
    return out


def view_sources(store: FeatureStore, service: Any) -> list[ViewSource]:
    """The service's views as the registry states them: file, TTL (none when 0) and features."""
    out = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        ttl = view.ttl if view.ttl and view.ttl.total_seconds() else None
        path = Path(view.batch_source.path)
        out.append(ViewSource(path, ttl, tuple(f.name for f in projection.features)))
    return out


def online_features(store: FeatureStore, customer_ids: list[str] | pd.Series) -> pd.DataFrame:
    """Latest materialized features per customer (all null for customers the store does not know)."""
    service = store.get_feature_service(FEATURE_SERVICE)
    rows = [{JOIN_KEY: str(c)} for c in customer_ids]
    return pd.DataFrame(store.get_online_features(features=service, entity_rows=rows).to_dict())
