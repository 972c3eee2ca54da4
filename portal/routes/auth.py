"""Signing in and out: password, e-mailed login link, logout, language; the home page by role.

Failed attempts are throttled per address and per client IP in the database
(so several server processes share the count): once ``login_failures_per_minute``
failures were counted for an address within a minute, the next attempt gets 429
before any password is checked, whether the account exists or not. A login
link is asked for with the same answer for known and unknown addresses, and
mailed after the answer is sent, so neither the text nor the timing tells.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, BackgroundTasks, Request
from starlette.responses import RedirectResponse, Response

from ledger import access
from ledger.models import User
from portal.deps import Db, Form, SignedInUser, optional_user, portal_state
from portal.errors import Throttled
from portal.i18n import LANGUAGES
from portal.mail import login_link_message, send_quietly
from portal.pages import render
from portal.security import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    set_cookie,
    verify_password,
)

router = APIRouter(include_in_schema=False)
WINDOW = dt.timedelta(minutes=1)


def safe_next(target: str | None) -> str:
    """A local path to go to after signing in (anything else: the home page).

    >>> safe_next("/invoices?status=207"), safe_next("//evil.example/"), safe_next("https://x.org")
    ('/invoices?status=207', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _check_throttle(request: Request, db: Db, email: str | None) -> list[str]:
    settings = portal_state(request).settings
    subjects = access.failure_subjects(email=email, ip=_client_ip(request))
    limits = {"email": settings.login_failures_per_minute, "ip": settings.login_failures_per_minute_ip}
    for subject in subjects:
        if access.recent_failures(db, subject=subject, window=WINDOW) >= limits[subject.split(":")[0]]:
            raise Throttled("too many failed attempts")
    return subjects


def _signed_in_response(request: Request, db: Db, user: User, target: str) -> Response:
    """Open a new session (ending the one the browser had: the id changes at login) and go on."""
    settings = portal_state(request).settings
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        access.revoke_web_session(db, token=old)
    access.purge_expired(db)
    ttl = dt.timedelta(minutes=settings.session_ttl_minutes)
    _, token = access.open_web_session(
        db,
        user=user,
        ttl=ttl,
        language=getattr(request.state, "lang", None) if request.cookies.get(LANG_COOKIE) else None,
        ip=_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    db.commit()
    response = RedirectResponse(safe_next(target), status_code=303)
    set_cookie(response, SESSION_COOKIE, token, max_age=int(ttl.total_seconds()))
    clear_cookie(response, CSRF_COOKIE)
    return response


@router.get("/login")
def login_page(request: Request, db: Db, next: str = "/") -> Response:
    """The sign-in page: password, or a link by e-mail."""
    optional_user(request, db)
    return render(request, "login.html", {"next": safe_next(next), "error": None, "email": ""})


@router.post("/login")
def login(request: Request, db: Db, form: Form) -> Response:
    """Check the password; on success a new session, else the page again (401), 429 when throttled."""
    email = access.normalize_email(form.get("email", ""))[:320]
    password = form.get("password", "")[:1024]
    subjects = _check_throttle(request, db, email)
    user = access.find_user(db, email=email) if email else None
    if verify_password(user.password_hash if user else None, password) and user is not None:
        return _signed_in_response(request, db, user, form.get("next", "/"))
    access.record_login_failure(db, subjects=subjects)
    db.commit()
    context = {"next": safe_next(form.get("next")), "error": "wrong_credentials", "email": email}
    return render(request, "login.html", context, status=401)


@router.post("/login/link")
def ask_login_link(request: Request, db: Db, form: Form, tasks: BackgroundTasks) -> Response:
    """Mail a single-use login link if the address has an account; the same answer either way."""
    state = portal_state(request)
    email = access.normalize_email(form.get("email", ""))[:320]
    subjects = _check_throttle(request, db, email)
    # every request counts against the address, so links cannot be used to flood a mailbox
    access.record_login_failure(db, subjects=subjects[:1])
    user = access.find_user(db, email=email) if email else None
    if user is not None:
        minutes = state.settings.login_link_ttl_minutes
        token = access.issue_login_token(
            db, user=user, ttl=dt.timedelta(minutes=minutes), ip=_client_ip(request)
        )
        link = f"{state.settings.public_url.rstrip('/')}/login/link?token={token}"
        lang = getattr(request.state, "lang", "fr")
        message = login_link_message(
            settings=state.settings, to=user.email, link=link, lang=user.language or lang, minutes=minutes
        )
        tasks.add_task(send_quietly, state.transport, message)
    db.commit()
    return render(request, "link_sent.html", {"email": email})


@router.get("/login/link")
def login_link_page(request: Request, db: Db, token: str = "") -> Response:
    """The page a login link opens: one button that signs in (a GET never spends the link)."""
    optional_user(request, db)
    return render(request, "link_confirm.html", {"token": token[:200]})


@router.post("/login/link/use")
def use_login_link(request: Request, db: Db, form: Form) -> Response:
    """Spend a login link and open a session; an unknown, used or expired link shows the sign-in page."""
    subjects = _check_throttle(request, db, None)
    user = access.consume_login_token(db, token=form.get("token", "")[:200])
    if user is None:
        access.record_login_failure(db, subjects=subjects)
        db.commit()
        return render(request, "login.html", {"next": "/", "error": "link_invalid", "email": ""}, status=400)
    return _signed_in_response(request, db, user, "/")


@router.post("/logout")
def logout(request: Request, db: Db, auth: SignedInUser, form: Form) -> Response:
    """End the session here and in the database: the old cookie is refused from now on."""
    access.revoke_web_session(db, token=auth.token)
    db.commit()
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, SESSION_COOKIE)
    return response


@router.post("/language")
def set_language(request: Request, db: Db, form: Form) -> Response:
    """Switch the language (kept on the user, the session and a cookie)."""
    lang = form.get("lang", "")
    target = safe_next(form.get("next"))
    response = RedirectResponse(target, status_code=303)
    if lang not in LANGUAGES:
        return response
    auth = getattr(request.state, "auth", None)
    if auth is not None:
        auth.web_session.language = lang
        auth.user.language = lang
        db.commit()
    set_cookie(response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    return response


@router.get("/")
def home(request: Request, db: Db) -> Response:
    """Where a user starts: customers on their invoices, staff on the back office."""
    auth = optional_user(request, db)
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    if auth.viewer.has("customer"):
        return RedirectResponse("/invoices", status_code=303)
    if auth.viewer.is_staff:
        return RedirectResponse("/staff/invoices", status_code=303)
    if auth.viewer.has("supplier"):
        return RedirectResponse("/supplier/documents", status_code=303)
    return render(request, "home.html")
