"""Feast objects of the optichannel store: entity `customer`, one view per feature family,
and the versioned feature service that training and serving both read.

Built by a function (never at import time) from the snapshot Parquet, whose schema is
the single source of the feature names: the SQL decides, the store follows.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

FEATURE_SERVICE = "next_best_channel_v1"
PROJECT = "optichannel"
ENTITY = "customer"
JOIN_KEY = "customer_id"
TIMESTAMP = "event_timestamp"
#: family (snapshot file) -> feature view name, and how long a snapshot stays valid
VIEWS: dict[str, tuple[str, timedelta | None]] = {
    "transactions": ("customer_transactions", timedelta(days=2)),
    "behaviour": ("customer_behaviour", timedelta(days=2)),
    "contacts": ("customer_contacts", timedelta(days=2)),
    "profile": ("customer_profile", None),  # stamped at signup, valid until it changes
}
#: family -> the prefix of its feature names (features/snapshot_sql.py names every column so)
PREFIX: dict[str, str] = {"transactions": "txn_", "behaviour": "bhv_", "contacts": "cnt_", "profile": "prf_"}


def _feast_type(arrow_type: pa.DataType) -> Any:
    from feast.types import Bool, Float64, Int64, String

    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return Float64
    if pa.types.is_integer(arrow_type):
        return Int64
    if pa.types.is_boolean(arrow_type):
        return Bool
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return String
    raise TypeError(f"no Feast type for Arrow type {arrow_type}")


def snapshot_path(features_dir: Path, family: str) -> Path:
    return (Path(features_dir) / f"{family}.parquet").resolve()


def feature_names(features_dir: Path) -> dict[str, list[str]]:
    """Feature columns of each family's snapshot file, in file order."""
    out = {}
    for family in VIEWS:
        path = snapshot_path(features_dir, family)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `optichannel features build` first")
        out[family] = [n for n in pq.read_schema(path).names if n not in (JOIN_KEY, TIMESTAMP)]
    return out


def feast_objects(features_dir: Path, offline: str = "duckdb") -> list[Any]:
    """Entity, sources, feature views and the feature service, for `feast apply`.

    `offline` picks the source type: "duckdb" (FileSource over local Parquet) or
    "spark" (SparkSource over the same layout in the warehouse).
    """
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, Project, ValueType

    customer = Entity(name=ENTITY, join_keys=[JOIN_KEY], value_type=ValueType.STRING,
                      description="a bank customer")  # fmt: skip
    views = []
    sources = []
    for family, (view_name, ttl) in VIEWS.items():
        path = snapshot_path(features_dir, family)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `optichannel features build` first")
        schema = pq.read_schema(path)
        if offline == "spark":
            from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource

            # a file:// URI: on a cluster whose default file system is HDFS, a bare path would not be local
            source = SparkSource(name=f"{family}_snapshots", path=path.as_uri(), file_format="parquet",
                                 timestamp_field=TIMESTAMP)  # fmt: skip
        else:
            source = FileSource(name=f"{family}_snapshots", path=str(path), timestamp_field=TIMESTAMP)
        fields = [
            Field(name=f.name, dtype=_feast_type(f.type))
            for f in schema
            if f.name not in (JOIN_KEY, TIMESTAMP)
        ]
        views.append(
            FeatureView(
                name=view_name,
                entities=[customer],
                ttl=ttl,
                schema=fields,
                source=source,
                online=True,
                description=f"daily {family} snapshot features",
            )
        )
        sources.append(source)
    service = FeatureService(
        name=FEATURE_SERVICE,
        features=views,
        description="every customer feature the next-best-channel models use",
    )
    project = Project(name=PROJECT, description="next-best-channel features")
    return [project, customer, *sources, *views, service]
