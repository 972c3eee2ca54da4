"""Rendering a page: the template, the user's language, the CSRF token, the formatting helpers."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import HTMLResponse

from ledger.access import new_secret
from portal.deps import SignedIn, portal_state
from portal.i18n import LANGUAGES, format_amount, format_day, format_instant, gettext, pick_language
from portal.security import CSRF_COOKIE, set_cookie
from schemas.lifecycle import ReasonCode, Status


def status_label(code: str | None, lang: str) -> str:
    """The lifecycle status's label in ``lang`` (the code itself when unknown).

    >>> status_label("207", "fr"), status_label("212", "en")
    ('En litige', 'Payment received')
    """
    if not code:
        return ""
    try:
        status = Status(code)
    except ValueError:
        return code
    return status.label_fr if lang == "fr" else status.label_en


def reason_label(code: str, lang: str) -> str:
    """A reason code's label in ``lang`` (the code itself when unknown)."""
    try:
        reason = ReasonCode(code)
    except ValueError:
        return code
    return reason.label_fr if lang == "fr" else reason.label_en


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """The page ``template`` for ``request``, in the user's language, with a CSRF token for its forms."""
    state = portal_state(request)
    auth: SignedIn | None = getattr(request.state, "auth", None)
    lang = getattr(request.state, "lang", None) or pick_language(
        accept_language=request.headers.get("accept-language")
    )
    new_csrf = None
    if auth is not None:
        csrf = auth.web_session.csrf_token
    else:
        csrf = request.cookies.get(CSRF_COOKIE) or ""
        if len(csrf) < 20:
            csrf = new_csrf = new_secret(24)
    values: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "languages": LANGUAGES,
        "_": lambda text: gettext(lang, text),
        "amount": lambda value, currency="EUR": format_amount(value, lang, currency or "EUR"),
        "day": lambda value: format_day(value, lang),
        "instant": lambda value: format_instant(value, lang),
        "status_label": lambda code: status_label(code, lang),
        "reason_label": lambda code: reason_label(code, lang),
        "csrf_token": csrf,
        "auth": auth,
        "signed_in": auth is not None,
        "viewer": auth.viewer if auth else None,
        "company_name": state.settings.company_name,
        "path": request.url.path,
        "error_page": False,
    }
    values.update(context or {})
    html = state.templates.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status)
    if new_csrf is not None:
        set_cookie(response, CSRF_COOKIE, new_csrf)
    return response
