"""API tokens of suppliers' users: made and revoked by ``encaisse tokens`` (and the demo).

A token acts for one supplier party, through a user who holds the supplier role
for it; it is shown once, and only its SHA-256 is kept (:mod:`ledger.access`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import access
from ledger.access import ApiToken
from ledger.models import Party, User, UserRole
from schemas.errors import ErrorCode, InputRejected


def supplier_user(session: Session, *, supplier_id: int, email: str | None = None) -> User:
    """The user acting for supplier ``supplier_id`` (the one with ``email``, else the first)."""
    party = session.get(Party, supplier_id)
    if party is None or party.kind not in ("supplier", "both"):
        raise InputRejected(f"no supplier with id {supplier_id}", code=ErrorCode.USAGE, where="supplier")
    stmt = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "supplier", UserRole.party_id == supplier_id, User.is_active.is_(True))
        .order_by(User.id)
    )
    if email is not None:
        stmt = stmt.where(User.email == access.normalize_email(email))
    user = session.scalars(stmt).first()
    if user is None:
        who = f"the user {email}" if email else "no user"
        raise InputRejected(
            f"{who} does not act for supplier {supplier_id} (give them the supplier role first)",
            code=ErrorCode.USAGE,
            where="user",
        )
    return user


def create_token(
    session: Session, *, supplier_id: int, scopes: Sequence[str], email: str | None = None, name: str = "api"
) -> tuple[int, str]:
    """A new token ``(id, token)`` for a user of supplier ``supplier_id``; the caller commits."""
    if not scopes:
        raise InputRejected("give at least one --scope", code=ErrorCode.USAGE, where="scopes")
    user = supplier_user(session, supplier_id=supplier_id, email=email)
    row, token = access.create_api_token(session, user=user, name=name, scopes=scopes, party_id=supplier_id)
    return row.id, token


def revoke_token(session: Session, *, token_id: int) -> bool:
    """Revoke token ``token_id``; ``False`` when there is no such live token."""
    user_id = session.scalar(select(ApiToken.user_id).where(ApiToken.id == token_id))
    if user_id is None:
        return False
    return access.revoke_api_token(session, token_id=token_id, user_id=user_id)
