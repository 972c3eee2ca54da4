"""Read models of the pages: invoice rows with days late and status reasons, statements of account.

Every query starts from :mod:`ledger.scoping` (``scoping.invoices(viewer)``), so
what a page lists is what its user may see, and nothing else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ledger import scoping
from ledger.models import Document, Invoice, LifecycleEvent, Party
from ledger.scoping import Viewer

#: Statuses after which nothing more is expected from the customer.
CLOSED_STATUSES = frozenset({"212", "220", "210"})
CREDIT_NOTE_TYPES = frozenset({"381", "261", "262", "396", "532"})
PDF_KINDS = frozenset({"facturx-pdf", "zugferd1-pdf", "xrechnung-pdf", "plain-pdf"})
XML_KINDS = frozenset({"cii-xml", "zugferd1-xml", "ubl-invoice", "ubl-creditnote"})
#: Sort keys of the invoice lists: name → (column, descending).
SORTS: dict[str, tuple[Any, bool]] = {
    "due_date": (Invoice.due_date, False),
    "-due_date": (Invoice.due_date, True),
    "issue_date": (Invoice.issue_date, False),
    "-issue_date": (Invoice.issue_date, True),
    "number": (Invoice.number, False),
    "-number": (Invoice.number, True),
    "amount_still_due": (Invoice.amount_still_due, False),
    "-amount_still_due": (Invoice.amount_still_due, True),
}
DEFAULT_SORT = "-issue_date"
PAGE_SIZE = 50


def days_late(due_date: dt.date | None, today: dt.date, amount_still_due: Decimal | None) -> int:
    """Days past the due date while something is still due (0 otherwise).

    >>> days_late(dt.date(2026, 1, 10), dt.date(2026, 1, 25), Decimal("10.00"))
    15
    >>> days_late(dt.date(2026, 1, 10), dt.date(2026, 1, 25), Decimal("0.00"))
    0
    """
    if due_date is None or amount_still_due is None or amount_still_due <= 0 or today <= due_date:
        return 0
    return (today - due_date).days


@dataclass(frozen=True)
class InvoiceRow:
    """One line of an invoice list."""

    id: int
    document_id: int
    number: str
    issue_date: dt.date | None
    due_date: dt.date | None
    currency: str
    total: Decimal | None
    amount_still_due: Decimal | None
    days_late: int
    status_code: str | None
    reason_codes: tuple[str, ...]
    reason_text: str | None
    customer_id: int | None
    customer_name: str | None
    direction: str
    is_credit: bool


def _latest_events(session: Session, document_ids: Sequence[int]) -> dict[int, LifecycleEvent]:
    if not document_ids:
        return {}
    newest = (
        select(func.max(LifecycleEvent.id))
        .where(LifecycleEvent.document_id.in_(document_ids))
        .group_by(LifecycleEvent.document_id)
    )
    return {
        e.document_id: e for e in session.scalars(select(LifecycleEvent).where(LifecycleEvent.id.in_(newest)))
    }


def _rows(session: Session, pairs: Sequence[tuple[Invoice, Document]], today: dt.date) -> list[InvoiceRow]:
    events = _latest_events(session, [d.id for _, d in pairs])
    out = []
    for inv, doc in pairs:
        event = events.get(doc.id)
        out.append(
            InvoiceRow(
                id=inv.id,
                document_id=doc.id,
                number=inv.number,
                issue_date=inv.issue_date,
                due_date=inv.due_date,
                currency=inv.currency or "EUR",
                total=inv.total_with_vat if inv.total_with_vat is not None else inv.amount_due,
                amount_still_due=inv.amount_still_due,
                days_late=0
                if doc.status_code in CLOSED_STATUSES
                else days_late(inv.due_date, today, inv.amount_still_due),
                status_code=doc.status_code,
                reason_codes=tuple(event.reason_codes)
                if event and event.status_code == doc.status_code
                else (),
                reason_text=event.text if event and event.status_code == doc.status_code else None,
                customer_id=inv.buyer_party_id or doc.customer_party_id,
                customer_name=inv.buyer_name,
                direction=doc.direction,
                is_credit=(inv.type_code or "") in CREDIT_NOTE_TYPES,
            )
        )
    return out


@dataclass(frozen=True)
class InvoiceFilter:
    """What an invoice list shows: status, overdue only, one customer, sort, page."""

    status: str | None = None
    overdue: bool = False
    customer_id: int | None = None
    direction: str | None = None
    sort: str = DEFAULT_SORT
    page: int = 1


def _filtered(viewer: Viewer, f: InvoiceFilter, today: dt.date) -> Select[tuple[Invoice, Document]]:
    stmt = scoping.invoices(viewer).add_columns(Document)
    if f.status:
        stmt = stmt.where(Document.status_code == f.status)
    if f.overdue:
        stmt = stmt.where(
            Invoice.due_date < today,
            Invoice.amount_still_due > 0,
            Document.status_code.not_in(sorted(CLOSED_STATUSES)),
        )
    if f.customer_id is not None:
        stmt = stmt.where(Document.customer_party_id == f.customer_id)
    if f.direction:
        stmt = stmt.where(Document.direction == f.direction)
    return stmt


def list_invoices(
    session: Session, *, viewer: Viewer, filters: InvoiceFilter, today: dt.date
) -> tuple[list[InvoiceRow], int]:
    """One page of the invoices ``viewer`` may see, filtered and sorted; with the total count."""
    stmt = _filtered(viewer, filters, today)
    total = (
        session.scalar(select(func.count()).select_from(stmt.with_only_columns(Invoice.id).subquery())) or 0
    )
    column, descending = SORTS.get(filters.sort, SORTS[DEFAULT_SORT])
    order = [
        column.desc() if descending else column.asc(),
        Invoice.id.desc() if descending else Invoice.id.asc(),
    ]
    page = max(1, filters.page)
    stmt = stmt.order_by(*order).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    pairs = [(inv, doc) for inv, doc in session.execute(stmt).tuples()]
    return _rows(session, pairs, today), int(total)


def invoice_row(session: Session, *, invoice: Invoice, today: dt.date) -> InvoiceRow:
    """The list row of one invoice (already fetched through the scoping helper)."""
    return _rows(session, [(invoice, invoice.document)], today)[0]


def document_history(session: Session, *, document: Document) -> list[LifecycleEvent]:
    """The document's lifecycle events, oldest first."""
    return list(
        session.scalars(
            select(LifecycleEvent)
            .where(LifecycleEvent.document_id == document.id)
            .order_by(LifecycleEvent.id)
        )
    )


