"""Quiet, private, strict HTTP (issue 37, finding 13): a 4xx is one log line without the request
body (no customer ids in logs), the root page loads no third-party script, and a garbage multipart
or a text/plain body is a 4xx, never a 500 (nor read as JSON)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support.in_process import service_client
from support.tiny import customer_block, tiny_model

from decision.engine import Engine
from optichannel.settings import Settings
from serving.decider import Decider
from serving.decision_log import DecisionLog
from serving.runtime import Runtime

SECRET = "C-SECRET-0042"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    settings = Settings(data_dir=tmp_path)

    def runtime() -> Runtime:
        decider = Decider(Engine(tiny_model()), lambda ids: customer_block(ids), "tiny", "1")
        return Runtime(decider, DecisionLog(settings.decision_log).start(), "1", settings)

    with service_client(runtime, monkeypatch) as made:
        yield made


def test_a_4xx_is_one_log_line_without_the_body(client: object, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        bad = client.post("/predict", json={"customer_id": SECRET, "window_hours": "72"})
        unknown = client.post("/predict", json={"customer_id": SECRET, "campaign": "nope"})
    assert bad.status_code == 400 and unknown.status_code == 400
    text = caplog.text
    assert SECRET not in text  # before: the pydantic error with input_value='C-SECRET-0042'...
    assert "Traceback" not in text and not any(r.levelno >= logging.ERROR for r in caplog.records)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("400")]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert "window_hours" in lines[0]


def test_the_root_page_loads_no_third_party_script(client: object) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "googletagmanager" not in page.text and "https://" not in page.text  # before: GTM's tag


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("multipart/form-data; boundary=xx", b"--xx\r\ngarbage\x00\xff"),  # before: 500
        ("text/plain", b'{"customer_id": "C1"}'),  # before: 200, read as JSON
        ("application/x-www-form-urlencoded", b"customer_id=C1"),
    ],
)
def test_a_body_that_is_not_json_is_a_415(client: object, kind: str, body: bytes) -> None:
    for path in ("/predict", "/predict_batch", "/outcomes"):
        answer = client.post(path, content=body, headers={"content-type": kind})
        assert answer.status_code == 415, (path, answer.text)
        assert "application/json" in answer.json()["error"]
    assert client.post("/predict", json={"customer_id": "C1"}).status_code == 200
