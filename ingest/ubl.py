"""OASIS UBL 2.1 Invoice and CreditNote into the canonical model.

The mapping follows the CEN EN 16931-3-2 UBL binding. A credit note differs
by its root, ``CreditNoteTypeCode``, ``CreditNoteLine`` and
``CreditedQuantity``; its due date (BT-9) sits in ``PaymentMeans/PaymentDueDate``.
Unreadable values are left None for the XSD and schematron layers to report.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from lxml import etree
from pydantic import ValidationError

from ingest._xpath import (
    XPaths,
    attr,
    base64_size,
    identifier,
    identifiers,
    iso_date,
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

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
#: Qualified names of the two UBL roots read here.
INVOICE_TAG = f"{{{INVOICE_NS}}}Invoice"
CREDIT_NOTE_TAG = f"{{{CREDIT_NOTE_NS}}}CreditNote"

_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
#: Element paths of a UBL Invoice.
UBL_INVOICE = XPaths(
    _NS, {"TYPE": "cbc:InvoiceTypeCode", "LINE": "cac:InvoiceLine", "QTY": "cbc:InvoicedQuantity"}
)
#: Element paths of a UBL CreditNote.
UBL_CREDIT_NOTE = XPaths(
    _NS, {"TYPE": "cbc:CreditNoteTypeCode", "LINE": "cac:CreditNoteLine", "QTY": "cbc:CreditedQuantity"}
)

_SUBJECT = re.compile(r"^#([A-Z]{3})#(.*)$", re.DOTALL)


def _date(x: XPaths, el: etree._Element | None, expr: str) -> date | None:
    return iso_date(x.text(el, expr))


def _indicator(x: XPaths, el: etree._Element) -> bool:
    value = x.text(el, "cbc:ChargeIndicator")
    return value is not None and value.lower() in ("true", "1")


def _address(x: XPaths, node: etree._Element | None) -> Address | None:
    if node is None:
        return None
    address = Address(
        line1=x.text(node, "cbc:StreetName"),
        line2=x.text(node, "cbc:AdditionalStreetName"),
        line3=x.text(node, "cac:AddressLine/cbc:Line"),
        city=x.text(node, "cbc:CityName"),
        postcode=x.text(node, "cbc:PostalZone"),
        subdivision=x.text(node, "cbc:CountrySubentity"),
        country_code=x.text(node, "cac:Country/cbc:IdentificationCode"),
    )
    return address if address.model_dump(exclude_none=True) else None


def _contact(x: XPaths, el: etree._Element | None) -> Contact | None:
    node = x.first(el, "cac:Contact")
    if node is None:
        return None
    contact = Contact(
        name=x.text(node, "cbc:Name"),
        phone=x.text(node, "cbc:Telephone"),
        email=x.text(node, "cbc:ElectronicMail"),
    )
    return contact if contact.model_dump(exclude_none=True) else None


def _tax_id(x: XPaths, el: etree._Element | None, vat: bool) -> str | None:
    test = "=" if vat else "!="
    return x.text(el, f"cac:PartyTaxScheme[normalize-space(cac:TaxScheme/cbc:ID){test}'VAT']/cbc:CompanyID")


def _party(x: XPaths, el: etree._Element | None) -> Party:
    if el is None:
        return Party()
    return Party(
        name=x.text(el, "cac:PartyLegalEntity/cbc:RegistrationName"),
        trading_name=x.text(el, "cac:PartyName/cbc:Name"),
        identifiers=identifiers(
            x, el, "cac:PartyIdentification/cbc:ID[not(normalize-space(@schemeID)='SEPA')]"
        ),
        legal_registration=identifier(x, el, "cac:PartyLegalEntity/cbc:CompanyID"),
        vat_id=_tax_id(x, el, vat=True),
        tax_registration_id=_tax_id(x, el, vat=False),
        legal_form=x.text(el, "cac:PartyLegalEntity/cbc:CompanyLegalForm"),
        electronic_address=identifier(x, el, "cbc:EndpointID"),
        address=_address(x, x.first(el, "cac:PostalAddress")),
        contact=_contact(x, el),
    )


def _payee(x: XPaths, root: etree._Element) -> Payee | None:
    el = x.first(root, "cac:PayeeParty")
    if el is None:
        return None
    return Payee(
        name=x.text(el, "cac:PartyName/cbc:Name"),
        identifier=identifier(
            x, el, "cac:PartyIdentification/cbc:ID[not(normalize-space(@schemeID)='SEPA')]"
        ),
        legal_registration=identifier(x, el, "cac:PartyLegalEntity/cbc:CompanyID"),
    )


def _tax_representative(x: XPaths, root: etree._Element) -> TaxRepresentative | None:
    el = x.first(root, "cac:TaxRepresentativeParty")
    if el is None:
        return None
    return TaxRepresentative(
        name=x.text(el, "cac:PartyName/cbc:Name"),
        vat_id=x.text(el, "cac:PartyTaxScheme/cbc:CompanyID"),
        address=_address(x, x.first(el, "cac:PostalAddress")),
    )


def _delivery(x: XPaths, root: etree._Element) -> Delivery | None:
    el = x.first(root, "cac:Delivery")
    if el is None:
        return None
    found = Delivery(
        party_name=x.text(el, "cac:DeliveryParty/cac:PartyName/cbc:Name"),
        location_id=identifier(x, el, "cac:DeliveryLocation/cbc:ID"),
        actual_delivery_date=_date(x, el, "cbc:ActualDeliveryDate"),
        address=_address(x, x.first(el, "cac:DeliveryLocation/cac:Address")),
    )
    return found if found.model_dump(exclude_none=True) else None


def _payment(x: XPaths, root: etree._Element) -> PaymentInstructions | None:
    means = x.nodes(root, "cac:PaymentMeans")
    transfers = [
        CreditTransfer(
            account_id=x.text(account, "cbc:ID"),
            account_name=x.text(account, "cbc:Name"),
            bic=x.text(account, "cac:FinancialInstitutionBranch/cbc:ID"),
        )
        for account in x.nodes(root, "cac:PaymentMeans/cac:PayeeFinancialAccount")
    ]
    mandate = x.text(root, "cac:PaymentMeans/cac:PaymentMandate/cbc:ID")
    debited = x.text(root, "cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID")
    creditor_id = x.text(
        root,
        "cac:AccountingSupplierParty/cac:Party/cac:PartyIdentification/cbc:ID[normalize-space(@schemeID)='SEPA']",
    ) or x.text(root, "cac:PayeeParty/cac:PartyIdentification/cbc:ID[normalize-space(@schemeID)='SEPA']")
    direct_debit = None
    if mandate or creditor_id or debited:
        direct_debit = DirectDebit(
            mandate_reference=mandate, creditor_id=creditor_id, debited_account_id=debited
        )
    code = x.first(root, "cac:PaymentMeans/cbc:PaymentMeansCode")
    card = x.first(root, "cac:PaymentMeans/cac:CardAccount")
    payment = PaymentInstructions(
        means_code=text_of(code),
        means_text=attr(code, "name"),
        remittance_information=x.text(root, "cac:PaymentMeans/cbc:PaymentID"),
        credit_transfers=transfers,
        card_pan=x.text(card, "cbc:PrimaryAccountNumberID"),
        card_holder=x.text(card, "cbc:HolderName"),
        direct_debit=direct_debit,
    )
    if not means and direct_debit is None:
        return None
    return payment if payment.model_dump(exclude_none=True, exclude_defaults=True) else None


def _allowances(x: XPaths, root: etree._Element) -> list[AllowanceCharge]:
    out = []
    for el in x.nodes(root, "cac:AllowanceCharge"):
        amount = x.decimal(el, "cbc:Amount")
        if amount is None:
            continue
        out.append(
            AllowanceCharge(
                is_charge=_indicator(x, el),
                amount=amount,
                base_amount=x.decimal(el, "cbc:BaseAmount"),
                percentage=x.decimal(el, "cbc:MultiplierFactorNumeric"),
                vat_category=x.text(el, "cac:TaxCategory/cbc:ID"),
                vat_rate=x.decimal(el, "cac:TaxCategory/cbc:Percent"),
                reason=x.text(el, "cbc:AllowanceChargeReason"),
                reason_code=x.text(el, "cbc:AllowanceChargeReasonCode"),
            )
        )
    return out


def _line_allowances(x: XPaths, line: etree._Element) -> list[LineAllowanceCharge]:
    out = []
    for el in x.nodes(line, "cac:AllowanceCharge"):
        amount = x.decimal(el, "cbc:Amount")
        if amount is None:
            continue
        out.append(
            LineAllowanceCharge(
                is_charge=_indicator(x, el),
                amount=amount,
                base_amount=x.decimal(el, "cbc:BaseAmount"),
                percentage=x.decimal(el, "cbc:MultiplierFactorNumeric"),
                reason=x.text(el, "cbc:AllowanceChargeReason"),
                reason_code=x.text(el, "cbc:AllowanceChargeReasonCode"),
            )
        )
    return out


def _tax_totals(
    x: XPaths, root: etree._Element, currency: str | None, vat_currency: str | None
) -> tuple[etree._Element | None, Decimal | None, Decimal | None]:
    """The TaxTotal in the invoice currency, BT-110 and BT-111."""
    totals = x.nodes(root, "cac:TaxTotal")
    if not totals:
        return None, None, None

    def currency_of(el: etree._Element) -> str | None:
        return attr(x.first(el, "cbc:TaxAmount"), "currencyID")

    main = [t for t in totals if currency and currency_of(t) == currency]
    if main:
        invoice_total: etree._Element | None = main[0]
    elif len(totals) == 1:
        invoice_total = totals[0]
    else:
        others = [t for t in totals if vat_currency is None or currency_of(t) != vat_currency]
        invoice_total = others[0] if others else None
    bt111 = None
    if vat_currency and vat_currency != currency:
        accounting = [t for t in totals if currency_of(t) == vat_currency and t is not invoice_total]
        if accounting:
            bt111 = x.decimal(accounting[0], "cbc:TaxAmount")
    return invoice_total, x.decimal(invoice_total, "cbc:TaxAmount"), bt111


def _vat_breakdown(x: XPaths, tax_total: etree._Element | None) -> list[VatBreakdown]:
    return [
        VatBreakdown(
            taxable_amount=x.decimal(el, "cbc:TaxableAmount"),
            tax_amount=x.decimal(el, "cbc:TaxAmount"),
            category=x.text(el, "cac:TaxCategory/cbc:ID"),
            rate=x.decimal(el, "cac:TaxCategory/cbc:Percent"),
            exemption_reason=x.text(el, "cac:TaxCategory/cbc:TaxExemptionReason"),
            exemption_reason_code=x.text(el, "cac:TaxCategory/cbc:TaxExemptionReasonCode"),
        )
        for el in x.nodes(tax_total, "cac:TaxSubtotal")
    ]


def _attachments(x: XPaths, root: etree._Element) -> list[Attachment]:
    out = []
    for el in x.nodes(root, "cac:AdditionalDocumentReference"):
        if x.text(el, "cbc:DocumentTypeCode") in ("130", "50"):
            continue
        binary = x.first(el, "cac:Attachment/cbc:EmbeddedDocumentBinaryObject")
        out.append(
            Attachment(
                reference=x.text(el, "cbc:ID"),
                description=x.text(el, "cbc:DocumentDescription"),
                uri=x.text(el, "cac:Attachment/cac:ExternalReference/cbc:URI"),
                mime_code=attr(binary, "mimeCode"),
                filename=attr(binary, "filename"),
                size=base64_size(binary.text) if binary is not None else None,
            )
        )
    return out


def _notes(x: XPaths, root: etree._Element) -> list[Note]:
    out = []
    for text in x.texts(root, "cbc:Note"):
        match = _SUBJECT.match(text)
        if match:
            out.append(Note(subject_code=match.group(1), text=match.group(2).strip()))
        else:
            out.append(Note(text=text))
    return out


def _item(x: XPaths, item: etree._Element | None) -> Item:
    if item is None:
        return Item()
    attributes = [
        ItemAttribute(name=x.text(p, "cbc:Name") or "", value=x.text(p, "cbc:Value") or "")
        for p in x.nodes(item, "cac:AdditionalItemProperty")
    ]
    return Item(
        name=x.text(item, "cbc:Name"),
        description=x.text(item, "cbc:Description"),
        sellers_id=x.text(item, "cac:SellersItemIdentification/cbc:ID"),
        buyers_id=x.text(item, "cac:BuyersItemIdentification/cbc:ID"),
        standard_id=identifier(x, item, "cac:StandardItemIdentification/cbc:ID"),
        classification_ids=identifiers(
            x, item, "cac:CommodityClassification/cbc:ItemClassificationCode", "listID"
        ),
        origin_country=x.text(item, "cac:OriginCountry/cbc:IdentificationCode"),
        attributes=attributes,
    )


def _line(x: XPaths, el: etree._Element) -> Line:
    quantity = x.first(el, "{QTY}")
    price = x.first(el, "cac:Price")
    base_quantity = x.first(price, "cbc:BaseQuantity")
    item = x.first(el, "cac:Item")
    return Line(
        line_id=x.text(el, "cbc:ID"),
        note=squash(x.texts(el, "cbc:Note")),
        object_id=identifier(x, el, "cac:DocumentReference/cbc:ID"),
        quantity=to_decimal(text_of(quantity)),
        unit_code=attr(quantity, "unitCode"),
        net_amount=x.decimal(el, "cbc:LineExtensionAmount"),
        order_line_reference=x.text(el, "cac:OrderLineReference/cbc:LineID"),
        accounting_reference=x.text(el, "cbc:AccountingCost"),
        period_start=_date(x, el, "cac:InvoicePeriod/cbc:StartDate"),
        period_end=_date(x, el, "cac:InvoicePeriod/cbc:EndDate"),
        allowances_charges=_line_allowances(x, el),
        net_price=x.decimal(price, "cbc:PriceAmount"),
        price_discount=x.decimal(price, "cac:AllowanceCharge/cbc:Amount"),
        gross_price=x.decimal(price, "cac:AllowanceCharge/cbc:BaseAmount"),
        price_base_quantity=to_decimal(text_of(base_quantity)),
        price_base_unit=attr(base_quantity, "unitCode"),
        vat_category=x.text(item, "cac:ClassifiedTaxCategory/cbc:ID"),
        vat_rate=x.decimal(item, "cac:ClassifiedTaxCategory/cbc:Percent"),
        item=_item(x, item),
    )


def _read(root: etree._Element, x: XPaths) -> Invoice:
    currency = x.text(root, "cbc:DocumentCurrencyCode")
    vat_currency = x.text(root, "cbc:TaxCurrencyCode")
    tax_total, total_vat, total_vat_accounting = _tax_totals(x, root, currency, vat_currency)
    totals = x.first(root, "cac:LegalMonetaryTotal")
    object_ref = x.first(root, "cac:AdditionalDocumentReference[normalize-space(cbc:DocumentTypeCode)='130']")
    return Invoice(
        syntax=Syntax.UBL,
        number=x.text(root, "cbc:ID"),
        issue_date=_date(x, root, "cbc:IssueDate"),
        type_code=x.text(root, "{TYPE}"),
        currency=currency,
        vat_currency=vat_currency,
        tax_point_date=_date(x, root, "cbc:TaxPointDate"),
        due_date=_date(x, root, "cbc:DueDate") or _date(x, root, "(cac:PaymentMeans/cbc:PaymentDueDate)[1]"),
        buyer_reference=x.text(root, "cbc:BuyerReference"),
        project_reference=x.text(root, "cac:ProjectReference/cbc:ID")
        or x.text(root, "cac:AdditionalDocumentReference[normalize-space(cbc:DocumentTypeCode)='50']/cbc:ID"),
        contract_reference=x.text(root, "cac:ContractDocumentReference/cbc:ID"),
        purchase_order_reference=x.text(root, "cac:OrderReference/cbc:ID"),
        sales_order_reference=x.text(root, "cac:OrderReference/cbc:SalesOrderID"),
        receiving_advice_reference=x.text(root, "cac:ReceiptDocumentReference/cbc:ID"),
        despatch_advice_reference=x.text(root, "cac:DespatchDocumentReference/cbc:ID"),
        tender_reference=x.text(root, "cac:OriginatorDocumentReference/cbc:ID"),
        invoiced_object=identifier(x, object_ref, "cbc:ID"),
        buyer_accounting_reference=x.text(root, "cbc:AccountingCost"),
        payment_terms=squash(x.texts(root, "cac:PaymentTerms/cbc:Note")),
        notes=_notes(x, root),
        business_process=x.text(root, "cbc:ProfileID"),
        specification_id=x.text(root, "cbc:CustomizationID"),
        preceding_invoices=[
            PrecedingInvoice(number=number, issue_date=_date(x, ref, "cbc:IssueDate"))
            for ref in x.nodes(root, "cac:BillingReference/cac:InvoiceDocumentReference")
            if (number := x.text(ref, "cbc:ID")) is not None
        ],
        seller=_party(x, x.first(root, "cac:AccountingSupplierParty/cac:Party")),
        buyer=_party(x, x.first(root, "cac:AccountingCustomerParty/cac:Party")),
        payee=_payee(x, root),
        tax_representative=_tax_representative(x, root),
        delivery=_delivery(x, root),
        invoice_period_start=_date(x, root, "cac:InvoicePeriod/cbc:StartDate"),
        invoice_period_end=_date(x, root, "cac:InvoicePeriod/cbc:EndDate"),
        payment=_payment(x, root),
        allowances_charges=_allowances(x, root),
        totals=Totals(
            line_total=x.decimal(totals, "cbc:LineExtensionAmount"),
            allowance_total=x.decimal(totals, "cbc:AllowanceTotalAmount"),
            charge_total=x.decimal(totals, "cbc:ChargeTotalAmount"),
            total_without_vat=x.decimal(totals, "cbc:TaxExclusiveAmount"),
            total_vat=total_vat,
            total_vat_accounting=total_vat_accounting,
            total_with_vat=x.decimal(totals, "cbc:TaxInclusiveAmount"),
            prepaid=x.decimal(totals, "cbc:PrepaidAmount"),
            rounding=x.decimal(totals, "cbc:PayableRoundingAmount"),
            amount_due=x.decimal(totals, "cbc:PayableAmount"),
        ),
        vat_breakdown=_vat_breakdown(x, tax_total),
        attachments=_attachments(x, root),
        lines=[_line(x, el) for el in x.nodes(root, "{LINE}")],
    )


def parse_ubl(root: etree._Element) -> Invoice:
    """Read a UBL 2.1 Invoice or CreditNote.

    Raises:
        InputRejected: ``XML_UNKNOWN_ROOT`` when the root is neither ``Invoice`` nor
            ``CreditNote`` of UBL 2.1; ``PARSE_FAILED`` when values cannot fit the model.
    """
    if root.tag == INVOICE_TAG:
        paths = UBL_INVOICE
    elif root.tag == CREDIT_NOTE_TAG:
        paths = UBL_CREDIT_NOTE
    else:
        raise InputRejected(
            f"the XML root is {root.tag!s}, not a UBL 2.1 Invoice or CreditNote",
            code=ErrorCode.XML_UNKNOWN_ROOT,
            where=f"line {root.sourceline}",
        )
    try:
        return _read(root, paths)
    except ValidationError as exc:
        raise InputRejected(
            f"the invoice's values do not fit the EN 16931 model: {exc.errors()[0].get('msg', exc)}",
            code=ErrorCode.PARSE_FAILED,
        ) from None
