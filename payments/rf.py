"""ISO 11649 structured creditor references ("RF references").

An RF reference is ``RF``, two check digits (ISO 7064 MOD 97-10) and a payload
of 1 to 21 letters or digits. Outgoing invoices and the portal carry one so
that a transfer can be matched to its invoice without guessing; the check
digits catch every single typo and every transposition of two characters.
Validation is python-stdnum's :mod:`stdnum.iso11649`; this module adds the
creation from an invoice number and the search in free remittance text.
"""

from __future__ import annotations

import re

from stdnum import iso11649
from stdnum.exceptions import ValidationError
from stdnum.iso7064 import mod_97_10

from schemas.errors import ErrorCode, InputRejected

#: Longest payload an RF reference can carry (25 characters in all).
MAX_PAYLOAD = 21

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]+")
# "RF" + 2 digits, then groups of letters/digits separated by at most one space
# or dash (how people and banks print the reference in groups of four).
_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])RF\s?[0-9]{2}(?:[ \-]?[0-9A-Za-z]){1,21}", re.IGNORECASE)


class InvalidReference(InputRejected):
    """A text that was given as an RF creditor reference is not a valid one."""

    code = ErrorCode.RF_REFERENCE_INVALID


def create_rf(source: str) -> str:
    """The RF reference whose payload is the letters and digits of ``source``.

    ``source`` is an invoice number or id; separators are dropped and letters
    upper-cased, so the reference stays readable next to the invoice number.

    >>> create_rf("F-2026-0142")
    'RF85F20260142'
    >>> validate_rf(create_rf("INV-2026-000123")) == create_rf("INV-2026-000123")
    True

    Raises:
        InvalidReference: ``source`` has no letter or digit, or more than 21.
    """
    payload = _NOT_ALNUM.sub("", source).upper()
    if not payload:
        raise InvalidReference(
            f"cannot make an RF reference from {source!r}: it has no letter or digit",
            value=source,
        )
    if len(payload) > MAX_PAYLOAD:
        raise InvalidReference(
            f"cannot make an RF reference from {source!r}: {len(payload)} letters and digits, "
            f"at most {MAX_PAYLOAD} fit",
            value=source,
        )
    return f"RF{mod_97_10.calc_check_digits(payload + 'RF')}{payload}"


def normalise_rf(text: str) -> str:
    """The compact form of a reference: no spaces or separators, upper case.

    >>> normalise_rf(" rf18 5390 0754 7034 ")
    'RF18539007547034'
    """
    return str(iso11649.compact(text))


def is_valid_rf(text: str) -> bool:
    """Whether ``text`` (printed or compact) is a valid RF reference.

    >>> is_valid_rf("RF18 5390 0754 7034"), is_valid_rf("RF18 5390 0754 7043")
    (True, False)
    """
    return bool(iso11649.is_valid(text))


def validate_rf(text: str) -> str:
    """The compact reference, or :class:`InvalidReference` saying what is wrong.

    >>> validate_rf("RF18 5390 0754 7034")
    'RF18539007547034'
    >>> try:
    ...     validate_rf("RF19 5390 0754 7034")
    ... except InvalidReference as exc:
    ...     print(exc.code, exc.message[-29:])
    RF_REFERENCE_INVALID its check digits do not match
    """
    try:
        return str(iso11649.validate(text))
    except ValidationError as exc:
        compact = normalise_rf(text)
        if not compact.startswith("RF"):
            why = "it does not start with RF"
        elif not 5 <= len(compact) <= 25:
            why = f"it has {len(compact)} characters, an RF reference has 5 to 25"
        elif not compact.isalnum():
            why = "it holds characters other than letters and digits"
        else:
            why = "its check digits do not match"
        raise InvalidReference(f"{text!r} is not a valid RF creditor reference: {why}", value=text) from exc


def format_rf(text: str) -> str:
    """The printed form, in groups of four, as on an invoice or a QR code.

    >>> format_rf("RF18539007547034")
    'RF18 5390 0754 7034'
    """
    compact = normalise_rf(text)
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def find_rfs(text: str) -> list[str]:
    """Valid RF references typed anywhere in free text, compact, in order.

    A reference may be printed in groups or glued to the next word; the longest
    prefix whose check digits hold is kept, so trailing words do not spoil it.

    >>> find_rfs("Ref RF18 5390 0754 7034 thanks, also rf85f20260142")
    ['RF18539007547034', 'RF85F20260142']
    >>> find_rfs("RF99 1234")
    []
    """
    found: list[str] = []
    for m in _IN_TEXT.finditer(text):
        raw = m.group(0)
        compact = _NOT_ALNUM.sub("", raw).upper()
        # where a word of the printed reference ends (a space, a dash, a digit/letter switch):
        # a reference ends there far more often than inside a word
        ends: list[int] = []
        kept = 0
        for i, ch in enumerate(raw):
            if ch.isalnum():
                kept += 1
                nxt = raw[i + 1] if i + 1 < len(raw) else " "
                if not nxt.isalnum() or (kept > 4 and nxt.isdigit() != ch.isdigit()):
                    ends.append(kept)
        ordered = sorted(set(ends), reverse=True) + list(range(len(compact), 4, -1))
        for end in ordered:
            if end >= 5 and iso11649.is_valid(compact[:end]):
                found.append(compact[:end])
                break
    return found
