"""The canonical model: typed, Decimal money, every term named by its EN 16931 id."""

from __future__ import annotations

import re
import typing
from datetime import date
from decimal import Decimal

from pydantic import BaseModel

import schemas.invoice as model
from schemas.invoice import Identifier, Invoice, Party, Totals

TERM = re.compile(r"^B[TG]-\d+(-\d+)?$")
#: Fields of ours that are not EN 16931 terms (technical, or flags beside a term).
OURS = {("Invoice", "syntax"), ("AllowanceCharge", "is_charge"), ("LineAllowanceCharge", "is_charge")}


def _models() -> list[type[BaseModel]]:
    return [
        obj
        for obj in vars(model).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == model.__name__
        and not obj.__name__.startswith("_")
    ]


def test_every_field_names_its_term() -> None:
    missing = []
    for cls in _models():
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra
            term = extra.get("term") if isinstance(extra, dict) else None
            if (cls.__name__, name) in OURS or cls is Identifier or cls.__name__ == "Identifier":
                continue
            if not (isinstance(term, str) and TERM.match(term)):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []


def test_money_is_decimal_never_float() -> None:
    floats = []
    for cls in _models():
        hints = typing.get_type_hints(cls)
        for name in cls.model_fields:
            if "float" in repr(hints[name]):
                floats.append(f"{cls.__name__}.{name}")
    assert floats == []
    totals = Totals(total_with_vat="120.10")  # type: ignore[arg-type]
    assert totals.total_with_vat == Decimal("120.10")


def test_issue_terms_are_all_present() -> None:
    wanted = {
        "BT-1",
        "BT-2",
        "BT-3",
        "BT-5",
        "BT-9",
        "BT-10",
        "BT-12",
        "BT-13",
        "BT-20",
        "BT-22",
        "BT-21",
        "BT-23",
        "BT-24",
        "BT-34",
        "BT-49",
        "BT-83",
        "BT-84",
        "BT-86",
        "BT-89",
        "BG-3",
        "BG-10",
        "BG-13",
        "BG-16",
        "BG-20",
        "BG-23",
        "BG-24",
        "BG-25",
        "BT-106",
        "BT-107",
        "BT-108",
        "BT-109",
        "BT-110",
        "BT-111",
        "BT-112",
        "BT-113",
        "BT-114",
        "BT-115",
        "BT-129",
        "BT-130",
        "BT-146",
        "BT-151",
        "BT-152",
        "BG-27",
    }
    present: set[str] = set()
    for cls in _models():
        for field in cls.model_fields.values():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and isinstance(extra.get("term"), str):
                present.add(str(extra["term"]))
    # the buyer reuses the seller's party group; its own ids come from BUYER_TERMS
    present |= {model.BUYER_TERMS[t] for t in present if t in model.BUYER_TERMS}
    assert wanted - present == set()


def test_term_lookup_and_summary() -> None:
    assert Invoice.term_of("number") == "BT-1"
    assert Invoice.term_of("syntax") is None
    assert Party.term_for("name", buyer=True) == "BT-44"
    assert Party.term_for("vat_id") == "BT-31"
    inv = Invoice(
        number="F-1",
        issue_date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        currency="EUR",
        seller=Party(name="Acme", legal_registration=Identifier(value="732829320", scheme="0002")),
        totals=Totals(total_with_vat=Decimal("120.00"), amount_due=Decimal("120.00")),
    )
    summary = inv.summary()
    assert summary["total_with_vat"] == "120.00"
    assert summary["due_date"] == "2026-12-02"
    assert inv.seller.siren == "732829320"
    assert Party(identifiers=[Identifier(value="73282932000074", scheme="0009")]).siren == "732829320"


def test_credit_note_type_codes() -> None:
    assert Invoice(type_code="381").is_credit_note
    assert not Invoice(type_code="380").is_credit_note
