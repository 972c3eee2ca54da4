"""ISO 11649 RF creditor references: creation, validation, search in free text."""

from __future__ import annotations

import pytest
from stdnum import iso11649

from payments.rf import (
    InvalidReference,
    create_rf,
    find_rfs,
    format_rf,
    is_valid_rf,
    normalise_rf,
    validate_rf,
)
from schemas.errors import ErrorCode, InputRejected


@pytest.mark.parametrize("number", ["F-2026-0142", "INV-2026-000123", "2026/77", "abc-1", "X" * 21])
def test_created_references_validate_with_stdnum(number: str) -> None:
    rf = create_rf(number)
    assert iso11649.is_valid(rf)
    assert validate_rf(format_rf(rf)) == rf
    assert rf[4:] == "".join(ch for ch in number if ch.isalnum()).upper()


def test_known_reference_from_the_standard() -> None:
    # the example of ISO 11649 / the EPC guidance
    assert is_valid_rf("RF18 5390 0754 7034")
    assert normalise_rf("rf18 5390 0754 7034") == "RF18539007547034"
    assert format_rf("RF18539007547034") == "RF18 5390 0754 7034"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("RF19 5390 0754 7034", "check digits"),
        ("RF18 5390 0754 7043", "check digits"),  # two digits swapped
        ("XX18 5390 0754 7034", "does not start with RF"),
        ("RF1", "5 to 25"),
        ("RF18" + "1" * 30, "5 to 25"),
    ],
)
def test_invalid_references_are_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(InvalidReference) as info:
        validate_rf(text)
    assert info.value.code is ErrorCode.RF_REFERENCE_INVALID
    assert isinstance(info.value, InputRejected)
    assert why in info.value.message
    assert not is_valid_rf(text)


@pytest.mark.parametrize("source", ["", "---", "A" * 22])
def test_create_refuses_what_cannot_be_a_payload(source: str) -> None:
    with pytest.raises(InvalidReference):
        create_rf(source)


def test_every_single_substitution_and_transposition_is_caught() -> None:
    rf = create_rf("INV-2026-000123")
    payload = rf[4:]
    for i, ch in enumerate(payload):
        for d in "0123456789":
            if d != ch:
                assert not is_valid_rf(rf[:4] + payload[:i] + d + payload[i + 1 :])
        if i + 1 < len(payload) and payload[i] != payload[i + 1]:
            swapped = payload[:i] + payload[i + 1] + payload[i] + payload[i + 2 :]
            assert not is_valid_rf(rf[:4] + swapped)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ref RF18 5390 0754 7034", ["RF18539007547034"]),
        ("RF18539007547034 thanks a lot", ["RF18539007547034"]),
        ("payment rf18-5390-0754-7034, invoice 12", ["RF18539007547034"]),
        ("RF18 5390 0754 7034 / RF85 F202 6014 2", ["RF18539007547034", "RF85F20260142"]),
        ("RF19 5390 0754 7034", []),
        ("PERF 18 units", []),
        ("", []),
    ],
)
def test_find_in_free_text(text: str, expected: list[str]) -> None:
    assert find_rfs(text) == expected
