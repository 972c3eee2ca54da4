"""Generate UN/CEFACT CII D16B (Factur-X 1.0 / ZUGFeRD 2.x) XML from the model.

The element order follows the Factur-X 1.09 XSDs; elements a profile does not
allow are left out, so the output of :func:`to_cii` validates against the XSD
of the profile asked for. Terms the model holds but a profile cannot carry
(item descriptions in BASIC, lines in MINIMUM and BASIC WL...) are dropped:
the profile is the sender's choice, and BT-24 names it.

>>> from schemas.invoice import Invoice
>>> b"<rsm:CrossIndustryInvoice" in to_cii(Invoice(number="F-1", type_code="380", currency="EUR"))
True
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

from lxml import etree

from ingest.kinds import Profile
from schemas.invoice import (
    Address,
    AllowanceCharge,
    CreditTransfer,
    Identifier,
    Invoice,
    Line,
    LineAllowanceCharge,
    Party,
    PaymentInstructions,
    VatBreakdown,
)

RSM: Final = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM: Final = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT: Final = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT: Final = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP: Final = {"rsm": RSM, "qdt": QDT, "ram": RAM, "udt": UDT}

#: BT-24 specification identifier written for each profile.
GUIDELINE_IDS: Final[dict[Profile, str]] = {
    Profile.MINIMUM: "urn:factur-x.eu:1p0:minimum",
    Profile.BASIC_WL: "urn:factur-x.eu:1p0:basicwl",
    Profile.BASIC: "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    Profile.EN16931: "urn:cen.eu:en16931:2017",
    Profile.EXTENDED: "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
}

_RANK: Final = {
    Profile.MINIMUM: 0,
    Profile.BASIC_WL: 1,
    Profile.BASIC: 2,
    Profile.EN16931: 3,
    Profile.EXTENDED: 4,
}


def fmt_decimal(value: Decimal) -> str:
    """A decimal as XML wants it: plain notation, never an exponent.

    >>> fmt_decimal(Decimal("1E+2"))
    '100'
    """
    text = format(value, "f")
    return "0" if text in {"-0", "-0.00"} else text


class XmlWriter:
    """Element helpers shared by the CII and UBL writers; ``namespaces`` maps prefixes to URIs."""

    namespaces: dict[str, str] = {}

    def el(self, parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
        """A child element ``prefix:local`` with its text and attributes."""
        prefix, local = tag.split(":")
        child = etree.SubElement(parent, f"{{{self.namespaces[prefix]}}}{local}")
        if text is not None:
            child.text = text
        for key, value in attrs.items():
            child.set(key, value)
        return child

    def opt(self, parent: etree._Element, tag: str, text: str | None, **attrs: str | None) -> None:
        """The child only when there is a value; attributes without a value are left out."""
        if text is None or text == "":
            return
        self.el(parent, tag, text, **{k: v for k, v in attrs.items() if v is not None})


class _Writer(XmlWriter):
    """Builds the tree for one profile."""

    namespaces = NSMAP

    def __init__(self, invoice: Invoice, profile: Profile) -> None:
        self.inv = invoice
        self.profile = profile
        self.rank = _RANK[profile]

    def at_least(self, profile: Profile) -> bool:
        return self.rank >= _RANK[profile]

    # -- low-level helpers -------------------------------------------------
    def amount(
        self, parent: etree._Element, name: str, value: Decimal | None, currency: str | None = None
    ) -> None:
        if value is None:
            return
        if currency:
            self.el(parent, name, fmt_decimal(value), currencyID=currency)
        else:
            self.el(parent, name, fmt_decimal(value))

    def date_time(self, parent: etree._Element, name: str, value: date | None, ns: str = "udt") -> None:
        if value is None:
            return
        self.el(self.el(parent, name), f"{ns}:DateTimeString", value.strftime("%Y%m%d"), format="102")

    def indicator(self, parent: etree._Element, is_charge: bool) -> None:
        self.el(self.el(parent, "ram:ChargeIndicator"), "udt:Indicator", "true" if is_charge else "false")

    # -- document ------------------------------------------------------------
    def build(self) -> etree._Element:
        inv = self.inv
        root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
        ctx = self.el(root, "rsm:ExchangedDocumentContext")
        if inv.business_process:
            self.el(
                self.el(ctx, "ram:BusinessProcessSpecifiedDocumentContextParameter"),
                "ram:ID",
                inv.business_process,
            )
        self.el(
            self.el(ctx, "ram:GuidelineSpecifiedDocumentContextParameter"),
            "ram:ID",
            GUIDELINE_IDS[self.profile],
        )

        doc = self.el(root, "rsm:ExchangedDocument")
        self.el(doc, "ram:ID", inv.number or "")
        self.el(doc, "ram:TypeCode", inv.type_code or "380")
        self.date_time(doc, "ram:IssueDateTime", inv.issue_date)
        if self.at_least(Profile.BASIC_WL):
            for note in inv.notes:
                n = self.el(doc, "ram:IncludedNote")
                self.el(n, "ram:Content", note.text)
                self.opt(n, "ram:SubjectCode", note.subject_code)

        tx = self.el(root, "rsm:SupplyChainTradeTransaction")
        if self.at_least(Profile.BASIC):
            for index, line in enumerate(inv.lines, start=1):
                self.line(tx, line, index)
        self.agreement(tx)
        self.delivery(tx)
        self.settlement(tx)
        return root

    # -- parties -------------------------------------------------------------
    def address(self, parent: etree._Element, address: Address | None) -> None:
        if address is None:
            return
        a = self.el(parent, "ram:PostalTradeAddress")
        if self.at_least(Profile.BASIC_WL):
            self.opt(a, "ram:PostcodeCode", address.postcode)
            self.opt(a, "ram:LineOne", address.line1)
            self.opt(a, "ram:LineTwo", address.line2)
            self.opt(a, "ram:LineThree", address.line3)
            self.opt(a, "ram:CityName", address.city)
        self.el(a, "ram:CountryID", address.country_code or "")
        if self.at_least(Profile.BASIC_WL):
            self.opt(a, "ram:CountrySubDivisionName", address.subdivision)

    def identifiers(self, parent: etree._Element, idents: list[Identifier]) -> None:
        if not self.at_least(Profile.BASIC_WL):
            return
        for ident in idents:
            if not ident.scheme:
                self.el(parent, "ram:ID", ident.value)
        for ident in idents:
            if ident.scheme:
                self.el(parent, "ram:GlobalID", ident.value, schemeID=ident.scheme)

    def party(self, parent: etree._Element, name: str, party: Party, *, seller: bool) -> None:
        p = self.el(parent, name)
        self.identifiers(p, party.identifiers)
        self.opt(p, "ram:Name", party.name)
        if self.at_least(Profile.EN16931):
            self.opt(p, "ram:Description", party.legal_form)
        trading = party.trading_name if self.at_least(Profile.BASIC_WL) else None
        if party.legal_registration is not None or trading:
            org = self.el(p, "ram:SpecifiedLegalOrganization")
            if party.legal_registration is not None:
                self.opt(
                    org, "ram:ID", party.legal_registration.value, schemeID=party.legal_registration.scheme
                )
            self.opt(org, "ram:TradingBusinessName", trading)
        if self.at_least(Profile.EN16931) and party.contact is not None:
            c = self.el(p, "ram:DefinedTradeContact")
            self.opt(c, "ram:PersonName", party.contact.name)
            if party.contact.phone:
                self.el(
                    self.el(c, "ram:TelephoneUniversalCommunication"),
                    "ram:CompleteNumber",
                    party.contact.phone,
                )
            if party.contact.email:
                self.el(self.el(c, "ram:EmailURIUniversalCommunication"), "ram:URIID", party.contact.email)
        if seller or self.at_least(Profile.BASIC_WL):
            self.address(p, party.address)
        if self.at_least(Profile.BASIC_WL) and party.electronic_address is not None:
            uri = self.el(p, "ram:URIUniversalCommunication")
            self.opt(
                uri, "ram:URIID", party.electronic_address.value, schemeID=party.electronic_address.scheme
            )
        if seller or self.at_least(Profile.BASIC_WL):
            if party.vat_id:
                self.el(self.el(p, "ram:SpecifiedTaxRegistration"), "ram:ID", party.vat_id, schemeID="VA")
            if party.tax_registration_id:
                tax = self.el(p, "ram:SpecifiedTaxRegistration")
                self.el(tax, "ram:ID", party.tax_registration_id, schemeID="FC")

    def referenced(self, parent: etree._Element, name: str, issuer_id: str | None) -> None:
        if issuer_id:
            self.el(self.el(parent, name), "ram:IssuerAssignedID", issuer_id)

    def agreement(self, tx: etree._Element) -> None:
        inv = self.inv
        ag = self.el(tx, "ram:ApplicableHeaderTradeAgreement")
        self.opt(ag, "ram:BuyerReference", inv.buyer_reference)
        self.party(ag, "ram:SellerTradeParty", inv.seller, seller=True)
        self.party(ag, "ram:BuyerTradeParty", inv.buyer, seller=False)
        rep = inv.tax_representative
        if rep is not None and self.at_least(Profile.BASIC_WL):
            r = self.el(ag, "ram:SellerTaxRepresentativeTradeParty")
            self.el(r, "ram:Name", rep.name or "")
            self.address(r, rep.address)
            if rep.vat_id:
                self.el(self.el(r, "ram:SpecifiedTaxRegistration"), "ram:ID", rep.vat_id, schemeID="VA")
        if self.at_least(Profile.EN16931):
            self.referenced(ag, "ram:SellerOrderReferencedDocument", inv.sales_order_reference)
        self.referenced(ag, "ram:BuyerOrderReferencedDocument", inv.purchase_order_reference)
        if self.at_least(Profile.BASIC_WL):
            self.referenced(ag, "ram:ContractReferencedDocument", inv.contract_reference)
        if not self.at_least(Profile.EN16931):
            return
        for att in inv.attachments:
            d = self.el(ag, "ram:AdditionalReferencedDocument")
            self.el(d, "ram:IssuerAssignedID", att.reference or "")
            self.opt(d, "ram:URIID", att.uri)
            self.el(d, "ram:TypeCode", "916")
            self.opt(d, "ram:Name", att.description)
        if inv.tender_reference:
            d = self.el(ag, "ram:AdditionalReferencedDocument")
            self.el(d, "ram:IssuerAssignedID", inv.tender_reference)
            self.el(d, "ram:TypeCode", "50")
        if inv.invoiced_object is not None:
            d = self.el(ag, "ram:AdditionalReferencedDocument")
            self.el(d, "ram:IssuerAssignedID", inv.invoiced_object.value)
            self.el(d, "ram:TypeCode", "130")
            self.opt(d, "ram:ReferenceTypeCode", inv.invoiced_object.scheme)
        if inv.project_reference:
            proj = self.el(ag, "ram:SpecifiedProcuringProject")
            self.el(proj, "ram:ID", inv.project_reference)
            self.el(proj, "ram:Name", "Project reference")

    def delivery(self, tx: etree._Element) -> None:
        inv = self.inv
        dl = self.el(tx, "ram:ApplicableHeaderTradeDelivery")
        if not self.at_least(Profile.BASIC_WL):
            return
        d = inv.delivery
        if d is not None and (d.party_name or d.location_id or d.address):
            ship = self.el(dl, "ram:ShipToTradeParty")
            if d.location_id is not None:
                if d.location_id.scheme:
                    self.el(ship, "ram:GlobalID", d.location_id.value, schemeID=d.location_id.scheme)
                else:
                    self.el(ship, "ram:ID", d.location_id.value)
            self.opt(ship, "ram:Name", d.party_name)
            self.address(ship, d.address)
        if d is not None and d.actual_delivery_date is not None:
            ev = self.el(dl, "ram:ActualDeliverySupplyChainEvent")
            self.date_time(ev, "ram:OccurrenceDateTime", d.actual_delivery_date)
        self.referenced(dl, "ram:DespatchAdviceReferencedDocument", inv.despatch_advice_reference)
        if self.at_least(Profile.EN16931):
            self.referenced(dl, "ram:ReceivingAdviceReferencedDocument", inv.receiving_advice_reference)

    # -- settlement ----------------------------------------------------------
    def payment_means(self, st: etree._Element, pay: PaymentInstructions) -> None:
        full = self.at_least(Profile.EN16931)
        transfers: list[CreditTransfer | None] = list(pay.credit_transfers) or [None]
        for transfer in transfers:
            m = self.el(st, "ram:SpecifiedTradeSettlementPaymentMeans")
            self.el(m, "ram:TypeCode", pay.means_code or "1")
            if full:
                self.opt(m, "ram:Information", pay.means_text)
                if pay.card_pan:
                    card = self.el(m, "ram:ApplicableTradeSettlementFinancialCard")
                    self.el(card, "ram:ID", pay.card_pan)
                    self.opt(card, "ram:CardholderName", pay.card_holder)
            dd = pay.direct_debit
            if dd is not None and dd.debited_account_id:
                self.el(
                    self.el(m, "ram:PayerPartyDebtorFinancialAccount"), "ram:IBANID", dd.debited_account_id
                )
            if transfer is not None and (transfer.account_id or transfer.account_name):
                acct = self.el(m, "ram:PayeePartyCreditorFinancialAccount")
                self.opt(acct, "ram:IBANID", transfer.account_id)
                if full:
                    self.opt(acct, "ram:AccountName", transfer.account_name)
            if full and transfer is not None and transfer.bic:
                bank = self.el(m, "ram:PayeeSpecifiedCreditorFinancialInstitution")
                self.el(bank, "ram:BICID", transfer.bic)

    def trade_tax(self, st: etree._Element, vat: VatBreakdown, currency: str | None, first: bool) -> None:
        t = self.el(st, "ram:ApplicableTradeTax")
        self.amount(t, "ram:CalculatedAmount", vat.tax_amount)
        self.el(t, "ram:TypeCode", "VAT")
        self.opt(t, "ram:ExemptionReason", vat.exemption_reason)
        self.amount(t, "ram:BasisAmount", vat.taxable_amount)
        self.el(t, "ram:CategoryCode", vat.category or "S")
        self.opt(t, "ram:ExemptionReasonCode", vat.exemption_reason_code)
        if first and self.at_least(Profile.EN16931) and self.inv.tax_point_date is not None:
            point = self.el(t, "ram:TaxPointDate")
            self.el(point, "udt:DateString", self.inv.tax_point_date.strftime("%Y%m%d"), format="102")
        if vat.rate is not None:
            self.el(t, "ram:RateApplicablePercent", fmt_decimal(vat.rate))

    def allowance_charge(self, parent: etree._Element, ac: AllowanceCharge) -> None:
        a = self.el(parent, "ram:SpecifiedTradeAllowanceCharge")
        self.indicator(a, ac.is_charge)
        if ac.percentage is not None:
            self.el(a, "ram:CalculationPercent", fmt_decimal(ac.percentage))
        self.amount(a, "ram:BasisAmount", ac.base_amount)
        self.amount(a, "ram:ActualAmount", ac.amount)
        self.opt(a, "ram:ReasonCode", ac.reason_code)
        self.opt(a, "ram:Reason", ac.reason)
        tax = self.el(a, "ram:CategoryTradeTax")
        self.el(tax, "ram:TypeCode", "VAT")
        self.el(tax, "ram:CategoryCode", ac.vat_category or "S")
        if ac.vat_rate is not None:
            self.el(tax, "ram:RateApplicablePercent", fmt_decimal(ac.vat_rate))

    def period(self, parent: etree._Element, start: date | None, end: date | None) -> None:
        if start is None and end is None:
            return
        p = self.el(parent, "ram:BillingSpecifiedPeriod")
        self.date_time(p, "ram:StartDateTime", start)
        self.date_time(p, "ram:EndDateTime", end)

    def settlement(self, tx: etree._Element) -> None:
        inv = self.inv
        st = self.el(tx, "ram:ApplicableHeaderTradeSettlement")
        pay = inv.payment
        wl = self.at_least(Profile.BASIC_WL)
        if wl and pay is not None:
            if pay.direct_debit is not None:
                self.opt(st, "ram:CreditorReferenceID", pay.direct_debit.creditor_id)
            self.opt(st, "ram:PaymentReference", pay.remittance_information)
        if wl:
            self.opt(st, "ram:TaxCurrencyCode", inv.vat_currency)
        self.el(st, "ram:InvoiceCurrencyCode", inv.currency or "")
        if wl and inv.payee is not None:
            pe = self.el(st, "ram:PayeeTradeParty")
            if inv.payee.identifier is not None:
                self.identifiers(pe, [inv.payee.identifier])
            self.el(pe, "ram:Name", inv.payee.name or "")
            if inv.payee.legal_registration is not None:
                org = self.el(pe, "ram:SpecifiedLegalOrganization")
                reg = inv.payee.legal_registration
                self.el(org, "ram:ID", reg.value, **({"schemeID": reg.scheme} if reg.scheme else {}))
        if wl and pay is not None:
            self.payment_means(st, pay)
        if wl:
            for index, vat in enumerate(inv.vat_breakdown):
                self.trade_tax(st, vat, inv.currency, index == 0)
            self.period(st, inv.invoice_period_start, inv.invoice_period_end)
            for ac in inv.allowances_charges:
                self.allowance_charge(st, ac)
            mandate = pay.direct_debit.mandate_reference if pay and pay.direct_debit else None
            if inv.payment_terms or inv.due_date or mandate:
                terms = self.el(st, "ram:SpecifiedTradePaymentTerms")
                self.opt(terms, "ram:Description", inv.payment_terms)
                self.date_time(terms, "ram:DueDateDateTime", inv.due_date)
                self.opt(terms, "ram:DirectDebitMandateID", mandate)
        self.summation(st)
        if wl:
            for prec in inv.preceding_invoices:
                ref = self.el(st, "ram:InvoiceReferencedDocument")
                self.el(ref, "ram:IssuerAssignedID", prec.number)
                self.date_time(ref, "ram:FormattedIssueDateTime", prec.issue_date, ns="qdt")
            if inv.buyer_accounting_reference:
                acc = self.el(st, "ram:ReceivableSpecifiedTradeAccountingAccount")
                self.el(acc, "ram:ID", inv.buyer_accounting_reference)

    def summation(self, st: etree._Element) -> None:
        inv, tot = self.inv, self.inv.totals
        s = self.el(st, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
        wl = self.at_least(Profile.BASIC_WL)
        if wl:
            self.amount(s, "ram:LineTotalAmount", tot.line_total)
            self.amount(s, "ram:ChargeTotalAmount", tot.charge_total)
            self.amount(s, "ram:AllowanceTotalAmount", tot.allowance_total)
        self.amount(s, "ram:TaxBasisTotalAmount", tot.total_without_vat)
        self.amount(s, "ram:TaxTotalAmount", tot.total_vat, inv.currency or "EUR")
        if wl and inv.vat_currency:
            self.amount(s, "ram:TaxTotalAmount", tot.total_vat_accounting, inv.vat_currency)
        if self.at_least(Profile.EN16931):
            self.amount(s, "ram:RoundingAmount", tot.rounding)
        self.amount(s, "ram:GrandTotalAmount", tot.total_with_vat)
        if wl:
            self.amount(s, "ram:TotalPrepaidAmount", tot.prepaid)
        self.amount(s, "ram:DuePayableAmount", tot.amount_due)

    # -- lines -----------------------------------------------------------------
    def line_allowance(self, parent: etree._Element, ac: LineAllowanceCharge) -> None:
        a = self.el(parent, "ram:SpecifiedTradeAllowanceCharge")
        self.indicator(a, ac.is_charge)
        if ac.percentage is not None:
            self.el(a, "ram:CalculationPercent", fmt_decimal(ac.percentage))
        self.amount(a, "ram:BasisAmount", ac.base_amount)
        self.amount(a, "ram:ActualAmount", ac.amount)
        self.opt(a, "ram:ReasonCode", ac.reason_code)
        self.opt(a, "ram:Reason", ac.reason)

    def basis_quantity(self, parent: etree._Element, line: Line) -> None:
        if line.price_base_quantity is None:
            return
        qty = fmt_decimal(line.price_base_quantity)
        if line.price_base_unit:
            self.el(parent, "ram:BasisQuantity", qty, unitCode=line.price_base_unit)
        else:
            self.el(parent, "ram:BasisQuantity", qty)

    def line(self, tx: etree._Element, line: Line, index: int) -> None:
        full = self.at_least(Profile.EN16931)
        li = self.el(tx, "ram:IncludedSupplyChainTradeLineItem")
        doc = self.el(li, "ram:AssociatedDocumentLineDocument")
        self.el(doc, "ram:LineID", line.line_id or str(index))
        if line.note:
            self.el(self.el(doc, "ram:IncludedNote"), "ram:Content", line.note)

        item = line.item
        prod = self.el(li, "ram:SpecifiedTradeProduct")
        if item.standard_id is not None:
            self.opt(prod, "ram:GlobalID", item.standard_id.value, schemeID=item.standard_id.scheme)
        if full:
            self.opt(prod, "ram:SellerAssignedID", item.sellers_id)
            self.opt(prod, "ram:BuyerAssignedID", item.buyers_id)
        self.el(prod, "ram:Name", item.name or "")
        if full:
            self.opt(prod, "ram:Description", item.description)
            for attr in item.attributes:
                ch = self.el(prod, "ram:ApplicableProductCharacteristic")
                self.el(ch, "ram:Description", attr.name)
                self.el(ch, "ram:Value", attr.value)
            for cls in item.classification_ids:
                c = self.el(prod, "ram:DesignatedProductClassification")
                self.opt(c, "ram:ClassCode", cls.value, listID=cls.scheme)
            if item.origin_country:
                self.el(self.el(prod, "ram:OriginTradeCountry"), "ram:ID", item.origin_country)

        ag = self.el(li, "ram:SpecifiedLineTradeAgreement")
        if full and line.order_line_reference:
            self.el(self.el(ag, "ram:BuyerOrderReferencedDocument"), "ram:LineID", line.order_line_reference)
        if line.gross_price is not None:
            gross = self.el(ag, "ram:GrossPriceProductTradePrice")
            self.amount(gross, "ram:ChargeAmount", line.gross_price)
            self.basis_quantity(gross, line)
            if line.price_discount is not None:
                disc = self.el(gross, "ram:AppliedTradeAllowanceCharge")
                self.indicator(disc, False)
                self.amount(disc, "ram:ActualAmount", line.price_discount)
        net = self.el(ag, "ram:NetPriceProductTradePrice")
        self.amount(net, "ram:ChargeAmount", line.net_price if line.net_price is not None else Decimal("0"))
        self.basis_quantity(net, line)

        dl = self.el(li, "ram:SpecifiedLineTradeDelivery")
        self.el(
            dl,
            "ram:BilledQuantity",
            fmt_decimal(line.quantity or Decimal("0")),
            unitCode=line.unit_code or "C62",
        )

        st = self.el(li, "ram:SpecifiedLineTradeSettlement")
        tax = self.el(st, "ram:ApplicableTradeTax")
        self.el(tax, "ram:TypeCode", "VAT")
        self.el(tax, "ram:CategoryCode", line.vat_category or "S")
        if line.vat_rate is not None:
            self.el(tax, "ram:RateApplicablePercent", fmt_decimal(line.vat_rate))
        self.period(st, line.period_start, line.period_end)
        for ac in line.allowances_charges:
            self.line_allowance(st, ac)
        summ = self.el(st, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        self.amount(
            summ, "ram:LineTotalAmount", line.net_amount if line.net_amount is not None else Decimal("0")
        )
        if full and line.object_id is not None:
            ref = self.el(st, "ram:AdditionalReferencedDocument")
            self.el(ref, "ram:IssuerAssignedID", line.object_id.value)
            self.el(ref, "ram:TypeCode", "130")
            self.opt(ref, "ram:ReferenceTypeCode", line.object_id.scheme)
        if full and line.accounting_reference:
            acc = self.el(st, "ram:ReceivableSpecifiedTradeAccountingAccount")
            self.el(acc, "ram:ID", line.accounting_reference)


def to_cii(invoice: Invoice, *, profile: Profile = Profile.EN16931) -> bytes:
    """The invoice as CII D16B XML for a Factur-X profile, UTF-8 with an XML declaration.

    BT-24 is the profile's guideline identifier, whatever ``invoice.specification_id``
    says: the XML must say which profile it follows.
    """
    root = _Writer(invoice, profile).build()
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
