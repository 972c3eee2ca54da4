"""Request dependencies: the database session, who is signed in, which area they may enter, forms.

Routes declare what they need with the ``Annotated`` aliases at the bottom
(``Db``, ``SignedInUser``, ``Customer``, ``Staff``, ``Form``). A user who may not
enter an area gets the same 404 as for an address that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import access
from ledger.access import WebSession
from ledger.models import Party, User
from ledger.scoping import NotFound, Viewer, viewer_for
from portal.errors import CsrfRejected, HttpError, LoginRequired
from portal.i18n import pick_language
from portal.security import CSRF_COOKIE, CSRF_FIELD, LANG_COOKIE, SESSION_COOKIE, same_origin, tokens_match
from portal.state import PortalState
from schemas.errors import ErrorCode

FORM_MAX_FIELDS = 50


def portal_state(request: Request) -> PortalState:
    """The application's :class:`~portal.state.PortalState`."""
    state: PortalState = request.app.state.portal
    return state


def get_db(request: Request) -> Iterator[Session]:
    """A database session for the request (the route commits what it changes)."""
    with portal_state(request).sessions() as session:
        yield session


Db = Annotated[Session, Depends(get_db)]


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user of a request, their session and what they may see."""

    user: User
    web_session: WebSession
    viewer: Viewer
    token: str


def _party_language(db: Session, viewer: Viewer) -> str | None:
    ids = sorted(viewer.customer_party_ids | viewer.supplier_party_ids)
    if not ids:
        return None
    return db.scalar(select(Party.language).where(Party.id == ids[0]))


def optional_user(request: Request, db: Db) -> SignedIn | None:
    """The signed-in user, or ``None``; sets ``request.state.lang`` and ``request.state.auth``."""
    token = request.cookies.get(SESSION_COOKIE)
    found = access.find_web_session(db, token=token) if token else None
    auth = None
    party_lang = None
    if found is not None and token is not None:
        viewer = viewer_for(db, user=found.user)
        auth = SignedIn(user=found.user, web_session=found, viewer=viewer, token=token)
        if not found.language and not found.user.language:
            party_lang = _party_language(db, viewer)
    request.state.auth = auth
    request.state.lang = pick_language(
        found.language if found else None,
        found.user.language if found else None,
        party_lang,
        request.cookies.get(LANG_COOKIE),
        accept_language=request.headers.get("accept-language"),
    )
    return auth


def require_user(auth: Annotated[SignedIn | None, Depends(optional_user)]) -> SignedIn:
    """The signed-in user, or a redirect to the sign-in page (401 for the API)."""
    if auth is None:
        raise LoginRequired("sign in first")
    return auth


SignedInUser = Annotated[SignedIn, Depends(require_user)]


def require_customer(auth: SignedInUser) -> SignedIn:
    """A user with the customer role (others: 404, as if the page did not exist)."""
    if not auth.viewer.has("customer"):
        raise NotFound("no such page")
    return auth


def require_staff(auth: SignedInUser) -> SignedIn:
    """A back-office user: admin, receivables manager, collector, litigation or auditor (others: 404)."""
    if not auth.viewer.is_staff:
        raise NotFound("no such page")
    return auth


Customer = Annotated[SignedIn, Depends(require_customer)]
Staff = Annotated[SignedIn, Depends(require_staff)]


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form, bounded, with its CSRF token checked.

    Refused: another content type (415), more than :data:`FORM_MAX_FIELDS` fields,
    a field longer than ``max_form_field_bytes``, bytes that are not UTF-8
    (400), a cross-site origin or a missing or wrong token (403). The body's
    total size is bounded before this by :class:`portal.middleware.BodyLimit`.
    """
    settings = portal_state(request).settings
    if not same_origin(request, settings.public_url):
        raise CsrfRejected("cross-site form")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type != "application/x-www-form-urlencoded" and (content_type or body):
        raise HttpError(
            415, "send the form as application/x-www-form-urlencoded", code=ErrorCode.FORM_INVALID
        )
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=FORM_MAX_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, "the form could not be read (too many fields, or not UTF-8)") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        if len(value.encode()) > settings.max_form_field_bytes or len(key) > 100:
            raise HttpError(400, f"the field {key[:40]!r} is too long")
        fields.setdefault(key, value)
    auth: SignedIn | None = getattr(request.state, "auth", None)
    expected = auth.web_session.csrf_token if auth is not None else request.cookies.get(CSRF_COOKIE)
    if not tokens_match(expected, fields.get(CSRF_FIELD)):
        raise CsrfRejected("missing or wrong CSRF token")
    return fields


def _signed_in_first(auth: Annotated[SignedIn | None, Depends(optional_user)]) -> SignedIn | None:
    return auth


async def form_fields(
    request: Request, auth: Annotated[SignedIn | None, Depends(_signed_in_first)]
) -> dict[str, str]:
    """:func:`read_form` after the session is known (its CSRF token is the one expected)."""
    return await read_form(request)


Form = Annotated[dict[str, str], Depends(form_fields)]
