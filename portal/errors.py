"""Every error answered as a clear page (HTML) or a problem document (RFC 9457), never a traceback.

``/api/`` paths, and requests that prefer JSON, get ``application/problem+json``
with a stable ``code``; the rest get the ``error.html`` page in the user's
language. A 404 says the same whether the thing does not exist or is not the
user's (:class:`ledger.scoping.NotFound`): nothing in it depends on the id.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.types import Scope

from ledger.scoping import NotFound
from ledger.services import DocumentNotFound
from portal.i18n import gettext, pick_language
from portal.state import PortalState
from schemas.errors import EncaisseError, ErrorCode, InputRejected

log = logging.getLogger("encaisse.portal")

#: Title and plain explanation per status (English source; French in the catalogue).
MESSAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Check what you entered and try again."),
    401: ("Sign-in required", "Please sign in to see this page."),
    403: ("Request refused", "This request was refused. Reload the page and try again."),
    404: ("Not found", "There is nothing at this address, or nothing you may see."),
    405: ("Method not allowed", "This address does not accept this kind of request."),
    413: ("Too large", "What you sent is larger than the portal accepts."),
    415: ("Unsupported content", "The portal does not accept this kind of content here."),
    422: ("Invalid input", "Some fields are missing or invalid."),
    429: ("Too many attempts", "Too many attempts in a short time. Wait a minute and try again."),
    500: (
        "Something went wrong",
        "The portal could not answer. The error was recorded; please try again later.",
    ),
    503: ("Unavailable", "The portal is not ready to answer. Please try again in a moment."),
}


class LoginRequired(EncaisseError):
    """The page needs a signed-in user."""

    code = ErrorCode.AUTH_REQUIRED


class CsrfRejected(EncaisseError):
    """A form came without the right CSRF token, or from another site."""

    code = ErrorCode.CSRF_REJECTED


class Throttled(EncaisseError):
    """Too many failed attempts from this address or for this account."""

    code = ErrorCode.AUTH_THROTTLED


class HttpError(EncaisseError):
    """An error with an HTTP status of its own (415, 400 for a form...)."""

    def __init__(self, status: int, message: str, *, code: ErrorCode = ErrorCode.FORM_INVALID) -> None:
        super().__init__(message, code=code)
        self.status = status


def wants_json(scope: Scope) -> bool:
    """True for the API, and for clients asking for JSON rather than HTML."""
    if str(scope.get("path", "")).startswith("/api/"):
        return True
    accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1").lower()
    return "json" in accept and "html" not in accept


def _language(scope: Scope) -> str:
    state = scope.get("state") or {}
    lang = state.get("lang") if isinstance(state, dict) else None
    headers = dict(scope.get("headers", []))
    return pick_language(
        lang,
        _cookie(headers, "__Host-encaisse-lang"),
        accept_language=headers.get(b"accept-language", b"").decode("latin-1"),
    )


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def error_body(
    scope: Scope, status: int, detail: str = "", code: str | None = None
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of an error answer, for the middleware (no request object there)."""
    title, explanation = MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400])
    if wants_json(scope):
        doc: dict[str, Any] = {
            "type": "about:blank",
            "title": title,
            "status": status,
            "detail": detail or explanation,
        }
        if code:
            doc["code"] = code
        body = json.dumps(doc).encode()
        return [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ], body
    lang = _language(scope)
    app = scope.get("app")
    state: PortalState | None = getattr(getattr(app, "state", None), "portal", None)
    if state is None:  # pragma: no cover - the app always has its state
        body = f"<!doctype html><title>{status}</title><h1>{status}</h1>".encode()
    else:
        html = state.templates.get_template("error.html").render(
            lang=lang,
            _=lambda text: gettext(lang, text),
            status=status,
            title=title,
            explanation=explanation,
            detail=detail,
            signed_in=False,
            error_page=True,
            company_name=state.settings.company_name,
        )
        body = html.encode()
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ], body


def error_response(request: Request, status: int, detail: str = "", code: str | None = None) -> Response:
    """An error answer for ``request``."""
    headers, body = error_body(request.scope, status, detail, code)
    response = Response(body, status_code=status)
    for key, value in headers:
        if key == b"content-type":
            response.headers["content-type"] = value.decode()
    return response


def install(app: FastAPI) -> None:
    """Register the handlers of every error the application can raise."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        response = error_response(request, status, _public_detail(exc), None)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = []
        for item in exc.errors()[:10]:
            where = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path"))
            fields.append(f"{where}: {item.get('msg', 'invalid')}")
        detail = "; ".join(fields)
        status = 422 if wants_json(request.scope) else 400
        return error_response(request, status, detail, str(ErrorCode.FORM_INVALID))

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_response(request, 404, "", str(ErrorCode.NOT_FOUND))

    async def login_required(request: Request, exc: Exception) -> Response:
        if wants_json(request.scope):
            return error_response(request, 401, "", str(ErrorCode.AUTH_REQUIRED))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        return error_response(request, 403, "", str(ErrorCode.CSRF_REJECTED))

    async def throttled(request: Request, exc: Exception) -> Response:
        response = error_response(request, 429, "", str(ErrorCode.AUTH_THROTTLED))
        response.headers["retry-after"] = "60"
        return response

    async def http_status(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HttpError)
        return error_response(request, exc.status, exc.message, str(exc.code))

    async def input_rejected(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InputRejected)
        return error_response(request, 400, exc.message, str(exc.code))

    async def encaisse_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EncaisseError)
        log.error("%s on %s %s", exc, request.method, request.url.path)
        status = 503 if exc.code == ErrorCode.DB_NOT_MIGRATED else 500
        return error_response(request, status, "", str(exc.code))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(DocumentNotFound, not_found)
    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(Throttled, throttled)
    app.add_exception_handler(HttpError, http_status)
    app.add_exception_handler(InputRejected, input_rejected)
    app.add_exception_handler(EncaisseError, encaisse_error)


def _public_detail(exc: StarletteHTTPException) -> str:
    """Starlette's own details ("Not Found") add nothing to the page's explanation."""
    return "" if exc.detail in (None, "", "Not Found", "Method Not Allowed") else str(exc.detail)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")
