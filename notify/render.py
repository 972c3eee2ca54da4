"""Render a rejection notice: text and HTML from Jinja2 templates, one e-mail with the report attached.

Each kind of notice (:class:`~notify.models.NoticeKind`) has its own templates
in French and English (``templates/<kind>.<lang>.<txt|html>.jinja``), which
extend one base per language and format. HTML is autoescaped: finding values
come from the supplier's file and are never trusted. The Message-ID derives
from the document id and the status, so a notice sent twice is recognisable as
the same message (and the outbox writes it once).
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

import jinja2

from notify.models import Lang, NoticeData, NoticeKind
from notify.terms import term_label
from schemas.findings import Finding

TEMPLATES: Final = Path(__file__).resolve().parent / "templates"
_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_SUBJECT: Final[dict[Lang, str]] = {
    "fr": "{what} {number} : {status} ({code})",
    "en": "{what} {number}: {status} ({code})",
}
_WHAT: Final[dict[Lang, tuple[str, str]]] = {
    "fr": ("Votre facture", "Votre fichier"),
    "en": ("Your invoice", "Your file"),
}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Longest finding value a notice shows.
MAX_VALUE_CHARS: Final = 300
_REPORT_NAME: Final[dict[Lang, str]] = {"fr": "rapport-de-validation", "en": "validation-report"}


def format_amount(value: Decimal | None, lang: Lang, currency: str | None = None) -> str:
    """An amount as readers of the language write it.

    >>> format_amount(Decimal("1234.5"), "fr", "EUR")
    '1\u202f234,50 EUR'
    >>> format_amount(Decimal("1234.5"), "en", "EUR")
    'EUR 1,234.50'
    """
    if value is None:
        return ""
    text = f"{value:,.2f}" if value == value.quantize(Decimal("0.01")) else f"{value:,}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
        return f"{text} {currency}" if currency else text
    return f"{currency} {text}" if currency else text


def format_date(value: date | datetime | None, lang: Lang) -> str:
    """A date (or the date and time, in UTC, of an instant).

    >>> format_date(date(2026, 3, 5), "fr"), format_date(date(2026, 3, 5), "en")
    ('05/03/2026', '5 Mar 2026')
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        time = value.strftime("%H:%M UTC")
        return f"{format_date(value.date(), lang)} {'à' if lang == 'fr' else 'at'} {time}"
    if lang == "fr":
        return value.strftime("%d/%m/%Y")
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def message_id(document_id: str, status: str, domain: str) -> str:
    """The Message-ID of the notice for one document and status: the same inputs, the same id.

    >>> message_id("doc-1", "213", "example.fr")
    '<notice-213-15d53bc98c57084c22345551f3debadd@example.fr>'
    """
    digest = hashlib.sha256(f"{document_id}\x00{status}".encode()).hexdigest()[:32]
    return f"<notice-{status}-{digest}@{domain}>"


def shorten(value: str | None, limit: int = MAX_VALUE_CHARS) -> str | None:
    """A value cut to ``limit`` characters (values come from the supplier's file and may be huge).

    >>> shorten("x" * 5, 3)
    'xx…'
    """
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def _finding_view(finding: Finding, lang: Lang) -> dict[str, Any]:
    explanation = finding.explanation_fr if lang == "fr" else finding.explanation_en
    hint = finding.hint_fr if lang == "fr" else finding.hint_en
    return {
        "rule_id": finding.rule_id,
        "severity": str(finding.severity),
        "fields": [term_label(t, lang) for t in finding.terms],
        "value": ("(vide)" if lang == "fr" else "(empty)") if finding.value == "" else shorten(finding.value),
        "explanation": explanation or finding.message,
        "hint": hint,
        "location": finding.location,
    }


