"""What the invoice pages show about paying: transfer details with the EPC QR code, disputes, promises."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.bank import Payment, PaymentAllocation
from ledger.collections import Dispute, PaymentPromise
from ledger.customer_actions import NOT_DISPUTABLE, dispute_reasons
from ledger.models import Invoice, utcnow
from ledger.online import DisputeAttachment
from payments.online import payable
from payments.transfer import transfer_details
from schemas.settings import Settings


def customer_actions_of(session: Session, *, invoice: Invoice) -> dict[str, Any]:
    """The invoice's disputes (with their files), promises and payments, for the back office."""
    disputes = list(
        session.scalars(select(Dispute).where(Dispute.invoice_id == invoice.id).order_by(Dispute.id))
    )
    files = list(
        session.scalars(
            select(DisputeAttachment)
            .where(DisputeAttachment.dispute_id.in_([d.id for d in disputes]))
            .order_by(DisputeAttachment.id)
        )
    )
    promises = list(
        session.scalars(
            select(PaymentPromise).where(PaymentPromise.invoice_id == invoice.id).order_by(PaymentPromise.id)
        )
    )
    payments = list(
        session.execute(
            select(PaymentAllocation, Payment)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(PaymentAllocation.invoice_id == invoice.id)
            .order_by(PaymentAllocation.id)
        ).tuples()
    )
    return {"disputes": disputes, "dispute_files": files, "promises": promises, "payments": payments}


def payment_context(session: Session, *, invoice: Invoice, settings: Settings) -> dict[str, Any]:
    """The invoice page's payment part: can it be paid, how by transfer, disputes and promises."""
    document = invoice.document
    disputes = list(
        session.scalars(select(Dispute).where(Dispute.invoice_id == invoice.id).order_by(Dispute.id))
    )
    promises = list(
        session.scalars(
            select(PaymentPromise).where(PaymentPromise.invoice_id == invoice.id).order_by(PaymentPromise.id)
        )
    )
    can_pay = payable(invoice, document)
    return {
        "can_pay": can_pay,
        "transfer": transfer_details(
            invoice, company_name=settings.company_name, iban=settings.company_iban, bic=settings.company_bic
        )
        if can_pay
        else None,
        "can_dispute": (document.status_code or "") not in NOT_DISPUTABLE
        and not any(d.state == "open" for d in disputes),
        "dispute_reasons": dispute_reasons(),
        "disputes": disputes,
        "promises": promises,
        "today": utcnow().date(),
    }
