"""The JSON API under ``/api/v1``: the supplier upload API (OpenAPI at ``/docs``).

Suppliers' scripts authenticate with an API token (``Authorization: Bearer
enc_…``, made by ``encaisse tokens create``; stored hashed, scoped, revocable:
:mod:`ledger.access`). A token names one supplier party: what it uploads is that
supplier's, and it reads that supplier's documents only (another supplier's id
is a 404, as for an id that does not exist).

* ``POST /api/v1/invoices`` (scope ``invoices:write``): multipart with one
  ``file``, an invoice (PDF or XML) or a zip of several, bounded
  (:mod:`portal.uploads`); answers 202 with the documents' ids.
* ``GET /api/v1/invoices/{document_id}`` (``invoices:read`` or ``invoices:write``):
  status, reason codes, findings, notices.

Errors are ``application/problem+json`` with a stable ``code``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse

from ledger import access, scoping
from ledger.models import UserRole
from ledger.scoping import Viewer
from portal import uploads
from portal.deps import Db, SignedInUser, portal_state
from portal.errors import HttpError, LoginRequired
from schemas.errors import ErrorCode

router = APIRouter(prefix="/api/v1", tags=["api"])

#: form fields besides the file a multipart upload may carry
MAX_FORM_FIELDS = 5


class Me(BaseModel):
    """The signed-in user as the API shows them."""

    id: int
    email: str
    roles: list[str]


@router.get("/me", response_model=Me, summary="The signed-in user")
def me(auth: SignedInUser) -> Me:
    """The user of the session, and their roles (401 without one)."""
    return Me(id=auth.user.id, email=auth.user.email, roles=sorted(auth.viewer.roles))


@dataclass(frozen=True)
class TokenCaller:
    """Who calls with an API token: the user, the supplier party the token names, its scopes."""

    user_id: int
    party_id: int
    scopes: frozenset[str]

    @property
    def viewer(self) -> Viewer:
        """What the token may read: the documents of its supplier, nothing else."""
        return Viewer(
            user_id=self.user_id, roles=frozenset({"supplier"}), supplier_party_ids=frozenset({self.party_id})
        )

    def require(self, *scopes: str) -> None:
        """403 unless the token holds one of ``scopes``."""
        if not self.scopes & set(scopes):
            raise HttpError(
                403, f"this token lacks the scope {' or '.join(scopes)}", code=ErrorCode.AUTH_FAILED
            )


def token_caller(request: Request, db: Db) -> TokenCaller:
    """The caller of an API token (401 for a missing, unknown, revoked or expired one).

    The token must name a supplier party its user still holds the supplier role for.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip().startswith(access.API_TOKEN_PREFIX):
        raise LoginRequired("send an API token: Authorization: Bearer enc_…")
    row = access.verify_api_token(db, token=token.strip())
    if row is None or row.party_id is None:
        raise LoginRequired("unknown, revoked or expired API token")
    holds = db.scalar(
        select(UserRole.id).where(
            UserRole.user_id == row.user_id, UserRole.role == "supplier", UserRole.party_id == row.party_id
        )
    )
    if holds is None:
        raise LoginRequired("the token's user no longer acts for this supplier")
    caller = TokenCaller(user_id=row.user_id, party_id=row.party_id, scopes=frozenset(row.scopes))
    db.commit()  # last_used_at
    return caller


ApiCaller = Annotated[TokenCaller, Depends(token_caller)]


class AcceptedDocument(BaseModel):
    """One file taken by the pipeline."""

    id: int = Field(description="the document id, for GET /api/v1/invoices/{id}")
    sha256: str
    filename: str
    created: bool = Field(description="false when the same bytes were received before (same document)")
    status_url: str


class Accepted(BaseModel):
    """The answer to an upload (202): the documents it made."""

    documents: list[AcceptedDocument]


class Finding(BaseModel):
    """A problem found in the invoice (fatal ones made it rejected)."""

    rule_id: str
    severity: str
    layer: str | None = None
    message: str | None = None
    value: str | None = None
    terms: list[str] = []
    explanation: str | None = None
    hint: str | None = None


class Reason(BaseModel):
    """A lifecycle reason code and its label."""

    code: str
    label: str


class Notice(BaseModel):
    """A notice sent to the supplier about the document."""

    status_code: str
    sent_at: str | None


class HistoryItem(BaseModel):
    """One status of the document's lifecycle."""

    status_code: str
    at: str
    reason_codes: list[str]


class DocumentStatus(BaseModel):
    """Where a document is: its lifecycle status, why, and what was found in it."""

    id: int
    sha256: str
    filename: str | None
    received_at: str
    invoice_number: str | None
    processing_state: str
    status_code: str | None
    status: str
    reason_codes: list[str]
    reasons: list[Reason]
    reason_text: str | None
    findings: list[Finding]
    error: str | None
    history: list[HistoryItem]
    notices: list[Notice]


async def read_upload(request: Request) -> list[tuple[str, bytes]]:
    """The files of a multipart upload (one ``file`` part), unpacked and bounded.

    415 for another content type or bytes that are no invoice file, 400 for a
    malformed form (too many parts included), 413 past ``max_upload_bytes``.
    """
    settings = portal_state(request).settings
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise HttpError(
            415, "send the invoice as multipart/form-data with a part named file", code=ErrorCode.FORM_INVALID
        )
    async with request.form(
        max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=settings.max_form_field_bytes
    ) as form:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise HttpError(400, "the form has no file part named file", code=ErrorCode.FORM_INVALID)
        data = await part.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HttpError(
                413, f"the file is larger than {settings.max_upload_bytes} bytes", code=ErrorCode.TOO_LARGE
            )
        name = (part.filename or "invoice").replace("\\", "/").rsplit("/", 1)[-1][:200] or "invoice"
    return await run_in_threadpool(uploads.unpack, data, name, max_total=settings.max_upload_bytes)


@router.post(
    "/invoices",
    status_code=202,
    response_model=Accepted,
    summary="Upload an invoice, or a zip of several",
    responses={400: {}, 401: {}, 403: {}, 413: {}, 415: {}},
)
async def upload(request: Request, caller: ApiCaller) -> JSONResponse:
    """Hand the file(s) to the pipeline; 202 with each document's id (same bytes again: the same id)."""
    caller.require("invoices:write")
    files = await read_upload(request)
    state = portal_state(request)
    accepted = await run_in_threadpool(uploads.submit_files, state, files, supplier_id=caller.party_id)
    body = Accepted(
        documents=[
            AcceptedDocument(
                id=a.document_id,
                sha256=a.sha256,
                filename=a.filename,
                created=a.created,
                status_url=f"/api/v1/invoices/{a.document_id}",
            )
            for a in accepted
        ]
    )
    return JSONResponse(body.model_dump(), status_code=202)


def _status(db: Session, caller: TokenCaller, document_id: int, lang: str) -> dict[str, Any]:
    document = scoping.get_document(db, viewer=caller.viewer, document_id=document_id)
    return uploads.document_view(db, document, lang=lang)


@router.get(
    "/invoices/{document_id}",
    response_model=DocumentStatus,
    summary="Where an uploaded invoice is",
    responses={401: {}, 403: {}, 404: {}},
)
def invoice_status(
    request: Request, db: Db, caller: ApiCaller, document_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> dict[str, Any]:
    """Status, reason codes, findings and notices of one of the token's supplier's documents."""
    caller.require("invoices:read", "invoices:write")
    lang = "fr" if request.headers.get("accept-language", "").lower().startswith("fr") else "en"
    return _status(db, caller, document_id, lang)
