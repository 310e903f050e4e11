"""Serving speed, measured: the real `bentoml serve` over HTTP next to the floor measured in the
same run, and the offline batch scorer next to LightGBM's raw prediction on the same rows.

Needs a trained champion and a materialized store (run `make demo` first, or point
OPTICHANNEL_DATA_DIR / OPTICHANNEL_MLFLOW_TRACKING_URI at them). Prints:

- floor: one stock Feast online read (`get_online_features`, 1 customer) + LightGBM predicting
  the same 72-hour candidate rows (response, conversion, no contact), in process;
- `/predict` p50/p99 sequentially, then throughput and p50/p99 with 16 concurrent connections
  from `wrk` (one thread, so the load generator leaves the cores to the service; `apt-get install
  wrk`);
- `/predict_batch` customers per second (batches of 100, one and two clients per worker, each
  keeping its connection);
- batch scorer customers per second vs raw LightGBM on identical candidate matrices (one per
  channel, as the scorer builds them), and what building them costs per second of LightGBM.

    .venv/bin/python benchmarks/serving.py [--requests 300] [--seconds 15] [--scorer-customers 2000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def floor(model, store, reader, ids: list[str], start: pd.Timestamp, n: int) -> dict[str, list[float]]:
    """Per request: stock Feast read of one customer, and LightGBM over its candidate rows."""
    from decision.grid import candidate_grid
    from features.store_definitions import FEATURE_SERVICE
    from optichannel.channels import ACTIONS, NONE

    service = store.get_feature_service(FEATURE_SERVICE)
    out: dict[str, list[float]] = {"feast_read": [], "fast_read": [], "lightgbm": [], "decide": []}
    from decision.engine import Engine
    from serving.decider import Decider
    from serving.schemas import PredictRequest

    decider = Decider(Engine(model), reader.read_block, "bench", "0")
    for cid in ids[:n]:
        t0 = time.perf_counter()
        store.get_online_features(features=service, entity_rows=[{"customer_id": cid}]).to_dict()
        t1 = time.perf_counter()
        block = reader.read_block([cid])
        t2 = time.perf_counter()
        grid = candidate_grid(block, start, 72)  # the default rules: cap 4, default quiet hours
        rows = grid.candidates
        action = rows.column("req_channel")
        xc = rows.matrix(model.conversion_features, {"action": action})
        xr = np.ascontiguousarray(xc[:, : len(model.response_features)])
        xn = grid.start.matrix(model.conversion_features, {"action": np.full(1, float(ACTIONS.index(NONE)))})
        t3 = time.perf_counter()
        p_resp = model.response.predict(xr, num_threads=1)  # once: the conversion reuses it
        model._conversion(np.ascontiguousarray(xc), action.astype(np.int64), 1, p_resp)
        model._conversion(np.ascontiguousarray(xn), np.full(1, ACTIONS.index(NONE)), 1)
        t4 = time.perf_counter()
        decider.decide([PredictRequest(customer_id=cid, window_start=start.to_pydatetime())])
        t5 = time.perf_counter()
        out["feast_read"].append(t1 - t0)
        out["fast_read"].append(t2 - t1)
        out["lightgbm"].append(t4 - t3)
        out["decide"].append(t5 - t4)
    return out


WRK_SCRIPT = """
local ids = {%s}
math.randomseed(%d)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format(nil, "/predict", nil, '{"customer_id": "' .. id .. '", "window_start": "%s"}')
end
"""


def load(
    url: str, ids: list[str], seconds: float, clients: int, start: str
) -> tuple[dict[str, float], int, str]:
    """`clients` connections posting /predict for `seconds` through `wrk` (one thread, so the load
    generator leaves the cores to the service): (p50/p99 ms and req/s, errors, generator)."""
    import re
    import shutil
    import subprocess

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("error: `wrk` is not installed: `apt-get install wrk` (the light load generator)")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % (", ".join(f'"{c}"' for c in ids), 0, start))
    out = subprocess.run(
        [wrk, "-t1", f"-c{clients}", f"-d{seconds:.0f}s", "--latency", "--timeout", "30s", "-s", f.name, url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]

    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"p50": ms("50%"), "p99": ms("99%"), "rate": rate}, errors, "wrk -t1"


def predict_batch_rate(url: str, ids: list[str], clients: int, start: str, size: int = 100) -> float:
    """Customers per second through `/predict_batch` (calls of `size`) from `clients` concurrent
    callers, each keeping its connection, as a CRM pushing a campaign in parallel would."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    parts = [ids[lo : lo + size] for lo in range(0, len(ids), size)] * 2
    local, opened = threading.local(), []

    def post(part: list[str]) -> int:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
            opened.append(local.client)
        body = {"requests": [{"customer_id": c, "window_start": start} for c in part]}
        r = local.client.post(f"{url}/predict_batch", json=body)
        assert r.status_code == 200, r.text
        return len(part)

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, parts[:clients]))  # warm: every caller connected, every worker busy once
        t = time.perf_counter()
        done = sum(pool.map(post, parts))
        seconds = time.perf_counter() - t
    for client in opened:
        client.close()
    return done / seconds


