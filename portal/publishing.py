"""Publishing an outgoing invoice: the e-mail to the customer's billing contacts once it reaches 203.

:func:`publish_invoice` composes the ledger (document, invoice, customer and its
billing contacts, our company), the archive (the PDF, and a journal entry that
proves the invoice was made available and to whom) and :mod:`notify.published`
(the words). It is sent once per document: the ``notices`` row for status 203
is claimed in the caller's transaction before sending (the same mechanism as
rejection notices), so running it twice sends nothing the second time, and a
crash between sending and commit sends the same message again (same Message-ID).

The worker calls it from a job after a document reaches 203 (the job is the
lead's to wire: see the module's report); it needs nothing from ``worker.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.journal import EntryKind
from archive.service import journal_event
from archive.store import Store
from ledger import services
from ledger.models import Document, Invoice, OperatorCompany, Party
from notify.models import company_from_settings
from notify.published import PublishedData, message_id, render_published
from notify.transport import Transport
from portal.queries import PDF_KINDS, XML_KINDS
from portal.routes.customer import file_name
from schemas.lifecycle import Status
from schemas.settings import Settings

log = logging.getLogger("encaisse.publishing")
PUBLISH_ACTOR = "job:publish_invoice"


@dataclass(frozen=True)
class Published:
    """What :func:`publish_invoice` did: the Message-ID and recipients, or why nothing was sent."""

    sent: bool
    message_id: str | None = None
    recipients: tuple[str, ...] = ()
    reason: str | None = None


def billing_addresses(party: Party) -> tuple[str, ...]:
    """The e-mail addresses of the party's billing contacts (any contact when none is marked billing)."""
    billing = [c.email for c in party.contacts if c.email and c.role == "billing"]
    others = [c.email for c in party.contacts if c.email]
    return tuple(dict.fromkeys(billing or others))


def publication_data(
    session: Session, *, document: Document, invoice: Invoice, party: Party, settings: Settings, store: Store
) -> PublishedData:
    """The e-mail's content, from the ledger and the archive."""
    operator = session.scalars(select(OperatorCompany).order_by(OperatorCompany.id)).first()
    company = company_from_settings(settings)
    if operator is not None:
        company = company.model_copy(update={"name": operator.name})
    attachment, kind, media = None, None, "application/pdf"
    if document.size_bytes > 0 and document.format in PDF_KINDS:
        attachment, kind = store.get(document.digest), "pdf"
    elif document.size_bytes > 0 and document.format in XML_KINDS:
        attachment, kind, media = store.get(document.digest), "xml", "application/xml"
    total = invoice.total_with_vat if invoice.total_with_vat is not None else invoice.amount_due
    return PublishedData(
        key=document.digest,
        language="en" if (party.language or "fr").startswith("en") else "fr",
        company=company,
        customer_name=party.name,
        recipients=billing_addresses(party),
        number=invoice.number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency or "EUR",
        total=total if total is not None else invoice.amount_still_due or 0,
        amount_due=invoice.amount_still_due if invoice.amount_still_due is not None else total or 0,
        payment_reference=invoice.payment_reference,
        iban=operator.iban if operator else None,
        bic=operator.bic if operator else None,
        invoice_url=f"{settings.public_url.rstrip('/')}/invoices/{invoice.id}",
        attachment=attachment,
        attachment_name=file_name(invoice.number, kind) if kind else None,
        attachment_type=media,
    )


def publish_invoice(
    session: Session, *, document_id: int, settings: Settings, store: Store, transport: Transport
) -> Published:
    """Send the "invoice available" e-mail for an outgoing document in 203, once; the caller commits.

    Nothing is sent (and ``sent`` is false with the reason) for a document that is
    not outgoing, not in 203, has no invoice or customer, or whose customer has no
    billing e-mail address. Raises :class:`notify.transport.SendError` when the
    mail server refuses (the caller's job retries a transient one).
    """
    document = services.get_document(session, document_id=document_id, for_update=True)
    if document.direction != "outgoing" or document.status_code != Status.MISE_A_DISPOSITION.value:
        return Published(False, reason=f"document {document_id} is not an outgoing invoice in 203")
    invoice = session.scalars(select(Invoice).where(Invoice.document_id == document.id)).one_or_none()
    party = session.get(Party, document.customer_party_id) if document.customer_party_id else None
    if invoice is None or party is None:
        return Published(False, reason=f"document {document_id} has no registered invoice or customer")
    data = publication_data(
        session, document=document, invoice=invoice, party=party, settings=settings, store=store
    )
    if not data.recipients:
        return Published(False, reason=f"customer {party.id} has no billing e-mail address")
    domain = data.company.email.partition("@")[2]
    msgid = message_id(data.key, domain)
    notice = services.claim_notice(
        session,
        document=document,
        status=Status.MISE_A_DISPOSITION,
        message_id=msgid,
        recipient=", ".join(data.recipients)[:320],
    )
    if notice is None:
        return Published(False, message_id=msgid, recipients=data.recipients, reason="published before")
    sent_id = transport.send(render_published(data))
    services.mark_notice_sent(session, notice=notice, message_id=sent_id)
    journal_event(
        session,
        kind=EntryKind.NOTICE_SENT.value,
        subject=document.digest,
        actor=PUBLISH_ACTOR,
        data={
            "notice": "published",
            "message_id": sent_id,
            "to": list(data.recipients),
            "url": data.invoice_url,
        },
        related=[f"invoice:{invoice.id}"],
    )
    log.info("invoice %s published to %s", invoice.number, ", ".join(data.recipients))
    return Published(True, message_id=sent_id, recipients=data.recipients)
