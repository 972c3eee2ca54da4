"""The application factory: ``create_app(settings)`` gives the portal's ASGI application.

What it assembles:

* the routers of each area (``portal.routes``), static files served by the
  application itself (no CDN), and the OpenAPI document at ``/openapi.json``
  (sign-in required outside development);
* middleware, outermost first: security headers on every answer (HSTS, CSP with
  ``frame-ancestors 'none'``, ``nosniff``, Referrer-Policy, Permissions-Policy),
  Prometheus metrics, a last-resort 500 page, the request body limit (413
  before parsing);
* error handlers: a clear page or ``application/problem+json``, never a
  traceback (:mod:`portal.errors`).

The database engine, the archive store and the mail transport come from the
settings, or are handed in (tests).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import iter_route_contexts
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.responses import JSONResponse

from archive.store import Store, store_from_settings
from ledger import db
from notify.transport import Transport, transport_from_settings
from portal import errors
from portal.deps import optional_user, portal_state
from portal.middleware import BodyLimit, CatchAll, Metrics, SecurityHeaders
from portal.routes import api, auth, customer, ops, pay, review, staff, supplier
from portal.state import STATIC, PortalState
from schemas.settings import Settings, get_settings

log = logging.getLogger("encaisse.portal")


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    store: Store | None = None,
    transport: Transport | None = None,
) -> FastAPI:
    """The portal for ``settings`` (default: the environment's)."""
    settings = settings or get_settings()
    engine = engine or db.make_engine(db.database_url(settings))
    state = PortalState(
        settings=settings,
        engine=engine,
        sessions=db.make_session_factory(engine),
        store=store or store_from_settings(settings),
        transport=transport or transport_from_settings(settings),
    )
    app = FastAPI(
        title="Encaisse portal",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        debug=False,
    )
    state.extra["head_revision"] = db.head_revision()  # what /readyz expects the database to be at
    app.state.portal = state
    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    areas = (ops, auth, customer, pay, staff, review, supplier, api)
    for area in areas:
        app.include_router(area.router)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(request: Request) -> JSONResponse:
        """The OpenAPI document; outside development only for a signed-in user."""
        if portal_state(request).production:
            with portal_state(request).sessions() as session:
                if optional_user(request, session) is None:
                    raise errors.LoginRequired("sign in to read the API description")
        return JSONResponse(app.openapi())

    # add_middleware puts each one outside the previous: the last added is the outermost
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes, respond=errors.error_body)
    app.add_middleware(CatchAll, respond=errors.error_body)
    app.add_middleware(Metrics, registry=state.registry)
    app.add_middleware(SecurityHeaders)
    return app


def route_table(app: FastAPI) -> list[dict[str, Any]]:
    """Every route as served (included routers flattened): path, methods, name.

    The isolation tests are generated from it, so a new route cannot escape them.
    """
    out = []
    for context in iter_route_contexts(app.routes):
        if context.path is not None:
            out.append({"path": context.path, "methods": sorted(context.methods or ()), "name": context.name})
    return out
