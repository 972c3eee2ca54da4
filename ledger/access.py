"""Who may sign in, and how: web sessions, e-mailed login links, API tokens, failed logins.

Tables of the ledger's metadata (one Alembic history), kept out of
:mod:`ledger.models` because only the portal's edge uses them. Every secret a
user holds (session cookie, login link, API token) is stored as its SHA-256
only: a copy of the database gives no way in. The functions are keyword-only,
take a ``Session`` and never commit: the caller (the portal) owns the
transaction, as for :mod:`ledger.services`.

Users, their roles (``user_roles``: customer and supplier roles name their
party) and collectors' portfolios (``collector_assignments``) are in
:mod:`ledger.models`; what each may see is decided in :mod:`ledger.scoping`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, delete, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from ledger.models import Base, Party, User, utcnow
from ledger.types import JSONDocument, UTCDateTime
from schemas.errors import ErrorCode, InputRejected

LOGIN_TOKEN_PURPOSES = ("login",)
#: What an API token may be allowed to do (the supplier API, issue 5).
API_SCOPES = ("invoices:write", "invoices:read")
API_TOKEN_PREFIX = "enc_"
#: Failed logins older than this are forgotten (the throttle looks at the last minute).
FAILURE_MEMORY = dt.timedelta(hours=1)


def new_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret (``nbytes`` of entropy)."""
    return secrets.token_urlsafe(nbytes)


