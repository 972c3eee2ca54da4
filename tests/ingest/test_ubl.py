"""UBL 2.1 Invoice and CreditNote parsing: hand-checked corpus values and edge cases."""

from __future__ import annotations

import base64
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from ingest.parse import parse_invoice, sniff_syntax
from ingest.safexml import parse_xml
from ingest.ubl import parse_ubl
from schemas.errors import ErrorCode, InputRejected
from schemas.invoice import Invoice, Syntax

D = Decimal


def load(corpus: Path, rel: str) -> Invoice:
    return parse_invoice((corpus / rel).read_bytes())


def embedded_lengths(corpus: Path, rel: str) -> list[int]:
    root = parse_xml((corpus / rel).read_bytes())
    found = root.xpath("//*[local-name()='EmbeddedDocumentBinaryObject']")
    assert isinstance(found, list)
    nodes = [n for n in found if isinstance(n, etree._Element)]
    return [len(base64.b64decode("".join((n.text or "").split()))) for n in nodes]


@pytest.mark.corpus
def test_invoice_full_model(corpus: Path) -> None:
    rel = "ubl-xml/cen-en16931/ubl/examples/ubl-tc434-example5.xml"
    inv = load(corpus, rel)
    assert inv.syntax is Syntax.UBL
    assert (inv.number, inv.issue_date, inv.type_code, inv.due_date) == (
        "TOSL110",
        date(2013, 4, 10),
        "380",
        date(2013, 5, 10),
    )
    assert (inv.currency, inv.vat_currency, inv.business_process) == ("DKK", "EUR", "1")
    assert inv.tender_reference == "Lot567"
    assert (inv.project_reference, inv.contract_reference) == ("Project345", "2013-05")
    assert (inv.purchase_order_reference, inv.sales_order_reference) == ("PO4711", "123")
    assert [(p.number, p.issue_date) for p in inv.preceding_invoices] == [("TOSL109", date(2013, 3, 10))]
    s = inv.seller
    assert (s.name, s.trading_name, s.legal_form) == ("SellerCompany", "SelCo", "Export")
    assert s.vat_id == "NL16356706" and s.tax_registration_id == "NL16356706"
    assert s.electronic_address is not None and s.electronic_address.scheme == "EM"
    assert inv.buyer.contact is not None and inv.buyer.contact.name == "John Hansen"
    assert inv.payee is not None and inv.payee.name == "Dagobert Duck"
    assert inv.tax_representative is not None and inv.tax_representative.vat_id == "DK16356609"
    d = inv.delivery
    assert (
        d is not None
        and d.party_name == "Logistic service Ltd"
        and d.actual_delivery_date == date(2013, 4, 15)
    )
    assert d.address is not None and d.address.line2 == "Gate 15"
    assert (inv.invoice_period_start, inv.invoice_period_end) == (date(2013, 3, 10), date(2013, 4, 10))
    # BG-16/BG-19: direct debit with mandate and debited account
    p = inv.payment
    assert p is not None and (p.means_code, p.remittance_information) == ("49", "Payref1")
    assert p.direct_debit is not None
    assert (p.direct_debit.mandate_reference, p.direct_debit.debited_account_id) == (
        "123456",
        "DK1212341234123412",
    )
    assert [
        (a.is_charge, a.amount, a.base_amount, a.percentage, a.reason_code) for a in inv.allowances_charges
    ] == [
        (False, D("150.00"), D("1500.00"), D("10"), "100"),
        (True, D("150.00"), D("1500.00"), D("10"), "ABL"),
    ]
    t = inv.totals
    assert (t.total_without_vat, t.total_vat, t.total_vat_accounting, t.total_with_vat) == (
        D("4000.00"),
        D("675.00"),
        D("628.62"),
        D("4675.00"),
    )
    assert (t.prepaid, t.amount_due) == (D("2337.50"), D("2337.50"))
    assert [v.rate for v in inv.vat_breakdown] == [D("25"), D("12")]  # only the invoice-currency TaxTotal
    # BG-24: one reference without content, one embedded PDF
    assert [(a.reference, a.size) for a in inv.attachments] == [("OBJ999", None), ("sales slip", 23)]
    assert embedded_lengths(corpus, rel) == [23]
    line = inv.lines[0]
    assert (line.line_id, line.note, line.quantity, line.unit_code) == ("1", "first line", D("1000"), "EA")
    assert line.object_id is not None and line.object_id.value == "Object2"
    assert [(a.is_charge, a.amount) for a in line.allowances_charges] == [
        (False, D("100.00")),
        (True, D("100.00")),
    ]
    assert (line.net_price, line.price_discount, line.gross_price) == (D("1.00"), D("0.10"), D("1.10"))
    assert [(c.value, c.scheme) for c in line.item.classification_ids] == [("12344321", "ZZZ")]
    assert line.item.standard_id is not None and line.item.standard_id.scheme == "0088"


