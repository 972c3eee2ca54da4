"""Operations: liveness, readiness (database, and Redis when configured), Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse, PlainTextResponse, Response

from ledger import db
from portal.deps import portal_state

router = APIRouter(tags=["operations"])


@router.get("/livez", response_class=PlainTextResponse, summary="The process answers")
def livez() -> PlainTextResponse:
    """200 as long as the process serves requests (nothing else is checked)."""
    return PlainTextResponse("ok\n")


def _check_database(request: Request) -> str:
    state = portal_state(request)
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        return f"unreachable: {type(exc).__name__}"
    head = state.extra.get("head_revision") or db.head_revision()
    return "ok" if revision == head else f"not migrated (at {revision}, code needs {head})"


def _check_redis(request: Request) -> str:
    settings = portal_state(request).settings
    url = settings.redis_url.get_secret_value().strip() if settings.redis_url else ""
    if not url:
        return "not configured"
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return "ok" if client.ping() else "no answer"
    except redis.RedisError as exc:
        return f"unreachable: {type(exc).__name__}"
    finally:
        client.close()


@router.get("/readyz", summary="Ready to serve: the database (and Redis when configured) answer")
def readyz(request: Request) -> JSONResponse:
    """200 with each check's result when all pass, else 503 with the same body."""
    checks: dict[str, Any] = {"database": _check_database(request), "redis": _check_redis(request)}
    ready = checks["database"] == "ok" and checks["redis"] in ("ok", "not configured")
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the portal's request counters and latencies."""
    return Response(generate_latest(portal_state(request).registry), media_type=CONTENT_TYPE_LATEST)
