"""Soak and chaos: the real service app (BentoML's ASGI app of `serving.service:NextBestChannel`, in a
uvicorn child process) under mixed traffic from 16 clients, while Redis is stopped and restarted, the
link to PostgreSQL is cut, and the server is killed with SIGKILL and restarted. It measures the
service's fault handling, not the model: decisions come from the tests' tiny model on synthetic
customers, so no trained champion or feature store is needed; the production profile's stores are
real (a private redis-server with AOF, a fresh PostgreSQL database behind a TCP proxy it can cut).

Prints requests, errors by status (during outages and outside them), decisions answered vs logged,
frequency-cap violations and `not_sent` reports not released, and writes benchmarks/results/soak.json.

    .venv/bin/python benchmarks/soak.py [--minutes 1] [--clients 16]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
CAP, CUSTOMERS, GRACE_S = 4, 200, 10.0
#: a third of the decisions belong to a campaign with this many contacts per channel and hour
CAMPAIGN, PER_HOUR = "soak", 5


def serve(port: int, redis_url: str, pg_url: str, data_dir: str) -> None:
    """Child process: the service's ASGI app on a synthetic runtime, production stores."""
    import uvicorn
    from support.tiny import customer_block, tiny_model

    import serving.runtime as runtime_module
    from decision.engine import Engine
    from optichannel.campaign_plan import CampaignPlan
    from optichannel.channels import CHANNELS
    from optichannel.economics import Economics
    from optichannel.settings import Settings
    from serving.campaign_limits import CampaignLimits
    from serving.capacity_counter import RedisCounter
    from serving.decider import Decider
    from serving.decision_log import DecisionLog
    from serving.handed_out import RedisHandedOut
    from serving.shared_stores import redis_client

    settings = Settings(profile="production", redis_url=redis_url, decision_log_url=pg_url, data_dir=data_dir,
                        serve_timeout_s=10.0)  # fmt: skip

    def load(_: object) -> runtime_module.Runtime:
        model = tiny_model()
        hourly = {"per_hour": PER_HOUR, "timezone": "UTC", "hours": [0, 24]}
        plan = CampaignPlan.model_validate({"name": CAMPAIGN, "capacity": dict.fromkeys(CHANNELS, hourly)})
        limits = CampaignLimits({CAMPAIGN: plan}, RedisCounter(redis_url), Economics.from_meta(model.meta))
        decider = Decider(Engine(model), lambda ids: customer_block(ids), "tiny", "1", limits=limits)
        decider.handed_out = RedisHandedOut(redis_client(redis_url, timeout=2))
        runtime_module.check_generation(decider, settings)
        log = DecisionLog(pg_url, Path(data_dir) / "refused_decisions.jsonl").start()
        return runtime_module.Runtime(decider, log, "1", settings)

    runtime_module.load_runtime = load
    from serving.service import NextBestChannel

    uvicorn.run(NextBestChannel.to_asgi(), host="127.0.0.1", port=port, log_level="error")


class CuttableProxy:
    """A TCP proxy to PostgreSQL; `cut()` drops every connection and refuses new ones until `mend()`."""

    def __init__(self, target_port: int) -> None:
        self.target, self.open, self.socks = target_port, True, []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.server.accept()
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def cut(self) -> None:
        self.open = False
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.socks = []

    def mend(self) -> None:
        self.open = True


class Soak:
    def __init__(self, url: str) -> None:
        self.url, self.lock = url, threading.Lock()
        self.statuses: list[tuple[float, int, str]] = []
        self.answered: dict[str, tuple[str, str, str | None, str | None]] = {}  # id: customer, channel, ...
        self.not_sent: set[str] = set()
        self.outages: list[tuple[float, float]] = []
        self.began = time.time()

    def client(self, seed: int, until: float) -> None:
        rng, mine = random.Random(seed), []
        window = {"window_start": _next_hour(), "window_hours": 48}
        with httpx.Client(base_url=self.url, timeout=40) as http:
            while time.time() < until:
                r = rng.random()
                if r < 0.2 and mine:
                    decision = mine.pop(rng.randrange(len(mine)))
                    event = "not_sent" if rng.random() < 0.4 else "sent"
                    body = {"outcomes": [{"decision_id": decision, "event": event, "at": _now()}]}
                    answer = self._post(http, "/outcomes", body)
                    if answer is not None and answer["accepted"] and event == "not_sent":
                        with self.lock:
                            self.not_sent.add(decision)
                    continue
                ids = [f"S{rng.randrange(CUSTOMERS):04d}" for _ in range(5 if r < 0.3 else 1)]
                campaign = {"campaign": CAMPAIGN} if rng.random() < 0.33 else {}
                asks = [{"customer_id": c, **window, **campaign} for c in dict.fromkeys(ids)]
                path, body = ("/predict_batch", {"requests": asks}) if len(ids) > 1 else ("/predict", asks[0])
                answer = self._post(http, path, body)
                for a in [] if answer is None else answer if isinstance(answer, list) else [answer]:
                    with self.lock:
                        d, named = a["decision"], campaign.get("campaign")
                        self.answered[a["decision_id"]] = (
                            a["customer_id"],
                            d["channel"],
                            d["send_at"],
                            named,
                        )
                    if a["decision"]["channel"] != "none":
                        mine.append(a["decision_id"])

    def _post(self, http: httpx.Client, path: str, body: dict) -> object | None:
        try:
            response = http.post(path, json=body)
            status = response.status_code
        except httpx.HTTPError:
            status = 0  # no answer at all (connection refused while the server restarts)
        with self.lock:
            self.statuses.append((time.time(), status, path))
        if status != 200:
            time.sleep(0.2)
            return None
        return response.json()

    def during_outage(self, at: float) -> bool:
        return any(lo <= at <= hi + GRACE_S for lo, hi in self.outages)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def _next_hour() -> str:
    from serving.decider import next_full_hour

    return next_full_hour().isoformat()


