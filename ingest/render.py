"""Render an invoice of the model as a readable page (HTML, then PDF with WeasyPrint).

The page shows what a person needs to check and pay an invoice: seller and
buyer, lines, VAT breakdown, totals, due date and payment instructions (IBAN,
BIC, creditor reference), in French or English. :func:`render_pdf` writes
PDF/A-3b by default, the container Factur-X needs; the output is
deterministic (dates come from the invoice, the file identifier from its
content).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal

import jinja2

from schemas.invoice import Invoice

Lang = Literal["fr", "en"]
TEMPLATES: Final = Path(__file__).resolve().parent / "templates"

LABELS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "invoice": "Facture",
        "credit_note": "Avoir",
        "number": "N° de facture",
        "issue_date": "Date d'émission",
        "due_date": "Date d'échéance",
        "buyer_reference": "Référence acheteur",
        "purchase_order": "Bon de commande",
        "contract": "Contrat",
        "preceding": "Facture d'origine",
        "seller": "Vendeur",
        "buyer": "Client",
        "siren": "SIREN",
        "siret": "SIRET",
        "vat_id": "N° TVA",
        "legal_id": "Immatriculation",
        "line": "N°",
        "description": "Désignation",
        "quantity": "Qté",
        "unit": "Unité",
        "unit_price": "P.U. HT",
        "vat_rate": "TVA",
        "net_amount": "Montant HT",
        "vat_breakdown": "Détail de la TVA",
        "vat_category": "Catégorie",
        "taxable_amount": "Base HT",
        "vat_amount": "Montant TVA",
        "line_total": "Total des lignes HT",
        "allowances": "Remises",
        "charges": "Frais",
        "total_without_vat": "Total HT",
        "total_vat": "Total TVA",
        "total_with_vat": "Total TTC",
        "prepaid": "Déjà réglé",
        "rounding": "Arrondi",
        "amount_due": "Net à payer",
        "payment": "Règlement",
        "payment_terms": "Conditions de paiement",
        "means": "Moyen de paiement",
        "iban": "IBAN",
        "bic": "BIC",
        "account_name": "Titulaire",
        "reference": "Référence à rappeler",
        "mandate": "Mandat de prélèvement",
        "notes": "Mentions",
        "page": "Page",
        "of": "sur",
        "contact": "Contact",
    },
    "en": {
        "invoice": "Invoice",
        "credit_note": "Credit note",
        "number": "Invoice number",
        "issue_date": "Issue date",
        "due_date": "Due date",
        "buyer_reference": "Buyer reference",
        "purchase_order": "Purchase order",
        "contract": "Contract",
        "preceding": "Preceding invoice",
        "seller": "Seller",
        "buyer": "Bill to",
        "siren": "SIREN",
        "siret": "SIRET",
        "vat_id": "VAT number",
        "legal_id": "Registration",
        "line": "#",
        "description": "Description",
        "quantity": "Qty",
        "unit": "Unit",
        "unit_price": "Unit price",
        "vat_rate": "VAT",
        "net_amount": "Net amount",
        "vat_breakdown": "VAT breakdown",
        "vat_category": "Category",
        "taxable_amount": "Taxable amount",
        "vat_amount": "VAT amount",
        "line_total": "Sum of lines",
        "allowances": "Allowances",
        "charges": "Charges",
        "total_without_vat": "Total without VAT",
        "total_vat": "Total VAT",
        "total_with_vat": "Total with VAT",
        "prepaid": "Paid in advance",
        "rounding": "Rounding",
        "amount_due": "Amount due",
        "payment": "Payment",
        "payment_terms": "Payment terms",
        "means": "Payment means",
        "iban": "IBAN",
        "bic": "BIC",
        "account_name": "Account holder",
        "reference": "Payment reference",
        "mandate": "Direct debit mandate",
        "notes": "Notes",
        "page": "Page",
        "of": "of",
        "contact": "Contact",
    },
}

#: UNTDID 4461 payment means, the codes met in practice.
MEANS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "10": "Espèces",
        "20": "Chèque",
        "30": "Virement",
        "31": "Virement",
        "42": "Virement",
        "48": "Carte bancaire",
        "49": "Prélèvement",
        "57": "Virement",
        "58": "Virement SEPA",
        "59": "Prélèvement SEPA",
        "1": "Non précisé",
    },
    "en": {
        "10": "Cash",
        "20": "Cheque",
        "30": "Credit transfer",
        "31": "Debit transfer",
        "42": "Bank transfer",
        "48": "Bank card",
        "49": "Direct debit",
        "57": "Standing agreement",
        "58": "SEPA credit transfer",
        "59": "SEPA direct debit",
        "1": "Not specified",
    },
}

#: UN/ECE Rec. 20 units, the common ones.
UNITS: Final[dict[str, dict[str, str]]] = {
    "fr": {
        "C62": "u.",
        "H87": "pièce",
        "HUR": "h",
        "DAY": "jour",
        "MON": "mois",
        "KGM": "kg",
        "LTR": "l",
        "MTR": "m",
        "MTK": "m²",
        "XPP": "pièce",
        "EA": "u.",
        "SET": "lot",
    },
    "en": {
        "C62": "unit",
        "H87": "piece",
        "HUR": "h",
        "DAY": "day",
        "MON": "month",
        "KGM": "kg",
        "LTR": "l",
        "MTR": "m",
        "MTK": "m²",
        "XPP": "piece",
        "EA": "each",
        "SET": "set",
    },
}

_MONTHS_EN: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_amount(value: Decimal | None, lang: Lang = "fr", currency: str | None = None) -> str:
    """An amount the way readers of the language write it.

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


