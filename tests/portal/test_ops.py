"""Readiness with Redis (a real redis-server), and the OpenAPI description by environment."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ledger import db
from portal.app import create_app
from schemas.settings import Settings


def _get(app, path: str) -> httpx.Response:
    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            return await client.get(path)

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('ops') / 'encaisse.db'}"
    db.upgrade(url)
    return url


def test_readyz_checks_redis_when_configured(tmp_path, migrated, redis):
    app = create_app(Settings(data_dir=tmp_path, database_url=migrated, redis_url=redis.url))
    ready = _get(app, "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok"}
    redis.stop()
    try:
        down = _get(app, "/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["redis"].startswith("unreachable")
        assert _get(app, "/livez").status_code == 200  # alive, not ready
    finally:
        redis.start()


def test_readyz_says_when_the_database_is_not_migrated(tmp_path):
    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    answer = _get(app, "/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"].startswith(("unreachable", "not migrated"))


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_openapi_description(tmp_path, migrated, environment):
    app = create_app(Settings(data_dir=tmp_path, database_url=migrated, environment=environment))
    answer = _get(app, "/openapi.json")
    if environment == "development":
        assert answer.status_code == 200
        assert "/api/v1/me" in answer.json()["paths"]
        assert "/invoices" not in answer.json()["paths"]  # pages are not API
    else:
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
