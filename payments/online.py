"""Online payments in the ledger: open a checkout over invoices, act on the provider's verified webhooks.

:func:`start_checkout` checks what the customer asked (their open invoices, one
currency, an amount above zero and no more than what is due) and opens the
provider's checkout. :func:`receive_webhook` is the only way a checkout is paid:
the provider proves the delivery (signature, timestamp), the event id is recorded
once (a replay, or the same event sent five times at once, finds it recorded and
changes nothing), and the checkout moves from ``open`` (or ``failed``: a card
declined, then accepted) to ``paid`` by a conditional update, so one payment is
recorded whatever the number and order of the events. The money is applied
oldest due date first (:func:`payments.allocate.oldest_first`); an invoice left
with nothing due gets 212 Encaissée with the amount cashed; what exceeds the
invoices' dues (paid meanwhile by transfer) is kept as the customer's credit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.bank import Payment, PaymentAllocation
from ledger.models import Document, Invoice
from ledger.online import OnlineCheckout, WebhookEvent
from payments.allocate import Due, apply_to_invoice, oldest_first
from payments.posting import KIND_PAYMENT_RECEIVED, JournalItem
from payments.providers.base import EVENT_SUCCEEDED, PaymentProvider, StartedCheckout
from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle import Actor, ActorKind

#: Statuses under which an invoice cannot be paid online (cashed, cancelled, refused).
NOT_PAYABLE = frozenset({"212", "220", "210"})
MAX_INVOICES = 100
CENT = Decimal("0.01")


class PaymentRejected(InputRejected):
    """A payment the customer asked for that cannot be made as asked (amount, invoices)."""

    code = ErrorCode.PAYMENT_REJECTED


def parse_amount(text: str | None) -> Decimal | None:
    """An amount typed by a customer (``1 234,50`` or ``1234.50``); ``None`` when left empty.

    >>> parse_amount("1 234,5"), parse_amount(""), parse_amount("12.30")
    (Decimal('1234.50'), None, Decimal('12.30'))
    """
    if text is None or not text.strip():
        return None
    cleaned = text.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise PaymentRejected(f"{text[:40]!r} is not an amount", where="amount") from exc
    if not value.is_finite() or value != value.quantize(CENT) or abs(value) > Decimal("1e12"):
        raise PaymentRejected("an amount has at most two decimals", where="amount")
    return value.quantize(CENT)


def payable(invoice: Invoice, document: Document) -> bool:
    """True when the customer can pay this invoice online (something due, not closed, not a credit)."""
    return (
        document.direction == "outgoing"
        and (invoice.amount_still_due or 0) > 0
        and (document.status_code or "") not in NOT_PAYABLE
        and (invoice.type_code or "380") not in {"381", "261", "262", "396", "532"}
    )


def start_checkout(
    session: Session,
    *,
    provider: PaymentProvider,
    invoices: Sequence[Invoice],
    amount: Decimal | None,
    user_id: int | None,
) -> tuple[OnlineCheckout, StartedCheckout]:
    """Open a checkout paying ``amount`` (default: all that is due) over ``invoices``, oldest first.

    ``invoices`` must already be the ones the customer may see (the portal fetched
    them through ``ledger.scoping``). The caller commits.
    """
    if not invoices:
        raise PaymentRejected("choose at least one invoice to pay", where="invoices")
    if len(invoices) > MAX_INVOICES:
        raise PaymentRejected(f"at most {MAX_INVOICES} invoices in one payment", where="invoices")
    for inv in invoices:
        if not payable(inv, inv.document):
            raise PaymentRejected(f"invoice {inv.number} has nothing to pay online", where="invoices")
    parties = {inv.document.customer_party_id for inv in invoices}
    currencies = {inv.currency or "EUR" for inv in invoices}
    if len(parties) != 1 or None in parties:
        raise PaymentRejected("the invoices of one payment belong to one customer", where="invoices")
    if len(currencies) != 1:
        raise PaymentRejected("the invoices of one payment are in one currency", where="invoices")
    total = sum((inv.amount_still_due or Decimal(0) for inv in invoices), Decimal("0.00"))
    amount = total if amount is None else amount
    if amount <= 0:
        raise PaymentRejected("the amount must be above zero", where="amount")
    if amount > total:
        raise PaymentRejected(f"the amount is more than the {total} still due", where="amount")
    dues = [Due(inv.id, inv.amount_still_due or Decimal(0), inv.due_date, inv.issue_date) for inv in invoices]
    ranked = [i for i, _ in oldest_first(total, dues)[0]]
    currency = currencies.pop()
    token = secrets.token_urlsafe(24)
    numbers = ", ".join(inv.number for inv in invoices)[:180]
    started = provider.start_checkout(token=token, amount=amount, currency=currency, description=numbers)
    party_id = parties.pop()
    assert party_id is not None
    checkout = OnlineCheckout(
        token=token,
        provider=provider.name,
        provider_ref=started.provider_ref,
        party_id=party_id,
        user_id=user_id,
        amount=amount,
        currency=currency,
        invoice_ids=ranked,
        state="open",
    )
    session.add(checkout)
    session.flush()
    return checkout, started


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """What a verified delivery did: ``paid``, ``failed``, ``duplicate``, ``ignored: ...``."""

    outcome: str
    checkout_id: int | None = None
    payment_id: int | None = None
    journal: tuple[JournalItem, ...] = ()  # for the edge to journal in the same transaction


def receive_webhook(
    session: Session,
    *,
    provider: PaymentProvider,
    body: bytes,
    headers: Mapping[str, str],
    now: dt.datetime,
) -> WebhookResult:
    """Verify a delivery and act on it once; the caller commits (a duplicate was rolled back).

    Raises ``WebhookRejected`` (nothing written) when the delivery is not provably
    the provider's.
    """
    event = provider.parse_webhook(body=body, headers=headers, now=now)
    record = WebhookEvent(
        provider=provider.name,
        event_id=event.event_id,
        event_type=event.event_type,
        outcome="received",
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
    session.add(record)
    try:
        session.flush()  # the event id is taken first: a second delivery waits here, then fails
    except IntegrityError:
        session.rollback()
        return WebhookResult("duplicate")
    checkout = session.scalars(
        select(OnlineCheckout).where(
            OnlineCheckout.provider == provider.name, OnlineCheckout.provider_ref == event.provider_ref
        )
    ).one_or_none()
    if checkout is None:
        record.outcome = "ignored: unknown checkout"
        return WebhookResult(record.outcome)
    record.checkout_id = checkout.id
    if event.event_type != EVENT_SUCCEEDED:
        session.execute(
            update(OnlineCheckout)
            .where(OnlineCheckout.id == checkout.id, OnlineCheckout.state == "open")
            .values(state="failed", failure=event.failure or "failed")
            .execution_options(synchronize_session=False)
        )
        record.outcome = "failed"
        return WebhookResult("failed", checkout.id)
    if event.amount != checkout.amount or event.currency != checkout.currency:
        record.outcome = f"ignored: {event.amount} {event.currency} is not the checkout's amount"
        return WebhookResult(record.outcome, checkout.id)
    claimed = session.execute(
        update(OnlineCheckout)
        .where(OnlineCheckout.id == checkout.id, OnlineCheckout.state.in_(("open", "failed")))
        .values(state="paid", failure=None, completed_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        record.outcome = "ignored: already paid"
        return WebhookResult(record.outcome, checkout.id)
    payment, applied = record_payment(
        session, checkout=checkout, provider=provider.name, on=event.created.date()
    )
    record.outcome = "paid"
    item = payment_journal_item(
        session, payment=payment, checkout=checkout, event_id=event.event_id, applied=applied
    )
    return WebhookResult("paid", checkout.id, payment.id, (item,))


def payment_journal_item(
    session: Session,
    *,
    payment: Payment,
    checkout: OnlineCheckout,
    event_id: str,
    applied: list[dict[str, Any]],
) -> JournalItem:
    """The archive journal's ``payment_received`` entry: about each paid invoice's document."""
    ids = [int(a["invoice_id"]) for a in applied]
    digests = dict(
        session.execute(
            select(Invoice.id, Document.digest)
            .join(Document, Document.id == Invoice.document_id)
            .where(Invoice.id.in_(ids))
        )
        .tuples()
        .all()
    )
    subjects = [digests.get(i, f"invoice:{i}") for i in ids] or [f"payment:{payment.id}"]
    return JournalItem(
        KIND_PAYMENT_RECEIVED,
        subjects[0],
        {
            "payment_id": payment.id,
            "source": "online",
            "provider_ref": payment.provider_ref,
            "event_id": event_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "received_on": payment.received_on,
            "applied": applied,
        },
        related=(*subjects[1:], f"payment:{payment.id}", f"checkout:{checkout.id}"),
    )


def record_payment(
    session: Session, *, checkout: OnlineCheckout, provider: str, on: dt.date
) -> tuple[Payment, list[dict[str, Any]]]:
    """The payment of a checkout, applied oldest due first; the rest kept as the customer's credit."""
    payment = Payment(
        source="online",
        party_id=checkout.party_id,
        amount=checkout.amount,
        currency=checkout.currency,
        received_on=on,
        provider_ref=f"{provider}:{checkout.provider_ref}",
    )
    session.add(payment)
    session.flush()
    invoices = {
        inv.id: inv
        for inv in session.scalars(select(Invoice).where(Invoice.id.in_(list(checkout.invoice_ids))))
    }
    dues = [
        Due(inv.id, inv.amount_still_due or Decimal(0), inv.due_date, inv.issue_date)
        for inv in invoices.values()
        if inv.currency in (None, checkout.currency)
    ]
    split, rest = oldest_first(checkout.amount, dues)
    actor = Actor(kind=ActorKind.SYSTEM, id=f"payments:{provider}")
    text = f"paid online ({provider} {checkout.provider_ref})"
    applied = []
    for invoice_id, amount in split:
        applied.append(
            apply_to_invoice(
                session, payment=payment, invoice=invoices[invoice_id], amount=amount, actor=actor, text=text
            )
        )
    if rest > 0:
        session.add(PaymentAllocation(payment_id=payment.id, invoice_id=None, kind="credit", amount=rest))
    session.execute(
        update(OnlineCheckout)
        .where(OnlineCheckout.id == checkout.id)
        .values(payment_id=payment.id)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return payment, applied


def find_checkout(session: Session, *, token: str, party_ids: frozenset[int]) -> OnlineCheckout | None:
    """The checkout with this public token, if it is one of these customers' (else ``None``)."""
    if not party_ids or len(token) > 64:
        return None
    return session.scalars(
        select(OnlineCheckout).where(
            OnlineCheckout.token == token, OnlineCheckout.party_id.in_(sorted(party_ids))
        )
    ).one_or_none()
