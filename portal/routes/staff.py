"""The back office: invoices across customers (scoped by role), one invoice's lifecycle, customers.

Collectors see their portfolio only; admin, receivables managers, litigation
and auditors see everything (:mod:`ledger.scoping`). Users and assignments,
billing rules, evidence bundles and the access journal come later (issue 5).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from ledger import scoping
from ledger.models import utcnow
from portal import queries
from portal.deps import Db, Staff
from portal.pages import render
from portal.payview import customer_actions_of
from portal.routes.customer import SortKey, StatusCode

router = APIRouter(prefix="/staff", include_in_schema=False)


@router.get("/invoices")
def invoices(
    request: Request,
    db: Db,
    auth: Staff,
    status: StatusCode = None,
    overdue: bool = False,
    customer: Annotated[int | None, Query(ge=1)] = None,
    direction: Literal["incoming", "outgoing"] | None = None,
    sort: SortKey = queries.DEFAULT_SORT,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every invoice the user may see, with filters on status, lateness, customer and direction."""
    filters = queries.InvoiceFilter(
        status=status or None,
        overdue=overdue,
        customer_id=customer,
        direction=direction,
        sort=sort,
        page=page,
    )
    rows, total = queries.list_invoices(db, viewer=auth.viewer, filters=filters, today=utcnow().date())
    return render(
        request,
        "staff/invoices.html",
        {
            "rows": rows,
            "total": total,
            "filters": filters,
            "page_size": queries.PAGE_SIZE,
            "sorts": queries.SORTS,
        },
    )


@router.get("/invoices/{invoice_id}")
def invoice(request: Request, db: Db, auth: Staff, invoice_id: int) -> Response:
    """One invoice with its whole lifecycle (who set each status, when, why)."""
    found = scoping.get_invoice(db, viewer=auth.viewer, invoice_id=invoice_id)
    row = queries.invoice_row(db, invoice=found, today=utcnow().date())
    history = queries.document_history(db, document=found.document)
    context = {"invoice": found, "row": row, "history": history}
    context.update(customer_actions_of(db, invoice=found))
    return render(request, "staff/invoice.html", context)


@router.get("/customers")
def customers(request: Request, db: Db, auth: Staff) -> Response:
    """The customers the user may see, with what each owes and how much of it is late."""
    rows = queries.customers(db, viewer=auth.viewer, today=utcnow().date())
    return render(request, "staff/customers.html", {"rows": rows})


@router.get("/customers/{party_id}")
def customer(request: Request, db: Db, auth: Staff, party_id: int) -> Response:
    """One customer: contacts and statement of account."""
    party = scoping.get_party(db, viewer=auth.viewer, party_id=party_id)
    result = queries.statement(db, viewer=auth.viewer, today=utcnow().date(), party_id=party.id)
    return render(request, "staff/customer.html", {"party": party, "statement": result})
