"""Batch online reads of the feature service, fast on the default SQLite store.

Feast's `get_online_features` spends most of its time building protos per cell; for
SQLite this reader runs one `IN (...)` query per view on Feast's own table and decodes
the float cells with NumPy. Any other online store (Redis) goes through Feast. Both give
the same frame (a test checks): one row per requested id, in order, nulls when unknown.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.customer_block import CustomerBlock, ViewStamps
from features.feast_sqlite import fast_path
from features.feast_sqlite.write import DOUBLE_TAG, EntityKeys
from features.store_definitions import FEATURE_SERVICE, JOIN_KEY
from optichannel.feature_columns import TEXT_COLUMNS

if TYPE_CHECKING:
    from feast import FeatureStore


def _decode_value(blob: bytes) -> Any:
    """Python value of a serialized feast Value; int64 and string take a shortcut."""
    tag = blob[0]
    if tag == 0x20 and len(blob) == 2:  # int64_val, one varint byte
        return blob[1]
    if tag == 0x12 and len(blob) >= 2 and blob[1] < 0x80 and len(blob) == 2 + blob[1]:  # short string_val
        return blob[2:].decode()
    from feast.protos.feast.types.Value_pb2 import Value

    proto = Value()
    proto.ParseFromString(blob)
    kind = proto.WhichOneof("val")
    return None if kind is None else getattr(proto, kind)


class OnlineReader:
    """Reads the feature service for many customers at once; build once, reuse per request."""

    def __init__(self, store: FeatureStore, fast: bool = True) -> None:
        """`fast=False` reads through Feast's stock `get_online_features` whatever the store."""
        from feast.infra.online_stores.helpers import compute_table_id

        self.store = store
        self.service = store.get_feature_service(FEATURE_SERVICE)
        config = store.config
        views = [store.get_feature_view(p.name) for p in self.service.feature_view_projections]
        self.features = [f.name for v in views for f in v.features]
        self.float_features = {
            f.name for v in views for f in v.features if f.dtype.to_value_type().name == "DOUBLE"
        }
        self._col = {name: i for i, name in enumerate(self.features)}
        other = [i for i, name in enumerate(self.features) if name not in self.float_features]
        self._order = np.array(other + [i for i in range(len(self.features)) if i not in set(other)])
        self.columns = tuple(self.features[i] for i in self._order)
        self._text_idx = {i for i in other if self.features[i] in TEXT_COLUMNS}
        self._queries: dict[int, str] = {}
        # per view: its TTL, and which view each feature comes from (the TTL rule online)
        self._view_of = np.array([i for i, v in enumerate(views) for _ in v.features], dtype=np.int64)
        self._ttl_s = np.array([int(v.ttl.total_seconds()) if v.ttl else 0 for v in views], dtype=np.int64)
        self.sqlite_path = None
        if fast_path(store, fast):
            self.sqlite_path = config.online_store.path
            versioned = config.registry.enable_online_feature_view_versioning
            self.tables = [compute_table_id(config.project, v, versioned) for v in views]
        self.keys = EntityKeys(config.entity_key_serialization_version)
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, reopened when materialize has swapped in a new file."""
        inode = os.stat(self.sqlite_path).st_ino
        con = getattr(self._local, "con", None)
        if con is None or self._local.inode != inode:
            if con is not None:
                con.close()
            con = sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True, check_same_thread=False)
            self._local.con, self._local.inode = con, inode
        return con

    def read(self, customer_ids: list[str] | pd.Series) -> tuple[pd.DataFrame, pd.Series]:
        """(features frame with `customer_id` first, then the non-float features, then the float
        ones; as-of time per row: the newest snapshot read)."""
        block = self.read_block(customer_ids)
        return block.frame(), block.as_of_series()

    def read_block(self, customer_ids: list[str] | pd.Series) -> CustomerBlock:
        """The features of these customers as one float block (one row per id, in order; NaN and
        as-of 0 when unknown): what the decision consumes, without a DataFrame."""
        ids = [str(c) for c in customer_ids]
        if self.sqlite_path is None:
            rows = [{JOIN_KEY: c} for c in ids]
            frame = pd.DataFrame(
                self.store.get_online_features(features=self.service, entity_rows=rows).to_dict()
            )
            return CustomerBlock.from_frame(frame[[JOIN_KEY, *self.columns]])
        keys = self.keys(ids)
        position: dict[bytes, int] = {}
        for i, k in enumerate(keys):
            position.setdefault(k, i)  # a repeated id is read once, then copied
        n = len(ids)
        values = np.full((n, len(self.features)), np.nan)
        text: dict[int, list[Any]] = {}
        stamps = np.zeros((n, len(self._ttl_s)), dtype=np.int64)
        unique = list(dict.fromkeys(keys))
        result = self._connection().execute(self._query(len(unique)), unique * len(self.tables)).fetchall()
        if result:
            eks, names, blobs, times = zip(*result, strict=True)
            rows = np.fromiter((position[ek] for ek in eks), dtype=np.int64, count=len(eks))
            cols = np.fromiter((self._col[fn] for fn in names), dtype=np.int64, count=len(names))
            ts = np.fromiter((t or 0 for t in times), dtype=np.int64, count=len(times))
            np.maximum.at(stamps, (rows, self._view_of[cols]), ts)
            is_double = np.fromiter(
                (len(v) == 9 and v[0] == DOUBLE_TAG for v in blobs), dtype=bool, count=len(blobs)
            )
            dbl = np.flatnonzero(is_double)
            if len(dbl):
                raw = np.frombuffer(b"".join([blobs[j] for j in dbl]), dtype=[("tag", "u1"), ("v", "<f8")])
                values[rows[dbl], cols[dbl]] = raw["v"]
            for j in np.flatnonzero(~is_double).tolist():
                if blobs[j]:
                    value, c, r = _decode_value(blobs[j]), int(cols[j]), int(rows[j])
                    if c in self._text_idx:
                        text.setdefault(c, [None] * n)[r] = value
                    else:  # an integer feature (a consent): a number like the rest
                        values[r, c] = float(value)
        if len(unique) != n:
            first = [position[k] for k in keys]
            values, stamps = values[first], stamps[first]
            text = {c: [col[i] for i in first] for c, col in text.items()}
        order = self._order  # the frame's column order: the non-float features, then the floats
        return CustomerBlock(
            ids=np.asarray(ids, dtype=object),
            columns=self.columns,
            values=values[:, order],
            text={
                self.features[c]: np.asarray(text.get(c, [None] * n), dtype=object) for c in self._text_idx
            },
            as_of=stamps.max(axis=1, initial=0),
            views=ViewStamps(self._ttl_s, self._view_of[order], stamps),
        )

    def _query(self, n: int) -> str:
        """One statement over every view's table for `n` distinct keys (cached per n)."""
        query = self._queries.get(n)
        if query is None:
            marks = ",".join("?" * n)
            query = " UNION ALL ".join(
                f'SELECT entity_key, feature_name, value, event_ts FROM "{t}" WHERE entity_key IN ({marks})'
                for t in self.tables
            )
            if len(self._queries) < 256:
                self._queries[n] = query
        return query