@pytest.mark.corpus
def test_credit_note_max_content(corpus: Path) -> None:
    rel = "ubl-xml/cen-en16931/test/testfiles/CreditNote-Max_content.xml"
    inv = load(corpus, rel)
    assert (inv.number, inv.type_code, inv.is_credit_note) == ("2018210", "381", True)
    assert inv.due_date is None  # its PaymentDueDate sits in a comment
    assert inv.invoiced_object is not None
    assert (inv.invoiced_object.value, inv.invoiced_object.scheme) == ("ABC123", "VT")
    assert [(p.number, p.issue_date) for p in inv.preceding_invoices] == [
        ("Preceding invoice no.1", date(2018, 1, 31)),
        ("Preceding invoice no.2", None),
    ]
    assert inv.seller.legal_registration is not None
    assert (inv.seller.legal_registration.value, inv.seller.legal_registration.scheme) == (
        "1234567890",
        "0007",
    )
    assert inv.seller.tax_registration_id == "Godkänd för F-skatt"
    assert inv.seller.address is not None and inv.seller.address.line3 == "Address-line3"
    assert inv.payee is not None and inv.payee.identifier is not None
    assert (inv.payee.identifier.value, inv.payee.identifier.scheme) == ("7350053850019", "0088")
    assert inv.payment is not None
    assert [(c.account_id, c.bic) for c in inv.payment.credit_transfers][:1] == [
        ("SE1212341234123412341234", "BANKSBIC")
    ]
    assert len(inv.payment.credit_transfers) == 4
    assert (inv.totals.total_vat, inv.totals.total_vat_accounting) == (D("2500"), D("249"))
    assert [(a.reference, a.size, a.uri) for a in inv.attachments] == [
        ("MT123", None, None),
        ("Time report 1", 6, None),
        ("Example 1", None, "http://www.example.com/index.html"),
    ]
    assert embedded_lengths(corpus, rel) == [6]
    [line, _] = inv.lines
    assert (line.quantity, line.unit_code, line.net_amount) == (
        D("500"),
        "EA",
        D("10000"),
    )  # CreditedQuantity
    assert line.object_id is not None and (line.object_id.value, line.object_id.scheme) == (
        "130-DR35141",
        "ABZ",
    )
    assert [c.value for c in line.item.classification_ids] == ["9873242", "SST3242"]
    assert [(a.name, a.value) for a in line.item.attributes] == [
        ("Surface grade", "A11"),
        ("Density", "2.33"),
    ]


@pytest.mark.corpus
def test_credit_note_small(corpus: Path) -> None:
    inv = load(corpus, "ubl-xml/cen-en16931/ubl/examples/ubl-tc434-creditnote1.xml")
    assert (inv.number, inv.type_code, inv.issue_date) == ("018304 / 28865", "381", date(2019, 9, 23))
    assert inv.vat_breakdown[0].exemption_reason == "Taxes are not applicable"
    assert inv.lines[0].quantity == D("1.00")


@pytest.mark.corpus
def test_card_and_sepa(corpus: Path) -> None:
    inv = load(corpus, "ubl-xml/kosit-xrechnung-schematron/ubl-cn/ubl-cn-br-de-23-test-bg-17-with-bg-18.xml")
    assert inv.payment is not None
    assert (inv.payment.card_pan, inv.payment.card_holder) == ("41234", "[Payment card holder name]")


# --- edge cases ----------------------------------------------------------------------------------

UBL_INVOICE = (
    '<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2" '
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">{}</Invoice>'
)
UBL_CREDIT_NOTE = (
    '<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2" '
    'xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2" '
    'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">{}</CreditNote>'
)


