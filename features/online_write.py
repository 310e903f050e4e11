"""A faster materialize: the latest snapshot per customer, written straight into the
online store in Feast's own row format.

Feast's stock path converts every cell through Arrow -> proto and upserts it one
`execute` at a time (~46k cells/s into SQLite). Here DuckDB picks the latest rows,
NumPy encodes the float cells, and one `executemany` fills a cleared table with the
secondary index rebuilt once. Rows are byte-identical to Feast's (a test reads both
back through `get_online_features`). Other online stores (Redis) get the same prepared
frames through Feast's public `write_to_online_store`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from features.store_definitions import JOIN_KEY, TIMESTAMP, VIEWS, snapshot_path

if TYPE_CHECKING:
    from feast import FeatureStore

_DOUBLE_TAG = 0x29  # Value.double_val: field 5, 64-bit wire type


def latest_snapshots(features_dir: Path, family: str, end: datetime) -> pd.DataFrame:
    """Each customer's newest snapshot row at or before `end`."""
    path = snapshot_path(features_dir, family).as_posix()
    query = f"""
        SELECT * FROM read_parquet('{path}') WHERE {TIMESTAMP} <= ?
        QUALIFY row_number() OVER (PARTITION BY {JOIN_KEY} ORDER BY {TIMESTAMP} DESC) = 1
        ORDER BY {JOIN_KEY}"""
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(query, [end]).df()


def _encode_doubles(values: np.ndarray) -> tuple[list[bytes], list[str | None]]:
    """(serialized Value protos, value_text) of float cells; NaN is an empty Value, as in Feast."""
    values = np.asarray(values, dtype=np.float64)
    raw = np.empty((len(values), 9), dtype=np.uint8)
    raw[:, 0] = _DOUBLE_TAG
    raw[:, 1:] = values.astype("<f8").view(np.uint8).reshape(-1, 8)
    blob = raw.tobytes()
    null = np.isnan(values)
    protos = [b"" if null[i] else blob[9 * i : 9 * i + 9] for i in range(len(values))]
    texts = [None if n else str(v) for n, v in zip(null.tolist(), values.tolist(), strict=True)]
    return protos, texts


def _encode_generic(values: pd.Series, value_type: Any) -> tuple[list[bytes], list[str | None]]:
    from feast.infra.online_stores.sqlite import extract_text_and_num
    from feast.type_map import python_values_to_proto_values

    protos = python_values_to_proto_values(
        values.astype(object).where(values.notna(), None).tolist(), value_type
    )
    return [p.SerializeToString() for p in protos], [extract_text_and_num(p, False)[0] for p in protos]


def _entity_keys(customer_ids: pd.Series, version: int) -> list[bytes]:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return [
        serialize_entity_key(EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=c)]), version)
        for c in customer_ids.astype(str)
    ]


def _rows(frame: pd.DataFrame, view: Any, version: int) -> Iterator[tuple[Any, ...]]:
    """Rows in primary-key order (entity_key, feature_name), ready for executemany."""
    keys = _entity_keys(frame[JOIN_KEY], version)
    order = sorted(range(len(keys)), key=keys.__getitem__)
    ts = (pd.to_datetime(frame[TIMESTAMP], utc=True).astype("int64") // 1_000_000_000).to_numpy()
    encoded = {}
    for feature in view.features:
        col = frame[feature.name]
        if pd.api.types.is_float_dtype(col):
            encoded[feature.name] = _encode_doubles(col.to_numpy())
        else:
            encoded[feature.name] = _encode_generic(col, feature.dtype.to_value_type())
    names = sorted(encoded)
    for i in order:
        key, when = keys[i], int(ts[i])
        for name in names:
            protos, texts = encoded[name]
            yield key, name, protos[i], texts[i], when


def write_sqlite(store: FeatureStore, view_name: str, frame: pd.DataFrame) -> int:
    """Replace a view's rows in the SQLite online store; returns cells written."""
    from feast.infra.online_stores.helpers import compute_table_id

    config = store.config
    view = store.get_feature_view(view_name)
    table = compute_table_id(config.project, view, config.registry.enable_online_feature_view_versioning)
    path = Path(config.online_store.path)
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA synchronous = OFF")
        con.execute("BEGIN")
        con.execute(f'DELETE FROM "{table}"')
        con.execute(f'DROP INDEX IF EXISTS "{table}_ek"')
        cur = con.executemany(
            f'INSERT INTO "{table}" (entity_key, feature_name, value, value_text, event_ts, created_ts) '
            "VALUES (?, ?, ?, ?, ?, NULL)",
            _rows(frame, view, config.entity_key_serialization_version),
        )
        written = cur.rowcount
        con.execute(f'CREATE INDEX IF NOT EXISTS "{table}_ek" ON "{table}" (entity_key)')
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return written


def materialize_fast(store: FeatureStore, features_dir: Path, end: datetime) -> dict[str, int]:
    """Latest snapshot per customer of every view into the online store; rows per view."""
    sqlite = type(store.config.online_store).__name__.lower().startswith("sqlite")
    out = {}
    for family, (view_name, _) in VIEWS.items():
        frame = latest_snapshots(features_dir, family, end)
        if sqlite:
            write_sqlite(store, view_name, frame)
        else:
            store.write_to_online_store(view_name, frame)
        out[view_name] = len(frame)
    return out