def format_number(value: Decimal | None, lang: Lang = "fr") -> str:
    """A quantity or rate without trailing zeros: ``Decimal('5.50')`` gives ``5,5`` in French."""
    if value is None:
        return ""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",") if lang == "fr" else text


def format_date(value: date | None, lang: Lang = "fr") -> str:
    """A date: ``15/03/2025`` in French, ``15 Mar 2025`` in English."""
    if value is None:
        return ""
    if lang == "fr":
        return value.strftime("%d/%m/%Y")
    return f"{value.day} {_MONTHS_EN[value.month - 1]} {value.year}"


def format_iban(iban: str) -> str:
    """An IBAN in groups of four, as printed on paper.

    >>> format_iban("FR7630004000031234567890143")
    'FR76 3000 4000 0312 3456 7890 143'
    """
    compact = iban.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["html", "jinja"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def render_html(invoice: Invoice, *, lang: Lang = "fr") -> str:
    """The invoice as a self-contained HTML page (the CSS is inlined)."""
    if lang not in LABELS:
        raise ValueError(f"unsupported language {lang!r}: use 'fr' or 'en'")
    env = _environment()
    css = (TEMPLATES / "invoice.css").read_text(encoding="utf-8")
    context: dict[str, Any] = {
        "inv": invoice,
        "t": LABELS[lang],
        "lang": lang,
        "css": css,
        "cur": invoice.currency or "",
        "amount": lambda v, cur=None: format_amount(v, lang, cur),
        "num": lambda v: format_number(v, lang),
        "day": lambda v: format_date(v, lang),
        "iban": format_iban,
        "means": lambda code: MEANS[lang].get(code or "", code or ""),
        "unit": lambda code: UNITS[lang].get(code or "", code or ""),
        "created": (invoice.issue_date or date(2000, 1, 1)).isoformat(),
    }
    return env.get_template("invoice.html.jinja").render(**context)


@contextmanager
def source_date_epoch(when: date) -> Iterator[None]:
    """Set ``SOURCE_DATE_EPOCH`` for the duration of a rendering.

    fontTools stamps the fonts it subsets with the current time unless this
    variable is set; fixing it makes the PDF bytes reproducible. Not thread-safe:
    the environment is the process's.
    """
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(
        int(datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp())
    )
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


def render_pdf(invoice: Invoice, *, lang: Lang = "fr", pdf_variant: str | None = "pdf/a-3b") -> bytes:
    """The invoice rendered as a PDF (PDF/A-3b unless ``pdf_variant`` says otherwise).

    The creation date is the issue date and the file identifier a hash of the
    invoice, so that one invoice always gives the same bytes.
    """
    import weasyprint  # imported here: loading pango/cairo is slow and only rendering needs it

    html = render_html(invoice, lang=lang)
    identifier = hashlib.sha256(invoice.model_dump_json().encode("utf-8")).hexdigest()[:32].encode("ascii")
    document = weasyprint.HTML(string=html, base_url=str(TEMPLATES))
    options: dict[str, Any] = {"identifier": identifier, "uncompressed_pdf": False}
    if pdf_variant:
        options["pdf_variant"] = pdf_variant
    with source_date_epoch(invoice.issue_date or date(2000, 1, 1)):
        data = document.write_pdf(**options)
    if not isinstance(data, bytes):  # pragma: no cover - write_pdf without a target returns bytes
        raise TypeError("weasyprint returned no bytes")
    return data
