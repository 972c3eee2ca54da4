"""Tell what a file is: which e-invoice format, which profile, or why it is none.

:func:`detect` never raises for bad input: every file gets a
:class:`~ingest.kinds.Detection`, with ``code`` and ``reason`` set when it is not
a usable invoice. Senders are answered from that reason, so it names what was
found (attachment names, the XML root) rather than guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lxml import etree

from ingest.kinds import Detection, DocumentKind, Profile
from ingest.pdf import PdfAttachment, PdfContents, PdfLimits, read_pdf
from ingest.safexml import parse_xml
from ingest.xmp import XmpInvoiceInfo, read_xmp
from schemas.errors import ErrorCode, InputRejected
from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Syntax
from schemas.settings import get_settings

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
ZUGFERD1_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"
UBL_INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDITNOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"

#: Root element (namespace, local name) → what the XML is.
ROOTS: dict[tuple[str, str], tuple[DocumentKind, Syntax]] = {
    (CII_NS, "CrossIndustryInvoice"): (DocumentKind.CII_XML, Syntax.CII),
    (ZUGFERD1_NS, "CrossIndustryDocument"): (DocumentKind.ZUGFERD1_XML, Syntax.ZUGFERD1),
    (UBL_INVOICE_NS, "Invoice"): (DocumentKind.UBL_INVOICE, Syntax.UBL),
    (UBL_CREDITNOTE_NS, "CreditNote"): (DocumentKind.UBL_CREDITNOTE, Syntax.UBL),
}

#: Attachment names that carry the invoice XML (compared case-insensitively).
INVOICE_ATTACHMENT_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")
#: AFRelationship values Factur-X / ZUGFeRD accept for the invoice XML.
ALLOWED_AF_RELATIONSHIPS = ("Data", "Source", "Alternative")

_BT24_XPATH = (
    "/*/*[local-name()='ExchangedDocumentContext' or local-name()='SpecifiedExchangedDocumentContext']"
    "/*[local-name()='GuidelineSpecifiedDocumentContextParameter']/*[local-name()='ID']/text()"
    " | /*/*[local-name()='CustomizationID']/text()"
)

#: Tokens of BT-24 naming a Factur-X / ZUGFeRD profile, checked in this order.
_PROFILE_TOKENS: tuple[tuple[str, Profile], ...] = (
    (":minimum", Profile.MINIMUM),
    (":basicwl", Profile.BASIC_WL),
    (":extended", Profile.EXTENDED),  # also urn.cpro.gouv.fr:1p0:extended-ctc-fr
    (":basic", Profile.BASIC),
    (":comfort", Profile.EN16931),  # ZUGFeRD 1.0 COMFORT
    (":komfort", Profile.EN16931),
    (":en16931", Profile.EN16931),
)


def profile_from_specification(spec: str | None) -> Profile | None:
    """Map a BT-24 specification identifier to a profile.

    Factur-X / ZUGFeRD tokens win; any other CIUS of EN 16931 (XRechnung,
    Peppol...) is EN 16931; anything else is None.

    >>> profile_from_specification("urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended")
    <Profile.EXTENDED: 'extended'>
    >>> profile_from_specification("urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0")
    <Profile.EN16931: 'en16931'>
    >>> profile_from_specification("urn:factur-x.eu:1p0:basicwl")
    <Profile.BASIC_WL: 'basicwl'>
    """
    if not spec:
        return None
    s = "".join(spec.split()).lower()
    for token, profile in _PROFILE_TOKENS:
        if token in s:
            return profile
    if s.startswith("urn:cen.eu:en16931:2017"):
        return Profile.EN16931
    return None


def _reason(exc: InputRejected) -> str:
    """The rejection's message, with where it happened when the message does not say it already."""
    if exc.where and exc.where not in exc.message:
        return f"{exc.message} ({exc.where})"
    return exc.message


def _not_invoice(code: ErrorCode, reason: str, **extra: object) -> Detection:
    return Detection(kind=DocumentKind.NOT_INVOICE, code=code, reason=reason, **extra)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _XmlInfo:
    namespace: str | None
    local_name: str
    kind: DocumentKind | None
    syntax: Syntax | None
    specification_id: str | None


def _classify(root: etree._Element) -> _XmlInfo:
    qname = etree.QName(root)
    found = ROOTS.get((qname.namespace or "", qname.localname))
    spec: str | None = None
    if found is not None:
        values = root.xpath(_BT24_XPATH)
        if isinstance(values, list):
            for v in values:
                text = str(v).strip()
                if text:
                    spec = text
                    break
    return _XmlInfo(
        namespace=qname.namespace,
        local_name=qname.localname,
        kind=found[0] if found else None,
        syntax=found[1] if found else None,
        specification_id=spec,
    )


def _root_text(info: _XmlInfo) -> str:
    ns = f"namespace {info.namespace!r}" if info.namespace else "no namespace"
    return f"<{info.local_name}> in {ns}"


