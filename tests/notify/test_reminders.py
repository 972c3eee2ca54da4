"""notify.reminders: the reminder e-mail (FR/EN, per tone) and the letter / formal notice PDF."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pypdf
import pytest

from notify.models import Company
from notify.reminders import (
    ReminderData,
    ReminderLine,
    letter_filename,
    letter_html,
    render_email,
    render_html,
    render_letter_pdf,
    render_text,
    subject,
)

AS_OF = dt.date(2026, 3, 31)


def _line(**more: Any) -> ReminderLine:
    values: dict[str, Any] = {
        "number": "F2026-0042",
        "issue_date": dt.date(2026, 1, 15),
        "due_date": dt.date(2026, 2, 14),
        "total": Decimal("1200.00"),
        "amount_due": Decimal("700.00"),
        "days_late": 45,
        "penalties": Decimal("12.34"),
        "indemnity": Decimal("40.00"),
        "payment_reference": "RF18F20260042",
        "pay_url": "https://pay.example.test/invoices/42",
    }
    values.update(more)
    return ReminderLine(**values)


def _data(**more: Any) -> ReminderData:
    values: dict[str, Any] = {
        "key": "dunning:7:sme:reminder-2:2026-03-31:1",
        "tone": "firm",
        "language": "fr",
        "as_of": AS_OF,
        "company": Company(name="Acme SAS", email="relances@acme.test"),
        "customer_name": "Dupont SARL",
        "recipient_email": "compta@dupont.test",
        "postal_address": ("12 rue des Lilas", "69003 Lyon"),
        "lines": (_line(),),
        "penalty_basis": "taux annuel de 12,15 %",
        "portal_url": "https://pay.example.test",
        "issued_at": dt.datetime(2026, 3, 31, 6, 0, tzinfo=dt.UTC),
    }
    values.update(more)
    return ReminderData(**values)


def test_the_french_email_names_invoice_rebased_amount_due_date_lateness_penalties_and_how_to_pay() -> None:
    text = render_text(_data())
    for expected in (
        "Facture F2026-0042 du 15/01/2026",
        "Échéance : 14/02/2026 (en retard de 45 jours)",
        "Montant de la facture : 1\u202f200,00 EUR",
        "Déjà réglé : 500,00 EUR",
        "Reste dû : 700,00 EUR",
        "Pénalités de retard : 12,34 EUR",
        "Indemnité forfaitaire de recouvrement : 40,00 EUR",
        "Total exigible : 752,34 EUR",
        "RF18F20260042",
        "https://pay.example.test/invoices/42",
        "L441-10",
        "D441-5",
        "depuis 45 jours",
    ):
        assert expected in text, expected
    html = render_html(_data())
    assert "F2026-0042" in html and "700,00 EUR" in html and "L441-10" in html


def test_the_english_email_says_the_same_in_english() -> None:
    text = render_text(_data(language="en", penalty_basis="at 12.15 % a year"))
    for expected in (
        "Dear Dupont SARL",
        "Invoice F2026-0042 of 15 Jan 2026",
        "Due date: 14 Feb 2026 (45 days late)",
        "Already paid: EUR 500.00",
        "Still due: EUR 700.00",
        "Flat recovery indemnity: EUR 40.00",
        "Total payable: EUR 752.34",
        "L441-10",
    ):
        assert expected in text, expected


def test_consumers_get_no_indemnity_and_no_business_mentions() -> None:
    data = _data(business=False, lines=(_line(indemnity=Decimal("0.00"), penalties=Decimal("0.00")),))
    text, html = render_text(data), render_html(data)
    for body in (text, html):
        assert "40" not in body.replace("F2026-0042", "")
        assert "L441-10" not in body and "ndemnit" not in body


@pytest.mark.parametrize(
    ("tone", "late", "fr", "en"),
    [
        ("friendly", False, "arrive bientôt à échéance", "is due soon"),
        ("friendly", True, "simple oubli", "may be an oversight"),
        ("neutral", True, "l'échéance est dépassée", "past due"),
        ("firm", True, "sans délai", "without delay"),
        ("formal", True, "mettons en demeure", "formal notice"),
    ],
)
def test_each_tone_reads_differently(tone: str, late: bool, fr: str, en: str) -> None:
    days = 10 if late else 0
    line = _line(days_late=days) if late else _line(days_late=0, penalties=Decimal(0), indemnity=Decimal(0))
    assert fr in render_text(_data(tone=tone, lines=(line,)))
    assert en in render_text(_data(tone=tone, language="en", lines=(line,)))
    assert subject(_data(tone=tone, lines=(line,)))


def test_several_invoices_are_named_and_summed() -> None:
    second = _line(
        number="F2026-0043", total=Decimal("100.00"), amount_due=Decimal("100.00"), penalties=Decimal("1.00")
    )
    data = _data(lines=(_line(), second))
    text = render_text(data)
    assert "Facture F2026-0042" in text and "Facture F2026-0043" in text
    assert "Total restant dû : 800,00 EUR" in text and "Total exigible : 893,34 EUR" in text
    assert subject(data) == "Relance urgente : facture F2026-0042 (+1) impayée depuis 45 jours"


def test_the_email_is_deterministic_escaped_and_without_portal_when_none() -> None:
    data = _data(customer_name="<script>x</script> SARL")
    one, two = render_email(data), render_email(data)
    assert one.as_bytes() == two.as_bytes()
    assert str(one["Message-ID"]).startswith("<reminder-") and str(one["Message-ID"]).endswith("@acme.test>")
    assert one["To"].addresses[0].addr_spec == "compta@dupont.test"
    html = one.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;" in html
    bare = _data(portal_url=None, lines=(_line(pay_url=None),))
    assert "https://" not in render_text(bare)
    assert render_email(_data(key="other"))["Message-ID"] != one["Message-ID"]


def test_an_email_needs_an_address() -> None:
    with pytest.raises(ValueError, match="e-mail address"):
        render_email(_data(recipient_email=None))


def _pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join((page.extract_text() or "") for page in reader.pages).replace("\n", " ")


def test_the_formal_notice_pdf_names_the_debt_and_the_legal_grounds() -> None:
    data = _data(channel="formal_notice", tone="formal")
    pdf = render_letter_pdf(data)
    assert pdf.startswith(b"%PDF-")
    text = _pdf_text(pdf)
    for expected in (
        "mise en demeure",
        "F2026-0042",
        "752,34 EUR",
        "L441-10",
        "D441-5",
        "40 euros",
        "69003 Lyon",
    ):
        assert expected in text, expected
    assert letter_filename(data) == "mise-en-demeure-F2026-0042.pdf"


def test_the_consumer_letter_in_english_cites_the_civil_code() -> None:
    data = _data(
        channel="letter",
        tone="firm",
        language="en",
        business=False,
        lines=(_line(indemnity=Decimal("0.00"), penalties=Decimal("0.00")),),
    )
    text = _pdf_text(render_letter_pdf(data))
    assert "reminder of unpaid invoice" in text and "EUR 700.00" in text
    assert "1344" in text and "L441-10" not in text
    assert letter_filename(data) == "reminder-F2026-0042.pdf"


def test_a_letter_prints_the_qr_code_it_is_given_and_the_email_the_iban() -> None:
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" class="epc-qr" width="10" height="10">'
        '<path d="M0 0h4v4H0z"/></svg>'
    )
    data = _data(channel="letter", iban="FR76 3000 6000 0112 3456 7890 189", qr_svg=svg)
    assert svg in letter_html(data) and "QR code EPC" in letter_html(data)
    assert "<svg" not in letter_html(_data(channel="letter"))
    assert "FR76 3000 6000 0112 3456 7890 189" in render_text(data)
    assert render_letter_pdf(data).startswith(b"%PDF-")