def _start_server(port: int, redis_url: str, pg_url: str, data_dir: str) -> subprocess.Popen:
    with open(Path(data_dir) / "server.log", "a") as errors:
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), redis_url, pg_url, data_dir],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=errors)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            tail = (Path(data_dir) / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the soak's server exited:\n{tail}")
        time.sleep(0.1)
    raise RuntimeError("the soak's server was not ready within 120 s")


def chaos(soak: Soak, redis: object, proxy: CuttableProxy, server: list, args: tuple, minutes: float) -> None:
    """Redis stopped, PostgreSQL cut, the server killed: each once, spread over the run."""
    span, outage = minutes * 60, min(8.0, minutes * 60 / 10)
    time.sleep(span * 0.15)
    lo = time.time()
    redis.stop()
    time.sleep(outage)
    redis.start()  # AOF: back with its data
    soak.outages.append((lo, time.time()))
    time.sleep(span * 0.15)
    lo = time.time()
    proxy.cut()
    time.sleep(outage)
    proxy.mend()
    soak.outages.append((lo, time.time()))
    time.sleep(span * 0.15)
    lo = time.time()
    server[0].send_signal(signal.SIGKILL)
    server[0].wait()
    try:
        server[0] = _start_server(*args)
    finally:
        soak.outages.append((lo, time.time()))
        print(f"server restarted after {time.time() - lo:.1f} s")


def measure(soak: Soak, pg_url: str, redis_client: object) -> dict:
    """The figures: statuses, answered vs logged, cap violations, not_sent still holding a place."""
    import pandas as pd

    from serving.decision_log import read_log
    from serving.handed_out import KEY_PREFIX
    from serving.log_database import engine

    logged = read_log(pg_url)
    with engine(pg_url).connect() as con:
        outcomes = pd.read_sql("SELECT decision_id, event FROM outcomes", con)
        pending = pd.read_sql("SELECT decision_id FROM outcome_releases", con)
    inside = Counter(s for at, s, _ in soak.statuses if soak.during_outage(at))
    outside = Counter(s for at, s, _ in soak.statuses if not soak.during_outage(at))
    bad = Counter(f"{p} {s}" for _, s, p in soak.statuses if s >= 500 or s == 0)
    answered = set(soak.answered)
    released = set(outcomes.loc[outcomes["event"] == "not_sent", "decision_id"])
    live = {d: v for d, v in soak.answered.items() if v[1] != "none" and d not in released}
    contacts = Counter(c for c, _, _, _ in live.values())
    booked = Counter((ch, at) for c, ch, at, camp in live.values() if camp == CAMPAIGN)
    held = [d for d in soak.not_sent if redis_client.zscore(KEY_PREFIX + soak.answered[d][0], d) is not None]
    return {
        "requests": len(soak.statuses),
        "status_outside_outages": dict(sorted(outside.items())),
        "status_during_outages": dict(sorted(inside.items())),
        "errors_by_path": dict(sorted(bad.items())),
        "outages_s": [round(hi - lo, 1) for lo, hi in soak.outages],
        "outage_starts_s": [round(lo - soak.began, 1) for lo, _ in soak.outages],
        "504_at_s": sorted({round(at - soak.began) for at, s, _ in soak.statuses if s == 504}),
        "5xx_outside_outages": sum(n for s, n in outside.items() if s >= 500),
        "500_or_504": sum(n for s, n in (inside + outside).items() if s in (500, 504)),
        "answered": len(answered),
        "logged": len(logged),
        "answered_not_logged": len(answered - set(logged["decision_id"])),
        "logged_not_answered": len(set(logged["decision_id"]) - answered),
        "cap_violations": sum(n > CAP for n in contacts.values()),
        "campaign_contacts": sum(booked.values()),
        "capacity_violations": sum(n > PER_HOUR for n in booked.values()),
        "not_sent_accepted": len(soak.not_sent),
        "not_sent_unreleased": len(held) + len(set(pending["decision_id"]) & soak.not_sent),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    from support.in_process import free_port, private_redis
    from support.live_stores import fresh_postgres

    from benchmarks.results_file import write_result

    with (
        tempfile.TemporaryDirectory() as tmp,
        private_redis(Path(tmp) / "redis", append_only=True) as redis,
        fresh_postgres() as pg_url,
    ):
        proxy = CuttableProxy(5432)
        via_proxy = pg_url.replace(":5432/", f":{proxy.port}/")
        start = (free_port(), redis.url, via_proxy, tmp)
        server = [_start_server(*start)]
        soak = Soak(f"http://127.0.0.1:{start[0]}")
        until = time.time() + args.minutes * 60
        threads = [threading.Thread(target=soak.client, args=(i, until)) for i in range(args.clients)]
        threads.append(threading.Thread(target=chaos, args=(soak, redis, proxy, server, start, args.minutes)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        server[0].send_signal(signal.SIGTERM)  # a clean stop writes what is queued
        server[0].wait(30)
        import redis as redis_lib

        figures = measure(soak, pg_url, redis_lib.Redis(port=redis.port))
        kept = Path(tempfile.gettempdir()) / "optichannel-soak-server.log"
        kept.write_bytes((Path(tmp) / "server.log").read_bytes())
        print(f"the server's log: {kept}")
    for key, value in figures.items():
        print(f"{key:>24}: {value}")
    write_result("soak", figures, notes=f"{args.minutes:g} min, {args.clients} clients, 3 injected outages")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        os.environ.setdefault("OPTICHANNEL_SERVE_WORKERS", "1")
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        main()
