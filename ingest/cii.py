"""UN/CEFACT CII D16B (Factur-X, ZUGFeRD 2.x, XRechnung CII) into the canonical model.

Every profile is read by the same code, EXTENDED included: terms a profile
does not carry are simply absent. ZUGFeRD 1.0 differs only by namespaces and
container names, so :mod:`ingest.zugferd1` reuses :func:`read_cii_family` with
its own :class:`~ingest._xpath.XPaths`.

Nothing here raises for a schema-invalid value: an unreadable amount or date
is left None for the XSD and schematron layers to report.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from lxml import etree
from pydantic import ValidationError

from ingest._xpath import (
    XPaths,
    attr,
    base64_size,
    cii_date,
    identifier,
    identifiers,
    squash,
    text_of,
    to_decimal,
)
from schemas.errors import ErrorCode, InputRejected
from schemas.invoice import (
    Address,
    AllowanceCharge,
    Attachment,
    Contact,
    CreditTransfer,
    Delivery,
    DirectDebit,
    Identifier,
    Invoice,
    Item,
    ItemAttribute,
    Line,
    LineAllowanceCharge,
    Note,
    Party,
    Payee,
    PaymentInstructions,
    PrecedingInvoice,
    Syntax,
    TaxRepresentative,
    Totals,
    VatBreakdown,
)

#: Namespace of the CII D16B root element.
RSM_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
#: Qualified name of the CII D16B root element.
ROOT_TAG = f"{{{RSM_NS}}}CrossIndustryInvoice"

#: Element paths of CII D16B.
D16B = XPaths(
    {
        "rsm": RSM_NS,
        "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
        "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
        "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    },
    {
        "CTX": "rsm:ExchangedDocumentContext",
        "DOC": "rsm:ExchangedDocument",
        "TX": "rsm:SupplyChainTradeTransaction",
        "AGR": "ram:ApplicableHeaderTradeAgreement",
        "DEL": "ram:ApplicableHeaderTradeDelivery",
        "SET": "ram:ApplicableHeaderTradeSettlement",
        "SUM": "ram:SpecifiedTradeSettlementHeaderMonetarySummation",
        "LAGR": "ram:SpecifiedLineTradeAgreement",
        "LDEL": "ram:SpecifiedLineTradeDelivery",
        "LSET": "ram:SpecifiedLineTradeSettlement",
        "LSUM": "ram:SpecifiedTradeSettlementLineMonetarySummation",
        "RATE": "ram:RateApplicablePercent",
        "REFID": "ram:IssuerAssignedID",
    },
)


def _date(x: XPaths, el: etree._Element | None, expr: str) -> date | None:
    return cii_date(x.first(el, expr))


def _indicator(x: XPaths, el: etree._Element) -> bool:
    value = x.text(el, "ram:ChargeIndicator/udt:Indicator") or x.text(el, "ram:ChargeIndicator")
    return value is not None and value.lower() in ("true", "1")


def _address(x: XPaths, el: etree._Element | None) -> Address | None:
    node = x.first(el, "ram:PostalTradeAddress")
    if node is None:
        return None
    address = Address(
        line1=x.text(node, "ram:LineOne"),
        line2=x.text(node, "ram:LineTwo"),
        line3=x.text(node, "ram:LineThree"),
        city=x.text(node, "ram:CityName"),
        postcode=x.text(node, "ram:PostcodeCode"),
        subdivision=x.text(node, "ram:CountrySubDivisionName"),
        country_code=x.text(node, "ram:CountryID"),
    )
    return address if address.model_dump(exclude_none=True) else None


def _contact(x: XPaths, el: etree._Element | None) -> Contact | None:
    node = x.first(el, "ram:DefinedTradeContact")
    if node is None:
        return None
    contact = Contact(
        name=x.text(node, "ram:PersonName") or x.text(node, "ram:DepartmentName"),
        phone=x.text(node, "ram:TelephoneUniversalCommunication/ram:CompleteNumber"),
        email=x.text(node, "ram:EmailURIUniversalCommunication/ram:URIID"),
    )
    return contact if contact.model_dump(exclude_none=True) else None


def _tax_registration(x: XPaths, el: etree._Element | None, scheme: str) -> str | None:
    return x.text(el, f"ram:SpecifiedTaxRegistration/ram:ID[normalize-space(@schemeID)='{scheme}']")


def _party(x: XPaths, el: etree._Element | None) -> Party:
    if el is None:
        return Party()
    return Party(
        name=x.text(el, "ram:Name"),
        trading_name=x.text(el, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
        identifiers=identifiers(x, el, "ram:ID") + identifiers(x, el, "ram:GlobalID"),
        legal_registration=identifier(x, el, "ram:SpecifiedLegalOrganization/ram:ID"),
        vat_id=_tax_registration(x, el, "VA"),
        tax_registration_id=_tax_registration(x, el, "FC"),
        legal_form=x.text(el, "ram:Description"),
        electronic_address=identifier(x, el, "ram:URIUniversalCommunication/ram:URIID"),
        address=_address(x, el),
        contact=_contact(x, el),
    )


def _payee(x: XPaths, settlement: etree._Element | None) -> Payee | None:
    el = x.first(settlement, "ram:PayeeTradeParty")
    if el is None:
        return None
    return Payee(
        name=x.text(el, "ram:Name"),
        identifier=identifier(x, el, "ram:ID") or identifier(x, el, "ram:GlobalID"),
        legal_registration=identifier(x, el, "ram:SpecifiedLegalOrganization/ram:ID"),
    )


def _tax_representative(x: XPaths, agreement: etree._Element | None) -> TaxRepresentative | None:
    el = x.first(agreement, "ram:SellerTaxRepresentativeTradeParty")
    if el is None:
        return None
    return TaxRepresentative(
        name=x.text(el, "ram:Name"), vat_id=_tax_registration(x, el, "VA"), address=_address(x, el)
    )


def _delivery(x: XPaths, delivery: etree._Element | None) -> Delivery | None:
    if delivery is None:
        return None
    ship_to = x.first(delivery, "ram:ShipToTradeParty")
    found = Delivery(
        party_name=x.text(ship_to, "ram:Name"),
        location_id=identifier(x, ship_to, "ram:ID") or identifier(x, ship_to, "ram:GlobalID"),
        actual_delivery_date=_date(
            x, delivery, "ram:ActualDeliverySupplyChainEvent/ram:OccurrenceDateTime/udt:DateTimeString"
        ),
        address=_address(x, ship_to),
    )
    return found if found.model_dump(exclude_none=True) else None


def _payment(x: XPaths, settlement: etree._Element | None) -> PaymentInstructions | None:
    if settlement is None:
        return None
    means = x.nodes(settlement, "ram:SpecifiedTradeSettlementPaymentMeans")
    transfers: list[CreditTransfer] = []
    for m in means:
        bic = x.text(m, "ram:PayeeSpecifiedCreditorFinancialInstitution/ram:BICID")
        for account in x.nodes(m, "ram:PayeePartyCreditorFinancialAccount"):
            transfers.append(
                CreditTransfer(
                    account_id=x.text(account, "ram:IBANID") or x.text(account, "ram:ProprietaryID"),
                    account_name=x.text(account, "ram:AccountName"),
                    bic=bic,
                )
            )
    mandate = x.text(settlement, "ram:SpecifiedTradePaymentTerms/ram:DirectDebitMandateID")
    creditor_id = x.text(settlement, "ram:CreditorReferenceID")
    debited = x.text(
        settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:PayerPartyDebtorFinancialAccount/ram:IBANID"
    )
    direct_debit = None
    if mandate or creditor_id or debited:
        direct_debit = DirectDebit(
            mandate_reference=mandate, creditor_id=creditor_id, debited_account_id=debited
        )
    card = x.first(
        settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:ApplicableTradeSettlementFinancialCard"
    )
    payment = PaymentInstructions(
        means_code=x.text(settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:TypeCode"),
        means_text=x.text(settlement, "ram:SpecifiedTradeSettlementPaymentMeans/ram:Information"),
        remittance_information=x.text(settlement, "ram:PaymentReference"),
        credit_transfers=transfers,
        card_pan=x.text(card, "ram:ID"),
        card_holder=x.text(card, "ram:CardholderName"),
        direct_debit=direct_debit,
    )
    return payment if payment.model_dump(exclude_none=True, exclude_defaults=True) else None


def _allowances(x: XPaths, settlement: etree._Element | None) -> list[AllowanceCharge]:
    out = []
    for el in x.nodes(settlement, "ram:SpecifiedTradeAllowanceCharge"):
        amount = x.decimal(el, "ram:ActualAmount")
        if amount is None:
            continue
        out.append(
            AllowanceCharge(
                is_charge=_indicator(x, el),
                amount=amount,
                base_amount=x.decimal(el, "ram:BasisAmount"),
                percentage=x.decimal(el, "ram:CalculationPercent"),
                vat_category=x.text(el, "ram:CategoryTradeTax/ram:CategoryCode"),
                vat_rate=x.decimal(el, "ram:CategoryTradeTax/{RATE}"),
                reason=x.text(el, "ram:Reason"),
                reason_code=x.text(el, "ram:ReasonCode"),
            )
        )
    # ZUGFeRD 1.0 and EXTENDED express some charges as logistics service charges.
    for el in x.nodes(settlement, "ram:SpecifiedLogisticsServiceCharge"):
        amount = x.decimal(el, "ram:AppliedAmount")
        if amount is None:
            continue
        out.append(
            AllowanceCharge(
                is_charge=True,
                amount=amount,
                vat_category=x.text(el, "ram:AppliedTradeTax/ram:CategoryCode"),
                vat_rate=x.decimal(el, "ram:AppliedTradeTax/{RATE}"),
                reason=x.text(el, "ram:Description"),
            )
        )
    return out


def _line_allowances(x: XPaths, settlement: etree._Element | None) -> list[LineAllowanceCharge]:
    out = []
    for el in x.nodes(settlement, "ram:SpecifiedTradeAllowanceCharge"):
        amount = x.decimal(el, "ram:ActualAmount")
        if amount is None:
            continue
        out.append(
            LineAllowanceCharge(
                is_charge=_indicator(x, el),
                amount=amount,
                base_amount=x.decimal(el, "ram:BasisAmount"),
                percentage=x.decimal(el, "ram:CalculationPercent"),
                reason=x.text(el, "ram:Reason"),
                reason_code=x.text(el, "ram:ReasonCode"),
            )
        )
    return out


def _vat_breakdown(x: XPaths, settlement: etree._Element | None) -> list[VatBreakdown]:
    return [
        VatBreakdown(
            taxable_amount=x.decimal(el, "ram:BasisAmount"),
            tax_amount=x.decimal(el, "ram:CalculatedAmount"),
            category=x.text(el, "ram:CategoryCode"),
            rate=x.decimal(el, "{RATE}"),
            exemption_reason=x.text(el, "ram:ExemptionReason"),
            exemption_reason_code=x.text(el, "ram:ExemptionReasonCode"),
        )
        for el in x.nodes(settlement, "ram:ApplicableTradeTax")
    ]


def _vat_totals(
    x: XPaths, summation: etree._Element | None, currency: str | None, vat_currency: str | None
) -> tuple[Decimal | None, Decimal | None]:
    """BT-110 (in the invoice currency) and BT-111 (in the VAT accounting currency)."""
    nodes = x.nodes(summation, "ram:TaxTotalAmount")
    if not nodes:
        return None, None
    in_invoice_currency = [n for n in nodes if attr(n, "currencyID") == currency] if currency else []
    if in_invoice_currency:
        bt110_node: etree._Element | None = in_invoice_currency[0]
    elif len(nodes) == 1:
        bt110_node = nodes[0]
    else:
        others = [n for n in nodes if vat_currency is None or attr(n, "currencyID") != vat_currency]
        bt110_node = others[0] if others else None
    bt111 = None
    if vat_currency and vat_currency != currency:
        accounting = [n for n in nodes if attr(n, "currencyID") == vat_currency and n is not bt110_node]
        if accounting:
            bt111 = to_decimal(text_of(accounting[0]))
    return to_decimal(text_of(bt110_node)), bt111


def _totals(
    x: XPaths, settlement: etree._Element | None, currency: str | None, vat_currency: str | None
) -> Totals:
    s = x.first(settlement, "{SUM}")
    total_vat, total_vat_accounting = _vat_totals(x, s, currency, vat_currency)
    return Totals(
        line_total=x.decimal(s, "ram:LineTotalAmount"),
        allowance_total=x.decimal(s, "ram:AllowanceTotalAmount"),
        charge_total=x.decimal(s, "ram:ChargeTotalAmount"),
        total_without_vat=x.decimal(s, "ram:TaxBasisTotalAmount"),
        total_vat=total_vat,
        total_vat_accounting=total_vat_accounting,
        total_with_vat=x.decimal(s, "ram:GrandTotalAmount"),
        prepaid=x.decimal(s, "ram:TotalPrepaidAmount"),
        rounding=x.decimal(s, "ram:RoundingAmount"),
        amount_due=x.decimal(s, "ram:DuePayableAmount"),
    )


def _attachments(x: XPaths, agreement: etree._Element | None) -> list[Attachment]:
    out = []
    for el in x.nodes(agreement, "ram:AdditionalReferencedDocument"):
        type_code = x.text(el, "ram:TypeCode")
        binary = x.first(el, "ram:AttachmentBinaryObject")
        if type_code != "916" and (binary is None or type_code in ("50", "130")):
            continue
        out.append(
            Attachment(
                reference=x.text(el, "{REFID}"),
                description=x.text(el, "ram:Name"),
                uri=x.text(el, "ram:URIID"),
                mime_code=attr(binary, "mimeCode"),
                filename=attr(binary, "filename"),
                size=base64_size(binary.text) if binary is not None else None,
            )
        )
    return out


def _preceding(x: XPaths, settlement: etree._Element | None) -> list[PrecedingInvoice]:
    out = []
    for el in x.nodes(settlement, "ram:InvoiceReferencedDocument"):
        number = x.text(el, "{REFID}")
        if number is None:
            continue
        issued = _date(x, el, "ram:FormattedIssueDateTime/qdt:DateTimeString") or _date(
            x, el, "ram:IssueDateTime"
        )
        out.append(PrecedingInvoice(number=number, issue_date=issued))
    return out


def _notes(x: XPaths, parent: etree._Element | None) -> list[Note]:
    out = []
    for el in x.nodes(parent, "ram:IncludedNote"):
        text = squash(x.texts(el, "ram:Content"))
        subject = x.text(el, "ram:SubjectCode")
        if text is not None or subject is not None:
            out.append(Note(subject_code=subject, text=text or ""))
    return out


def _item(x: XPaths, product: etree._Element | None) -> Item:
    if product is None:
        return Item()
    attributes = [
        ItemAttribute(name=x.text(c, "ram:Description") or "", value=x.text(c, "ram:Value") or "")
        for c in x.nodes(product, "ram:ApplicableProductCharacteristic")
    ]
    return Item(
        name=x.text(product, "ram:Name"),
        description=x.text(product, "ram:Description"),
        sellers_id=x.text(product, "ram:SellerAssignedID"),
        buyers_id=x.text(product, "ram:BuyerAssignedID"),
        standard_id=identifier(x, product, "ram:GlobalID"),
        classification_ids=identifiers(
            x, product, "ram:DesignatedProductClassification/ram:ClassCode", "listID"
        ),
        origin_country=x.text(product, "ram:OriginTradeCountry/ram:ID"),
        attributes=attributes,
    )


def _price_discount(x: XPaths, gross: etree._Element | None) -> Decimal | None:
    amounts = [
        amount
        for el in x.nodes(gross, "ram:AppliedTradeAllowanceCharge")
        if (amount := x.decimal(el, "ram:ActualAmount")) is not None
    ]
    return sum(amounts, Decimal(0)) if amounts else None


def _line(x: XPaths, el: etree._Element) -> Line:
    doc = x.first(el, "ram:AssociatedDocumentLineDocument")
    agreement = x.first(el, "{LAGR}")
    delivery = x.first(el, "{LDEL}")
    settlement = x.first(el, "{LSET}")
    gross = x.first(agreement, "ram:GrossPriceProductTradePrice")
    net = x.first(agreement, "ram:NetPriceProductTradePrice")
    quantity = x.first(delivery, "ram:BilledQuantity")
    base_quantity = x.first(net, "ram:BasisQuantity")
    if base_quantity is None:
        base_quantity = x.first(gross, "ram:BasisQuantity")
    object_ref = x.first(settlement, "ram:AdditionalReferencedDocument[normalize-space(ram:TypeCode)='130']")
    object_value = x.text(object_ref, "{REFID}")
    object_id = (
        Identifier(value=object_value, scheme=x.text(object_ref, "ram:ReferenceTypeCode"))
        if object_value
        else None
    )
    return Line(
        line_id=x.text(doc, "ram:LineID"),
        note=squash([t for n in x.nodes(doc, "ram:IncludedNote") for t in x.texts(n, "ram:Content")]),
        object_id=object_id,
        quantity=to_decimal(text_of(quantity)),
        unit_code=attr(quantity, "unitCode"),
        net_amount=x.decimal(settlement, "{LSUM}/ram:LineTotalAmount"),
        order_line_reference=x.text(agreement, "ram:BuyerOrderReferencedDocument/ram:LineID"),
        accounting_reference=x.text(settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"),
        period_start=_date(x, settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString"),
        period_end=_date(x, settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString"),
        allowances_charges=_line_allowances(x, settlement),
        net_price=x.decimal(net, "ram:ChargeAmount"),
        price_discount=_price_discount(x, gross),
        gross_price=x.decimal(gross, "ram:ChargeAmount"),
        price_base_quantity=to_decimal(text_of(base_quantity)),
        price_base_unit=attr(base_quantity, "unitCode"),
        vat_category=x.text(settlement, "ram:ApplicableTradeTax/ram:CategoryCode"),
        vat_rate=x.decimal(settlement, "ram:ApplicableTradeTax/{RATE}"),
        item=_item(x, x.first(el, "ram:SpecifiedTradeProduct")),
    )


def read_cii_family(root: etree._Element, x: XPaths, syntax: Syntax) -> Invoice:
    """Read a CII-shaped tree (D16B or ZUGFeRD 1.0) with the given paths.

    Raises:
        InputRejected: when the tree cannot be turned into an invoice model.
    """
    ctx = x.first(root, "{CTX}")
    doc = x.first(root, "{DOC}")
    tx = x.first(root, "{TX}")
    agreement = x.first(tx, "{AGR}")
    delivery = x.first(tx, "{DEL}")
    settlement = x.first(tx, "{SET}")
    currency = x.text(settlement, "ram:InvoiceCurrencyCode")
    vat_currency = x.text(settlement, "ram:TaxCurrencyCode")
    object_ref = x.first(agreement, "ram:AdditionalReferencedDocument[normalize-space(ram:TypeCode)='130']")
    object_value = x.text(object_ref, "{REFID}")
    try:
        return Invoice(
            syntax=syntax,
            number=x.text(doc, "ram:ID"),
            issue_date=_date(x, doc, "ram:IssueDateTime/udt:DateTimeString"),
            type_code=x.text(doc, "ram:TypeCode"),
            currency=currency,
            vat_currency=vat_currency,
            tax_point_date=_date(x, settlement, "ram:ApplicableTradeTax/ram:TaxPointDate/udt:DateString"),
            due_date=cii_date(
                x.first(
                    settlement, "(ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString)[1]"
                )
            ),
            buyer_reference=x.text(agreement, "ram:BuyerReference"),
            project_reference=x.text(agreement, "ram:SpecifiedProcuringProject/ram:ID"),
            contract_reference=x.text(agreement, "ram:ContractReferencedDocument/{REFID}"),
            purchase_order_reference=x.text(agreement, "ram:BuyerOrderReferencedDocument/{REFID}"),
            sales_order_reference=x.text(agreement, "ram:SellerOrderReferencedDocument/{REFID}"),
            receiving_advice_reference=x.text(delivery, "ram:ReceivingAdviceReferencedDocument/{REFID}"),
            despatch_advice_reference=x.text(delivery, "ram:DespatchAdviceReferencedDocument/{REFID}"),
            tender_reference=x.text(
                agreement, "ram:AdditionalReferencedDocument[normalize-space(ram:TypeCode)='50']/{REFID}"
            ),
            invoiced_object=(
                Identifier(value=object_value, scheme=x.text(object_ref, "ram:ReferenceTypeCode"))
                if object_value
                else None
            ),
            buyer_accounting_reference=x.text(
                settlement, "ram:ReceivableSpecifiedTradeAccountingAccount/ram:ID"
            ),
            payment_terms=squash(x.texts(settlement, "ram:SpecifiedTradePaymentTerms/ram:Description")),
            notes=_notes(x, doc),
            business_process=x.text(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter/ram:ID"),
            specification_id=x.text(ctx, "ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"),
            preceding_invoices=_preceding(x, settlement),
            seller=_party(x, x.first(agreement, "ram:SellerTradeParty")),
            buyer=_party(x, x.first(agreement, "ram:BuyerTradeParty")),
            payee=_payee(x, settlement),
            tax_representative=_tax_representative(x, agreement),
            delivery=_delivery(x, delivery),
            invoice_period_start=_date(
                x, settlement, "ram:BillingSpecifiedPeriod/ram:StartDateTime/udt:DateTimeString"
            ),
            invoice_period_end=_date(
                x, settlement, "ram:BillingSpecifiedPeriod/ram:EndDateTime/udt:DateTimeString"
            ),
            payment=_payment(x, settlement),
            allowances_charges=_allowances(x, settlement),
            totals=_totals(x, settlement, currency, vat_currency),
            vat_breakdown=_vat_breakdown(x, settlement),
            attachments=_attachments(x, agreement),
            lines=[_line(x, el) for el in x.nodes(tx, "ram:IncludedSupplyChainTradeLineItem")],
        )
    except ValidationError as exc:
        raise InputRejected(
            f"the invoice's values do not fit the EN 16931 model: {exc.errors()[0].get('msg', exc)}",
            code=ErrorCode.PARSE_FAILED,
        ) from None


def parse_cii(root: etree._Element) -> Invoice:
    """Read a CII D16B invoice (any Factur-X / ZUGFeRD 2 / XRechnung profile).

    Raises:
        InputRejected: ``XML_UNKNOWN_ROOT`` when the root is not ``rsm:CrossIndustryInvoice``.
    """
    if root.tag != ROOT_TAG:
        raise InputRejected(
            f"the XML root is {root.tag!s}, not a CII D16B rsm:CrossIndustryInvoice",
            code=ErrorCode.XML_UNKNOWN_ROOT,
            where=f"line {root.sourceline}",
        )
    return read_cii_family(root, D16B, Syntax.CII)
