"""Feast's SQLite online-store row format, produced in bulk.

Feast's stock path converts every cell through Arrow -> proto and upserts it one
`execute` at a time (~80k cells/s here). Here NumPy encodes the float cells into two
fixed-stride blobs bound once to a single INSERT ... SELECT, which unpivots one key row per
customer into its cells in C, in primary-key order. Rows are byte-identical to Feast's
(a test compares the tables). `features/feast_sqlite/materialize.py` decides where they go.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.store_definitions import JOIN_KEY, TIMESTAMP
from optichannel.localtime import epoch_seconds

DOUBLE_TAG = 0x29  # Value.double_val: field 5, 64-bit wire type


def _pack_doubles(block: np.ndarray) -> tuple[bytes, bytes, int]:
    """Row-major float cells as two fixed-stride blobs: 9-byte Value protos (tag 0 marks NaN, an
    empty Value in Feast) and their `str()` texts padded with spaces to the widest; plus that width.

    `str()` runs once per distinct bit pattern (about one cell in ten: counts and shares repeat).
    """
    flat = np.ascontiguousarray(block, dtype=np.float64).ravel()
    raw = np.empty((flat.size, 9), dtype=np.uint8)
    raw[:, 0] = DOUBLE_TAG
    raw[:, 1:] = flat.astype("<f8").view(np.uint8).reshape(-1, 8)
    raw[np.isnan(flat), 0] = 0
    distinct, inverse = np.unique(flat.view(np.uint64), return_inverse=True)
    values = distinct.view(np.float64)
    texts = ["" if v != v else str(v) for v in values.tolist()]  # v != v: NaN, no text
    width = max(1, max(map(len, texts), default=1))
    padded = np.array(texts, dtype=f"S{width}")[inverse.ravel()].tobytes().replace(b"\x00", b" ")
    return raw.tobytes(), padded, width


def _encode_generic(values: pd.Series, value_type: Any) -> tuple[list[bytes], list[str | None]]:
    """Int64 and string cells straight through the Value proto; other types via Feast's converter."""
    from feast.infra.online_stores.sqlite import extract_text_and_num
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.type_map import python_values_to_proto_values

    if value_type.name in ("INT64", "STRING") and not values.isna().any():
        field = "int64_val" if value_type.name == "INT64" else "string_val"
        cast = int if field == "int64_val" else str
        cells = [cast(v) for v in values.tolist()]
        return [Value(**{field: v}).SerializeToString() for v in cells], [str(v) for v in cells]
    protos = python_values_to_proto_values(
        values.astype(object).where(values.notna(), None).tolist(), value_type
    )
    return [p.SerializeToString() for p in protos], [extract_text_and_num(p, False)[0] for p in protos]


class EntityKeys:
    """Feast's serialized entity key per customer id, computed once and shared by every view."""

    def __init__(self, version: int) -> None:
        self.version = version
        self._cache: dict[str, bytes] = {}

    def __call__(self, customer_ids: Iterable[Any]) -> list[bytes]:
        cache = self._cache
        keys = [cache.get(c) for c in map(str, customer_ids)]
        if None in keys:  # the service's hot path is all cache hits: no proto work, no pandas
            keys = [
                k if k is not None else self._new(c)
                for k, c in zip(keys, map(str, customer_ids), strict=True)
            ]
        return keys  # type: ignore[return-value]

    def _new(self, customer_id: str) -> bytes:
        from feast.infra.key_encoding_utils import serialize_entity_key
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        entity = EntityKey(join_keys=[JOIN_KEY], entity_values=[Value(string_val=customer_id)])
        key = self._cache[customer_id] = serialize_entity_key(entity, self.version)
        return key


@dataclass
class Staged:
    """One view's rows, encoded, in primary-key order (entity key, then feature name).

    Float features travel as row-major packed blobs (`_pack_doubles`), bound once to the
    INSERT; the few other features as per-row values in the key table."""

    table: str
    names: list[str]  # all features, sorted: Feast's feature_name order within a key
    rows: list[tuple[Any, ...]]  # (i, entity key, event_ts, value and text per loose feature)
    packed: list[str]  # float features, in blob column order
    loose: list[str]  # the other features
    blobs: tuple[bytes, bytes, int] = (b"", b"", 1)
    first: bool = True  # the view's first chunk of customers: creates the table
    last: bool = True  # its last chunk: builds the indexes


