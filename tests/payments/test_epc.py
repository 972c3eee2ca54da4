"""EPC069-12 payloads: every field rule of version 002, and agreement with segno's own builder."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import segno.helpers
from hypothesis import given
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum import iso11649

from payments.epc import EpcRejected, epc_payload, epc_svg
from payments.rf import create_rf
from payments.transfer import invoice_rf

IBAN = "FR7630006000011234567890189"
AMOUNT_LINE = re.compile(r"^EUR(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$")


def check_epc_rules(payload: str) -> list[str]:
    """The payload's lines after checking each against EPC069-12 v002 (independent of the builder)."""
    assert len(payload.encode("utf-8")) <= 331
    assert not payload.endswith("\n")
    lines = payload.split("\n")
    assert 10 <= len(lines) <= 12
    assert lines[:4] == ["BCD", "002", "1", "SCT"]  # service tag, version, UTF-8, identification
    assert lines[4] == "" or re.fullmatch(r"[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?", lines[4])
    assert 1 <= len(lines[5]) <= 70 and "\n" not in lines[5]
    assert stdnum_iban.is_valid(lines[6]) and lines[6] == lines[6].upper() and " " not in lines[6]
    if lines[7]:
        assert AMOUNT_LINE.match(lines[7])
        assert Decimal("0.01") <= Decimal(lines[7][3:]) <= Decimal("999999999.99")
    assert lines[8] == "" or re.fullmatch(r"[A-Z]{4}", lines[8])
    assert len(lines[9]) <= 35 and iso11649.is_valid(lines[9])  # structured: an RF reference
    assert len(lines) == 10 or lines[10] == ""  # structured and unstructured are exclusive
    return lines


def test_the_payload_follows_the_field_rules_and_matches_segno():
    payload = epc_payload(
        name="Encaisse Démo SAS",
        iban="fr76 3000 6000 0112 3456 7890 189",
        bic="agrifrpp",
        amount=Decimal("1234.5"),
        reference="RF18 5390 0754 7034",
        purpose="GDDS",
    )
    lines = check_epc_rules(payload)
    assert lines[4:] == ["AGRIFRPP", "Encaisse Démo SAS", IBAN, "EUR1234.50", "GDDS", "RF18539007547034"]
    theirs = (
        segno.helpers._make_epc_qr_data(  # type: ignore[attr-defined]
            name="Encaisse Démo SAS",
            iban=IBAN,
            amount=Decimal("1234.50"),
            reference="RF18539007547034",
            bic="AGRIFRPP",
            purpose="GDDS",
            encoding="utf-8",
        )
        .decode("utf-8")
        .split("\n")
    )
    assert theirs[7] == "EUR1234.5"  # the same amount, written without the trailing zero
    assert lines[:7] + lines[8:] == theirs[:7] + theirs[8:]


def test_without_bic_or_amount():
    lines = check_epc_rules(epc_payload(name="X", iban=IBAN, amount=None, reference=create_rf("F-1")))
    assert lines[4] == "" and lines[7] == ""


@pytest.mark.parametrize(
    "kwargs, where",
    [
        ({"name": "N" * 71}, "name"),
        ({"name": "   "}, "name"),
        ({"iban": "FR7630006000011234567890180"}, "iban"),
        ({"bic": "NOTABIC!"}, "iban"),
        ({"reference": "RF19539007547034"}, "reference"),
        ({"reference": "FA-2026-001"}, "reference"),
        ({"amount": Decimal("0.00")}, "amount"),
        ({"amount": Decimal("1000000000.00")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
        ({"purpose": "gdds"}, "purpose"),
    ],
)
def test_values_outside_the_rules_are_refused(kwargs: dict[str, object], where: str) -> None:
    values: dict[str, Any] = {
        "name": "Encaisse",
        "iban": IBAN,
        "amount": Decimal("1.00"),
        "reference": "RF18539007547034",
    }
    values.update(kwargs)
    with pytest.raises(EpcRejected) as caught:
        epc_payload(**values)
    assert caught.value.where == where


@given(
    name=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=70
    ),
    cents=st.integers(min_value=1, max_value=99_999_999_999),
    number=st.from_regex(r"[A-Z0-9][A-Z0-9-]{0,19}", fullmatch=True),
)
def test_any_valid_input_gives_a_payload_within_the_rules(name, cents, number):
    if not name.split():
        return
    try:
        payload = epc_payload(
            name=name, iban=IBAN, amount=Decimal(cents) / 100, reference=create_rf(number), bic="AGRIFRPP"
        )
    except EpcRejected as exc:  # only the byte limit may refuse a valid input
        assert "331 bytes" in exc.message
        return
    check_epc_rules(payload)


def test_the_qr_code_is_an_inline_svg_at_level_m():
    payload = epc_payload(name="Encaisse", iban=IBAN, amount=Decimal("9.99"), reference="RF18539007547034")
    svg = epc_svg(payload)
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "<path" in svg
    qr = segno.make(payload, error="m", boost_error=False, micro=False, encoding="utf-8")
    assert qr.error == "M" and int(qr.version) <= 13


def test_each_invoice_gets_its_own_valid_reference():
    refs = {invoice_rf(number=f"FA-2026-{i:05d}", payment_reference=None, invoice_id=i) for i in range(500)}
    assert len(refs) == 500 and all(iso11649.is_valid(r) for r in refs)
    long_number = "F" * 40
    assert iso11649.is_valid(invoice_rf(number=long_number, payment_reference=None, invoice_id=7))
    assert invoice_rf(number="x", payment_reference="RF18 5390 0754 7034", invoice_id=1) == "RF18539007547034"
    assert invoice_rf(number="FA-1", payment_reference="RF-FA-1", invoice_id=1) == create_rf("FA-1")