def _detect_xml(data: bytes, max_bytes: int) -> Detection:
    try:
        root = parse_xml(data, max_bytes=max_bytes)
    except InputRejected as exc:
        return _not_invoice(exc.code, _reason(exc))
    info = _classify(root)
    if info.kind is None or info.syntax is None:
        return _not_invoice(
            ErrorCode.XML_UNKNOWN_ROOT,
            f"the XML root {_root_text(info)} is not an invoice root "
            "(expected CII CrossIndustryInvoice, ZUGFeRD 1.0 CrossIndustryDocument,"
            " UBL Invoice or CreditNote)",
        )
    return Detection(
        kind=info.kind,
        syntax=info.syntax,
        xml=data,
        specification_id=info.specification_id,
        profile=profile_from_specification(info.specification_id),
    )


def _parse_attachment(att: PdfAttachment, max_bytes: int) -> _XmlInfo | InputRejected:
    if att.data is None:
        return InputRejected(
            f"the attachment {att.name} has no readable content", code=ErrorCode.PDF_MALFORMED
        )
    try:
        return _classify(parse_xml(att.data, max_bytes=max_bytes))
    except InputRejected as exc:
        return exc


def _container_findings(att: PdfAttachment, info: _XmlInfo, xmp: XmpInvoiceInfo | None) -> list[Finding]:
    findings: list[Finding] = []
    if att.relationship not in ALLOWED_AF_RELATIONSHIPS:
        shown = f"/{att.relationship}" if att.relationship else "missing"
        findings.append(
            Finding(
                rule_id=ErrorCode.PDF_WRONG_AFRELATIONSHIP,
                severity=Severity.FATAL,
                layer=Layer.CONTAINER,
                message=f"the attachment {att.name} has AFRelationship {shown}; "
                "it must be /Data, /Source or /Alternative",
                value=att.relationship,
            )
        )
    profile = profile_from_specification(info.specification_id)
    if xmp is None or xmp.namespace is None:
        findings.append(
            Finding(
                rule_id="PDF_XMP_MISSING",
                severity=Severity.WARNING,
                layer=Layer.CONTAINER,
                message="the PDF's XMP metadata does not declare the embedded invoice (no ConformanceLevel)",
            )
        )
        return findings
    if xmp.conformance_level is not None and xmp.profile is None:
        findings.append(
            Finding(
                rule_id=ErrorCode.PDF_PROFILE_MISMATCH,
                severity=Severity.FATAL,
                layer=Layer.CONTAINER,
                message=f"the XMP ConformanceLevel {xmp.conformance_level!r} is not a known profile",
                terms=("BT-24",),
                value=xmp.conformance_level,
            )
        )
    elif xmp.profile is not None and profile is not None and xmp.profile is not profile:
        findings.append(
            Finding(
                rule_id=ErrorCode.PDF_PROFILE_MISMATCH,
                severity=Severity.FATAL,
                layer=Layer.CONTAINER,
                message=f"the XMP metadata declares the profile {xmp.conformance_level!r} "
                f"but the XML's BT-24 "
                f"{info.specification_id!r} is the {profile.value} profile",
                terms=("BT-24",),
                value=xmp.conformance_level,
            )
        )
    if xmp.document_file_name and xmp.document_file_name.lower() != att.name.lower():
        findings.append(
            Finding(
                rule_id="PDF_XMP_FILENAME",
                severity=Severity.WARNING,
                layer=Layer.CONTAINER,
                message=f"the XMP metadata names the invoice file {xmp.document_file_name!r} "
                f"but it is attached as {att.name!r}",
                value=xmp.document_file_name,
            )
        )
    return findings


def _pdf_kind(name: str, info: _XmlInfo) -> tuple[DocumentKind, Syntax] | None:
    lowered = name.lower()
    if info.syntax is Syntax.CII:
        return (
            DocumentKind.XRECHNUNG_PDF if lowered == "xrechnung.xml" else DocumentKind.FACTURX_PDF
        ), Syntax.CII
    if info.syntax is Syntax.ZUGFERD1 and lowered == "zugferd-invoice.xml":
        return DocumentKind.ZUGFERD1_PDF, Syntax.ZUGFERD1
    if info.syntax is Syntax.UBL and lowered == "xrechnung.xml":
        return DocumentKind.XRECHNUNG_PDF, Syntax.UBL
    return None


def _names(atts: list[PdfAttachment]) -> str:
    return ", ".join(repr(a.name) for a in atts)


