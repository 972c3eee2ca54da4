"""When the French BR-FR Flux 2 rules apply.

By default they follow the seller: a seller whose postal address is in France
(BT-40 = FR), whose VAT number starts with FR (BT-31) or who has a SIREN/SIRET
(scheme 0002/0009) is French. ``french=True``/``False`` forces them on or off.
They never run on MINIMUM and BASIC WL documents, which do not carry the data
the rules check (the official reference runs them only above BASIC WL), nor on
ZUGFeRD 1.0.
"""

from __future__ import annotations

from lxml import etree

from ingest.kinds import Profile
from schemas.invoice import Invoice, Syntax

_NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_SELLER_XPATH = {
    Syntax.CII: etree.XPath(
        "//ram:ApplicableHeaderTradeAgreement/ram:SellerTradeParty[1]",
        namespaces=_NS,
    ),
    Syntax.UBL: etree.XPath("//cac:AccountingSupplierParty/cac:Party[1]", namespaces=_NS),
}
_FACTS_XPATH = {
    Syntax.CII: etree.XPath(
        "ram:PostalTradeAddress/ram:CountryID/text()"
        " | ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']/text()"
        " | ram:SpecifiedLegalOrganization/ram:ID[@schemeID='0002' or @schemeID='0009']/text()",
        namespaces=_NS,
    ),
    Syntax.UBL: etree.XPath(
        "cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()"
        " | cac:PartyTaxScheme/cbc:CompanyID/text()"
        " | cac:PartyLegalEntity/cbc:CompanyID[@schemeID='0002' or @schemeID='0009']/text()",
        namespaces=_NS,
    ),
}
_NOT_FOR_PROFILES = (Profile.MINIMUM, Profile.BASIC_WL)


def not_applicable_reason(syntax: Syntax | None, profile: Profile | None) -> str | None:
    """Why the BR-FR rules cannot run on this document, or None when they can."""
    if syntax not in (Syntax.CII, Syntax.UBL):
        return "the BR-FR rules exist for CII and UBL only"
    if profile in _NOT_FOR_PROFILES:
        return f"the BR-FR rules apply above BASIC WL; this document is {profile.value if profile else ''}"
    return None


def seller_is_french(invoice: Invoice | None, root: etree._Element | None, syntax: Syntax | None) -> bool:
    """True when the seller is French by country, VAT number or SIREN/SIRET.

    The parsed invoice is asked first; when it could not be parsed the XML is
    read directly, so a broken invoice from a French seller still gets the
    French rules.
    """
    if invoice is not None:
        seller = invoice.seller
        country = seller.address.country_code if seller.address else None
        if (country or "").strip().upper() == "FR":
            return True
        if (seller.vat_id or "").strip().upper().startswith("FR"):
            return True
        return seller.siren is not None
    if root is None or syntax not in _SELLER_XPATH:
        return False
    parties = _SELLER_XPATH[syntax](root)
    if not isinstance(parties, list) or not parties or not isinstance(parties[0], etree._Element):
        return False
    facts = _FACTS_XPATH[syntax](parties[0])
    if not isinstance(facts, list):
        return False
    for fact in facts:
        text = str(fact).strip().upper()
        if text == "FR" or text.startswith("FR") or text.isdigit():
            return True
    return False


def french_rules_on(
    forced: bool | None, invoice: Invoice | None, root: etree._Element | None, syntax: Syntax | None
) -> bool:
    """Whether the French layer should run: forced on/off, else the seller's country."""
    if forced is not None:
        return forced
    return seller_is_french(invoice, root, syntax)
