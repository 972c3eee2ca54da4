"""Generate OASIS UBL 2.1 Invoice or CreditNote XML from the model (EN 16931 binding).

The root follows the type code (BT-3): credit-note codes (381, 396...) give a
``CreditNote``, every other code an ``Invoice``. Element order follows the UBL
2.1 XSDs. Note subject codes (BT-21) are written the usual way, as a ``#CODE#``
prefix of the note text.

>>> from schemas.invoice import Invoice
>>> to_ubl(Invoice(number="AV-1", type_code="381", currency="EUR")).count(b"<CreditNote")
1
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

from lxml import etree

from ingest.generate_cii import XmlWriter, fmt_decimal
from schemas.invoice import Address, AllowanceCharge, CreditTransfer, Identifier, Invoice, Line, Party

INVOICE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDITNOTE_NS: Final = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC: Final = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
DEFAULT_CUSTOMIZATION: Final = "urn:cen.eu:en16931:2017"


class _Writer(XmlWriter):
    namespaces = {"cac": CAC, "cbc": CBC}

    def __init__(self, invoice: Invoice) -> None:
        self.inv = invoice
        self.credit = invoice.is_credit_note
        self.cur = invoice.currency or "EUR"

    def amount(
        self, parent: etree._Element, name: str, value: Decimal | None, currency: str | None = None
    ) -> None:
        if value is not None:
            self.el(parent, name, fmt_decimal(value), currencyID=currency or self.cur)

    def day(self, parent: etree._Element, name: str, value: date | None) -> None:
        if value is not None:
            self.el(parent, name, value.isoformat())

    def ident(self, parent: etree._Element, name: str, ident: Identifier | None) -> None:
        if ident is not None:
            self.opt(parent, name, ident.value, schemeID=ident.scheme)

    def tax_category(
        self, parent: etree._Element, name: str, category: str | None, rate: Decimal | None
    ) -> None:
        cat = self.el(parent, name)
        self.el(cat, "cbc:ID", category or "S")
        if rate is not None:
            self.el(cat, "cbc:Percent", fmt_decimal(rate))
        self.el(self.el(cat, "cac:TaxScheme"), "cbc:ID", "VAT")

    # -- document ------------------------------------------------------------
    def build(self) -> etree._Element:
        inv = self.inv
        ns = CREDITNOTE_NS if self.credit else INVOICE_NS
        nsmap: dict[str | None, str] = {None: ns, "cac": CAC, "cbc": CBC}
        tag = f"{{{ns}}}{'CreditNote' if self.credit else 'Invoice'}"
        root = etree.Element(tag, nsmap=nsmap)  # type: ignore[arg-type]  # stubs omit the None prefix
        self.el(root, "cbc:CustomizationID", inv.specification_id or DEFAULT_CUSTOMIZATION)
        self.opt(root, "cbc:ProfileID", inv.business_process)
        self.el(root, "cbc:ID", inv.number or "")
        self.day(root, "cbc:IssueDate", inv.issue_date)
        if not self.credit:
            self.day(root, "cbc:DueDate", inv.due_date)
            self.el(root, "cbc:InvoiceTypeCode", inv.type_code or "380")
        else:
            self.day(root, "cbc:TaxPointDate", inv.tax_point_date)
            self.el(root, "cbc:CreditNoteTypeCode", inv.type_code or "381")
        for note in inv.notes:
            self.el(root, "cbc:Note", f"#{note.subject_code}#{note.text}" if note.subject_code else note.text)
        if not self.credit:
            self.day(root, "cbc:TaxPointDate", inv.tax_point_date)
        self.el(root, "cbc:DocumentCurrencyCode", inv.currency or "")
        self.opt(root, "cbc:TaxCurrencyCode", inv.vat_currency)
        self.opt(root, "cbc:AccountingCost", inv.buyer_accounting_reference)
        self.opt(root, "cbc:BuyerReference", inv.buyer_reference)
        if inv.invoice_period_start or inv.invoice_period_end:
            period = self.el(root, "cac:InvoicePeriod")
            self.day(period, "cbc:StartDate", inv.invoice_period_start)
            self.day(period, "cbc:EndDate", inv.invoice_period_end)
        if inv.purchase_order_reference or inv.sales_order_reference:
            order = self.el(root, "cac:OrderReference")
            self.el(order, "cbc:ID", inv.purchase_order_reference or "NA")
            self.opt(order, "cbc:SalesOrderID", inv.sales_order_reference)
        for prec in inv.preceding_invoices:
            ref = self.el(self.el(root, "cac:BillingReference"), "cac:InvoiceDocumentReference")
            self.el(ref, "cbc:ID", prec.number)
            self.day(ref, "cbc:IssueDate", prec.issue_date)
        self.doc_refs(root)
        self.supplier(root)
        self.customer(root)
        self.payee(root)
        self.tax_representative(root)
        self.delivery(root)
        self.payment(root)
        for ac in inv.allowances_charges:
            self.allowance_charge(root, ac)
        self.tax_total(root)
        self.monetary_total(root)
        for index, line in enumerate(inv.lines, start=1):
            self.line(root, line, index)
        return root

    def doc_refs(self, root: etree._Element) -> None:
        inv = self.inv
        if inv.despatch_advice_reference:
            self.el(self.el(root, "cac:DespatchDocumentReference"), "cbc:ID", inv.despatch_advice_reference)
        if inv.receiving_advice_reference:
            self.el(self.el(root, "cac:ReceiptDocumentReference"), "cbc:ID", inv.receiving_advice_reference)
        if not self.credit and inv.tender_reference:
            self.el(self.el(root, "cac:OriginatorDocumentReference"), "cbc:ID", inv.tender_reference)
        if inv.contract_reference:
            self.el(self.el(root, "cac:ContractDocumentReference"), "cbc:ID", inv.contract_reference)
        for att in inv.attachments:
            ref = self.el(root, "cac:AdditionalDocumentReference")
            self.el(ref, "cbc:ID", att.reference or "")
            self.opt(ref, "cbc:DocumentDescription", att.description)
            if att.uri:
                ext = self.el(self.el(ref, "cac:Attachment"), "cac:ExternalReference")
                self.el(ext, "cbc:URI", att.uri)
        if inv.invoiced_object is not None:
            ref = self.el(root, "cac:AdditionalDocumentReference")
            self.ident(ref, "cbc:ID", inv.invoiced_object)
            self.el(ref, "cbc:DocumentTypeCode", "130")
        if self.credit and inv.project_reference:
            ref = self.el(root, "cac:AdditionalDocumentReference")
            self.el(ref, "cbc:ID", inv.project_reference)
            self.el(ref, "cbc:DocumentTypeCode", "50")
        if self.credit and inv.tender_reference:
            self.el(self.el(root, "cac:OriginatorDocumentReference"), "cbc:ID", inv.tender_reference)
        if not self.credit and inv.project_reference:
            self.el(self.el(root, "cac:ProjectReference"), "cbc:ID", inv.project_reference)

    # -- parties ---------------------------------------------------------------
    def address(self, parent: etree._Element, name: str, address: Address | None) -> None:
        if address is None:
            return
        a = self.el(parent, name)
        self.opt(a, "cbc:StreetName", address.line1)
        self.opt(a, "cbc:AdditionalStreetName", address.line2)
        self.opt(a, "cbc:CityName", address.city)
        self.opt(a, "cbc:PostalZone", address.postcode)
        self.opt(a, "cbc:CountrySubentity", address.subdivision)
        if address.line3:
            self.el(self.el(a, "cac:AddressLine"), "cbc:Line", address.line3)
        self.el(self.el(a, "cac:Country"), "cbc:IdentificationCode", address.country_code or "")

    def party(self, parent: etree._Element, party: Party, *, sepa_creditor_id: str | None = None) -> None:
        p = self.el(parent, "cac:Party")
        if party.electronic_address is not None:
            self.ident(p, "cbc:EndpointID", party.electronic_address)
        for ident in party.identifiers:
            self.ident(self.el(p, "cac:PartyIdentification"), "cbc:ID", ident)
        if sepa_creditor_id:
            self.el(self.el(p, "cac:PartyIdentification"), "cbc:ID", sepa_creditor_id, schemeID="SEPA")
        if party.trading_name:
            self.el(self.el(p, "cac:PartyName"), "cbc:Name", party.trading_name)
        self.address(p, "cac:PostalAddress", party.address)
        if party.vat_id:
            scheme = self.el(p, "cac:PartyTaxScheme")
            self.el(scheme, "cbc:CompanyID", party.vat_id)
            self.el(self.el(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")
        if party.tax_registration_id:
            scheme = self.el(p, "cac:PartyTaxScheme")
            self.el(scheme, "cbc:CompanyID", party.tax_registration_id)
            self.el(self.el(scheme, "cac:TaxScheme"), "cbc:ID", "FC")
        legal = self.el(p, "cac:PartyLegalEntity")
        self.opt(legal, "cbc:RegistrationName", party.name)
        self.ident(legal, "cbc:CompanyID", party.legal_registration)
        self.opt(legal, "cbc:CompanyLegalForm", party.legal_form)
        if party.contact is not None:
            c = self.el(p, "cac:Contact")
            self.opt(c, "cbc:Name", party.contact.name)
            self.opt(c, "cbc:Telephone", party.contact.phone)
            self.opt(c, "cbc:ElectronicMail", party.contact.email)

    def supplier(self, root: etree._Element) -> None:
        pay = self.inv.payment
        creditor = pay.direct_debit.creditor_id if pay and pay.direct_debit else None
        self.party(self.el(root, "cac:AccountingSupplierParty"), self.inv.seller, sepa_creditor_id=creditor)

    def customer(self, root: etree._Element) -> None:
        self.party(self.el(root, "cac:AccountingCustomerParty"), self.inv.buyer)

    def payee(self, root: etree._Element) -> None:
        payee = self.inv.payee
        if payee is None:
            return
        p = self.el(root, "cac:PayeeParty")
        if payee.identifier is not None:
            self.ident(self.el(p, "cac:PartyIdentification"), "cbc:ID", payee.identifier)
        self.el(self.el(p, "cac:PartyName"), "cbc:Name", payee.name or "")
        if payee.legal_registration is not None:
            self.ident(self.el(p, "cac:PartyLegalEntity"), "cbc:CompanyID", payee.legal_registration)

    def tax_representative(self, root: etree._Element) -> None:
        rep = self.inv.tax_representative
        if rep is None:
            return
        p = self.el(root, "cac:TaxRepresentativeParty")
        self.el(self.el(p, "cac:PartyName"), "cbc:Name", rep.name or "")
        self.address(p, "cac:PostalAddress", rep.address)
        if rep.vat_id:
            scheme = self.el(p, "cac:PartyTaxScheme")
            self.el(scheme, "cbc:CompanyID", rep.vat_id)
            self.el(self.el(scheme, "cac:TaxScheme"), "cbc:ID", "VAT")

    def delivery(self, root: etree._Element) -> None:
        d = self.inv.delivery
        if d is None or not (d.actual_delivery_date or d.location_id or d.address or d.party_name):
            return
        dl = self.el(root, "cac:Delivery")
        self.day(dl, "cbc:ActualDeliveryDate", d.actual_delivery_date)
        if d.location_id is not None or d.address is not None:
            loc = self.el(dl, "cac:DeliveryLocation")
            self.ident(loc, "cbc:ID", d.location_id)
            self.address(loc, "cac:Address", d.address)
        if d.party_name:
            self.el(self.el(self.el(dl, "cac:DeliveryParty"), "cac:PartyName"), "cbc:Name", d.party_name)

    def payment(self, root: etree._Element) -> None:
        inv, pay = self.inv, self.inv.payment
        if pay is not None:
            transfers: list[CreditTransfer | None] = list(pay.credit_transfers) or [None]
            for transfer in transfers:
                m = self.el(root, "cac:PaymentMeans")
                code = pay.means_code or "1"
                if pay.means_text:
                    self.el(m, "cbc:PaymentMeansCode", code, name=pay.means_text)
                else:
                    self.el(m, "cbc:PaymentMeansCode", code)
                if self.credit:
                    self.day(m, "cbc:PaymentDueDate", inv.due_date)
                self.opt(m, "cbc:PaymentID", pay.remittance_information)
                if pay.card_pan:
                    card = self.el(m, "cac:CardAccount")
                    self.el(card, "cbc:PrimaryAccountNumberID", pay.card_pan)
                    self.el(card, "cbc:NetworkID", "NA")
                    self.opt(card, "cbc:HolderName", pay.card_holder)
                if transfer is not None and transfer.account_id:
                    acct = self.el(m, "cac:PayeeFinancialAccount")
                    self.el(acct, "cbc:ID", transfer.account_id)
                    self.opt(acct, "cbc:Name", transfer.account_name)
                    if transfer.bic:
                        self.el(self.el(acct, "cac:FinancialInstitutionBranch"), "cbc:ID", transfer.bic)
                dd = pay.direct_debit
                if dd is not None and (dd.mandate_reference or dd.debited_account_id):
                    mandate = self.el(m, "cac:PaymentMandate")
                    self.opt(mandate, "cbc:ID", dd.mandate_reference)
                    if dd.debited_account_id:
                        self.el(
                            self.el(mandate, "cac:PayerFinancialAccount"), "cbc:ID", dd.debited_account_id
                        )
        if inv.payment_terms:
            self.el(self.el(root, "cac:PaymentTerms"), "cbc:Note", inv.payment_terms)

    def allowance_charge(self, root: etree._Element, ac: AllowanceCharge) -> None:
        a = self.el(root, "cac:AllowanceCharge")
        self.el(a, "cbc:ChargeIndicator", "true" if ac.is_charge else "false")
        self.opt(a, "cbc:AllowanceChargeReasonCode", ac.reason_code)
        self.opt(a, "cbc:AllowanceChargeReason", ac.reason)
        if ac.percentage is not None:
            self.el(a, "cbc:MultiplierFactorNumeric", fmt_decimal(ac.percentage))
        self.amount(a, "cbc:Amount", ac.amount)
        self.amount(a, "cbc:BaseAmount", ac.base_amount)
        self.tax_category(a, "cac:TaxCategory", ac.vat_category, ac.vat_rate)

    def tax_total(self, root: etree._Element) -> None:
        inv = self.inv
        total = self.el(root, "cac:TaxTotal")
        self.amount(
            total, "cbc:TaxAmount", inv.totals.total_vat if inv.totals.total_vat is not None else Decimal(0)
        )
        for vb in inv.vat_breakdown:
            sub = self.el(total, "cac:TaxSubtotal")
            self.amount(sub, "cbc:TaxableAmount", vb.taxable_amount)
            self.amount(sub, "cbc:TaxAmount", vb.tax_amount)
            cat = self.el(sub, "cac:TaxCategory")
            self.el(cat, "cbc:ID", vb.category or "S")
            if vb.rate is not None:
                self.el(cat, "cbc:Percent", fmt_decimal(vb.rate))
            self.opt(cat, "cbc:TaxExemptionReasonCode", vb.exemption_reason_code)
            self.opt(cat, "cbc:TaxExemptionReason", vb.exemption_reason)
            self.el(self.el(cat, "cac:TaxScheme"), "cbc:ID", "VAT")
        if inv.vat_currency and inv.totals.total_vat_accounting is not None:
            other = self.el(root, "cac:TaxTotal")
            self.amount(other, "cbc:TaxAmount", inv.totals.total_vat_accounting, inv.vat_currency)

    def monetary_total(self, root: etree._Element) -> None:
        t = self.inv.totals
        m = self.el(root, "cac:LegalMonetaryTotal")
        self.amount(m, "cbc:LineExtensionAmount", t.line_total)
        self.amount(m, "cbc:TaxExclusiveAmount", t.total_without_vat)
        self.amount(m, "cbc:TaxInclusiveAmount", t.total_with_vat)
        self.amount(m, "cbc:AllowanceTotalAmount", t.allowance_total)
        self.amount(m, "cbc:ChargeTotalAmount", t.charge_total)
        self.amount(m, "cbc:PrepaidAmount", t.prepaid)
        self.amount(m, "cbc:PayableRoundingAmount", t.rounding)
        self.amount(m, "cbc:PayableAmount", t.amount_due)

    # -- lines -------------------------------------------------------------------
    def line(self, root: etree._Element, line: Line, index: int) -> None:
        li = self.el(root, "cac:CreditNoteLine" if self.credit else "cac:InvoiceLine")
        self.el(li, "cbc:ID", line.line_id or str(index))
        self.opt(li, "cbc:Note", line.note)
        qty = fmt_decimal(line.quantity if line.quantity is not None else Decimal(0))
        self.el(
            li,
            "cbc:CreditedQuantity" if self.credit else "cbc:InvoicedQuantity",
            qty,
            unitCode=line.unit_code or "C62",
        )
        self.amount(
            li, "cbc:LineExtensionAmount", line.net_amount if line.net_amount is not None else Decimal(0)
        )
        self.opt(li, "cbc:AccountingCost", line.accounting_reference)
        if line.period_start or line.period_end:
            period = self.el(li, "cac:InvoicePeriod")
            self.day(period, "cbc:StartDate", line.period_start)
            self.day(period, "cbc:EndDate", line.period_end)
        if line.order_line_reference:
            self.el(self.el(li, "cac:OrderLineReference"), "cbc:LineID", line.order_line_reference)
        if line.object_id is not None:
            ref = self.el(li, "cac:DocumentReference")
            self.ident(ref, "cbc:ID", line.object_id)
            self.el(ref, "cbc:DocumentTypeCode", "130")
        for ac in line.allowances_charges:
            a = self.el(li, "cac:AllowanceCharge")
            self.el(a, "cbc:ChargeIndicator", "true" if ac.is_charge else "false")
            self.opt(a, "cbc:AllowanceChargeReasonCode", ac.reason_code)
            self.opt(a, "cbc:AllowanceChargeReason", ac.reason)
            if ac.percentage is not None:
                self.el(a, "cbc:MultiplierFactorNumeric", fmt_decimal(ac.percentage))
            self.amount(a, "cbc:Amount", ac.amount)
            self.amount(a, "cbc:BaseAmount", ac.base_amount)
        item = line.item
        it = self.el(li, "cac:Item")
        self.opt(it, "cbc:Description", item.description)
        self.el(it, "cbc:Name", item.name or "")
        if item.buyers_id:
            self.el(self.el(it, "cac:BuyersItemIdentification"), "cbc:ID", item.buyers_id)
        if item.sellers_id:
            self.el(self.el(it, "cac:SellersItemIdentification"), "cbc:ID", item.sellers_id)
        if item.standard_id is not None:
            self.ident(self.el(it, "cac:StandardItemIdentification"), "cbc:ID", item.standard_id)
        if item.origin_country:
            self.el(self.el(it, "cac:OriginCountry"), "cbc:IdentificationCode", item.origin_country)
        for cls in item.classification_ids:
            self.opt(
                self.el(it, "cac:CommodityClassification"),
                "cbc:ItemClassificationCode",
                cls.value,
                listID=cls.scheme,
            )
        self.tax_category(it, "cac:ClassifiedTaxCategory", line.vat_category, line.vat_rate)
        for attr in item.attributes:
            prop = self.el(it, "cac:AdditionalItemProperty")
            self.el(prop, "cbc:Name", attr.name)
            self.el(prop, "cbc:Value", attr.value)
        price = self.el(li, "cac:Price")
        self.amount(price, "cbc:PriceAmount", line.net_price if line.net_price is not None else Decimal(0))
        if line.price_base_quantity is not None:
            base = fmt_decimal(line.price_base_quantity)
            if line.price_base_unit:
                self.el(price, "cbc:BaseQuantity", base, unitCode=line.price_base_unit)
            else:
                self.el(price, "cbc:BaseQuantity", base)
        if line.price_discount is not None or line.gross_price is not None:
            a = self.el(price, "cac:AllowanceCharge")
            self.el(a, "cbc:ChargeIndicator", "false")
            self.amount(
                a, "cbc:Amount", line.price_discount if line.price_discount is not None else Decimal(0)
            )
            self.amount(a, "cbc:BaseAmount", line.gross_price)


def to_ubl(invoice: Invoice) -> bytes:
    """The invoice as UBL 2.1 XML: a CreditNote for credit-note type codes, an Invoice otherwise."""
    root = _Writer(invoice).build()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
