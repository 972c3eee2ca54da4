"""The key that identifies a seller for the duplicate-invoice rule.

An invoice number is unique per seller (French Code de commerce, art. L441-9 and
the EN 16931 BT-1 definition), so the ledger holds at most one invoice per
``(seller_key, number)``. Invoices do not always name the seller the same way, so
the key takes the strongest identifier present, in this order:

1. ``SIREN:`` + the 9-digit SIREN (BT-30 with scheme 0002, or the first nine
   digits of a SIRET) -- the French legal identity;
2. ``VAT:`` + the VAT number (BT-31) upper-cased without spaces, dots or dashes;
3. ``NAME:`` + the seller's name (BT-27) case-folded with runs of whitespace
   collapsed.

The prefix keeps the three spaces apart. Known limit: a seller who names
itself by SIREN on one invoice and only by VAT number on another gets two keys,
so a duplicate across those two is not caught by the constraint; the pipeline
can still compare numbers across a party's known identifiers.
"""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")
_VAT_NOISE = re.compile(r"[\s.\-]")


def seller_key(*, siren: str | None = None, vat_number: str | None = None, name: str | None = None) -> str:
    """The duplicate-rule key for a seller: SIREN, else VAT number, else name.

    Examples:
        >>> seller_key(siren="732 829 320", vat_number="FR44732829320", name="ACME")
        'SIREN:732829320'
        >>> seller_key(siren="73282932000074")  # a SIRET gives its SIREN
        'SIREN:732829320'
        >>> seller_key(vat_number="de 123.456.789", name="Muster GmbH")
        'VAT:DE123456789'
        >>> seller_key(name="  Société   Générale ")
        'NAME:société générale'

    Raises:
        ValueError: when the seller has neither SIREN, VAT number nor name.
    """
    if siren:
        digits = re.sub(r"\D", "", siren)
        if len(digits) in (9, 14):
            return f"SIREN:{digits[:9]}"
    if vat_number:
        vat = _VAT_NOISE.sub("", vat_number).upper()
        if vat:
            return f"VAT:{vat}"
    if name:
        folded = _SPACES.sub(" ", name).strip().casefold()
        if folded:
            return f"NAME:{folded}"
    raise ValueError("the seller has no SIREN, VAT number or name: no duplicate key can be built")