def downloads(document: Document) -> list[str]:
    """What can be downloaded of a document: ``pdf`` and/or ``xml`` (nothing for figures without bytes)."""
    if document.size_bytes == 0:
        return []
    if document.format in PDF_KINDS:
        return ["pdf"] if document.format == "plain-pdf" else ["pdf", "xml"]
    if document.format in XML_KINDS:
        return ["xml"]
    return []


@dataclass
class Statement:
    """A customer's statement of account on a day, per currency."""

    today: dt.date
    open: list[InvoiceRow] = field(default_factory=list)
    credits: list[InvoiceRow] = field(default_factory=list)
    totals: dict[str, dict[str, Decimal]] = field(default_factory=dict)


def statement(session: Session, *, viewer: Viewer, today: dt.date, party_id: int | None = None) -> Statement:
    """Open invoices (overdue ones flagged), credits, and totals per currency."""
    stmt = (
        scoping.invoices(viewer)
        .add_columns(Document)
        .where(Invoice.amount_still_due > 0, Document.status_code.not_in(sorted(CLOSED_STATUSES)))
    )
    if party_id is not None:
        stmt = stmt.where(Document.customer_party_id == party_id)
    pairs = [(inv, doc) for inv, doc in session.execute(stmt.order_by(Invoice.due_date, Invoice.id)).tuples()]
    out = Statement(today=today)
    zero = Decimal("0.00")
    for row in _rows(session, pairs, today):
        sums = out.totals.setdefault(
            row.currency, {"open": zero, "overdue": zero, "credits": zero, "balance": zero}
        )
        amount = row.amount_still_due or zero
        if row.is_credit:
            out.credits.append(row)
            sums["credits"] += amount
            sums["balance"] -= amount
        else:
            out.open.append(row)
            sums["open"] += amount
            sums["balance"] += amount
            if row.days_late > 0:
                sums["overdue"] += amount
    return out


def customers(session: Session, *, viewer: Viewer, today: dt.date) -> list[dict[str, Any]]:
    """The customers ``viewer`` may see, with what each owes (encours) and how much is overdue."""
    parties = list(
        session.scalars(
            scoping.parties(viewer).where(Party.kind.in_(("customer", "both"))).order_by(Party.name)
        )
    )
    if not parties:
        return []
    ids = [p.id for p in parties]
    open_rows = session.execute(
        scoping.invoices(viewer)
        .with_only_columns(Document.customer_party_id, Invoice.amount_still_due, Invoice.due_date)
        .where(
            Document.customer_party_id.in_(ids),
            Invoice.amount_still_due > 0,
            Document.status_code.not_in(sorted(CLOSED_STATUSES)),
        )
    ).all()
    owed: dict[int, Decimal] = {}
    overdue: dict[int, Decimal] = {}
    for party_id, amount, due in open_rows:
        owed[party_id] = owed.get(party_id, Decimal("0.00")) + amount
        if due is not None and due < today:
            overdue[party_id] = overdue.get(party_id, Decimal("0.00")) + amount
    return [
        {"party": p, "owed": owed.get(p.id, Decimal("0.00")), "overdue": overdue.get(p.id, Decimal("0.00"))}
        for p in parties
    ]