def notice_context(data: NoticeData) -> dict[str, Any]:
    """The values the templates show, formatted for the recipient's language."""
    lang = data.language
    inv = data.invoice
    status = data.status
    return {
        "lang": lang,
        "kind": str(data.kind),
        "recipient_name": data.recipient.name,
        "company": data.company,
        "document": data.document,
        "received_at": format_date(data.document.received_at, lang),
        "invoice_number": inv.number,
        "issue_date": format_date(inv.issue_date, lang),
        "total": format_amount(inv.total_with_vat, lang, inv.currency),
        "status_code": str(status),
        "status_label": status.label_fr if lang == "fr" else status.label_en,
        "suspended": status.value == "208",
        "reasons": [
            {"code": str(r), "label": r.label_fr if lang == "fr" else r.label_en} for r in data.reasons
        ],
        "findings": [_finding_view(f, lang) for f in data.blocking],
        "remarks": [_finding_view(f, lang) for f in data.remarks],
        "resubmit": data.resubmit,
        "has_report": data.report_pdf is not None,
        "report_name": report_filename(data),
    }


def one_line(text: str, limit: int = 120) -> str:
    r"""``text`` fit for a header: control characters and runs of blanks become one space.

    >>> one_line("F-1\r\nBcc: x@example.fr")
    'F-1 Bcc: x@example.fr'
    """
    return shorten(" ".join(_CONTROL.sub(" ", text).split()), limit) or ""


def subject(data: NoticeData) -> str:
    """The Subject: the invoice number (or the file name) and the status in words."""
    lang = data.language
    status = data.status
    what = _WHAT[lang][0] if data.invoice.number else _WHAT[lang][1]
    number = data.invoice.number or data.document.file_name or data.document.document_id
    return _SUBJECT[lang].format(
        what=what,
        number=one_line(number, 80),
        status=status.label_fr if lang == "fr" else status.label_en,
        code=status.value,
    )


def report_filename(data: NoticeData) -> str:
    """The attachment's file name, e.g. ``rapport-de-validation-F2026-001.pdf``."""
    base = data.invoice.number or data.document.document_id
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in base).strip("-.") or "document"
    return f"{_REPORT_NAME[data.language]}-{safe[:80]}.pdf"


def _autoescape(name: str | None) -> bool:
    return name is not None and ".html" in name


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment (HTML autoescaped, text not; undefined names are errors)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_text(data: NoticeData) -> str:
    """The plain-text body."""
    return _render(data, "txt")


def render_html(data: NoticeData) -> str:
    """The HTML body (escaped)."""
    return _render(data, "html")


def _render(data: NoticeData, fmt: str) -> str:
    name = f"{NoticeKind(data.kind).value}.{data.language}.{fmt}.jinja"
    return environment().get_template(name).render(**notice_context(data))


def render_notice(data: NoticeData) -> EmailMessage:
    """The notice as an e-mail: text and HTML alternatives, the validation report attached as a PDF.

    Rendering the same data twice gives the same message (same Message-ID, same Date).
    """
    msg = EmailMessage()
    company = data.company
    local, _, domain = company.email.partition("@")
    msg["From"] = Address(display_name=one_line(company.name), username=local, domain=domain)
    rlocal, _, rdomain = data.recipient.email.partition("@")
    msg["To"] = Address(display_name=one_line(data.recipient.name or ""), username=rlocal, domain=rdomain)
    if company.reply_to:
        plocal, _, pdomain = company.reply_to.partition("@")
        msg["Reply-To"] = Address(display_name=one_line(company.name), username=plocal, domain=pdomain)
    msg["Subject"] = subject(data)
    msg["Date"] = format_datetime(data.issued_at)
    msg["Message-ID"] = message_id(data.document.document_id, data.status.value, domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to a robot
    msg["X-Encaisse-Document"] = data.document.document_id
    msg["X-Encaisse-Status"] = data.status.value
    text, html = render_text(data), render_html(data)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if data.report_pdf is not None:
        msg.make_mixed()
        msg.add_attachment(
            data.report_pdf, maintype="application", subtype="pdf", filename=report_filename(data)
        )
    msg["Content-Language"] = data.language
    # Boundaries from a hash of the content (not random): the same notice gives the same bytes,
    # and a body cannot contain a hash of itself.
    token = hashlib.sha256("\x00".join((msg["Message-ID"], text, html)).encode()).hexdigest()[:24]
    for index, part in enumerate(msg.walk()):
        if part.is_multipart():
            part.set_boundary(f"==_encaisse_{token}_{index}")
    return msg
