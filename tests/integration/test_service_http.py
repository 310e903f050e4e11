"""The real service: `bentoml serve` on a free port against the session's trained store, called
over HTTP like a CRM would — answers, errors, auth, health, metrics, the decision log, and
schemathesis-generated requests from the service's own OpenAPI schema (never a 5xx)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import pandas as pd
import pytest
import schemathesis

from features.store import snapshot_span
from serving.decision_log import read_log
from serving.local_server import running_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PLAN = """name: http-campaign
budget: 12
economics: {cost: {call: 2.0}}
capacity:
  call: {per_hour: 1, timezone: Europe/Moscow, hours: [9, 18], weekdays: [0, 1, 2, 3, 4]}
  sms: {per_day: 2}
"""


@pytest.fixture(scope="module")
def service(champion: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    log_path = tmp_path_factory.mktemp("decisions") / "decisions.sqlite"
    plan = log_path.parent / "http.yaml"
    plan.write_text(PLAN)
    settings = champion["settings"].model_copy(
        update={"api_token": TOKEN, "decision_log_path": log_path, "plans": [plan]}
    )
    out = tmp_path_factory.mktemp("serve") / "serve.log"
    customers = pd.read_parquet(settings.validated_dir / "customers.parquet")["customer_id"]
    with running_service(settings, workers=1, log_file=out) as url:
        fresh = (pd.Timestamp(snapshot_span(settings)[1]) + pd.Timedelta(hours=7)).isoformat()
        yield {"url": url, "log": log_path, "customers": customers.tolist(), "output": out, "fresh": fresh}


def test_predict_answers_a_crm_over_http(service: dict) -> None:
    url, cid = service["url"], service["customers"][3]
    body = {"customer_id": cid, "explain": True, "window_hours": 48}
    assert httpx.post(f"{url}/predict", json=body).status_code == 401  # token required
    assert (
        httpx.post(f"{url}/predict", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    )
    r = httpx.post(f"{url}/predict", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["customer_id"] == cid and ans["window_hours"] == 48 and not ans["fallback"]
    assert ans["model_name"] == "optichannel-nbc" and ans["model_version"]
    assert ans["decision"]["channel"] in {"email", "sms", "push", "call", "messenger", "none"}
    assert ans["explanation"] and len(ans["decision_id"]) == 32
    assert ans["drivers"] if ans["decision"]["channel"] != "none" else ans["drivers"] == []
    # the default window is months after this world's last snapshot: said loudly, counted in /metrics
    assert ans["stale"] and ans["features_age_hours"] > 48 and "STALE FEATURES" in ans["explanation"]
    start = pd.Timestamp(ans["window_start"])  # default: the next full hour
    assert start.minute == 0 and pd.Timestamp.now(tz="UTC") < start <= pd.Timestamp.now(
        tz="UTC"
    ) + pd.Timedelta(hours=1)
    batch = [{"customer_id": c} for c in service["customers"][:40]] + [{"customer_id": "nobody-knows"}]
    rb = httpx.post(f"{url}/predict_batch", json={"requests": batch}, headers=AUTH)
    assert rb.status_code == 200, rb.text
    answers = rb.json()
    assert [a["customer_id"] for a in answers] == [b["customer_id"] for b in batch]
    assert [a["fallback"] for a in answers] == [False] * 40 + [True]
    # the decision log holds every decision, joinable by decision_id
    ids = {ans["decision_id"], *(a["decision_id"] for a in answers)}
    for _ in range(40):
        if service["log"].exists() and ids <= set(read_log(service["log"])["decision_id"]):
            break
        time.sleep(0.25)
    assert ids <= set(read_log(service["log"])["decision_id"])


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/predict", {"customer_id": "C1", "channels": ["fax"]}, "channels"),
        ("/predict", {"customer_id": "C1", "window_hours": 500}, "window_hours"),
        ("/predict", {"customer_id": "C1", "window_start": "next tuesday"}, "window_start"),
        ("/predict", {"customer_id": "C1", "window_start": "2026-05-01T10:00:00"}, "window_start"),
        ("/predict", {"customer_id": "C1", "timezone": "Mars/Olympus"}, "timezone"),
        ("/predict", {"channels": ["sms"]}, "customer_id"),
        ("/predict_batch", {"requests": []}, "requests"),
        ("/predict_batch", {"requests": [{"customer_id": "C1"}] * 1001}, "requests"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(service: dict, path: str, body: dict, field: str) -> None:
    r = httpx.post(service["url"] + path, json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    assert field in {str(p) for d in r.json()["detail"] for p in d["loc"]}
    assert "Traceback" not in r.text


def test_health_and_metrics(service: dict) -> None:
    url = service["url"]
    assert httpx.get(f"{url}/livez").status_code == 200
    assert httpx.get(f"{url}/readyz").status_code == 200
    httpx.post(f"{url}/predict", json={"customer_id": service["customers"][0]}, headers=AUTH)
    metrics = httpx.get(f"{url}/metrics").text
    assert "optichannel_decisions_total" in metrics
    assert "optichannel_stale_decisions_total" in metrics  # the stale answers of the default window


def test_no_generated_request_gets_a_5xx(service: dict) -> None:
    """Requests generated from the service's own OpenAPI schema (valid and invalid): a 2xx or a
    4xx, never a server error."""
    schema = schemathesis.openapi.from_url(f"{service['url']}/docs.json")
    operations = [r.ok() for r in schema.include(path_regex="^/(predict|outcomes)").get_all_operations()]
    assert {op.path for op in operations} == {"/predict", "/predict_batch", "/outcomes"}
    seen: list[int] = []
    modes = (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    for operation, mode in itertools.product(operations, modes):

        @hypothesis.given(case=operation.as_strategy(mode))
        @hypothesis.settings(
            max_examples=40,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=service["url"], headers=AUTH, timeout=30)
            seen.append(response.status_code)
            assert response.status_code < 500, (
                f"{case.body!r} -> {response.status_code} {response.text[:500]}"
            )

        check()
    assert len(seen) >= 90 and 200 in seen and 400 in seen


def test_bentoml_build_packs_the_service(tmp_path: Path) -> None:
    """`bentoml build` with the repo's bentofile: code in, state (data, MLflow, tests) out."""
    import shutil

    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join([str(root / ".uv" / "bin"), str(Path(sys.executable).parent), os.environ["PATH"]])
    if shutil.which("uv", path=path) is None:
        pytest.skip("bentoml build needs uv on PATH (make setup installs it into .uv/bin)")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "PATH": path, "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = Path(sys.executable).with_name("bentoml")
    done = subprocess.run([str(bentoml), "build", "."], cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (bento,) = [p for p in (tmp_path / "bentos" / "optichannel").iterdir() if p.is_dir()]
    src = bento / "src"
    assert (src / "serving" / "service.py").exists() and (
        src / "features" / "feature_repo" / "feature_store.yaml"
    ).exists()
    assert (src / "features" / "feast_sqlite" / "read.py").exists()  # the online read the service uses
    assert (src / "optichannel" / "lagrangian.py").exists()
    assert (src / "serving" / "campaign_limits.py").exists()
    assert not (src / "tests").exists() and not (src / "data").exists()
    # every project module the service imports, however indirectly, is in the Bento
    import grimp

    graph = grimp.build_graph("optichannel", "simulator", "features", "decision", "serving")
    needed = {"serving.service", *graph.find_upstream_modules("serving.service")}
    missing = [m for m in sorted(needed) if not (src / (m.replace(".", "/") + ".py")).exists()
               and not (src / m.replace(".", "/") / "__init__.py").exists()]  # fmt: skip
    assert not missing, f"the Bento lacks modules the service imports: {missing}"


def _doc_block(lang: str, needle: str) -> str:
    """The one `lang` block holding `needle` on the CRM guide's first page, docs/crm/index.md."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "crm" / "index.md").read_text()
    blocks = re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if needle in b]
    return block


def test_crm_guide_examples_work_as_written(service: dict) -> None:
    """The CRM guide's curl and Python examples (docs/crm/index.md), run against the live service
    (URL, customer and token swapped in), so the docs a CRM developer copies cannot drift."""
    import shutil

    cid = service["customers"][7]
    snippet = _doc_block("python", "/predict").replace("http://127.0.0.1:3000", service["url"])
    snippet = snippet.replace('"C0000042"', repr(cid)).replace("httpx.post(", "httpx.post(headers=AUTH, url=")
    # the guide's window start moved to the morning after this world's last snapshot (fresh features)
    snippet = snippet.replace('"2026-11-25T08:00:00Z"', repr(service["fresh"]))
    namespace: dict = {"AUTH": AUTH}
    exec(compile(snippet, "docs/crm/index.md", "exec"), namespace)
    assert namespace["answer"]["customer_id"] == cid and namespace["answer"]["drivers"]
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    command = (
        _doc_block("bash", "curl").replace("http://127.0.0.1:3000", service["url"]).replace("C0000042", cid)
    )
    command = command.replace("curl -s", f"curl -s -H 'Authorization: Bearer {TOKEN}'")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and json.loads(done.stdout)["customer_id"] == cid, done.stdout + done.stderr


def test_a_campaign_keeps_its_limits_while_a_crm_asks_one_by_one(service: dict) -> None:
    url, ids = service["url"], service["customers"][:60]
    asks = [{"customer_id": c, "window_start": service["fresh"], "campaign": "http-campaign"} for c in ids]
    answers = []
    for body in asks:
        r = httpx.post(f"{url}/predict", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        answers.append(r.json())
    d = pd.DataFrame([{**a["decision"], "excluded": a["excluded"]} for a in answers])
    d["send_at"] = pd.to_datetime(d["send_at"], utc=True)
    calls, sms = d[d["channel"] == "call"], d[d["channel"] == "sms"]
    moscow = calls["send_at"].dt.tz_convert("Europe/Moscow")
    assert max(calls.groupby("send_at").size(), default=0) <= 1
    assert moscow.dt.hour.between(9, 17).all() and (moscow.dt.weekday < 5).all()
    assert max(sms.groupby(sms["send_at"].dt.floor("D")).size(), default=0) <= 2
    costs = {"call": 2.0, "sms": 0.05, "email": 0.005, "push": 0.001, "messenger": 0.03, "none": 0.0}
    assert sum(costs[c] for c in d["channel"]) <= 12 + 1e-9
    plain = [{k: v for k, v in a.items() if k != "campaign"} for a in asks]
    free = httpx.post(f"{url}/predict_batch", json={"requests": plain}, headers=AUTH).json()
    free_calls = pd.Series([a["decision"]["send_at"] for a in free if a["decision"]["channel"] == "call"])
    if max(free_calls.value_counts(), default=0) > 1:  # the limit binds: someone hears why
        reasons = {e["reason"] for a in answers for e in a["excluded"] if e["channel"] == "call"}
        assert reasons & {"capacity", "office hours"}, reasons
    bad = httpx.post(f"{url}/predict", json={"customer_id": ids[0], "campaign": "autumn"}, headers=AUTH)
    assert bad.status_code == 400 and "autumn" in bad.text and "http-campaign" in bad.text


def test_the_crm_reports_outcomes_and_not_sent_frees_the_cap(service: dict) -> None:
    from serving.handed_out import SQLiteHandedOut

    url = service["url"]
    for cid in service["customers"][7:60]:  # a customer the model contacts twice (consents allow it)
        body = {"customer_id": cid, "window_start": service["fresh"], "allow_no_contact": False}
        first, second = (httpx.post(f"{url}/predict", json=body, headers=AUTH).json() for _ in range(2))
        if first["decision"]["channel"] != "none" and second["decision"]["channel"] != "none":
            break
    ids = [first["decision_id"], second["decision_id"]]
    deadline = time.monotonic() + 10
    while not set(ids) <= set(read_log(service["log"])["decision_id"]) and time.monotonic() < deadline:
        time.sleep(0.1)  # the log is written off the request path
    handed = SQLiteHandedOut(service["log"].parent / "handed_out.sqlite")
    sends = [pd.Timestamp(a["decision"]["send_at"]) for a in (first, second)]
    lo, hi = [int(min(sends).timestamp())], [int(max(sends).timestamp()) + 1]
    before = int(handed.count([cid], lo, hi)[0])
    report = {"outcomes": [
        {"decision_id": ids[0], "event": "sent", "at": first["decision"]["send_at"]},
        {"decision_id": ids[1], "event": "not_sent", "at": second["decision"]["send_at"]},
        {"decision_id": "no-such-decision", "event": "sent", "at": first["decision"]["send_at"]},
        {"decision_id": ids[0], "event": "opened", "at": first["decision"]["send_at"]},
    ]}  # fmt: skip
    assert httpx.post(f"{url}/outcomes", json=report).status_code == 401
    answer = httpx.post(f"{url}/outcomes", json=report, headers=AUTH)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert (got["read"], got["accepted"], got["released"]) == (4, 2, 1)
    assert [(q["row"], q["reason"]) for q in got["quarantined"]] == [
        (3, "unknown decision_id"),
        (4, "malformed: event not one of sent, not_sent, delivered, responded, converted"),
    ]
    assert int(handed.count([cid], lo, hi)[0]) == before - 1
    again = httpx.post(f"{url}/outcomes", json={"outcomes": report["outcomes"][:1]}, headers=AUTH).json()
    assert again["accepted"] == 0 and again["quarantined"][0]["reason"] == "already reported"
