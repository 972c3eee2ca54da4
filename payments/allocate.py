"""Applying money to invoices: oldest first, the amount due lowered, 212 when nothing is left.

Shared by every channel that receives money outside a statement line (online
payments today). :func:`oldest_first` is the pure split; :func:`apply_to_invoice`
writes one allocation: the amount due is lowered by a conditional update (never
below what the allocation covers, so two payments racing cannot both take the
same euro) and the status follows through :func:`payments.posting.sync_status`
(212 Encaissée with the amount cashed when nothing is due any more).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from ledger.bank import Payment, PaymentAllocation
from ledger.models import Invoice
from payments.posting import lower_due, sync_status
from schemas.lifecycle import Actor

ZERO = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Due:
    """What one invoice still owes, and the dates that rank it."""

    invoice_id: int
    amount_still_due: Decimal
    due_date: dt.date | None
    issue_date: dt.date | None


def oldest_first(amount: Decimal, dues: Sequence[Due]) -> tuple[list[tuple[int, Decimal]], Decimal]:
    """Split ``amount`` over ``dues``, the earliest due date first; with what is left over.

    Invoices without a due date come after dated ones, by issue date, then by id.

    >>> d = dt.date
    >>> dues = [Due(2, Decimal("50.00"), d(2026, 3, 1), None), Due(1, Decimal("80.00"), d(2026, 2, 1), None)]
    >>> oldest_first(Decimal("100.00"), dues)
    ([(1, Decimal('80.00')), (2, Decimal('20.00'))], Decimal('0.00'))
    >>> oldest_first(Decimal("200.00"), dues)
    ([(1, Decimal('80.00')), (2, Decimal('50.00'))], Decimal('70.00'))
    """
    far = dt.date.max
    ranked = sorted(dues, key=lambda x: (x.due_date or far, x.issue_date or far, x.invoice_id))
    left = amount
    out: list[tuple[int, Decimal]] = []
    for due in ranked:
        if left <= 0:
            break
        take = min(left, max(due.amount_still_due, ZERO))
        if take > 0:
            out.append((due.invoice_id, take))
            left -= take
    return out, left.quantize(Decimal("0.01"))


def apply_to_invoice(
    session: Session, *, payment: Payment, invoice: Invoice, amount: Decimal, actor: Actor, text: str
) -> dict[str, Any]:
    """Apply ``amount`` of ``payment`` to ``invoice``: allocation, amount due, 212 when settled."""
    lower_due(session, invoice=invoice, amount=amount)
    allocation = PaymentAllocation(
        payment_id=payment.id, invoice_id=invoice.id, kind="payment", amount=amount
    )
    session.add(allocation)
    session.flush()
    change = sync_status(session, invoice=invoice, actor=actor, text=text)
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "amount": str(amount),
        "amount_still_due": str(invoice.amount_still_due),
        "status": change,
    }
