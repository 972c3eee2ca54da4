"""From invoice XML to the canonical :class:`~schemas.invoice.Invoice`, whatever its syntax.

Contract: :func:`parse_invoice` returns an ``Invoice`` or raises
:class:`~schemas.errors.InputRejected`; any other outcome is a bug. The XML is
parsed by :func:`ingest.safexml.parse_xml` only.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from ingest import cii, ubl, zugferd1
from ingest.safexml import parse_xml
from schemas.errors import ErrorCode, InputRejected
from schemas.invoice import Invoice, Syntax

_ROOTS: dict[str, Syntax] = {
    cii.ROOT_TAG: Syntax.CII,
    zugferd1.ROOT_TAG: Syntax.ZUGFERD1,
    ubl.INVOICE_TAG: Syntax.UBL,
    ubl.CREDIT_NOTE_TAG: Syntax.UBL,
}

_READERS: dict[Syntax, Callable[[etree._Element], Invoice]] = {
    Syntax.CII: cii.parse_cii,
    Syntax.ZUGFERD1: zugferd1.parse_zugferd1,
    Syntax.UBL: ubl.parse_ubl,
}


def sniff_syntax(root: etree._Element) -> Syntax | None:
    """The syntax an XML root element belongs to, or None when it is no invoice root we read.

    >>> sniff_syntax(parse_xml(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'))
    <Syntax.UBL: 'ubl'>
    >>> sniff_syntax(parse_xml(b"<Invoice/>")) is None
    True
    """
    tag = root.tag
    return _ROOTS.get(tag) if isinstance(tag, str) else None


def parse_invoice(xml: bytes | etree._Element, syntax: Syntax | None = None) -> Invoice:
    """Parse invoice XML (bytes, or a tree from :func:`~ingest.safexml.parse_xml`) into the model.

    When ``syntax`` is None it is read from the root element.

    Raises:
        InputRejected: the bytes are not safe well-formed XML (see ``parse_xml``), the root
            is no invoice root (``XML_UNKNOWN_ROOT``), it does not match ``syntax``, or its
            values cannot fit the model (``PARSE_FAILED``).
    """
    root = parse_xml(bytes(xml)) if isinstance(xml, bytes | bytearray) else xml
    if not isinstance(root, etree._Element):
        raise InputRejected(
            f"expected XML bytes or a parsed element, got {type(xml).__name__}", code=ErrorCode.PARSE_FAILED
        )
    found = sniff_syntax(root)
    if found is None:
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        ns = etree.QName(root).namespace if isinstance(root.tag, str) else None
        raise InputRejected(
            f"the XML root <{name}>{f' in namespace {ns}' if ns else ' without namespace'} is not an "
            "invoice root read here (CII CrossIndustryInvoice, ZUGFeRD 1.0 CrossIndustryDocument, "
            "UBL 2.1 Invoice or CreditNote)",
            code=ErrorCode.XML_UNKNOWN_ROOT,
            where=f"line {root.sourceline}",
        )
    if syntax is not None and syntax is not found:
        raise InputRejected(
            f"the XML root is {found.value.upper()} but {syntax.value.upper()} was expected",
            code=ErrorCode.XML_UNKNOWN_ROOT,
            where=f"line {root.sourceline}",
        )
    return _READERS[found](root)
