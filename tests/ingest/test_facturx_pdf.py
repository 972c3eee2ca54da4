"""Factur-X PDFs built from the model: attachment, /AF, XMP profile, readable page, reproducible bytes."""

from __future__ import annotations

import io
import random

import facturx
import pdfplumber
import pikepdf
import pytest

from ingest.facturx_pdf import to_facturx_pdf
from ingest.generate_cii import to_cii
from ingest.kinds import Profile
from ingest.render import format_amount, render_pdf
from ingest.sample_data import make_invoice
from schemas.invoice import Invoice


@pytest.fixture(scope="module")
def invoice() -> Invoice:
    return make_invoice(random.Random(11), 11)


@pytest.fixture(scope="module")
def pdf(invoice: Invoice) -> bytes:
    return to_facturx_pdf(invoice, profile=Profile.EN16931, lang="fr")


def page_text(data: bytes) -> str:
    with pdfplumber.open(io.BytesIO(data)) as doc:
        return "\n".join(page.extract_text() or "" for page in doc.pages)


def test_the_pdf_carries_factur_x_xml_with_its_relationship(pdf: bytes, invoice: Invoice) -> None:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert list(doc.attachments) == ["factur-x.xml"]
        spec = doc.attachments["factur-x.xml"].obj
        assert spec["/AFRelationship"] == "/Data"
        af = doc.Root["/AF"]
        assert len(af) == 1 and af[0]["/F"] == "factur-x.xml"
        embedded = doc.attachments["factur-x.xml"].get_file().read_bytes()
    assert embedded == to_cii(invoice, profile=Profile.EN16931)


@pytest.mark.parametrize("profile", [Profile.MINIMUM, Profile.EN16931, Profile.EXTENDED])
def test_xmp_declares_pdfa3_and_the_profile(invoice: Invoice, pdf: bytes, profile: Profile) -> None:
    data = pdf if profile is Profile.EN16931 else to_facturx_pdf(invoice, profile=profile)
    with pikepdf.open(io.BytesIO(data)) as doc:
        meta = doc.open_metadata()
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        level = "EN 16931" if profile is Profile.EN16931 else profile.value.upper()
        fx = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"
        assert meta[f"{fx}ConformanceLevel"] == level
        assert meta[f"{fx}DocumentFileName"] == "factur-x.xml"
        assert meta[f"{fx}DocumentType"] == "INVOICE"


def test_info_dictionary_and_xmp_agree_on_dates_and_producer(pdf: bytes, invoice: Invoice) -> None:
    assert invoice.issue_date
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        meta = doc.open_metadata()
        info = doc.docinfo
        assert meta["pdf:Producer"] == str(info["/Producer"])
        assert meta["xmp:CreatorTool"] == str(info["/Creator"])
        assert meta["xmp:CreateDate"].startswith(invoice.issue_date.isoformat())
        assert str(info["/CreationDate"]).startswith("D:" + invoice.issue_date.strftime("%Y%m%d"))
        assert "/Keywords" not in info or "pdf:Keywords" in meta


def test_the_factur_x_library_finds_the_xml(pdf: bytes, invoice: Invoice) -> None:
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert filename == "factur-x.xml"
    assert xml == to_cii(invoice)


def test_the_page_shows_number_total_due_date_and_iban(pdf: bytes, invoice: Invoice) -> None:
    text = page_text(pdf)
    assert invoice.number and invoice.number in text
    assert format_amount(invoice.totals.amount_due, "fr", "EUR").replace("\u202f", " ") in text.replace(
        "\u202f", " "
    )
    assert invoice.due_date and invoice.due_date.strftime("%d/%m/%Y") in text
    assert invoice.payment and invoice.payment.credit_transfers[0].account_id
    iban = invoice.payment.credit_transfers[0].account_id
    assert iban in text.replace(" ", "")
    assert "Net à payer" in text


def test_english_labels() -> None:
    inv = make_invoice(random.Random(5), 5)
    text = page_text(render_pdf(inv, lang="en", pdf_variant=None))
    assert "Amount due" in text and "Invoice" in text
    assert format_amount(inv.totals.amount_due, "en", "EUR") in text


def test_a_long_invoice_runs_over_several_pages() -> None:
    inv = make_invoice(random.Random(2), 2)
    inv.lines = [ln.model_copy(update={"line_id": str(i + 1)}) for i in range(60) for ln in inv.lines[:1]]
    data = render_pdf(inv, pdf_variant=None)
    with pdfplumber.open(io.BytesIO(data)) as doc:
        assert len(doc.pages) >= 2
        assert "Net à payer" in (doc.pages[-1].extract_text() or "")


def test_same_invoice_same_bytes(pdf: bytes, invoice: Invoice) -> None:
    assert to_facturx_pdf(invoice, profile=Profile.EN16931, lang="fr") == pdf
