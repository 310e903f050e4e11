"""Closed by default: the production profile refuses to start without an API token, in one line,
before any worker starts (and each worker refuses on its own, for `bentoml serve` started directly)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from optichannel.settings import Settings, get_settings
from serving import cli
from serving.runtime import StartupError, require_token


def test_serve_refuses_the_production_profile_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTICHANNEL_PROFILE", "production")
    monkeypatch.delenv("OPTICHANNEL_API_TOKEN", raising=False)
    monkeypatch.setenv("OPTICHANNEL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPTICHANNEL_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    get_settings.cache_clear()
    app = typer.Typer()
    cli.register(app)
    try:
        done = CliRunner().invoke(app, ["serve"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 1
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and "OPTICHANNEL_API_TOKEN" in lines[0] and lines[0].startswith("error:")


def test_every_worker_checks_the_token_too() -> None:
    with pytest.raises(StartupError, match="OPTICHANNEL_API_TOKEN"):
        require_token(Settings(profile="production", api_token=None))
    require_token(Settings(profile="production", api_token="s3cret"))
    require_token(Settings(profile="local", api_token=None))  # a laptop may run open, on 127.0.0.1
