"""ZUGFeRD 1.0 (``urn:ferd:CrossIndustryDocument:invoice:1p0``) into the canonical model, read-only.

ZUGFeRD 1.0 is CII of an older draft: the same terms under other container
names (``HeaderExchangedDocument``, ``ApplicableSupplyChainTradeAgreement``...)
and other namespace versions. The CII reader runs with these paths.
"""

from __future__ import annotations

from lxml import etree

from ingest._xpath import XPaths
from ingest.cii import read_cii_family
from schemas.errors import ErrorCode, InputRejected
from schemas.invoice import Invoice, Syntax

#: Namespace of the ZUGFeRD 1.0 root element.
RSM_NS = "urn:ferd:CrossIndustryDocument:invoice:1p0"
#: Qualified name of the ZUGFeRD 1.0 root element.
ROOT_TAG = f"{{{RSM_NS}}}CrossIndustryDocument"

#: Element paths of ZUGFeRD 1.0.
ZF1 = XPaths(
    {
        "rsm": RSM_NS,
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:12",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:15",
        "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:12",
    },
    {
        "CTX": "rsm:SpecifiedExchangedDocumentContext",
        "DOC": "rsm:HeaderExchangedDocument",
        "TX": "rsm:SpecifiedSupplyChainTradeTransaction",
        "AGR": "ram:ApplicableSupplyChainTradeAgreement",
        "DEL": "ram:ApplicableSupplyChainTradeDelivery",
        "SET": "ram:ApplicableSupplyChainTradeSettlement",
        "SUM": "ram:SpecifiedTradeSettlementMonetarySummation",
        "LAGR": "ram:SpecifiedSupplyChainTradeAgreement",
        "LDEL": "ram:SpecifiedSupplyChainTradeDelivery",
        "LSET": "ram:SpecifiedSupplyChainTradeSettlement",
        "LSUM": "ram:SpecifiedTradeSettlementMonetarySummation",
        "RATE": "ram:ApplicablePercent",
        "REFID": "ram:ID",
    },
)


def parse_zugferd1(root: etree._Element) -> Invoice:
    """Read a ZUGFeRD 1.0 invoice (any profile: BASIC, COMFORT, EXTENDED).

    Raises:
        InputRejected: ``XML_UNKNOWN_ROOT`` when the root is not ``rsm:CrossIndustryDocument``.
    """
    if root.tag != ROOT_TAG:
        raise InputRejected(
            f"the XML root is {root.tag!s}, not a ZUGFeRD 1.0 rsm:CrossIndustryDocument",
            code=ErrorCode.XML_UNKNOWN_ROOT,
            where=f"line {root.sourceline}",
        )
    return read_cii_family(root, ZF1, Syntax.ZUGFERD1)
