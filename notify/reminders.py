"""Payment reminders: the e-mail (text and HTML) and the letter or formal notice (PDF).

The caller (the dunning job) hands in a :class:`ReminderData`: the customer, the
invoice(s) with what is still due on each (after partial payments), the late penalties
and the 40 EUR indemnity it computed, the payment reference and the portal link. This
module only words and lays it out, in the customer's language (French or English) and
in the step's tone:

- ``friendly``: a courtesy reminder (before the due date, or just after);
- ``neutral``: the invoice is late, please pay;
- ``firm``: late for a while: pay now, penalties are due;
- ``formal``: the formal notice (mise en demeure) before legal action.

Letters and formal notices are A4 PDFs (WeasyPrint) that name the legal grounds
(Code de commerce L441-10 and D441-5 between businesses; Code civil 1344 and 1231-6
for a consumer). The Message-ID derives from :attr:`ReminderData.key`, so a reminder
sent again after a crash is recognisable as the same message.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from notify.models import Company, EmailAddress, Lang
from notify.render import TEMPLATES, environment, format_amount, format_date, one_line

Tone = Literal["friendly", "neutral", "firm", "formal"]
ReminderChannel = Literal["email", "letter", "formal_notice"]

_SUBJECT: Final[dict[Lang, dict[str, str]]] = {
    "fr": {
        "friendly": "Rappel : facture {numbers} à échéance le {due}",
        "neutral": "Relance : facture {numbers} impayée",
        "firm": "Relance urgente : facture {numbers} impayée depuis {days} jours",
        "formal": "Mise en demeure de payer : facture {numbers}",
    },
    "en": {
        "friendly": "Reminder: invoice {numbers} due on {due}",
        "neutral": "Payment reminder: invoice {numbers} unpaid",
        "firm": "Urgent: invoice {numbers} unpaid for {days} days",
        "formal": "Formal notice to pay: invoice {numbers}",
    },
}
_FILE_NAME: Final[dict[Lang, dict[str, str]]] = {
    "fr": {"letter": "relance", "formal_notice": "mise-en-demeure"},
    "en": {"letter": "reminder", "formal_notice": "formal-notice"},
}


class ReminderLine(BaseModel):
    """One invoice named in a reminder; amounts are already computed by the caller."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: str = Field(min_length=1, description="BT-1")
    issue_date: date | None = None
    due_date: date
    total: Decimal = Field(description="the invoice's amount due (BT-115)")
    amount_due: Decimal = Field(description="what is still due today, after partial payments")
    days_late: int = 0
    penalties: Decimal = Decimal("0.00")
    indemnity: Decimal = Decimal("0.00")
    payment_reference: str | None = None
    pay_url: str | None = None

    @property
    def partly_paid(self) -> bool:
        """True when a part was paid already."""
        return self.amount_due < self.total


class ReminderData(BaseModel):
    """Everything one reminder shows; built by the dunning job, rendered here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, description="stable id of what is reminded (the actions)")
    channel: ReminderChannel = "email"
    tone: Tone = "neutral"
    language: Lang = "fr"
    as_of: date
    company: Company
    customer_name: str = Field(min_length=1)
    recipient_email: EmailAddress | None = None
    postal_address: tuple[str, ...] = ()
    #: True for a business debtor: the 40 EUR indemnity and the L441-10 mentions apply
    business: bool = True
    currency: str = "EUR"
    lines: tuple[ReminderLine, ...] = Field(min_length=1)
    penalty_basis: str | None = Field(default=None, description="how the penalties were computed, in words")
    iban: str | None = None
    portal_url: str | None = None
    #: an EPC QR code (inline SVG made by the caller from our IBAN, the amount and the RF
    #: reference) printed on letters: scanned by a banking app, it fills in the transfer
    qr_svg: str | None = Field(default=None, repr=False)
    #: days given to pay in a formal notice
    notice_days: int = 8
    issued_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        return value.astimezone(UTC)

    @property
    def amount_due(self) -> Decimal:
        """What is still due on all the invoices named."""
        return sum((line.amount_due for line in self.lines), Decimal("0.00"))

    @property
    def penalties(self) -> Decimal:
        """Late penalties on all the invoices named."""
        return sum((line.penalties for line in self.lines), Decimal("0.00"))

    @property
    def indemnities(self) -> Decimal:
        """The flat recovery indemnities (40 EUR per late invoice, businesses only)."""
        return sum((line.indemnity for line in self.lines), Decimal("0.00"))

    @property
    def max_days_late(self) -> int:
        """Days late of the latest invoice named (0: not yet due)."""
        return max((line.days_late for line in self.lines), default=0)


def reminder_context(data: ReminderData) -> dict[str, Any]:
    """The values the templates show, formatted for the customer's language."""
    lang, cur = data.language, data.currency

    def money(value: Decimal) -> str:
        return format_amount(value, lang, cur)

    lines = [
        {
            "number": line.number,
            "issue_date": format_date(line.issue_date, lang),
            "due_date": format_date(line.due_date, lang),
            "total": money(line.total),
            "amount_due": money(line.amount_due),
            "partly_paid": line.partly_paid,
            "paid": money(line.total - line.amount_due),
            "days_late": line.days_late,
            "penalties": money(line.penalties),
            "indemnity": money(line.indemnity),
            "has_penalties": line.penalties > 0 or line.indemnity > 0,
            "payment_reference": line.payment_reference,
            "pay_url": line.pay_url,
        }
        for line in data.lines
    ]
    grand = data.amount_due + data.penalties + data.indemnities
    return {
        "lang": lang,
        "tone": data.tone,
        "channel": data.channel,
        "company": data.company,
        "customer_name": data.customer_name,
        "postal_address": list(data.postal_address),
        "business": data.business,
        "lines": lines,
        "several": len(lines) > 1,
        "late": data.max_days_late > 0,
        "days_late": data.max_days_late,
        "amount_due": money(data.amount_due),
        "penalties": money(data.penalties),
        "indemnities": money(data.indemnities),
        "has_penalties": data.penalties > 0 or data.indemnities > 0,
        "grand_total": money(grand),
        "penalty_basis": data.penalty_basis,
        "iban": data.iban,
        "portal_url": data.portal_url,
        "as_of": format_date(data.as_of, lang),
        "notice_days": data.notice_days,
        "references": [line.payment_reference for line in data.lines if line.payment_reference],
        "qr_svg": data.qr_svg,
    }


