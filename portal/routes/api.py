"""The JSON API under ``/api/v1`` (OpenAPI at ``/docs``).

Room for the supplier upload API (``POST /api/v1/invoices`` with API tokens from
:mod:`ledger.access`), which comes later (issue 5). Today it answers who the
caller is, so clients can check a session from a script.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from portal.deps import SignedInUser

router = APIRouter(prefix="/api/v1", tags=["api"])


class Me(BaseModel):
    """The signed-in user as the API shows them."""

    id: int
    email: str
    roles: list[str]


@router.get("/me", response_model=Me, summary="The signed-in user")
def me(auth: SignedInUser) -> Me:
    """The user of the session, and their roles (401 without one)."""
    return Me(id=auth.user.id, email=auth.user.email, roles=sorted(auth.viewer.roles))