def secret_hash(secret: str) -> str:
    """The SHA-256 hex digest under which a secret is stored.

    >>> secret_hash("abc")[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the row its SHA-256.

    ``csrf_token`` is the value every POST form of that session must carry.
    A session ends at ``expires_at`` or when revoked (logout, login again).
    """

    __tablename__ = "web_sessions"
    __table_args__ = (Index(None, "user_id"), Index(None, "expires_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class LoginToken(Base):
    """A single-use login link sent by e-mail; the row holds the SHA-256 of the link's token."""

    __tablename__ = "login_tokens"
    __table_args__ = (
        CheckConstraint(_in("purpose", LOGIN_TOKEN_PURPOSES), name="purpose"),
        Index(None, "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16), default="login")
    requested_ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A revocable API token of a user (a supplier's, for the upload API), scoped, hashed at rest.

    The token reads ``enc_<prefix>_<secret>``; ``prefix`` is shown in lists so
    that a user can tell tokens apart without the secret ever being stored.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (Index(None, "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    party: Mapped[Party | None] = relationship()


class LoginFailure(Base):
    """One failed login, counted against a subject (a hashed e-mail address, a hashed IP)."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "subject", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --------------------------------------------------------------------------- users


def normalize_email(email: str) -> str:
    """An e-mail address as ``users.email`` stores it (trimmed, lower-case).

    >>> normalize_email("  Anne@Example.COM ")
    'anne@example.com'
    """
    return email.strip().lower()


def find_user(session: Session, *, email: str) -> User | None:
    """The active user with this e-mail address, or ``None``."""
    return session.scalars(
        select(User).where(User.email == normalize_email(email), User.is_active.is_(True))
    ).one_or_none()


# --------------------------------------------------------------------------- web sessions


def open_web_session(
    session: Session,
    *,
    user: User,
    ttl: dt.timedelta,
    language: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    now: dt.datetime | None = None,
) -> tuple[WebSession, str]:
    """A new session for ``user``: ``(row, token)``; only the token's hash is stored."""
    now = now or utcnow()
    token = new_secret()
    row = WebSession(
        token_hash=secret_hash(token),
        user_id=user.id,
        csrf_token=new_secret(24),
        language=language,
        ip=ip[:45] if ip else None,
        user_agent=user_agent[:200] if user_agent else None,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return row, token


def find_web_session(session: Session, *, token: str, now: dt.datetime | None = None) -> WebSession | None:
    """The live session whose cookie is ``token`` (not revoked, not expired, user active), or ``None``."""
    now = now or utcnow()
    return session.scalars(
        select(WebSession)
        .join(User, User.id == WebSession.user_id)
        .where(
            WebSession.token_hash == secret_hash(token),
            WebSession.revoked_at.is_(None),
            WebSession.expires_at > now,
            User.is_active.is_(True),
        )
    ).one_or_none()


def revoke_web_session(session: Session, *, token: str, now: dt.datetime | None = None) -> bool:
    """End the session whose cookie is ``token``; ``True`` if one was live."""
    result = session.execute(
        update(WebSession)
        .where(WebSession.token_hash == secret_hash(token), WebSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return bool(getattr(result, "rowcount", 0))


def purge_expired(
    session: Session, *, now: dt.datetime | None = None, keep: dt.timedelta = FAILURE_MEMORY
) -> int:
    """Delete sessions and login links that ended more than ``keep`` ago; returns how many rows went.

    Called at each sign-in, so the tables stay the size of what is live.
    """
    limit = (now or utcnow()) - keep
    removed = 0
    for stmt in (
        delete(WebSession).where(WebSession.expires_at < limit),
        delete(WebSession).where(WebSession.revoked_at < limit),
        delete(LoginToken).where(LoginToken.expires_at < limit),
    ):
        removed += int(getattr(session.execute(stmt), "rowcount", 0) or 0)
    return removed


# --------------------------------------------------------------------------- login links


def issue_login_token(
    session: Session, *, user: User, ttl: dt.timedelta, ip: str | None = None, now: dt.datetime | None = None
) -> str:
    """A single-use login token for ``user``, valid for ``ttl``; only its hash is stored."""
    now = now or utcnow()
    token = new_secret()
    session.add(
        LoginToken(
            token_hash=secret_hash(token),
            user_id=user.id,
            purpose="login",
            requested_ip=ip[:45] if ip else None,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return token


def consume_login_token(session: Session, *, token: str, now: dt.datetime | None = None) -> User | None:
    """The user a login token signs in, marking it used; ``None`` if unknown, used, expired or inactive.

    The token is spent by one conditional UPDATE, so two concurrent uses sign in once.
    """
    now = now or utcnow()
    digest = secret_hash(token)
    result = session.execute(
        update(LoginToken)
        .where(LoginToken.token_hash == digest, LoginToken.used_at.is_(None), LoginToken.expires_at > now)
        .values(used_at=now)
    )
    if not getattr(result, "rowcount", 0):
        return None
    user_id = session.scalars(select(LoginToken.user_id).where(LoginToken.token_hash == digest)).one()
    user = session.get(User, user_id)
    return user if user is not None and user.is_active else None


# --------------------------------------------------------------------------- throttling


def failure_subjects(*, email: str | None, ip: str | None) -> list[str]:
    """The throttle subjects of a login attempt: the address and the client IP, hashed.

    >>> [s.split(":")[0] for s in failure_subjects(email="A@x.org", ip="10.0.0.1")]
    ['email', 'ip']
    """
    out = []
    if email is not None:
        out.append("email:" + secret_hash(normalize_email(email))[:64])
    if ip:
        out.append("ip:" + secret_hash(ip)[:64])
    return out


def record_login_failure(
    session: Session, *, subjects: Iterable[str], now: dt.datetime | None = None
) -> None:
    """Count one failed attempt against each subject (and forget failures past :data:`FAILURE_MEMORY`)."""
    now = now or utcnow()
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - FAILURE_MEMORY))
    session.add_all(LoginFailure(subject=s, at=now) for s in subjects)
    session.flush()


def recent_failures(
    session: Session, *, subject: str, window: dt.timedelta, now: dt.datetime | None = None
) -> int:
    """How many failed attempts ``subject`` made within ``window`` before ``now``."""
    now = now or utcnow()
    count = session.scalar(
        select(func.count()).where(LoginFailure.subject == subject, LoginFailure.at > now - window)
    )
    return int(count or 0)


# --------------------------------------------------------------------------- API tokens


def create_api_token(
    session: Session,
    *,
    user: User,
    name: str,
    scopes: Sequence[str],
    party_id: int | None = None,
    expires_at: dt.datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new API token ``(row, token)``; the token is shown once, only its hash is kept."""
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise InputRejected(
            f"unknown API scope(s): {', '.join(unknown)}", code=ErrorCode.USAGE, where="scopes"
        )
    prefix = secrets.token_hex(4)
    token = f"{API_TOKEN_PREFIX}{prefix}_{new_secret()}"
    row = ApiToken(
        user_id=user.id,
        party_id=party_id,
        name=name[:100],
        prefix=prefix,
        token_hash=secret_hash(token),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return row, token


def verify_api_token(session: Session, *, token: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token (not revoked, not expired, user active) matching ``token``, or ``None``."""
    now = now or utcnow()
    row = session.scalars(
        select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(
            ApiToken.token_hash == secret_hash(token), ApiToken.revoked_at.is_(None), User.is_active.is_(True)
        )
    ).one_or_none()
    if row is None or (row.expires_at is not None and row.expires_at <= now):
        return None
    row.last_used_at = now
    return row


def revoke_api_token(
    session: Session, *, token_id: int, user_id: int, now: dt.datetime | None = None
) -> bool:
    """Revoke one of ``user_id``'s tokens; ``False`` when there is no such live token."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return bool(getattr(result, "rowcount", 0))
