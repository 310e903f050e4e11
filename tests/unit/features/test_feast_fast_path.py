"""The bulk SQLite paths run only on the Feast minor version they were verified on, on a SQLite
online store, and when the setting allows; anything else falls back to Feast's stock paths."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import feast
import pytest

from features import feast_sqlite
from features.feast_sqlite import VERIFIED_FEAST, fast_path


class SqliteOnlineStoreConfig:  # named like Feast's config class: only the type name is checked
    pass


class RedisOnlineStoreConfig:
    pass


def _store(online: object) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(online_store=online))


def test_the_locked_feast_is_the_verified_one() -> None:
    assert ".".join(feast.__version__.split(".")[:2]) == VERIFIED_FEAST


def test_fast_path_needs_sqlite_the_setting_and_the_verified_version(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert fast_path(_store(SqliteOnlineStoreConfig())) is True
    assert fast_path(_store(SqliteOnlineStoreConfig()), enabled=False) is False
    assert fast_path(_store(RedisOnlineStoreConfig())) is False
    monkeypatch.setattr(feast, "__version__", "0.99.1")
    monkeypatch.setattr(feast_sqlite, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="features.feast_sqlite"):
        assert fast_path(_store(SqliteOnlineStoreConfig())) is False
        assert fast_path(_store(SqliteOnlineStoreConfig())) is False
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "0.99.1" in warnings[0] and "feast_format" in warnings[0]
