"""The canonical invoice: the EN 16931-1 semantic model, typed.

Every field names its business term (BT-n) or business group (BG-n) in its
metadata, so a report or a page can say "BT-9 Payment due date" the way the
norm does. Amounts are :class:`~decimal.Decimal`, never float; dates are
:class:`~datetime.date`.

>>> Invoice.term_of("due_date")
'BT-9'
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def term(term_id: str, default: Any = None, **kwargs: Any) -> Any:
    """A model field tagged with its EN 16931 business term or group id."""
    if "default_factory" in kwargs:
        return Field(json_schema_extra={"term": term_id}, **kwargs)
    return Field(default=default, json_schema_extra={"term": term_id}, **kwargs)


def terms(term_id: str) -> Any:
    """A repeatable group (list field) tagged with its EN 16931 id."""
    return Field(default_factory=list, json_schema_extra={"term": term_id})


class Syntax(StrEnum):
    """The XML syntax an invoice was expressed in."""

    CII = "cii"
    UBL = "ubl"
    ZUGFERD1 = "zugferd1"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    @classmethod
    def term_of(cls, field_name: str) -> str | None:
        """The BT/BG id of a field, or None when the field is ours alone."""
        extra = cls.model_fields[field_name].json_schema_extra
        if isinstance(extra, dict):
            value = extra.get("term")
            return str(value) if value is not None else None
        return None


class Identifier(_Model):
    """An identifier with its scheme (ISO 6523 ICD, e.g. 0002 = SIREN, 0009 = SIRET)."""

    value: str
    scheme: str | None = None


class Note(_Model):
    """BG-1 Invoice note."""

    subject_code: str | None = term("BT-21")
    text: str = term("BT-22")


class Address(_Model):
    """BG-5 / BG-8 / BG-12 / BG-15 postal address."""

    line1: str | None = term("BT-35")
    line2: str | None = term("BT-36")
    line3: str | None = term("BT-162")
    city: str | None = term("BT-37")
    postcode: str | None = term("BT-38")
    subdivision: str | None = term("BT-39")
    country_code: str | None = term("BT-40")


class Contact(_Model):
    """BG-6 / BG-9 contact."""

    name: str | None = term("BT-41")
    phone: str | None = term("BT-42")
    email: str | None = term("BT-43")


#: The buyer's (BG-7) term for each of the seller's (BG-4) party terms.
BUYER_TERMS: dict[str, str] = {
    "BG-4": "BG-7",
    "BT-27": "BT-44",
    "BT-28": "BT-45",
    "BT-29": "BT-46",
    "BT-30": "BT-47",
    "BT-31": "BT-48",
    "BT-34": "BT-49",
    "BG-5": "BG-8",
    "BG-6": "BG-9",
    "BT-35": "BT-50",
    "BT-36": "BT-51",
    "BT-162": "BT-163",
    "BT-37": "BT-52",
    "BT-38": "BT-53",
    "BT-39": "BT-54",
    "BT-40": "BT-55",
    "BT-41": "BT-56",
    "BT-42": "BT-57",
    "BT-43": "BT-58",
}


class Party(_Model):
    """BG-4 Seller / BG-7 Buyer.

    The field metadata carries the seller's term ids; :meth:`term_for` gives the
    buyer's (BT-44 for the name, BT-49 for the electronic address...).

    >>> Party.term_for("electronic_address", buyer=True)
    'BT-49'
    """

    @classmethod
    def term_for(cls, field_name: str, *, buyer: bool = False) -> str | None:
        """The term id of a party field for the seller, or for the buyer."""
        seller_term = cls.term_of(field_name)
        if seller_term is None or not buyer:
            return seller_term
        return BUYER_TERMS.get(seller_term)

    name: str | None = term("BT-27")
    trading_name: str | None = term("BT-28")
    identifiers: list[Identifier] = terms("BT-29")
    legal_registration: Identifier | None = term("BT-30")
    vat_id: str | None = term("BT-31")
    tax_registration_id: str | None = term("BT-32")
    legal_form: str | None = term("BT-33")
    electronic_address: Identifier | None = term("BT-34")
    address: Address | None = term("BG-5")
    contact: Contact | None = term("BG-6")

    @property
    def siren(self) -> str | None:
        """The French SIREN (9 digits), from the legal registration or a SIRET."""
        for ident in [self.legal_registration, *self.identifiers]:
            if ident is None:
                continue
            digits = ident.value.replace(" ", "")
            if ident.scheme == "0002" and len(digits) == 9:
                return digits
            if ident.scheme == "0009" and len(digits) == 14:
                return digits[:9]
        return None


class Payee(_Model):
    """BG-10 Payee."""

    name: str | None = term("BT-59")
    identifier: Identifier | None = term("BT-60")
    legal_registration: Identifier | None = term("BT-61")


class TaxRepresentative(_Model):
    """BG-11 Seller tax representative party."""

    name: str | None = term("BT-62")
    vat_id: str | None = term("BT-63")
    address: Address | None = term("BG-12")


class Delivery(_Model):
    """BG-13 Delivery information."""

    party_name: str | None = term("BT-70")
    location_id: Identifier | None = term("BT-71")
    actual_delivery_date: date | None = term("BT-72")
    period_start: date | None = term("BT-73")
    period_end: date | None = term("BT-74")
    address: Address | None = term("BG-15")


class CreditTransfer(_Model):
    """BG-17 Credit transfer."""

    account_id: str | None = term("BT-84", description="IBAN or other account id")
    account_name: str | None = term("BT-85")
    bic: str | None = term("BT-86")


class DirectDebit(_Model):
    """BG-19 Direct debit."""

    mandate_reference: str | None = term("BT-89")
    creditor_id: str | None = term("BT-90")
    debited_account_id: str | None = term("BT-91")


class PaymentInstructions(_Model):
    """BG-16 Payment instructions."""

    means_code: str | None = term("BT-81")
    means_text: str | None = term("BT-82")
    remittance_information: str | None = term("BT-83", description="creditor reference")
    credit_transfers: list[CreditTransfer] = terms("BG-17")
    card_pan: str | None = term("BT-87")
    card_holder: str | None = term("BT-88")
    direct_debit: DirectDebit | None = term("BG-19")


class AllowanceCharge(_Model):
    """BG-20 Document level allowance / BG-21 charge (ids given for allowances)."""

    is_charge: bool = False
    amount: Decimal = term("BT-92")
    base_amount: Decimal | None = term("BT-93")
    percentage: Decimal | None = term("BT-94")
    vat_category: str | None = term("BT-95")
    vat_rate: Decimal | None = term("BT-96")
    reason: str | None = term("BT-97")
    reason_code: str | None = term("BT-98")


class VatBreakdown(_Model):
    """BG-23 VAT breakdown."""

    taxable_amount: Decimal | None = term("BT-116")
    tax_amount: Decimal | None = term("BT-117")
    category: str | None = term("BT-118")
    rate: Decimal | None = term("BT-119")
    exemption_reason: str | None = term("BT-120")
    exemption_reason_code: str | None = term("BT-121")


class Totals(_Model):
    """BG-22 Document totals."""

    line_total: Decimal | None = term("BT-106")
    allowance_total: Decimal | None = term("BT-107")
    charge_total: Decimal | None = term("BT-108")
    total_without_vat: Decimal | None = term("BT-109")
    total_vat: Decimal | None = term("BT-110")
    total_vat_accounting: Decimal | None = term("BT-111")
    total_with_vat: Decimal | None = term("BT-112")
    prepaid: Decimal | None = term("BT-113")
    rounding: Decimal | None = term("BT-114")
    amount_due: Decimal | None = term("BT-115")


class LineAllowanceCharge(_Model):
    """BG-27 Invoice line allowance / BG-28 charge (ids given for allowances)."""

    is_charge: bool = False
    amount: Decimal = term("BT-136")
    base_amount: Decimal | None = term("BT-137")
    percentage: Decimal | None = term("BT-138")
    reason: str | None = term("BT-139")
    reason_code: str | None = term("BT-140")


class ItemAttribute(_Model):
    """BG-32 Item attribute."""

    name: str = term("BT-160")
    value: str = term("BT-161")


class Item(_Model):
    """BG-31 Item information."""

    name: str | None = term("BT-153")
    description: str | None = term("BT-154")
    sellers_id: str | None = term("BT-155")
    buyers_id: str | None = term("BT-156")
    standard_id: Identifier | None = term("BT-157")
    classification_ids: list[Identifier] = terms("BT-158")
    origin_country: str | None = term("BT-159")
    attributes: list[ItemAttribute] = terms("BG-32")


class Line(_Model):
    """BG-25 Invoice line."""

    line_id: str | None = term("BT-126")
    note: str | None = term("BT-127")
    object_id: Identifier | None = term("BT-128")
    quantity: Decimal | None = term("BT-129")
    unit_code: str | None = term("BT-130")
    net_amount: Decimal | None = term("BT-131")
    order_line_reference: str | None = term("BT-132")
    accounting_reference: str | None = term("BT-133")
    period_start: date | None = term("BT-134")
    period_end: date | None = term("BT-135")
    allowances_charges: list[LineAllowanceCharge] = terms("BG-27")
    net_price: Decimal | None = term("BT-146")
    price_discount: Decimal | None = term("BT-147")
    gross_price: Decimal | None = term("BT-148")
    price_base_quantity: Decimal | None = term("BT-149")
    price_base_unit: str | None = term("BT-150")
    vat_category: str | None = term("BT-151")
    vat_rate: Decimal | None = term("BT-152")
    item: Item = term("BG-31", default_factory=Item)


class PrecedingInvoice(_Model):
    """BG-3 Preceding invoice reference."""

    number: str = term("BT-25")
    issue_date: date | None = term("BT-26")


class Attachment(_Model):
    """BG-24 Additional supporting document (content kept as its size only)."""

    reference: str | None = term("BT-122")
    description: str | None = term("BT-123")
    uri: str | None = term("BT-124")
    mime_code: str | None = term("BT-125-1")
    filename: str | None = term("BT-125-2")
    size: int | None = term("BT-125", description="size in bytes of the embedded object")


class Invoice(_Model):
    """BG-0 An invoice or credit note as EN 16931 describes it."""

    syntax: Syntax = Syntax.CII
    number: str | None = term("BT-1")
    issue_date: date | None = term("BT-2")
    type_code: str | None = term("BT-3")
    currency: str | None = term("BT-5")
    vat_currency: str | None = term("BT-6")
    tax_point_date: date | None = term("BT-7")
    due_date: date | None = term("BT-9")
    buyer_reference: str | None = term("BT-10")
    project_reference: str | None = term("BT-11")
    contract_reference: str | None = term("BT-12")
    purchase_order_reference: str | None = term("BT-13")
    sales_order_reference: str | None = term("BT-14")
    receiving_advice_reference: str | None = term("BT-15")
    despatch_advice_reference: str | None = term("BT-16")
    tender_reference: str | None = term("BT-17")
    invoiced_object: Identifier | None = term("BT-18")
    buyer_accounting_reference: str | None = term("BT-19")
    payment_terms: str | None = term("BT-20")
    notes: list[Note] = terms("BG-1")
    business_process: str | None = term("BT-23")
    specification_id: str | None = term("BT-24")
    preceding_invoices: list[PrecedingInvoice] = terms("BG-3")
    seller: Party = term("BG-4", default_factory=Party)
    buyer: Party = term("BG-7", default_factory=Party)
    payee: Payee | None = term("BG-10")
    tax_representative: TaxRepresentative | None = term("BG-11")
    delivery: Delivery | None = term("BG-13")
    invoice_period_start: date | None = term("BT-73")
    invoice_period_end: date | None = term("BT-74")
    payment: PaymentInstructions | None = term("BG-16")
    allowances_charges: list[AllowanceCharge] = terms("BG-20")
    totals: Totals = term("BG-22", default_factory=Totals)
    vat_breakdown: list[VatBreakdown] = terms("BG-23")
    attachments: list[Attachment] = terms("BG-24")
    lines: list[Line] = terms("BG-25")

    @property
    def is_credit_note(self) -> bool:
        """True for type codes of credit notes (UNTDID 1001: 381, 396, 502, 503...)."""
        return self.type_code in {"81", "83", "261", "262", "296", "308", "381", "396", "420", "458", "532"}

    def summary(self) -> dict[str, Any]:
        """The receivables-relevant terms, JSON-ready (amounts as strings)."""

        def s(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        return {
            "number": self.number,
            "issue_date": self.issue_date.isoformat() if self.issue_date else None,
            "type_code": self.type_code,
            "seller": self.seller.name,
            "buyer": self.buyer.name,
            "currency": self.currency,
            "total_without_vat": s(self.totals.total_without_vat),
            "total_vat": s(self.totals.total_vat),
            "total_with_vat": s(self.totals.total_with_vat),
            "amount_due": s(self.totals.amount_due),
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }
