"""The validation report PDF: an A4 document that pdfplumber reads back with the essentials."""

from __future__ import annotations

import io

import pdfplumber
import pytest

from notify.models import NoticeKind
from notify.render import render_notice
from notify.report_pdf import render_report_pdf
from notify.terms import term_name
from tests.notify.factories import XSS, notice


def _read(pdf: bytes) -> tuple[str, list[tuple[float, float]], list[list[str]]]:
    """The text, the page sizes and the rows of every table (cells with whitespace collapsed)."""
    with pdfplumber.open(io.BytesIO(pdf)) as doc:
        sizes = [(float(p.width), float(p.height)) for p in doc.pages]
        text = "\n".join(p.extract_text() or "" for p in doc.pages)
        rows = [
            [" ".join((cell or "").split()) for cell in row]
            for page in doc.pages
            for table in page.extract_tables()
            for row in table
        ]
    return text, sizes, rows


@pytest.mark.parametrize(("kind", "lang"), [(NoticeKind.INVALID, "fr"), (NoticeKind.REFUSED, "en")])
def test_report_contains_the_invoice_verdict_and_findings(kind: NoticeKind, lang: str) -> None:
    data = notice(kind, lang)  # type: ignore[arg-type]
    pdf = render_report_pdf(data)
    assert pdf.startswith(b"%PDF-")
    text, sizes, rows = _read(pdf)
    flat = " ".join(text.split())
    assert sizes and all(abs(w - 595.3) < 1 and abs(h - 841.9) < 1 for w, h in sizes)  # A4 portrait
    assert "F-2026-0117" in flat
    assert ("Rapport de validation" if lang == "fr" else "Validation report") in flat
    label = data.status.label_fr if lang == "fr" else data.status.label_en
    assert f"{data.status.value} {label}" in flat
    for reason in data.reasons:
        assert reason.value in flat
    # the findings table: one row per finding, cells read back whole
    header = ["#", "Règle", "Champ", "Valeur reçue", "Problème", "À faire"]
    if lang == "en":
        header = ["#", "Rule", "Field", "Value received", "Problem", "What to change"]
    assert header in rows
    by_rule = {
        row[1].rsplit(" ", 1)[0].replace(" ", ""): row for row in rows if len(row) == 6 and row[0].isdigit()
    }
    assert len(by_rule) == len(data.findings)
    for finding in data.findings:
        row = by_rule[finding.rule_id]
        for term in finding.terms:
            assert f"{term_name(term, lang)} ({term})" in row[2]  # type: ignore[arg-type]
        if finding.value:
            assert row[3].replace(" ", "") == finding.value.replace(" ", "")
        explanation = finding.explanation_fr if lang == "fr" else finding.explanation_en
        assert row[4] == explanation
        hint = finding.hint_fr if lang == "fr" else finding.hint_en
        assert row[5] == (hint or "—")
    if kind is NoticeKind.INVALID:
        assert by_rule["BR-FR-12"][3].replace(" ", "") == XSS  # shown as text, not interpreted


def test_report_attached_to_the_notice_is_the_rendered_pdf() -> None:
    data = notice(NoticeKind.INVALID, "en")
    pdf = render_report_pdf(data)
    msg = render_notice(data.model_copy(update={"report_pdf": pdf}))
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "validation-report-F-2026-0117.pdf"
    assert attachment.get_content() == pdf
