"""What a customer does about an invoice from the portal: dispute it, promise to pay it.

* :func:`open_dispute` -- a :class:`~ledger.collections.Dispute` with a reason code of
  the official 207 list (BR-FR-CDV-CL-09), and status 207 En litige recorded by the
  state machine (``ledger.services.record_status``): staff see both, and dunning
  pauses on that invoice.
* :func:`promise_to_pay` -- a :class:`~ledger.collections.PaymentPromise` of an amount
  by a day (today to a year ahead, no more than what is due).

The caller has fetched the invoice through ``ledger.scoping`` and commits.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.collections import Dispute, PaymentPromise
from ledger.models import Invoice
from ledger.online import DisputeAttachment
from ledger.services import record_status
from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle import Actor
from schemas.lifecycle_codes import REASONS_BY_STATUS, ReasonCode, Status

MAX_COMMENT = 4000
MAX_PROMISE_DAYS = 366
#: Statuses from which a customer cannot dispute any more (cashed, refused, cancelled).
NOT_DISPUTABLE = frozenset({"212", "210", "220"})


class CustomerActionRejected(InputRejected):
    """A dispute or a promise that cannot be recorded as given."""

    code = ErrorCode.FORM_INVALID


def dispute_reasons() -> list[ReasonCode]:
    """The reason codes a dispute may give: the official list of status 207, sorted."""
    return sorted(REASONS_BY_STATUS[Status.EN_LITIGE], key=lambda r: r.value)


def open_dispute(
    session: Session,
    *,
    invoice: Invoice,
    reason_code: str,
    comment: str,
    actor: Actor,
    attachment: tuple[str, str, str, int] | None = None,
) -> Dispute:
    """Dispute ``invoice``: a Dispute row and status 207 with the reason.

    ``attachment`` is ``(sha256, filename, media_type, size)`` of a file already
    stored in the archive.
    """
    allowed = {r.value for r in REASONS_BY_STATUS[Status.EN_LITIGE]}
    if reason_code not in allowed:
        raise CustomerActionRejected("choose a reason from the list", where="reason_code")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise CustomerActionRejected(f"the comment is longer than {MAX_COMMENT} characters", where="comment")
    document = invoice.document
    if (document.status_code or "") in NOT_DISPUTABLE:
        raise CustomerActionRejected("this invoice can no longer be disputed", where="invoice")
    already = session.scalar(
        select(Dispute.id).where(Dispute.invoice_id == invoice.id, Dispute.state == "open").limit(1)
    )
    if already is not None:
        raise CustomerActionRejected("this invoice is already disputed", where="invoice")
    record_status(
        session,
        document=document,
        status=Status.EN_LITIGE,
        actor=actor,
        reasons=[reason_code],
        text=comment[:1000] or None,
    )
    dispute = Dispute(
        invoice_id=invoice.id, reason_code=reason_code, comment=comment or None, opened_by=actor.id
    )
    session.add(dispute)
    session.flush()
    if attachment is not None:
        digest, filename, media_type, size = attachment
        session.add(
            DisputeAttachment(
                dispute_id=dispute.id,
                digest=digest,
                filename=filename,
                media_type=media_type,
                size_bytes=size,
            )
        )
        session.flush()
    return dispute


def promise_to_pay(
    session: Session, *, invoice: Invoice, promised_on: dt.date, amount: Decimal, made_by: str, today: dt.date
) -> PaymentPromise:
    """Record that the customer will pay ``amount`` of ``invoice`` by ``promised_on``."""
    due = invoice.amount_still_due or Decimal("0.00")
    if due <= 0:
        raise CustomerActionRejected("nothing is due on this invoice", where="invoice")
    if not today <= promised_on <= today + dt.timedelta(days=MAX_PROMISE_DAYS):
        raise CustomerActionRejected("the date must be between today and a year from now", where="date")
    if amount <= 0 or amount > due:
        raise CustomerActionRejected(f"the amount must be above zero and at most {due}", where="amount")
    promise = PaymentPromise(
        invoice_id=invoice.id, promised_on=promised_on, amount=amount, amount_due_then=due, made_by=made_by
    )
    session.add(promise)
    session.flush()
    return promise
