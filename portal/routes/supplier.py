"""The supplier's pages: upload an invoice (or a zip), the list of what they sent, one document's status.

What a supplier sees comes from :mod:`ledger.scoping` (the incoming documents
its party sent, rejected ones included, so it can read why). The upload form is
multipart with the session's CSRF token; the files go through the same bounds
and the same pipeline as the API (:mod:`portal.uploads`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import RedirectResponse, Response

from ledger import scoping
from ledger.models import Document, Notice
from portal import uploads
from portal.deps import Db, SignedIn, SignedInUser, portal_state
from portal.errors import CsrfRejected, HttpError
from portal.pages import render
from portal.security import CSRF_FIELD, same_origin, tokens_match
from schemas.errors import ErrorCode

router = APIRouter(prefix="/supplier", include_in_schema=False)
PAGE_SIZE = 50


def require_supplier(auth: SignedInUser) -> SignedIn:
    """A user acting for a supplier (others: 404, as if the page did not exist)."""
    if not auth.viewer.has("supplier"):
        raise scoping.NotFound("no such page")
    return auth


Supplier = Annotated[SignedIn, Depends(require_supplier)]


@router.get("/documents")
def documents(
    request: Request, db: Db, auth: Supplier, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> Response:
    """What the supplier sent, newest first, with status, reasons and notices; the upload form."""
    stmt = scoping.documents(auth.viewer).where(Document.direction == "incoming")
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = list(db.scalars(stmt.order_by(Document.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    lang = request.state.lang
    views = [uploads.document_view(db, doc, lang=lang) for doc in rows]
    counted = db.execute(
        select(Notice.document_id, func.count())
        .where(Notice.document_id.in_([d.id for d in rows]))
        .group_by(Notice.document_id)
    ).tuples()
    notices = {document_id: n for document_id, n in counted}
    return render(
        request,
        "supplier/documents.html",
        {"views": views, "total": total, "page": page, "page_size": PAGE_SIZE, "notices": notices},
    )


@router.post("/documents")
async def upload(request: Request, auth: Supplier) -> Response:
    """Receive the form's file (or zip) for the pipeline; then show the document (or the list)."""
    state = portal_state(request)
    settings = state.settings
    if not same_origin(request, settings.public_url):
        raise CsrfRejected("cross-site form")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise HttpError(415, "send the form as multipart/form-data", code=ErrorCode.FORM_INVALID)
    async with request.form(max_files=1, max_fields=5, max_part_size=settings.max_form_field_bytes) as form:
        given = form.get(CSRF_FIELD)
        if not tokens_match(auth.web_session.csrf_token, given if isinstance(given, str) else None):
            raise CsrfRejected("missing or wrong CSRF token")
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            raise HttpError(400, "choose a file to send", code=ErrorCode.FORM_INVALID)
        data = await part.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HttpError(
                413, f"the file is larger than {settings.max_upload_bytes} bytes", code=ErrorCode.TOO_LARGE
            )
        name = part.filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or "invoice"
    files = await run_in_threadpool(uploads.unpack, data, name, max_total=settings.max_upload_bytes)
    party_id = min(auth.viewer.supplier_party_ids)
    accepted = await run_in_threadpool(uploads.submit_files, state, files, supplier_id=party_id)
    target = f"/supplier/documents/{accepted[0].document_id}" if len(accepted) == 1 else "/supplier/documents"
    return RedirectResponse(target, status_code=303)


@router.get("/documents/{document_id}")
def document(request: Request, db: Db, auth: Supplier, document_id: int) -> Response:
    """One document sent: its status and why, what was found in it, the notices sent, its history."""
    found = scoping.get_document(db, viewer=auth.viewer, document_id=document_id)
    view = uploads.document_view(db, found, lang=request.state.lang)
    return render(request, "supplier/document.html", {"view": view})