def stage(
    frame: pd.DataFrame, view: Any, table: str, keys: EntityKeys, first: bool = True, last: bool = True
) -> Staged:
    """Encode a view's latest rows (all, or one chunk of customers: `first`, `last` say which)
    the way Feast's SQLite store stores them."""
    key_list = keys(frame[JOIN_KEY])
    order = np.array(sorted(range(len(key_list)), key=key_list.__getitem__), dtype=np.int64)
    ts = np.floor(epoch_seconds(frame[TIMESTAMP])).astype(np.int64)[order]
    names = sorted(f.name for f in view.features)
    dtypes = {f.name: f.dtype for f in view.features}
    packed = [n for n in names if pd.api.types.is_float_dtype(frame[n])]
    loose = [n for n in names if not pd.api.types.is_float_dtype(frame[n])]
    columns: list[list[Any]] = [list(range(len(order))), [key_list[i] for i in order], ts.tolist()]
    for name in loose:
        columns += _encode_generic(frame[name].iloc[order], dtypes[name].to_value_type())
    staged = Staged(table, names, list(zip(*columns, strict=True)), packed, loose, first=first, last=last)
    if packed:
        staged.blobs = _pack_doubles(frame[packed].to_numpy(dtype=np.float64)[order])
    return staged


def _cell_sql(staged: Staged) -> tuple[str, str, str]:
    """(feature rows, value expression, text expression) that unpivot one key row into its cells."""
    m, width = len(staged.packed), staged.blobs[2]
    slot = {n: j for j, n in enumerate(staged.packed)}
    # f.a / f.b: 1-based offset of the feature's cell in a key row's stretch of each blob
    features = " UNION ALL ".join(
        f"SELECT {slot.get(n, -1)} AS p, {slot.get(n, 0) * 9 + 1} AS a, {slot.get(n, 0) * width + 1} AS b, "
        f"{staged.loose.index(n) if n in staged.loose else -1} AS q, '{n}' AS name"
        for n in staged.names
    )
    at = f"k.i * {9 * m} + f.a"
    value = f"iif(substr(:v, {at}, 1) = x'00', x'', substr(:v, {at}, 9))"
    text = f"NULLIF(rtrim(CAST(substr(:x, k.i * {width * m} + f.b, {width}) AS TEXT)), '')"
    if staged.loose:
        pick_v = " ".join(f"WHEN {q} THEN k.v{q}" for q in range(len(staged.loose)))
        pick_x = " ".join(f"WHEN {q} THEN k.x{q}" for q in range(len(staged.loose)))
        value = f"CASE WHEN f.p < 0 THEN CASE f.q {pick_v} END ELSE {value} END"
        text = f"CASE WHEN f.p < 0 THEN CASE f.q {pick_x} END ELSE {text} END"
    return features, value, text


def insert_view(con: sqlite3.Connection, staged: Staged, ddl: list[str]) -> int:
    """Create a view's table (Feast's DDL: table first, then indexes) on `con` and fill it from
    `staged`, a chunk of customers at a time; returns rows (cells) written. Indexes come after
    the last chunk: building them once is faster than keeping them up to date row by row."""
    table = staged.table
    if staged.first:
        con.execute(ddl[0])
    loose_cols = "".join(f", v{q} BLOB, x{q} TEXT" for q in range(len(staged.loose)))
    con.execute(
        f"CREATE TEMP TABLE optichannel_keys (i INTEGER PRIMARY KEY, entity_key BLOB, ts INTEGER{loose_cols})"
    )
    marks = ",".join("?" * (3 + 2 * len(staged.loose)))
    con.executemany(f"INSERT INTO optichannel_keys VALUES ({marks})", staged.rows)
    features, value, text = _cell_sql(staged)
    cur = con.execute(
        f'INSERT INTO main."{table}" (entity_key, feature_name, value, value_text, event_ts, created_ts) '
        f"SELECT k.entity_key, f.name, {value}, {text}, k.ts, NULL "
        f"FROM optichannel_keys k CROSS JOIN ({features}) f",
        {"v": staged.blobs[0], "x": staged.blobs[1]},
    )
    for index_sql in ddl[1:] if staged.last else []:
        con.execute(index_sql)
    con.execute("DROP TABLE temp.optichannel_keys")
    return cur.rowcount
