"""Generate a whole world: customers, the three feeds as partitioned Parquet, and the truth.

Customers are processed in fixed-size chunks, each with its own seed stream, so the
output depends only on the config (not on the number of worker processes) and memory
stays bounded by the chunk, not the world.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from simulator.behaviour import Rows, events, transactions
from simulator.calendar import WorldCalendar
from simulator.contacts import contacts
from simulator.population import customers_feed, make_latent
from simulator.timeline import Timeline
from simulator.truth import LatentArrays
from simulator.world import WorldConfig

FEEDS = ("customers", "transactions", "events", "contacts")
TRUTH_DIR = "truth"
_TS = pa.timestamp("us", tz="UTC")


def write_parquet(table: pa.Table, path: Path) -> None:
    """Deterministic Parquet: microsecond timestamps, zstd, no wall-clock metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", coerce_timestamps="us", allow_truncated_timestamps=True)


def _ids(prefix: str, chunk: int, n: int) -> pa.Array:
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(n, dtype=np.int64)), pa.string()), 9, "0")
    return pc.binary_join_element_wise(f"{prefix}{chunk:04d}", seq, "")


def _ts(us: np.ndarray) -> pa.Array:
    """Microsecond UTC timestamps; negative sentinel values become null."""
    return pa.array(us, type=pa.int64(), mask=us < 0).cast(_TS)


def _table(rows: Rows, ids: pa.Array, id_col: str, cust_ids: np.ndarray, ts_col: str) -> dict[str, pa.Array]:
    return {id_col: ids, "customer_id": pa.array(cust_ids[rows.cust], pa.string()), ts_col: _ts(rows.ts_us)}


def generate_chunk(cfg: WorldConfig, latent: pd.DataFrame, chunk: int, out: Path) -> dict[str, int]:
    """Generate and write one chunk's feeds and truth parts; returns row counts."""
    rng = np.random.default_rng([cfg.seed, 2, chunk])
    lat = LatentArrays(latent)
    cal = WorldCalendar(cfg)
    zone = cal.zone_index(lat.tz)
    cust_ids = lat.customer_id.astype(object)
    part = f"part-{chunk:05d}.parquet"

    txns, air = transactions(lat, zone, cal, rng)
    air_line = Timeline(air.cust, air.ts_us, len(lat))
    behaviour = events(lat, zone, cal, air, rng)
    feed, responses, exposures = contacts(lat, zone, cal, cfg, air_line, rng)

    cols = _table(txns, _ids("T", chunk, len(txns.cust)), "txn_id", cust_ids, "ts")
    cols |= {
        "amount": pa.array(txns.columns["amount"], pa.float64()),
        "currency": pa.array(np.full(len(txns.cust), cfg.currency, dtype=object), pa.string()),
        "direction": pa.array(txns.columns["direction"], pa.string()),
        "category": pa.array(txns.columns["category"], pa.string()),
        "merchant_channel": pa.array(txns.columns["merchant_channel"], pa.string()),
    }
    write_parquet(pa.table(cols), out / "transactions" / part)

    all_events = Rows(
        np.concatenate([behaviour.cust, responses.cust]),
        np.concatenate([behaviour.ts_us, responses.ts_us]),
        {"event_type": np.concatenate([behaviour.columns["event_type"], responses.columns["event_type"]])},
    ).sorted()
    cols = _table(all_events, _ids("E", chunk, len(all_events.cust)), "event_id", cust_ids, "ts")
    cols["event_type"] = pa.array(all_events.columns["event_type"], pa.string())
    write_parquet(pa.table(cols), out / "events" / part)

    feed = feed.sorted()
    n = len(feed.cust)
    cols = {"contact_id": _ids("K", chunk, n), "customer_id": pa.array(cust_ids[feed.cust], pa.string())}
    cols |= {
        "campaign_id": pa.array(feed.columns["campaign_id"], pa.string()),
        "channel": pa.array(feed.columns["channel"], pa.string()),
        "sent_at": _ts(feed.ts_us),
        "delivered": pa.array(feed.columns["delivered"], pa.bool_()),
        "responded_at": _ts(feed.columns["responded_at"]),
        "converted_at": _ts(feed.columns["converted_at"]),
        "cost": pa.array(feed.columns["cost"], pa.float64()),
        "arm": pa.array(feed.columns["arm"], pa.string()),
        "propensity": pa.array(feed.columns["propensity"], pa.float64()),
        "channel_propensity": pa.array(feed.columns["channel_propensity"], pa.float64()),
        "decision_id": _ids("D", chunk, n),
    }
    write_parquet(pa.table(cols), out / "contacts" / part)

    truth = out / TRUTH_DIR
    for name, rows in (("exposures", exposures), ("air_tickets", air)):
        table = pa.table({"customer_id": pa.array(cust_ids[rows.cust], pa.string()), "ts": _ts(rows.ts_us)})
        write_parquet(table, truth / name / part)
    return {"transactions": len(txns.cust), "events": len(all_events.cust), "contacts": n}


def generate_world(
    cfg: WorldConfig,
    out: Path,
    workers: int = 1,
    on_chunk: Callable[[dict[str, int]], None] | None = None,
) -> dict[str, int]:
    """Write the world to `out` (replacing a previous one); returns total rows per table."""
    out = Path(out)
    for name in (*FEEDS[1:], TRUTH_DIR):
        shutil.rmtree(out / name, ignore_errors=True)
    (out / "customers.parquet").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    latent = make_latent(cfg)
    write_parquet(
        pa.Table.from_pandas(customers_feed(latent, cfg), preserve_index=False), out / "customers.parquet"
    )
    (out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    write_parquet(pa.Table.from_pandas(latent, preserve_index=False), out / TRUTH_DIR / "latent.parquet")
    cfg.to_yaml(out / TRUTH_DIR / "world.yaml")

    starts = list(range(0, cfg.customers, cfg.chunk_size))
    slices = [latent.iloc[s : s + cfg.chunk_size].reset_index(drop=True) for s in starts]
    totals = {"customers": cfg.customers, "transactions": 0, "events": 0, "contacts": 0}

    def collect(counts: dict[str, int]) -> None:
        for key, value in counts.items():
            totals[key] += value
        if on_chunk:
            on_chunk(counts)

    if workers <= 1 or len(slices) == 1:
        for i, part in enumerate(slices):
            collect(generate_chunk(cfg, part, i, out))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(generate_chunk, cfg, part, i, out) for i, part in enumerate(slices)]
            for fut in futures:
                collect(fut.result())
    (out / TRUTH_DIR / "counts.json").write_text(json.dumps(totals, indent=2))
    return totals
