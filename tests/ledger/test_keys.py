"""The seller key of the duplicate rule."""

from __future__ import annotations

import doctest

import pytest

import ledger.db
import ledger.keys
from ledger.keys import seller_key


def test_doctests() -> None:
    for module in (ledger.keys, ledger.db):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"siren": "542107651", "vat_number": "FR40542107651", "name": "A"}, "SIREN:542107651"),
        ({"siren": "54210765100017"}, "SIREN:542107651"),
        ({"siren": "12345", "vat_number": "fr 40 542107651"}, "VAT:FR40542107651"),  # malformed SIREN skipped
        ({"siren": "", "vat_number": "", "name": "ACME\tSARL"}, "NAME:acme sarl"),
    ],
)
def test_strongest_identifier_wins(kwargs: dict[str, str], key: str) -> None:
    assert seller_key(**kwargs) == key


def test_nothing_to_key_on() -> None:
    with pytest.raises(ValueError, match="no SIREN, VAT number or name"):
        seller_key(name="   ")
