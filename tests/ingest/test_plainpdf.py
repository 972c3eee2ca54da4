"""Plain PDFs: a best-effort draft, measured on the corpus' expected extractions; never a crash."""

from __future__ import annotations

import io
import json
import random
import re
from pathlib import Path
from typing import Any

import pikepdf
import pytest

from ingest.plainpdf import PdfDraft, amounts_equal, draft_from_pdf
from ingest.render import render_pdf
from ingest.sample_data import make_invoice
from schemas.errors import ErrorCode, PdfRejected

#: Share of the expected fields (issuer, amount, date, invoice number, currency) found right.
#: Measured: 42 of 44 (95.5 %); the two misses are Flipkart (the page names the legal seller,
#: "WS Retail Services", the expectation the marketplace) and saeco (the issuer is only in an image).
FLOOR = 0.90

FIELDS = ("issuer", "amount", "date", "invoice_number", "currency")


def norm(text: Any) -> str:
    return re.sub(r"[^0-9a-z]", "", str(text).casefold())


def found_right(field: str, expected: Any, draft: PdfDraft) -> bool:
    """Whether the draft holds the expected value of one field.

    Invoice numbers and issuers are compared without case, spaces and punctuation (the
    corpus writes ``#BLR_...`` where the page prints ``# BLR_...``); an issuer matches when
    one name contains the other ("Sammy Maystone" for "Sammy Maystone - For Lines testing").
    """
    if field == "issuer":
        got = norm(draft.issuer.value) if draft.issuer else ""
        want = norm(expected)
        return bool(got) and (got in want or want in got)
    if field == "amount":
        return amounts_equal(draft.total_with_vat.amount if draft.total_with_vat else None, expected)
    if field == "date":
        return draft.issue_date is not None and draft.issue_date.value == expected
    if field == "invoice_number":
        return draft.invoice_number is not None and norm(draft.invoice_number.value) == norm(expected)
    return draft.currency is not None and draft.currency.value == expected


@pytest.mark.corpus
def test_share_of_expected_fields_found(corpus: Path) -> None:
    folder = corpus / "plain-pdf"
    right = total = 0
    misses: list[str] = []
    pdfs = [p for p in sorted(folder.rglob("*.pdf")) if p.with_suffix(".json").is_file()]
    assert len(pdfs) == 9
    for pdf in pdfs:
        expected = json.loads(pdf.with_suffix(".json").read_text(encoding="utf-8"))[0]
        draft = draft_from_pdf(pdf.read_bytes())
        assert draft.is_e_invoice is False
        for field in FIELDS:
            if field not in expected:
                continue
            total += 1
            if found_right(field, expected[field], draft):
                right += 1
            else:
                misses.append(f"{pdf.name}:{field}")
    share = right / total
    print(f"plain-pdf drafts: {right}/{total} expected fields found right ({share:.1%}); missed: {misses}")
    assert share >= FLOOR, misses


@pytest.mark.corpus
def test_every_plain_pdf_gives_a_draft_or_a_rejection(corpus: Path) -> None:
    drafts = 0
    for pdf in sorted((corpus / "plain-pdf").rglob("*.pdf")):
        try:
            draft = draft_from_pdf(pdf.read_bytes())
        except PdfRejected as exc:
            assert exc.code in {ErrorCode.PDF_MALFORMED, ErrorCode.PDF_ENCRYPTED, ErrorCode.EMPTY_FILE}
            continue
        drafts += 1
        assert draft.pages >= draft.pages_read >= 1
        assert "not an e-invoice" in draft.note.lower()
        for name in ("invoice_number", "issue_date", "total_with_vat", "iban", "vat_number", "issuer"):
            field = getattr(draft, name)
            if field is not None:
                assert 0.0 <= field.confidence <= 1.0
                assert field.snippet
    assert drafts >= 9


def test_identifiers_are_kept_only_when_their_check_digits_are_right() -> None:
    inv = make_invoice(random.Random(8), 8)
    draft = draft_from_pdf(render_pdf(inv, pdf_variant=None))
    assert draft.invoice_number and draft.invoice_number.value == inv.number
    assert draft.issue_date and inv.issue_date and draft.issue_date.day == inv.issue_date
    assert draft.due_date and inv.due_date and draft.due_date.day == inv.due_date
    assert draft.total_with_vat and draft.total_with_vat.amount == inv.totals.total_with_vat
    assert draft.total_without_vat and draft.total_without_vat.amount == inv.totals.total_without_vat
    assert draft.total_vat and draft.total_vat.amount == inv.totals.total_vat
    assert draft.total_with_vat.confidence >= 0.95  # the three totals add up
    assert draft.currency and draft.currency.value == "EUR"
    assert draft.issuer and draft.issuer.value == inv.seller.name
    assert draft.iban and inv.payment and draft.iban.value == inv.payment.credit_transfers[0].account_id
    assert draft.vat_number and draft.vat_number.value == inv.seller.vat_id
    assert draft.siren and draft.siren.value == inv.seller.siren


def test_wrong_check_digits_are_not_reported() -> None:
    inv = make_invoice(random.Random(8), 8)
    assert inv.payment and inv.seller.vat_id
    iban = inv.payment.credit_transfers[0].account_id or ""
    bad_iban = iban[:-1] + ("0" if iban[-1] != "0" else "1")
    inv.payment.credit_transfers[0].account_id = bad_iban
    inv.seller.vat_id = (
        inv.seller.vat_id[:2] + ("00" if inv.seller.vat_id[2:4] != "00" else "11") + inv.seller.vat_id[4:]
    )
    inv.buyer.vat_id = None
    inv.seller.identifiers = []
    inv.buyer.identifiers = []
    inv.seller.legal_registration = inv.buyer.legal_registration = None
    draft = draft_from_pdf(render_pdf(inv, pdf_variant=None))
    assert draft.iban is None
    assert draft.vat_number is None
    assert draft.siren is None and draft.siret is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.EMPTY_FILE),
        (b"hello, not a pdf", ErrorCode.PDF_MALFORMED),
        (
            b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
            ErrorCode.PDF_MALFORMED,
        ),
    ],
)
def test_unreadable_input_is_rejected(data: bytes, code: ErrorCode) -> None:
    with pytest.raises(PdfRejected) as info:
        draft_from_pdf(data)
    assert info.value.code is code


def test_truncated_and_flipped_pdfs_give_a_draft_or_a_rejection() -> None:
    source = render_pdf(make_invoice(random.Random(1), 1), pdf_variant=None)
    rng = random.Random(0)
    variants = [source[: len(source) * k // 8] for k in range(1, 8)]
    for _ in range(12):
        flipped = bytearray(source)
        for _ in range(20):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        variants.append(bytes(flipped))
    outcomes: list[str] = []
    for data in variants:  # anything but a draft or a PdfRejected fails the test
        try:
            outcomes.append(type(draft_from_pdf(data)).__name__)
        except PdfRejected as exc:
            outcomes.append(str(exc.code))
    assert len(outcomes) == len(variants)
    assert "PdfDraft" in outcomes and set(outcomes) <= {"PdfDraft", "PDF_MALFORMED", "EMPTY_FILE"}


def test_encrypted_pdf_is_rejected() -> None:
    source = render_pdf(make_invoice(random.Random(1), 1), pdf_variant=None)
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(source)) as doc:
        doc.save(out, encryption=pikepdf.Encryption(owner="o", user="secret"))
    with pytest.raises(PdfRejected) as info:
        draft_from_pdf(out.getvalue())
    assert info.value.code is ErrorCode.PDF_ENCRYPTED
