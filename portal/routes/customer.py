"""The customer's pages: invoices (filters, sort), one invoice with its history and files, the statement.

Paying, disputing and promising to pay are forms on the invoice page (:mod:`portal.routes.pay`).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from archive.journal import EntryKind
from archive.service import journal_event
from ingest.detect import detect
from ledger import scoping
from ledger.models import Invoice, utcnow
from portal import queries
from portal.deps import Customer, Db, SignedIn, portal_state
from portal.pages import render
from portal.payview import payment_context

router = APIRouter(include_in_schema=False)

StatusCode = Annotated[str | None, Query(pattern=r"^([0-9]{3})?$")]  # empty: any status (the form's "Any")
SortKey = Annotated[str, Query(pattern=r"^-?(due_date|issue_date|number|amount_still_due)$")]
MEDIA_TYPES = {"pdf": "application/pdf", "xml": "application/xml"}


def file_name(number: str, kind: str) -> str:
    """A safe download name for an invoice's file.

    >>> file_name("F/2026 001", "pdf")
    'F-2026-001.pdf'
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", number).strip("-.")[:80] or "invoice"
    return f"{stem}.{kind}"


def journal_access(db: Session, auth: SignedIn, invoice: Invoice, entry: EntryKind, **data: str) -> None:
    """Journal that a customer opened or downloaded an invoice (proof it was made available), and commit.

    The entry names the document's SHA-256, the user and the invoice; the append
    holds the journal's write lock only for this short transaction.
    """
    journal_event(
        db,
        kind=entry.value,
        subject=invoice.document.digest,
        actor=f"user:{auth.user.id}:{auth.user.email}",
        data={"invoice_id": invoice.id, "number": invoice.number, **data},
        related=[f"invoice:{invoice.id}"],
    )
    db.commit()


@router.get("/invoices")
def invoices(
    request: Request,
    db: Db,
    auth: Customer,
    status: StatusCode = None,
    overdue: bool = False,
    sort: SortKey = queries.DEFAULT_SORT,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The customer's invoices: number, dates, amounts, days late, status and reason."""
    today = utcnow().date()
    filters = queries.InvoiceFilter(status=status or None, overdue=overdue, sort=sort, page=page)
    rows, total = queries.list_invoices(db, viewer=auth.viewer, filters=filters, today=today)
    return render(
        request,
        "customer/invoices.html",
        {
            "rows": rows,
            "total": total,
            "filters": filters,
            "page_size": queries.PAGE_SIZE,
            "sorts": queries.SORTS,
        },
    )


@router.get("/invoices/{invoice_id}")
def invoice(request: Request, db: Db, auth: Customer, invoice_id: int) -> Response:
    """One invoice: its terms, what is still due, its lifecycle history and its files."""
    found = scoping.get_invoice(db, viewer=auth.viewer, invoice_id=invoice_id)
    row = queries.invoice_row(db, invoice=found, today=utcnow().date())
    history = queries.document_history(db, document=found.document)
    context = {
        "invoice": found,
        "row": row,
        "history": history,
        "downloads": queries.downloads(found.document),
    }
    context.update(payment_context(db, invoice=found, settings=portal_state(request).settings))
    response = render(request, "customer/invoice.html", context)
    journal_access(db, auth, found, EntryKind.PORTAL_VIEWED)
    return response


@router.get("/invoices/{invoice_id}/download/{kind}")
def download(
    request: Request, db: Db, auth: Customer, invoice_id: int, kind: Literal["pdf", "xml"]
) -> Response:
    """The invoice's PDF or XML, from the archive (the XML of a Factur-X PDF is the one it embeds)."""
    found = scoping.get_invoice(db, viewer=auth.viewer, invoice_id=invoice_id)
    document = found.document
    if kind not in queries.downloads(document):
        raise scoping.NotFound("no such file", where="kind")
    data = portal_state(request).store.get(document.digest)
    if kind == "xml" and document.format not in queries.XML_KINDS:
        xml = detect(data).xml
        if xml is None:
            raise scoping.NotFound("no such file", where="kind")
        data = xml
    headers = {"content-disposition": f'attachment; filename="{file_name(found.number, kind)}"'}
    journal_access(db, auth, found, EntryKind.DOWNLOADED, file=kind)
    return Response(data, media_type=MEDIA_TYPES[kind], headers=headers)


@router.get("/statement")
def statement(request: Request, db: Db, auth: Customer) -> Response:
    """The statement of account: open invoices, overdue ones, credits, and the balance."""
    result = queries.statement(db, viewer=auth.viewer, today=utcnow().date())
    return render(request, "customer/statement.html", {"statement": result})
