"""Format detection: every kind, every reason, and the corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest import detect
from ingest.detect import profile_from_specification
from ingest.kinds import DocumentKind, Profile
from schemas.errors import ErrorCode
from schemas.findings import Severity
from schemas.invoice import Syntax
from tests.reliability import hostile as h

ZF1 = (
    b'<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"'
    b' xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12">'
    b"<rsm:SpecifiedExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>"
    b"<ram:ID>urn:ferd:CrossIndustryDocument:invoice:1p0:comfort</ram:ID>"
    b"</ram:GuidelineSpecifiedDocumentContextParameter></rsm:SpecifiedExchangedDocumentContext>"
    b"</rsm:CrossIndustryDocument>"
)


@pytest.mark.parametrize(
    ("data", "kind", "syntax", "profile"),
    [
        (h.cii_xml(), DocumentKind.CII_XML, Syntax.CII, Profile.EN16931),
        (h.cii_xml(spec=h.PROFILE_IDS["BASIC WL"]), DocumentKind.CII_XML, Syntax.CII, Profile.BASIC_WL),
        (ZF1, DocumentKind.ZUGFERD1_XML, Syntax.ZUGFERD1, Profile.EN16931),
        (h.ubl_xml(), DocumentKind.UBL_INVOICE, Syntax.UBL, Profile.EN16931),
        (h.ubl_xml(root="CreditNote"), DocumentKind.UBL_CREDITNOTE, Syntax.UBL, Profile.EN16931),
        (b"\xef\xbb\xbf" + h.cii_xml(), DocumentKind.CII_XML, Syntax.CII, Profile.EN16931),
    ],
)
def test_xml_kinds(data: bytes, kind: DocumentKind, syntax: Syntax, profile: Profile) -> None:
    det = detect(data)
    assert (det.kind, det.syntax, det.profile, det.code) == (kind, syntax, profile, None)
    assert det.xml == data and det.is_structured  # the original bytes, unaltered
    assert det.specification_id


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", ErrorCode.EMPTY_FILE, "empty"),
        (b"  \r\n", ErrorCode.EMPTY_FILE, "empty"),
        (
            b"<Order xmlns='urn:oasis:names:specification:ubl:schema:xsd:Order-2'/>",
            ErrorCode.XML_UNKNOWN_ROOT,
            "<Order> in namespace 'urn:oasis:names:specification:ubl:schema:xsd:Order-2'",
        ),
        (b"<CrossIndustryInvoice/>", ErrorCode.XML_UNKNOWN_ROOT, "<CrossIndustryInvoice> in no namespace"),
        (b"<a><b></a>", ErrorCode.XML_NOT_WELL_FORMED, "not well-formed"),
        (b"PK\x03\x04zip", ErrorCode.NOT_AN_INVOICE, "zip archive"),
        (b"hello", ErrorCode.NOT_AN_INVOICE, "neither a PDF nor XML"),
        (b"%PDF-1.7\ngarbage", ErrorCode.PDF_MALFORMED, "cannot be read"),
    ],
)
def test_not_invoices_get_a_code_and_a_reason(data: bytes, code: ErrorCode, words: str) -> None:
    det = detect(data)
    assert det.kind is DocumentKind.NOT_INVOICE and det.code is code
    assert words in (det.reason or "")
    assert not det.is_structured


def test_sniffing_pdf_or_xml() -> None:
    note = h.cii_xml().replace(b"Vendeur SARL", b"see the %PDF-1.4 copy")
    assert detect(note).kind is DocumentKind.CII_XML  # "%PDF-" inside XML does not make it a PDF
    assert detect(b"junk before the header\n" + h.facturx_pdf()).kind is DocumentKind.FACTURX_PDF
    assert detect(b"%PDF-1.7\n" + h.cii_xml()).code is ErrorCode.PDF_MALFORMED


def test_max_bytes() -> None:
    assert detect(h.cii_xml(), max_bytes=100).code is ErrorCode.XML_TOO_LARGE
    assert detect(h.facturx_pdf(), max_bytes=100).code is ErrorCode.TOO_LARGE
    assert detect(h.cii_xml(), max_bytes=10_000).kind is DocumentKind.CII_XML


@pytest.mark.parametrize(
    ("name", "xml", "kind", "syntax"),
    [
        ("factur-x.xml", h.cii_xml(), DocumentKind.FACTURX_PDF, Syntax.CII),
        ("Factur-X.XML", h.cii_xml(), DocumentKind.FACTURX_PDF, Syntax.CII),
        ("zugferd-invoice.xml", h.cii_xml(), DocumentKind.FACTURX_PDF, Syntax.CII),
        ("ZUGFeRD-invoice.xml", ZF1, DocumentKind.ZUGFERD1_PDF, Syntax.ZUGFERD1),
        ("xrechnung.xml", h.cii_xml(), DocumentKind.XRECHNUNG_PDF, Syntax.CII),
        ("xrechnung.xml", h.ubl_xml(), DocumentKind.XRECHNUNG_PDF, Syntax.UBL),
    ],
)
def test_pdf_kinds(name: str, xml: bytes, kind: DocumentKind, syntax: Syntax) -> None:
    det = detect(h.facturx_pdf([(name, xml, "Alternative")], xmp=h.xmp_packet("EN 16931", name)))
    assert (det.kind, det.syntax, det.attachment_name, det.code) == (kind, syntax, name, None)
    assert det.xml == xml and det.xmp_profile == "EN 16931"
    assert [f.rule_id for f in det.findings if f.severity is Severity.FATAL] == []


def test_plain_pdfs() -> None:
    det = detect(h.facturx_pdf([]))
    assert det.kind is DocumentKind.PLAIN_PDF and det.code is ErrorCode.PDF_NO_ATTACHMENT
    assert det.reason == "the PDF carries no structured invoice data: no embedded XML"
    det = detect(h.facturx_pdf([("photo.png", b"\x89PNG....", "Data")]))
    assert det.kind is DocumentKind.PLAIN_PDF and "photo.png" in (det.reason or "")


@pytest.mark.parametrize(
    ("attachments", "code", "named"),
    [
        ([("invoice.xml", h.cii_xml(), "Data")], ErrorCode.PDF_UNEXPECTED_ATTACHMENT, "invoice.xml"),
        ([("notes.xml", b"<notes/>", "Data")], ErrorCode.PDF_UNEXPECTED_ATTACHMENT, "notes.xml"),
        ([("factur-x.xml", h.ubl_xml(), "Data")], ErrorCode.PDF_ATTACHMENT_NOT_CII, "<Invoice>"),
        ([("factur-x.xml", ZF1, "Data")], ErrorCode.PDF_ATTACHMENT_NOT_CII, "CrossIndustryDocument"),
        ([("xrechnung.xml", b"<x/>", "Data")], ErrorCode.PDF_ATTACHMENT_NOT_CII, "<x> in no namespace"),
        ([("factur-x.xml", b"not xml", "Data")], ErrorCode.XML_NOT_WELL_FORMED, "factur-x.xml"),
        (
            [("factur-x.xml", h.cii_xml(), "Data"), ("xrechnung.xml", h.ubl_xml(), "Data")],
            ErrorCode.PDF_SEVERAL_XML,
            "'factur-x.xml', 'xrechnung.xml'",
        ),
    ],
)
def test_pdf_reasons_name_what_was_found(attachments, code, named) -> None:  # type: ignore[no-untyped-def]
    det = detect(h.facturx_pdf(attachments))
    assert det.kind is DocumentKind.NOT_INVOICE and det.code is code
    assert named in (det.reason or "")


def test_an_extra_non_invoice_xml_does_not_count_as_several() -> None:
    det = detect(
        h.facturx_pdf([("factur-x.xml", h.cii_xml(), "Data"), ("logistics.xml", b"<data/>", "Supplement")])
    )
    assert det.kind is DocumentKind.FACTURX_PDF and det.code is None


def test_encrypted_pdf() -> None:
    det = detect(h.facturx_pdf(encrypt=True))
    assert det.kind is DocumentKind.NOT_INVOICE and det.code is ErrorCode.PDF_ENCRYPTED


def test_xmp_findings() -> None:
    ok = detect(h.facturx_pdf(xmp=h.xmp_packet("EN 16931")))
    assert ok.findings == [] and ok.xmp_profile == "EN 16931"
    mismatch = detect(h.facturx_pdf(xmp=h.xmp_packet("BASIC")))
    assert [(f.rule_id, f.severity, f.layer) for f in mismatch.findings] == [
        (ErrorCode.PDF_PROFILE_MISMATCH, Severity.FATAL, "container")
    ]
    missing = detect(h.facturx_pdf())
    assert [(f.rule_id, f.severity) for f in missing.findings] == [("PDF_XMP_MISSING", Severity.WARNING)]
    renamed = detect(h.facturx_pdf(xmp=h.xmp_packet("EN 16931", "other.xml")))
    assert [(f.rule_id, f.severity) for f in renamed.findings] == [("PDF_XMP_FILENAME", Severity.WARNING)]


#: Every BT-24 value found in the corpus (cii-xml, ubl-xml, invalid, facturx-pdf) and the profile it maps to.
BT24_TABLE = {
    "urn:cen.eu:en16931:2017": Profile.EN16931,
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0": Profile.EN16931,
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended": Profile.EXTENDED,
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.1": Profile.EN16931,
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0": Profile.EN16931,
    "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic": Profile.BASIC,
    "urn:factur-x.eu:1p0:minimum": Profile.MINIMUM,
    "urn:factur-x.eu:1p0:basicwl": Profile.BASIC_WL,
    "urn:ferd:CrossIndustryDocument:invoice:1p0:comfort": Profile.EN16931,
    "urn:ferd:CrossIndustryDocument:invoice:1p0:extended": Profile.EXTENDED,
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_1.2": Profile.EN16931,
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0#conformant#"
    "urn:xeinkauf.de:kosit:extension:xrechnung_3.0": Profile.EN16931,
    "urn:ferd:CrossIndustryDocument:invoice:1p0:basic": Profile.BASIC,
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.0": Profile.EN16931,
    "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended": Profile.EXTENDED,
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:basic": Profile.BASIC,
    "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic": Profile.BASIC,
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:en16931": Profile.EN16931,
    "urn:ferd:invoice:rc:comfort": Profile.EN16931,
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.3": Profile.EN16931,
    "urn:cen.eu:en16931:2017:compliant:factur-x.eu:1p0:extended": Profile.EXTENDED,
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.1#conformant#"
    "urn:xoev-de:kosit:extension:xrechnung_2.1": Profile.EN16931,
    "urn.cpro.gouv.fr:1p0:ereporting": None,  # an e-reporting message, not an invoice profile
    "urn:cen.eu:en16931:2017#compliant:factur-x.eu:1p0:en16931": Profile.EN16931,
    "urn:cen.eu:en16931:2017#compliant#urn:xoev-de:kosit:standard:xrechnung_2.2#conformant#"
    "urn:xoev-de:kosit:extension:xrechnung_2.2": Profile.EN16931,
    "urn:cen.eu:en16931:2017#conformant#urn.cpro.gouv.fr:1p0:extended-ctc-fr": Profile.EXTENDED,
    "urn:zugferd.de:2p0:minimum": Profile.MINIMUM,
    "urn:ferd:CrossIndustryDocument:invoice:1p0:komfort": Profile.EN16931,
    "urn:ferd:CrossIndustryDocument:order:1p0:extended": Profile.EXTENDED,
}


@pytest.mark.parametrize(("spec", "profile"), sorted(BT24_TABLE.items()))
def test_bt24_table(spec: str, profile: Profile | None) -> None:
    assert profile_from_specification(spec) is profile


_ZF1_RC = "facturx-pdf/zugferd-corpus/ZUGFeRDv1/correct/Mustangproject/"
#: Corpus files detect does not take as structured invoices, with the reason (everything else must be).
CORPUS_NOT_STRUCTURED = {
    # ZUGFeRD 1.0 release-candidate XML (urn:un:unece:uncefact:data:standard:CBFBUY:5 Invoice root)
    _ZF1_RC + "MustangGnuaccountingBeispielRE-20140519_499.pdf": ErrorCode.PDF_ATTACHMENT_NOT_CII,
    _ZF1_RC + "MustangGnuaccountingBeispielRE-20140522_501.pdf": ErrorCode.PDF_ATTACHMENT_NOT_CII,
}
#: Fatal container findings on corpus files outside invalid/ (each a real defect).
CORPUS_CONTAINER_FATALS = {
    (
        "facturx-pdf/mustangproject/103767-Invoice-2026-03-24-1.pdf",
        "PDF_WRONG_AFRELATIONSHIP",
    ),  # /Unspecified
}
EXPECTED_KINDS = {
    "facturx-pdf": {DocumentKind.FACTURX_PDF, DocumentKind.ZUGFERD1_PDF, DocumentKind.XRECHNUNG_PDF},
    "cii-xml": {DocumentKind.CII_XML, DocumentKind.ZUGFERD1_XML},
    "ubl-xml": {DocumentKind.UBL_INVOICE, DocumentKind.UBL_CREDITNOTE},
    "plain-pdf": {DocumentKind.PLAIN_PDF},
}


@pytest.mark.corpus
def test_corpus_kinds_profiles_and_container_findings(corpus: Path) -> None:
    wrong: list[str] = []
    specs: Counter[str | None] = Counter()
    fatals: set[tuple[str, str]] = set()
    for folder, kinds in EXPECTED_KINDS.items():
        for path in sorted((corpus / folder).rglob("*")):
            if path.suffix.lower() not in (".pdf", ".xml"):
                continue
            rel = path.relative_to(corpus).as_posix()
            det = detect(path.read_bytes())
            if rel in CORPUS_NOT_STRUCTURED:
                if det.code is not CORPUS_NOT_STRUCTURED[rel]:
                    wrong.append(f"{rel}: {det.code}")
                continue
            if det.kind not in kinds:
                wrong.append(f"{rel}: {det.kind} {det.code} {det.reason}")
                continue
            if det.kind is not DocumentKind.PLAIN_PDF:
                specs[det.specification_id] += 1
                expected = BT24_TABLE.get(det.specification_id, "absent") if det.specification_id else None
                if det.profile is not expected:
                    wrong.append(f"{rel}: BT-24 {det.specification_id!r} gave {det.profile}")
            fatals |= {(rel, f.rule_id) for f in det.findings if f.severity is Severity.FATAL}
    assert wrong == []
    assert fatals == CORPUS_CONTAINER_FATALS
    assert sum(specs.values()) > 650 and specs[None] <= 6, specs
