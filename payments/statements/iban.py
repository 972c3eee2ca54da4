"""IBAN helpers: normalise and check (ISO 13616 mod-97)."""

from __future__ import annotations

import re

_SHAPE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")


def normalise_iban(text: str | None) -> str | None:
    """The IBAN in ``text`` (spaces removed, upper case) if it passes mod-97, else ``None``.

    A trailing currency code glued to the IBAN (MT940 ``:25:NL77INGB0574908765EUR``)
    is taken off when that makes the check pass.

    >>> normalise_iban("fr76 3000 6000 0112 3456 7890 189")
    'FR7630006000011234567890189'
    >>> normalise_iban("DE89370400440532013000EUR")
    'DE89370400440532013000'
    >>> normalise_iban("123456789") is None
    True
    """
    if not text:
        return None
    compact = re.sub(r"[\s-]", "", text).upper()
    for candidate in (compact, compact[:-3] if compact[-3:].isalpha() else ""):
        if candidate and _SHAPE.fullmatch(candidate) and is_valid_iban(candidate):
            return candidate
    return None


def is_valid_iban(iban: str) -> bool:
    """Whether the mod-97 check of a compact upper-case IBAN passes.

    >>> is_valid_iban("DE89370400440532013000"), is_valid_iban("DE89370400440532013001")
    (True, False)
    """
    if not _SHAPE.fullmatch(iban):
        return False
    moved = iban[4:] + iban[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1
