"""The "your invoice is available" e-mail sent to a customer's billing contacts when an invoice reaches 203.

The caller (the publishing job) hands in a :class:`PublishedData`: who we are,
the customer and the addresses of its billing contacts, the invoice's number,
amount, due date and payment reference, the link to it in the portal, and the
PDF to attach. This module words it in the customer's language (French or
English) and builds the message. The Message-ID derives from :attr:`PublishedData.key`
(the document's SHA-256), so the same publication sent again is the same message.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notify.models import Company, EmailAddress, Lang
from notify.render import environment, format_amount, format_date, one_line

_SUBJECT: Final[dict[Lang, str]] = {
    "fr": "Facture {number} de {company} : {amount}, échéance le {due}",
    "en": "Invoice {number} from {company}: {amount}, due on {due}",
}
_NO_DUE: Final[dict[Lang, str]] = {"fr": "à réception", "en": "on receipt"}


class PublishedData(BaseModel):
    """Everything the e-mail shows; built by the publishing job, rendered here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, description="the document's SHA-256: one message per publication")
    language: Lang = "fr"
    company: Company
    customer_name: str = Field(min_length=1)
    recipients: tuple[EmailAddress, ...] = Field(min_length=1, description="the billing contacts")
    number: str = Field(min_length=1, description="BT-1")
    issue_date: date | None = None
    due_date: date | None = None
    currency: str = "EUR"
    total: Decimal = Field(description="BT-112, total with VAT")
    amount_due: Decimal = Field(description="what is to pay (BT-115)")
    payment_reference: str | None = None
    iban: str | None = None
    bic: str | None = None
    invoice_url: str = Field(min_length=1, description="the invoice's page in the portal")
    attachment: bytes | None = Field(default=None, repr=False)
    attachment_name: str | None = None
    attachment_type: str = "application/pdf"
    issued_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        return value.astimezone(UTC)


def published_context(data: PublishedData) -> dict[str, Any]:
    """The values the templates show, formatted for the customer's language."""
    lang = data.language
    return {
        "lang": lang,
        "company": data.company,
        "customer_name": data.customer_name,
        "number": data.number,
        "issue_date": format_date(data.issue_date, lang),
        "due_date": format_date(data.due_date, lang) if data.due_date else _NO_DUE[lang],
        "total": format_amount(data.total, lang, data.currency),
        "amount_due": format_amount(data.amount_due, lang, data.currency),
        "partly_paid": data.amount_due < data.total,
        "payment_reference": data.payment_reference,
        "iban": data.iban,
        "bic": data.bic,
        "invoice_url": data.invoice_url,
        "attached": data.attachment is not None,
    }


def subject(data: PublishedData) -> str:
    """The Subject: number, company, amount, due date.

    >>> from notify.models import Company
    >>> d = PublishedData(key="k", company=Company(name="Acme", email="f@acme.fr"), customer_name="B",
    ...     recipients=("b@b.fr",), number="F-1", due_date=date(2026, 3, 5), total=Decimal("12.5"),
    ...     amount_due=Decimal("12.5"), invoice_url="https://p/invoices/1")
    >>> subject(d)
    'Facture F-1 de Acme : 12,50 EUR, échéance le 05/03/2026'
    """
    lang = data.language
    return _SUBJECT[lang].format(
        number=one_line(data.number, 60),
        company=one_line(data.company.name, 60),
        amount=format_amount(data.amount_due, lang, data.currency),
        due=format_date(data.due_date, lang) if data.due_date else _NO_DUE[lang],
    )


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the publication ``key``: the same key, the same id.

    >>> message_id("abc", "example.fr")
    '<published-ba7816bf8f01cfea414140de5dae2223@example.fr>'
    """
    return f"<published-{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def render_text(data: PublishedData) -> str:
    """The plain-text body."""
    return (
        environment().get_template(f"published.{data.language}.txt.jinja").render(**published_context(data))
    )


def render_html(data: PublishedData) -> str:
    """The HTML body (escaped)."""
    return (
        environment().get_template(f"published.{data.language}.html.jinja").render(**published_context(data))
    )


def render_published(data: PublishedData) -> EmailMessage:
    """The e-mail: text and HTML alternatives, the invoice (PDF) attached."""
    msg = EmailMessage()
    company = data.company
    local, _, domain = company.email.partition("@")
    msg["From"] = Address(display_name=one_line(company.name), username=local, domain=domain)
    msg["To"] = [
        Address(
            display_name=one_line(data.customer_name),
            username=r.partition("@")[0],
            domain=r.partition("@")[2],
        )
        for r in data.recipients
    ]
    if company.reply_to:
        plocal, _, pdomain = company.reply_to.partition("@")
        msg["Reply-To"] = Address(display_name=one_line(company.name), username=plocal, domain=pdomain)
    msg["Subject"] = subject(data)
    msg["Date"] = format_datetime(data.issued_at)
    msg["Message-ID"] = message_id(data.key, domain)
    msg["Auto-Submitted"] = "auto-generated"
    text, html = render_text(data), render_html(data)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if data.attachment is not None:
        maintype, _, subtype = data.attachment_type.partition("/")
        name = data.attachment_name or f"{data.number}.pdf"
        msg.add_attachment(data.attachment, maintype=maintype, subtype=subtype, filename=name)
    msg["Content-Language"] = data.language  # after the parts: Content-* headers move into a first part
    token = hashlib.sha256("\x00".join((msg["Message-ID"], text, html)).encode()).hexdigest()[:24]
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==_encaisse_{token}_{index}")
    return msg