def subject(data: ReminderData) -> str:
    """The Subject: the invoice number(s), the tone's wording.

    Several invoices are named by the first and a count.
    """
    first = data.lines[0]
    numbers = one_line(first.number, 60)
    if len(data.lines) > 1:
        numbers += f" (+{len(data.lines) - 1})"
    return _SUBJECT[data.language][data.tone].format(
        numbers=numbers, due=format_date(first.due_date, data.language), days=data.max_days_late
    )


def message_id(key: str, domain: str) -> str:
    """The Message-ID of the reminder ``key``: the same key, the same id.

    >>> message_id("actions:1,2", "example.fr")
    '<reminder-697d87df0eb868d5ec4b9a62e1d7af42@example.fr>'
    """
    return f"<reminder-{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def render_text(data: ReminderData) -> str:
    """The plain-text body of the e-mail."""
    return environment().get_template(f"reminder.{data.language}.txt.jinja").render(**reminder_context(data))


def render_html(data: ReminderData) -> str:
    """The HTML body of the e-mail (escaped)."""
    return environment().get_template(f"reminder.{data.language}.html.jinja").render(**reminder_context(data))


def render_email(data: ReminderData) -> EmailMessage:
    """The reminder as an e-mail with text and HTML alternatives.

    Raises:
        ValueError: the data names no e-mail address.
    """
    if data.recipient_email is None:
        raise ValueError("a reminder e-mail needs the customer's e-mail address")
    msg = EmailMessage()
    company = data.company
    local, _, domain = company.email.partition("@")
    msg["From"] = Address(display_name=one_line(company.name), username=local, domain=domain)
    rlocal, _, rdomain = data.recipient_email.partition("@")
    msg["To"] = Address(display_name=one_line(data.customer_name), username=rlocal, domain=rdomain)
    if company.reply_to:
        plocal, _, pdomain = company.reply_to.partition("@")
        msg["Reply-To"] = Address(display_name=one_line(company.name), username=plocal, domain=pdomain)
    msg["Subject"] = subject(data)
    msg["Date"] = format_datetime(data.issued_at)
    msg["Message-ID"] = message_id(data.key, domain)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Encaisse-Reminder"] = one_line(data.key, 200)
    text, html = render_text(data), render_html(data)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    msg["Content-Language"] = data.language
    token = hashlib.sha256("\x00".join((msg["Message-ID"], text, html)).encode()).hexdigest()[:24]
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==_encaisse_{token}_{index}")
    return msg


def letter_html(data: ReminderData, *, inline_css: bool = True) -> str:
    """The letter or formal notice as an HTML page (what the PDF shows)."""
    context = reminder_context(data)
    context.update(
        css=(TEMPLATES / "reminder.css").read_text(encoding="utf-8") if inline_css else "",
        issued_on=format_date(data.issued_at.date(), data.language),
        formal=data.channel == "formal_notice" or data.tone == "formal",
    )
    return environment().get_template(f"reminder.letter.{data.language}.html.jinja").render(**context)


def letter_filename(data: ReminderData) -> str:
    """``relance-F2026-001.pdf``, ``mise-en-demeure-F2026-001.pdf``..."""
    kind = "formal_notice" if data.channel == "formal_notice" else "letter"
    base = data.lines[0].number
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in base).strip("-.") or "invoice"
    return f"{_FILE_NAME[data.language][kind]}-{safe[:80]}.pdf"


@cache
def _stylesheet() -> Any:
    import weasyprint

    return weasyprint.CSS(filename=str(TEMPLATES / "reminder.css"), base_url=str(TEMPLATES))


def render_letter_pdf(data: ReminderData) -> bytes:
    """The letter or formal notice as an A4 PDF."""
    import weasyprint

    html = weasyprint.HTML(string=letter_html(data, inline_css=False), base_url=str(TEMPLATES))
    pdf = html.write_pdf(stylesheets=[_stylesheet()])
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf without a target returns bytes
        raise TypeError("weasyprint returned no bytes")
    return pdf