def _detect_pdf(data: bytes, limits: PdfLimits, max_xml_bytes: int) -> Detection:
    try:
        contents: PdfContents = read_pdf(data, limits=limits)
    except InputRejected as exc:
        return _not_invoice(exc.code, _reason(exc))
    xmp: XmpInvoiceInfo | None = None
    findings: list[Finding] = []
    if contents.xmp:
        try:
            xmp = read_xmp(contents.xmp)
        except InputRejected as exc:
            findings.append(
                Finding(
                    rule_id="PDF_XMP_UNREADABLE",
                    severity=Severity.WARNING,
                    layer=Layer.CONTAINER,
                    message=f"the PDF's XMP metadata cannot be read: {exc}",
                )
            )
    atts = list(contents.attachments)
    named = [a for a in atts if a.name.lower() in INVOICE_ATTACHMENT_NAMES]
    parsed: dict[int, _XmlInfo | InputRejected] = {}
    stray: list[PdfAttachment] = []
    for i, att in enumerate(atts):
        if att.name.lower() in INVOICE_ATTACHMENT_NAMES:
            parsed[i] = _parse_attachment(att, max_xml_bytes)
        elif att.is_xml:
            result = _parse_attachment(att, max_xml_bytes)
            parsed[i] = result
            if isinstance(result, _XmlInfo) and result.kind is not None:
                stray.append(att)
    xmp_profile = xmp.conformance_level if xmp else None
    if not named:
        xml_atts = [a for a in atts if a.is_xml]
        if stray or xml_atts:
            shown = stray or xml_atts
            return _not_invoice(
                ErrorCode.PDF_UNEXPECTED_ATTACHMENT,
                f"the PDF carries the XML attachment(s) {_names(shown)} but none under an expected name "
                f"({', '.join(INVOICE_ATTACHMENT_NAMES)})",
                attachment_name=shown[0].name,
                xmp_profile=xmp_profile,
            )
        others = f" (other attachments: {_names(atts)})" if atts else ""
        return Detection(
            kind=DocumentKind.PLAIN_PDF,
            code=ErrorCode.PDF_NO_ATTACHMENT,
            reason=f"the PDF carries no structured invoice data: no embedded XML{others}",
            xmp_profile=xmp_profile,
        )
    candidates = named + stray
    chosen = candidates[0]
    if len(candidates) > 1:
        declared = [
            a
            for a in candidates
            if xmp and xmp.document_file_name and a.name.lower() == xmp.document_file_name.lower()
        ]
        if len(declared) != 1:
            return _not_invoice(
                ErrorCode.PDF_SEVERAL_XML,
                f"the PDF carries several invoice XML attachments ({_names(candidates)}) "
                "and its XMP metadata "
                "does not name exactly one of them; send one invoice XML per PDF",
                xmp_profile=xmp_profile,
            )
        chosen = declared[0]
        findings.append(
            Finding(
                rule_id=ErrorCode.PDF_SEVERAL_XML,
                severity=Severity.WARNING,
                layer=Layer.CONTAINER,
                message=f"the PDF carries several invoice XML attachments ({_names(candidates)}); "
                f"{chosen.name!r} is used because the XMP metadata names it, the others are ignored",
            )
        )
    result = parsed[atts.index(chosen)]
    if isinstance(result, InputRejected):
        return _not_invoice(
            result.code,
            f"the embedded {chosen.name}: {result}",
            attachment_name=chosen.name,
            xmp_profile=xmp_profile,
        )
    kind = _pdf_kind(chosen.name, result)
    if kind is None:
        expected = "CII or UBL" if chosen.name.lower() == "xrechnung.xml" else "CII (CrossIndustryInvoice)"
        return _not_invoice(
            ErrorCode.PDF_ATTACHMENT_NOT_CII,
            f"the attachment {chosen.name} holds {_root_text(result)}, not {expected}",
            attachment_name=chosen.name,
            xmp_profile=xmp_profile,
        )
    unreadable = any(f.rule_id == "PDF_XMP_UNREADABLE" for f in findings)
    findings.extend(
        f
        for f in _container_findings(chosen, result, xmp)
        if not (unreadable and f.rule_id == "PDF_XMP_MISSING")
    )
    assert chosen.data is not None  # parsed above
    return Detection(
        kind=kind[0],
        syntax=kind[1],
        xml=chosen.data,
        attachment_name=chosen.name,
        specification_id=result.specification_id,
        profile=profile_from_specification(result.specification_id),
        xmp_profile=xmp_profile,
        findings=findings,
    )


def _looks_like_xml(data: bytes) -> bool:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"\x00<\x00?", b"<\x00?\x00"):
        return True
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


def detect(data: bytes, *, max_bytes: int | None = None) -> Detection:
    """Tell what ``data`` is; never raises for bad input.

    ``max_bytes`` bounds the file (default: the configured PDF and XML limits).

    >>> detect(b"").code
    <ErrorCode.EMPTY_FILE: 'EMPTY_FILE'>
    >>> detect(b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>").kind
    <DocumentKind.UBL_INVOICE: 'ubl-invoice'>
    """
    if not data or not data.strip(b" \t\r\n\x00"):
        return _not_invoice(ErrorCode.EMPTY_FILE, "the file is empty")
    settings = get_settings()
    xml_like = _looks_like_xml(data)
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"%PDF-") or (not xml_like and b"%PDF-" in data[:1024]):
        limits = PdfLimits.from_settings()
        if max_bytes is not None:
            limits = replace(limits, max_bytes=max_bytes)
        return _detect_pdf(data, limits, settings.max_xml_bytes)
    if xml_like:
        return _detect_xml(data, max_bytes if max_bytes is not None else settings.max_xml_bytes)
    head = data[:8]
    what = "a zip archive" if head.startswith(b"PK\x03\x04") else f"bytes starting with {head!r}"
    return _not_invoice(ErrorCode.NOT_AN_INVOICE, f"the file is neither a PDF nor XML ({what})")