def scorer_vs_raw(model, features_dir: Path, ids: list[str], start: pd.Timestamp) -> dict[str, float]:
    """Seconds of the scorer end to end, and of raw LightGBM on the same candidate rows with
    what it takes to build them: the candidate grid with its request features, the model's
    matrices, and a plain copy of those matrices (the least any build could cost); `rows`."""
    from decision.engine import Engine
    from decision.grid import candidate_grid
    from features.offline_read import features_at
    from features.request_params import RequestParams
    from optichannel.channels import ACTIONS, NONE
    from serving.batch_scorer import CHUNK, score_campaign

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        score_campaign(
            features_dir, Engine(model), pd.Series(ids), Path(tmp) / "out.parquet", start, 72, progress=False
        )
        out = {"scorer": time.perf_counter() - t0, "raw": 0.0, "grid": 0.0, "matrices": 0.0, "copy": 0.0}
    feats = features_at(features_dir, pd.Series(ids), start)
    params = RequestParams.from_meta(model.meta)
    rows = 0
    for lo in range(0, len(ids), CHUNK):
        t = time.perf_counter()
        piece = feats.iloc[lo : lo + CHUNK].reset_index(drop=True)
        grid = candidate_grid(piece, start, 72, params=params)
        action = grid.candidates.column("req_channel").astype(np.int64)
        out["grid"] += time.perf_counter() - t
        t = time.perf_counter()
        xs = {}  # one matrix per channel, as the scorer builds them
        for code in np.unique(action):
            i = np.flatnonzero(action == code)
            xs[code] = grid.candidates.matrix(
                model.conversion_features, {"action": np.full(len(i), code)}, subset=i
            )
        none = np.full(len(grid.start), ACTIONS.index(NONE))
        xn = grid.start.matrix(model.conversion_features, {"action": none.astype(float)})
        out["matrices"] += time.perf_counter() - t
        t = time.perf_counter()
        for x in xs.values():
            x.copy()
        out["copy"] += time.perf_counter() - t
        rows += len(action)
        t = time.perf_counter()
        for code, x in xs.items():  # the response read from the conversion matrix, as the scorer reads it
            model._conversion(x, np.full(len(x), code), 0, model.response_of(x, 0))
        model._conversion(xn, none, 0)
        out["raw"] += time.perf_counter() - t
    return out | {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scorer-customers", type=int, default=2000)
    args = parser.parse_args()

    from features.feast_sqlite.read import OnlineReader
    from features.store import open_store, snapshot_span
    from optichannel.settings import get_settings
    from serving.local_server import running_service
    from serving.runtime import StartupError, load_model

    settings = get_settings()
    try:
        model, version = load_model(settings)
    except StartupError as exc:
        raise SystemExit(f"error: {exc} (`make demo` leaves a model and a store to measure)") from None
    store = open_store(settings)
    reader = OnlineReader(store)
    ids = pd.read_parquet(settings.validated_dir / "customers.parquet")["customer_id"].astype(str).tolist()
    rng = np.random.default_rng(0)
    sample = [str(x) for x in rng.choice(ids, size=args.requests)]
    # the morning after the store's newest snapshot: fresh features, as a bank's service would have
    start = pd.Timestamp(snapshot_span(settings)[1]) + pd.Timedelta(hours=7)
    iso = start.isoformat()
    print(f"model version {version}; {len(ids):,} customers in the store; 72-hour windows, all channels")

    f = floor(model, store, reader, sample, start, min(args.requests, 200))
    floor_ms = [a + b for a, b in zip(f["feast_read"], f["lightgbm"], strict=True)]
    print("\nin process (ms)            p50      p99")
    for name, vals in [("stock Feast read (1)", f["feast_read"]), ("our online read (1)", f["fast_read"]),
                       ("LightGBM on candidates", f["lightgbm"]), ("floor = Feast + LightGBM", floor_ms),
                       ("full decision (decide)", f["decide"])]:  # fmt: skip
        print(f"  {name:<24} {pct(vals, 50):7.2f}  {pct(vals, 99):7.2f}")

    bench = settings.model_copy(update={"decision_log_path": Path(tempfile.mkdtemp()) / "decisions.sqlite"})
    with running_service(bench, workers=args.workers) as url:
        with httpx.Client(timeout=30) as client:
            for cid in sample[:20]:  # warm up both workers
                client.post(f"{url}/predict", json={"customer_id": cid, "window_start": iso})
            seq = []
            for cid in sample:
                t = time.perf_counter()
                r = client.post(f"{url}/predict", json={"customer_id": cid, "window_start": iso})
                seq.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
        batch_rates = {n: predict_batch_rate(url, sample, n, iso) for n in (args.workers, 2 * args.workers)}
        lat, errors, generator = load(url, ids, args.seconds, args.clients, iso)
    p99_floor = pct(floor_ms, 99)
    print(f"\nHTTP ({args.workers} workers)               p50      p99")
    print(f"  /predict sequential      {pct(seq, 50):7.2f}  {pct(seq, 99):7.2f}")
    print(f"  /predict {args.clients} clients       {lat['p50']:7.2f}  {lat['p99']:7.2f}   ({generator})")
    print(f"  throughput with {args.clients} clients: {lat['rate']:,.0f} req/s, errors {errors} "
          "(target >= 450 req/s, p99 < 100 ms)")  # fmt: skip
    for n, rate in batch_rates.items():
        print(f"  /predict_batch (100 per call, {n} clients): {rate:,.0f} customers/s (target >= 2,500)")
    print(f"  ratio p99 sequential / p99 floor: {pct(seq, 99) / p99_floor:.2f}x (target <= 2x)")
    print(f"  ratio p50 decide / p50 floor: {pct(f['decide'], 50) / pct(floor_ms, 50):.2f}x (target <= 1.5x)")

    n = args.scorer_customers
    scorer_ids = [ids[i % len(ids)] for i in range(n)]
    t = scorer_vs_raw(model, settings.features_dir, scorer_ids, start)
    print(f"\nbatch scorer, {n:,} customers ({t['rows']:,} candidate rows)")
    print(f"  optichannel score: {n / t['scorer']:,.0f} customers/s; LightGBM raw on the same rows: "
          f"{n / t['raw']:,.0f}/s")  # fmt: skip
    print(f"  ratio scorer / raw: {t['raw'] / t['scorer']:.2f} (target >= 0.85)")
    print(
        f"  per second of raw LightGBM: candidate grid and request features {t['grid'] / t['raw']:.2f} s, "
        f"matrices {t['matrices'] / t['raw']:.2f} s (a plain copy of them {t['copy'] / t['raw']:.2f} s)"
    )
    from results_file import write_result

    write_result("serving", {
        "floor p50 ms (Feast read + LightGBM)": pct(floor_ms, 50), "decide p50 ms": pct(f["decide"], 50),
        "decide / floor, p50": pct(f["decide"], 50) / pct(floor_ms, 50),
        "/predict sequential p50 ms": pct(seq, 50), "/predict sequential p99 ms": pct(seq, 99),
        f"/predict {args.clients} clients req/s": lat["rate"],
        f"/predict {args.clients} clients p99 ms": lat["p99"],
        **{f"/predict_batch {n} clients customers/s": r for n, r in batch_rates.items()},
        "p99 sequential / p99 floor": pct(seq, 99) / p99_floor,
        "score customers/s": n / t["scorer"], "scorer / raw LightGBM": t["raw"] / t["scorer"],
    }, notes=f"{args.workers} workers, {args.requests} requests, {n:,} scorer customers")  # fmt: skip


if __name__ == "__main__":
    main()
