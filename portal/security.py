"""Passwords, cookies and CSRF: the small pieces every sign-in and form relies on.

* Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory
  profile). An unknown account is checked against a dummy hash, so it takes as
  long to refuse as a wrong password (RELIABILITY 14).
* The session cookie is ``__Host-encaisse-session``: ``Secure``, ``HttpOnly``,
  ``SameSite=Lax``, ``Path=/``, no ``Domain`` (the ``__Host-`` prefix makes the
  browser enforce the last three).
* Every POST form carries ``csrf_token``: the session's own token when signed in,
  else the value of the ``__Host-encaisse-csrf`` cookie (double submit). A POST
  whose ``Origin`` is another site, or that a browser marks ``Sec-Fetch-Site:
  cross-site``, is refused whatever its token (RELIABILITY 13).
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from starlette.requests import Request
from starlette.responses import Response

from ledger.access import new_secret

SESSION_COOKIE = "__Host-encaisse-session"
CSRF_COOKIE = "__Host-encaisse-csrf"
LANG_COOKIE = "__Host-encaisse-lang"
CSRF_FIELD = "csrf_token"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash(new_secret())


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (with its salt and parameters)."""
    return _hasher().hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; ``None`` (no account, no password) costs the same."""
    try:
        return _hasher().verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def set_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    """Set a ``__Host-`` cookie: Secure, HttpOnly, SameSite=Lax, Path=/."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str) -> None:
    """Remove a cookie set by :func:`set_cookie`."""
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="lax")


def same_origin(request: Request, public_url: str) -> bool:
    """False when the browser says the request comes from another site.

    ``Sec-Fetch-Site: cross-site`` is refused; an ``Origin`` header must name this
    host (as the request reached it) or the configured public address.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    parsed = urlsplit(origin)
    host = request.headers.get("host", "")
    public = urlsplit(public_url)
    return parsed.netloc.lower() in {host.lower(), public.netloc.lower()}


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens (both must be present)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
