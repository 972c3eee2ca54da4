"""ASGI middleware of the portal: security headers, body size limit, last-resort errors, metrics.

Plain ASGI classes (no ``BaseHTTPMiddleware``), so they never buffer a
response. Order, outermost first (see :func:`portal.app.create_app`):
:class:`SecurityHeaders` → :class:`Metrics` → :class:`CatchAll` →
:class:`BodyLimit` → the application. Everything the application or a
middleware inside answers, error pages included, carries the headers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("encaisse.portal")

#: Content-Security-Policy: everything from the application itself, nothing framed, no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
)

ErrorResponder = Callable[[Scope, int, str], tuple[list[tuple[bytes, bytes]], bytes]]


class SecurityHeaders:
    """Add :data:`SECURITY_HEADERS` to every response, and ``Cache-Control: no-store`` outside ``/static``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap ``send`` to add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _SET_HERE]
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_SET_HERE = frozenset(name for name, _ in SECURITY_HEADERS)


class _BodyTooLarge(Exception):
    """Raised inside ``receive`` when the body passes the limit."""


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, before the application parses them.

    A ``Content-Length`` over the limit is answered at once, without reading
    the body; a body without one (chunked) is counted as it is read and the
    request ends with 413 the moment it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, respond: ErrorResponder) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.respond = respond

    async def _refuse(self, scope: Scope, send: Send) -> None:
        headers, body = self.respond(scope, 413, f"The request body is larger than {self.max_bytes} bytes.")
        headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what is received."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                headers, body = self.respond(scope, 400, "The Content-Length header is not a number.")
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, send)
                return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send)


class CatchAll:
    """The last resort: an unexpected exception becomes a 500 page without a traceback (logged here)."""

    def __init__(self, app: ASGIApp, *, respond: ErrorResponder) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the application; answer 500 if it raised before starting its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            headers, body = self.respond(scope, 500, "")
            await send({"type": "http.response.start", "status": 500, "headers": headers})
            await send({"type": "http.response.body", "body": body})


class Metrics:
    """Prometheus request counters and latencies, labelled by route template (never by raw path)."""

    def __init__(self, app: ASGIApp, *, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "encaisse_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "encaisse_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and count its status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        begin = time.perf_counter()

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            self.latency.labels(method, route).observe(time.perf_counter() - begin)
            self.requests.labels(method, route, str(status)).inc()


def _route_template(scope: MutableMapping[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "/static" if str(scope.get("path", "")).startswith("/static/") else "unmatched"