def test_credit_note_due_date_from_payment_means() -> None:
    body = (
        "<cbc:ID>CN-1</cbc:ID><cbc:IssueDate>2024-03-01</cbc:IssueDate><cbc:CreditNoteTypeCode>381"
        "</cbc:CreditNoteTypeCode><cac:PaymentMeans>"
        "<cbc:PaymentMeansCode name='Transfer'>58</cbc:PaymentMeansCode>"
        "<cbc:PaymentDueDate>2024-03-31</cbc:PaymentDueDate></cac:PaymentMeans>"
        "<cac:CreditNoteLine><cbc:ID>1</cbc:ID><cbc:CreditedQuantity unitCode='HUR'>2</cbc:CreditedQuantity>"
        "</cac:CreditNoteLine>"
    )
    inv = parse_invoice(UBL_CREDIT_NOTE.format(body).encode())
    assert (inv.number, inv.type_code, inv.due_date) == ("CN-1", "381", date(2024, 3, 31))
    assert inv.payment is not None and (inv.payment.means_code, inv.payment.means_text) == ("58", "Transfer")
    assert [(line.quantity, line.unit_code) for line in inv.lines] == [(D("2"), "HUR")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("2024-02-29+01:00", date(2024, 2, 29)),
        ("2024-02-29Z", date(2024, 2, 29)),
        ("2023-02-29", None),
        ("20240229", None),
        ("29.02.2024", None),
        ("", None),
    ],
)
def test_ubl_dates(text: str, expected: date | None) -> None:
    inv = parse_invoice(UBL_INVOICE.format(f"<cbc:IssueDate>{text}</cbc:IssueDate>").encode())
    assert inv.issue_date == expected


def test_note_subject_codes() -> None:
    body = (
        "<cbc:Note>#AAI#Ordered online</cbc:Note><cbc:Note>#SKONTO#TAGE=7#</cbc:Note>"
        "<cbc:Note>plain</cbc:Note>"
    )
    inv = parse_invoice(UBL_INVOICE.format(body).encode())
    assert [(n.subject_code, n.text) for n in inv.notes] == [
        ("AAI", "Ordered online"),
        (None, "#SKONTO#TAGE=7#"),
        (None, "plain"),
    ]


def test_vat_totals_by_currency_and_bad_amounts() -> None:
    body = (
        "<cbc:DocumentCurrencyCode>USD</cbc:DocumentCurrencyCode><cbc:TaxCurrencyCode>EUR</cbc:TaxCurrencyCode>"
        '<cac:TaxTotal><cbc:TaxAmount currencyID="EUR">80</cbc:TaxAmount></cac:TaxTotal>'
        '<cac:TaxTotal><cbc:TaxAmount currencyID="USD">100</cbc:TaxAmount>'
        "<cac:TaxSubtotal><cbc:TaxableAmount>500</cbc:TaxableAmount><cbc:TaxAmount>100</cbc:TaxAmount>"
        "<cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent></cac:TaxCategory></cac:TaxSubtotal>"
        "</cac:TaxTotal><cac:LegalMonetaryTotal><cbc:PayableAmount>12,00</cbc:PayableAmount>"
        "<cbc:TaxInclusiveAmount> 600.00 </cbc:TaxInclusiveAmount></cac:LegalMonetaryTotal>"
        "<cac:AllowanceCharge><cbc:ChargeIndicator>true</cbc:ChargeIndicator><cbc:Amount>x</cbc:Amount>"
        "</cac:AllowanceCharge>"
    )
    inv = parse_invoice(UBL_INVOICE.format(body).encode())
    assert (inv.totals.total_vat, inv.totals.total_vat_accounting) == (D("100"), D("80"))
    assert [(v.category, v.rate) for v in inv.vat_breakdown] == [("S", D("20"))]
    assert (inv.totals.amount_due, inv.totals.total_with_vat) == (None, D("600.00"))
    assert inv.allowances_charges == []  # no readable amount: left to the schema layers


def test_roots() -> None:
    root = parse_xml(UBL_CREDIT_NOTE.format("").encode())
    assert sniff_syntax(root) is Syntax.UBL
    assert parse_ubl(root).lines == []
    with pytest.raises(InputRejected) as info:
        parse_ubl(parse_xml(b'<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-1"/>'))
    assert info.value.code == ErrorCode.XML_UNKNOWN_ROOT
    with pytest.raises(InputRejected) as info:
        parse_invoice(root, Syntax.CII)
    assert info.value.code == ErrorCode.XML_UNKNOWN_ROOT
